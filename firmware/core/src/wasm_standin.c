/*
 * STAND-IN wasm runtime: it validates a module the way the real runtime would refuse it
 * (header, section structure, imports against the wasmbed host API, entry export, memory
 * within limits) but EXECUTES NOTHING. An accepted app is reported Running until stopped,
 * and says so in its log. Used by the POSIX device when WAMR sources are not available;
 * the Zephyr build always uses WAMR (zephyr/src/wasm_wamr.c).
 */
#include <stdio.h>
#include <string.h>

#include "wasmbed/device.h"

typedef struct {
  const uint8_t *p;
  const uint8_t *end;
} rd;

static int leb_u32(rd *r, uint32_t *out) {
  uint32_t v = 0;
  for (unsigned shift = 0; shift < 35; shift += 7) {
    if (r->p >= r->end) return -1;
    uint8_t b = *r->p++;
    if (shift == 28 && (b & 0x70) != 0) return -1; /* more than 32 bits */
    v |= (uint32_t)(b & 0x7F) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return -1;
}

static int name(rd *r, const uint8_t **s, uint32_t *len) {
  if (leb_u32(r, len) || *len > (size_t)(r->end - r->p)) return -1;
  *s = r->p;
  r->p += *len;
  return wb_utf8_valid(*s, *len) ? 0 : -1;
}

/* The wasmbed host API: import name -> signature as "params:results" in value-type bytes. */
static const struct {
  const char *name;
  const char *params;
  const char *results;
} HOST_API[] = {
    {"log", "\x7f\x7f", ""},
    {"uptime_ms", "", "\x7e"},
    {"sleep_ms", "\x7f", ""},
    {"gpio_write", "\x7f\x7f", ""},
    {"gpio_read", "\x7f", "\x7f"},
    {"sensor_read", "\x7f", "\x7f"},
    {"publish", "\x7f\x7f\x7f\x7f", ""},
    {"env_get", "\x7f\x7f\x7f\x7f", "\x7f"},
    {"arg_count", "", "\x7f"},
    {"arg_get", "\x7f\x7f\x7f", "\x7f"},
};

#define MAX_TYPES 256

static int fail(char *err, size_t cap, const char *msg, const uint8_t *s, uint32_t len) {
  if (s) snprintf(err, cap, "%s \"%.*s\"", msg, (int)(len > 60 ? 60 : len), (const char *)s);
  else snprintf(err, cap, "%s", msg);
  return -1;
}

int wb_wasm_validate(const uint8_t *module, size_t len, const char *entry, uint64_t max_pages, char *err,
                     size_t errcap) {
  /* function type index -> offset of its params vector in the module */
  uint32_t type_off[MAX_TYPES];
  uint32_t type_count = 0;
  int last_id = 0, have_entry = 0;
  uint32_t functions = 0, bodies = 0;
  rd r;
  if (len < 8 || memcmp(module, "\0asm", 4) != 0) return fail(err, errcap, "not a WebAssembly module (bad magic)", 0, 0);
  if (memcmp(module + 4, "\x01\0\0\0", 4) != 0) return fail(err, errcap, "unsupported WebAssembly version", 0, 0);
  r.p = module + 8;
  r.end = module + len;
  while (r.p < r.end) {
    uint8_t id = *r.p++;
    uint32_t size;
    if (leb_u32(&r, &size) || size > (size_t)(r.end - r.p)) return fail(err, errcap, "truncated section", 0, 0);
    rd s = {r.p, r.p + size};
    r.p += size;
    if (id > 13) return fail(err, errcap, "unknown section id", 0, 0);
    if (id == 0) continue; /* custom */
    /* non-custom sections in order (data count 12 sits between import/function ... code) */
    int order = id == 12 ? 95 : id == 13 ? 55 : id * 10;
    if (order <= last_id) return fail(err, errcap, "sections out of order or duplicated", 0, 0);
    last_id = order;
    uint32_t count;
    if (leb_u32(&s, &count)) return fail(err, errcap, "malformed section", 0, 0);
    if (id == 1) { /* types */
      for (uint32_t i = 0; i < count; i++) {
        uint32_t np, nr;
        if (s.p >= s.end || *s.p++ != 0x60) return fail(err, errcap, "malformed type section", 0, 0);
        if (i < MAX_TYPES) type_off[i] = (uint32_t)(s.p - module);
        if (leb_u32(&s, &np) || np > (size_t)(s.end - s.p)) return fail(err, errcap, "malformed type section", 0, 0);
        s.p += np;
        if (leb_u32(&s, &nr) || nr > (size_t)(s.end - s.p)) return fail(err, errcap, "malformed type section", 0, 0);
        s.p += nr;
      }
      type_count = count < MAX_TYPES ? count : MAX_TYPES;
    } else if (id == 2) { /* imports: only the wasmbed host API */
      for (uint32_t i = 0; i < count; i++) {
        const uint8_t *mod, *nm;
        uint32_t mlen, nlen, type_idx;
        if (name(&s, &mod, &mlen) || name(&s, &nm, &nlen) || s.p >= s.end)
          return fail(err, errcap, "malformed import section", 0, 0);
        uint8_t kind = *s.p++;
        if (mlen != 7 || memcmp(mod, "wasmbed", 7) != 0)
          return fail(err, errcap, "imports from a module other than \"wasmbed\":", mod, mlen);
        if (kind != 0) return fail(err, errcap, "imports a non-function from wasmbed:", nm, nlen);
        if (leb_u32(&s, &type_idx) || type_idx >= type_count)
          return fail(err, errcap, "import with an unknown type:", nm, nlen);
        size_t k;
        for (k = 0; k < sizeof HOST_API / sizeof HOST_API[0]; k++) {
          if (strlen(HOST_API[k].name) == nlen && memcmp(HOST_API[k].name, nm, nlen) == 0) break;
        }
        if (k == sizeof HOST_API / sizeof HOST_API[0])
          return fail(err, errcap, "imports a function the host API does not have:", nm, nlen);
        /* compare the signature */
        rd t = {module + type_off[type_idx], module + len};
        uint32_t np, nr;
        size_t wp = strlen(HOST_API[k].params), wr = strlen(HOST_API[k].results);
        if (leb_u32(&t, &np) || np != wp || memcmp(t.p, HOST_API[k].params, wp) != 0)
          return fail(err, errcap, "wrong signature for host function", nm, nlen);
        t.p += np;
        if (leb_u32(&t, &nr) || nr != wr || memcmp(t.p, HOST_API[k].results, wr) != 0)
          return fail(err, errcap, "wrong signature for host function", nm, nlen);
      }
    } else if (id == 3) {
      functions = count;
    } else if (id == 10) {
      bodies = count;
    } else if (id == 5) { /* memory */
      for (uint32_t i = 0; i < count; i++) {
        uint32_t flags, min;
        if (leb_u32(&s, &flags) || leb_u32(&s, &min)) return fail(err, errcap, "malformed memory section", 0, 0);
        if (flags & 1u) {
          uint32_t max;
          if (leb_u32(&s, &max)) return fail(err, errcap, "malformed memory section", 0, 0);
        }
        if (max_pages && min > max_pages) {
          snprintf(err, errcap, "module needs %lu memory pages, the limit is %lu", (unsigned long)min,
                   (unsigned long)max_pages);
          return -1;
        }
      }
    } else if (id == 7) { /* exports */
      for (uint32_t i = 0; i < count; i++) {
        const uint8_t *nm;
        uint32_t nlen, index;
        if (name(&s, &nm, &nlen) || s.p >= s.end) return fail(err, errcap, "malformed export section", 0, 0);
        uint8_t kind = *s.p++;
        if (leb_u32(&s, &index)) return fail(err, errcap, "malformed export section", 0, 0);
        if (kind == 0 && strlen(entry) == nlen && memcmp(entry, nm, nlen) == 0) have_entry = 1;
      }
    }
  }
  if (functions != bodies) return fail(err, errcap, "function and code section counts differ", 0, 0);
  if (!have_entry) return fail(err, errcap, "module does not export the entry function", (const uint8_t *)entry,
                               (uint32_t)strlen(entry));
  return 0;
}

/* --- the stand-in runtime ----------------------------------------------------------------- */

static const wb_str STANDIN_FEATURES[] = {{"mvp", 3}};

static struct {
  wb_app_state state[WB_MAX_APPS];
} standin;

static int standin_start(void *ctx, struct wb_device *dev, unsigned slot, const wb_app_spec *spec, char *err,
                         size_t errcap) {
  char line[160];
  (void)ctx;
  if (slot >= WB_MAX_APPS) return fail(err, errcap, "bad slot", 0, 0);
  if (wb_wasm_validate(spec->module, spec->module_len, spec->entry, spec->limits.memory_pages, err, errcap) != 0)
    return -1;
  standin.state[slot] = WB_APP_RUNNING;
  snprintf(line, sizeof line, "stand-in runtime: %s validated (%lu bytes); not executed (no WAMR in this build)",
           spec->app_id, (unsigned long)spec->module_len);
  wb_device_app_log(dev, slot, WB_LOG_WARN, line, strlen(line));
  return 0;
}

static int standin_stop(void *ctx, unsigned slot, char *err, size_t errcap) {
  (void)ctx;
  (void)err;
  (void)errcap;
  if (slot < WB_MAX_APPS) standin.state[slot] = WB_APP_STOPPED;
  return 0;
}

static wb_app_state standin_poll(void *ctx, unsigned slot, char *err, size_t errcap) {
  (void)ctx;
  (void)err;
  (void)errcap;
  return slot < WB_MAX_APPS ? standin.state[slot] : WB_APP_FAILED;
}

const wb_wasm_runtime wb_standin_runtime = {
    "standin", STANDIN_FEATURES, 1, NULL, standin_start, standin_stop, standin_poll,
};
