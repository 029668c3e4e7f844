/*
 * Strict CBOR subset (RFC 8949 core deterministic encoding), matching protocol/cbor.ts:
 * the same inputs are accepted, and rejected inputs get the same error reason. The check
 * is iterative with a fixed stack (depth <= 16): no recursion, no allocation.
 */
#include <string.h>

#include "cbor_internal.h"

const char *wb_err_name(wb_err err) {
  switch (err) {
    case WB_OK: return "OK";
    case WB_ERR_TRUNCATED: return "Truncated";
    case WB_ERR_TRAILING_BYTES: return "TrailingBytes";
    case WB_ERR_INDEFINITE_LENGTH: return "IndefiniteLength";
    case WB_ERR_NON_CANONICAL: return "NonCanonical";
    case WB_ERR_WRONG_TYPE: return "WrongType";
    case WB_ERR_WRONG_ARRAY_LENGTH: return "WrongArrayLength";
    case WB_ERR_UNKNOWN_TAG: return "UnknownTag";
    case WB_ERR_UNSUPPORTED_VERSION: return "UnsupportedVersion";
    case WB_ERR_FRAME_TOO_LARGE: return "FrameTooLarge";
    case WB_ERR_DUPLICATE_MAP_KEY: return "DuplicateMapKey";
    case WB_ERR_NESTING_TOO_DEEP: return "NestingTooDeep";
    case WB_ERR_INTEGER_OUT_OF_RANGE: return "IntegerOutOfRange";
    case WB_ERR_INVALID_UTF8: return "InvalidUtf8";
    case WB_ERR_INVALID_VALUE: return "InvalidValue";
    case WB_ERR_MALFORMED: return "Malformed";
    case WB_ERR_INTERNAL: return "Internal";
    case WB_ERR_BUFFER_TOO_SMALL: return "BufferTooSmall";
    case WB_ERR_INVALID_ARGUMENT: return "InvalidArgument";
  }
  return "Unknown";
}

bool wb_utf8_valid(const uint8_t *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint8_t c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;      /* no overlong */
      else if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;      /* no overlong */
      else if (c == 0xF4) hi = 0x8F; /* <= U+10FFFF */
    } else {
      return false;
    }
    if (len - i - 1 < n) return false;
    if (s[i + 1] < lo || s[i + 1] > hi) return false;
    for (size_t k = 2; k <= n; k++) {
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return false;
    }
    i += n + 1;
  }
  return true;
}

static int compare_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
  size_t n = alen < blen ? alen : blen;
  int d = n ? memcmp(a, b, n) : 0;
  if (d != 0) return d;
  if (alen == blen) return 0;
  return alen < blen ? -1 : 1;
}

typedef struct {
  uint64_t remaining; /* items left (a map counts keys and values) */
  bool is_map;
  bool have_prev_key;
  size_t prev_key_start;
  size_t prev_key_len;
} check_frame;

static wb_err fail(wb_error *err, wb_err code, size_t offset) {
  if (err) {
    err->code = code;
    err->offset = offset;
    err->field = NULL;
  }
  return code;
}

