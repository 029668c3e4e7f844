/* Stream framing, as protocol/framing.ts FrameDecoder: 4-byte big-endian length, then the body. */
#include "wasmbed/protocol.h"

void wb_framer_init(wb_framer *f, uint8_t *buf, size_t max_frame) {
  f->buf = buf;
  f->max_frame = max_frame;
  f->header_fill = 0;
  f->body_len = 0;
  f->body_fill = 0;
  f->in_body = false;
  f->ready = false;
  f->failed = false;
}

wb_err wb_framer_push(wb_framer *f, const uint8_t *data, size_t len, size_t *consumed) {
  size_t pos = 0;
  *consumed = 0;
  if (f->failed) return WB_ERR_FRAME_TOO_LARGE;
  if (f->ready) { /* the previous frame has been handed out: start the next */
    f->ready = false;
    f->body_len = 0;
    f->body_fill = 0;
  }
  while (pos < len) {
    if (!f->in_body) {
      f->header[f->header_fill++] = data[pos++];
      if (f->header_fill < WB_FRAME_HEADER_BYTES) continue;
      f->header_fill = 0;
      uint32_t n = ((uint32_t)f->header[0] << 24) | ((uint32_t)f->header[1] << 16) |
                   ((uint32_t)f->header[2] << 8) | (uint32_t)f->header[3];
      if ((uint64_t)n > (uint64_t)f->max_frame) {
        f->failed = true;
        *consumed = pos;
        return WB_ERR_FRAME_TOO_LARGE;
      }
      f->body_len = n;
      f->body_fill = 0;
      if (n == 0) {
        f->ready = true;
        break;
      }
      f->in_body = true;
      continue;
    }
    size_t take = f->body_len - f->body_fill;
    if (take > len - pos) take = len - pos;
    for (size_t i = 0; i < take; i++) f->buf[f->body_fill + i] = data[pos + i];
    f->body_fill += take;
    pos += take;
    if (f->body_fill == f->body_len) {
      f->in_body = false;
      f->ready = true;
      break;
    }
  }
  *consumed = pos;
  return WB_OK;
}

size_t wb_framer_buffered(const wb_framer *f) {
  if (f->in_body) return WB_FRAME_HEADER_BYTES + f->body_fill;
  return f->header_fill;
}

wb_err wb_framer_end(const wb_framer *f) {
  if (f->failed) return WB_ERR_FRAME_TOO_LARGE;
  return wb_framer_buffered(f) > 0 ? WB_ERR_TRUNCATED : WB_OK;
}