wb_err wb_cbor_check(const uint8_t *buf, size_t len, wb_error *err) {
  check_frame stack[WB_MAX_NESTING_DEPTH];
  size_t sp = 0; /* number of enclosing containers */
  size_t pos = 0;

  if (err) {
    err->code = WB_OK;
    err->offset = 0;
    err->field = NULL;
  }
  if (buf == NULL && len != 0) return fail(err, WB_ERR_INVALID_ARGUMENT, 0);

  for (;;) {
    size_t start = pos;
    bool is_key = sp > 0 && stack[sp - 1].is_map && (stack[sp - 1].remaining % 2u == 0u);
    if (pos >= len) return fail(err, WB_ERR_TRUNCATED, pos);
    uint8_t initial = buf[pos++];
    uint8_t major = (uint8_t)(initial >> 5);
    uint8_t ai = (uint8_t)(initial & 0x1Fu);

    if (is_key && major != WB_MT_TSTR) return fail(err, WB_ERR_WRONG_TYPE, start);
    if (ai >= 28 && ai <= 30) return fail(err, WB_ERR_MALFORMED, start);
    if (major == WB_MT_SIMPLE) {
      if (ai == 31) return fail(err, WB_ERR_MALFORMED, start);
      if (ai < 20 || ai > 22) return fail(err, WB_ERR_WRONG_TYPE, start);
    } else if (major == WB_MT_TAG) {
      return fail(err, ai == 31 ? WB_ERR_MALFORMED : WB_ERR_WRONG_TYPE, start);
    } else if (ai == 31) {
      return fail(err, major <= WB_MT_NINT ? WB_ERR_MALFORMED : WB_ERR_INDEFINITE_LENGTH, start);
    }
    if ((major == WB_MT_ARRAY || major == WB_MT_MAP) && sp >= WB_MAX_NESTING_DEPTH) {
      return fail(err, WB_ERR_NESTING_TOO_DEEP, start);
    }

    uint64_t arg = ai;
    if (major != WB_MT_SIMPLE && ai >= 24) {
      size_t size = (size_t)1u << (ai - 24);
      if (size > len - pos) return fail(err, WB_ERR_TRUNCATED, pos);
      uint64_t v = 0;
      for (size_t k = 0; k < size; k++) v = (v << 8) | buf[pos + k];
      pos += size;
      uint64_t min = size == 1 ? 24u : size == 2 ? 0x100u : size == 4 ? 0x10000u : 0x100000000ull;
      if (v < min) return fail(err, WB_ERR_NON_CANONICAL, start);
      arg = v;
    }

    size_t remaining = len - pos;
    bool container_opened = false;
    switch (major) {
      case WB_MT_UINT:
        if (arg > WB_MAX_SAFE_INTEGER) return fail(err, WB_ERR_INTEGER_OUT_OF_RANGE, start);
        break;
      case WB_MT_NINT:
        if (arg >= WB_MAX_SAFE_INTEGER) return fail(err, WB_ERR_INTEGER_OUT_OF_RANGE, start);
        break;
      case WB_MT_BSTR:
        if (arg > remaining) return fail(err, WB_ERR_TRUNCATED, pos);
        pos += (size_t)arg;
        break;
      case WB_MT_TSTR:
        if (arg > remaining) return fail(err, WB_ERR_TRUNCATED, pos);
        if (!wb_utf8_valid(buf + pos, (size_t)arg)) return fail(err, WB_ERR_INVALID_UTF8, pos);
        pos += (size_t)arg;
        break;
      case WB_MT_ARRAY:
      case WB_MT_MAP:
        /* every array item takes >= 1 byte, every map entry >= 2: refuse impossible counts */
        if (major == WB_MT_ARRAY ? arg > remaining : arg > remaining / 2u) {
          return fail(err, WB_ERR_TRUNCATED, pos);
        }
        if (arg > 0) {
          check_frame *f = &stack[sp++];
          f->remaining = major == WB_MT_MAP ? arg * 2u : arg;
          f->is_map = major == WB_MT_MAP;
          f->have_prev_key = false;
          f->prev_key_start = 0;
          f->prev_key_len = 0;
          container_opened = true;
        }
        break;
      default: /* simple false/true/null */
        break;
    }
    if (container_opened) continue;

    /* An item is complete: account for it in its container(s). */
    size_t item_start = start;
    size_t item_len = pos - start;
    for (;;) {
      if (sp == 0) {
        if (pos != len) return fail(err, WB_ERR_TRAILING_BYTES, pos);
        return WB_OK;
      }
      check_frame *f = &stack[sp - 1];
      if (f->is_map && f->remaining % 2u == 0u) {
        /* that item was a key: canonical order and uniqueness */
        if (f->have_prev_key) {
          int order = compare_bytes(buf + f->prev_key_start, f->prev_key_len, buf + item_start, item_len);
          if (order == 0) return fail(err, WB_ERR_DUPLICATE_MAP_KEY, item_start);
          if (order > 0) return fail(err, WB_ERR_NON_CANONICAL, item_start);
        }
        f->have_prev_key = true;
        f->prev_key_start = item_start;
        f->prev_key_len = item_len;
      }
      f->remaining--;
      if (f->remaining > 0) break;
      sp--; /* container finished: it completes as an item of its parent */
      /* keys are never containers, so item_start/len are not needed for the parent */
      item_start = pos;
      item_len = 0;
    }
  }
}

void wb_read_head(wb_reader *r, wb_head *h) {
  uint8_t initial = r->buf[r->pos];
  h->start = r->pos;
  h->initial = initial;
  h->major = (uint8_t)(initial >> 5);
  uint8_t ai = (uint8_t)(initial & 0x1Fu);
  r->pos++;
  h->arg = ai;
  if (h->major != WB_MT_SIMPLE && ai >= 24 && ai <= 27) {
    size_t size = (size_t)1u << (ai - 24);
    uint64_t v = 0;
    for (size_t k = 0; k < size; k++) v = (v << 8) | r->buf[r->pos + k];
    r->pos += size;
    h->arg = v;
  }
}

void wb_skip_item(wb_reader *r) {
  uint64_t pending = 1; /* items still to skip */
  while (pending > 0) {
    wb_head h;
    wb_read_head(r, &h);
    pending--;
    if (h.major == WB_MT_BSTR || h.major == WB_MT_TSTR) r->pos += (size_t)h.arg;
    else if (h.major == WB_MT_ARRAY) pending += h.arg;
    else if (h.major == WB_MT_MAP) pending += 2u * h.arg;
  }
}

void wb_write_byte(wb_writer *w, uint8_t b) {
  if (w->overflow || w->len >= w->cap) {
    w->overflow = true;
    return;
  }
  w->buf[w->len++] = b;
}

void wb_write_bytes(wb_writer *w, const void *data, size_t len) {
  if (len == 0) return;
  if (w->overflow || len > w->cap - w->len) {
    w->overflow = true;
    return;
  }
  memcpy(w->buf + w->len, data, len);
  w->len += len;
}

void wb_write_head(wb_writer *w, uint8_t major, uint64_t arg) {
  uint8_t m = (uint8_t)(major << 5);
  if (arg < 24) {
    wb_write_byte(w, (uint8_t)(m | arg));
  } else if (arg < 0x100u) {
    wb_write_byte(w, (uint8_t)(m | 24u));
    wb_write_byte(w, (uint8_t)arg);
  } else if (arg < 0x10000u) {
    wb_write_byte(w, (uint8_t)(m | 25u));
    wb_write_byte(w, (uint8_t)(arg >> 8));
    wb_write_byte(w, (uint8_t)arg);
  } else if (arg < 0x100000000ull) {
    wb_write_byte(w, (uint8_t)(m | 26u));
    for (int s = 24; s >= 0; s -= 8) wb_write_byte(w, (uint8_t)(arg >> s));
  } else {
    wb_write_byte(w, (uint8_t)(m | 27u));
    for (int s = 56; s >= 0; s -= 8) wb_write_byte(w, (uint8_t)(arg >> s));
  }
}
