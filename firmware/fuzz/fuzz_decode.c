/*
 * libFuzzer target for the protocol decoder and framer. Properties checked on every input:
 * no crash / UB / out-of-bounds (ASan+UBSan), and any accepted envelope re-encodes to
 * exactly the same bytes (the decoder accepts only canonical CBOR).
 */
#include <stdlib.h>
#include <string.h>

#include "wasmbed/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t out[1 << 17];
  wb_msg m;
  wb_error err;
  size_t len = 0;
  wb_err e = wb_decode(data, size, &m, &err);
  if (e == WB_ERR_INTERNAL || e == WB_ERR_INVALID_ARGUMENT) abort();
  if (e == WB_OK) {
    if (wb_encode(&m, out, sizeof out, &len, &err) != WB_OK) abort();
    if (len != size || memcmp(out, data, size) != 0) abort();
    /* walk every list through the iterators */
    wb_iter it = {0, 0};
    wb_str s;
    wb_kv kv;
    wb_app_status st;
    if (m.type == WB_MSG_DEVICE_INFO)
      while (wb_strlist_next(&m.u.device_info.wasm_features, &it, &s)) {
      }
    if (m.type == WB_MSG_DEPLOY_APPLICATION) {
      while (wb_strmap_next(&m.u.deploy.env, &it, &kv)) {
      }
      it.index = it.offset = 0;
      while (wb_strlist_next(&m.u.deploy.args, &it, &s)) {
      }
    }
    if (m.type == WB_MSG_APPLICATION_STATUS)
      while (wb_applist_next(&m.u.app_status.apps, &it, &st)) {
        if ((unsigned)st.state >= WB_APP_STATE_COUNT) abort();
      }
  } else {
    (void)wb_err_name(e);
  }

  /* the same bytes as a stream for the framer, with a small maximum */
  {
    static uint8_t frame[64];
    wb_framer f;
    size_t pos = 0;
    wb_framer_init(&f, frame, sizeof frame);
    while (pos < size) {
      size_t used = 0;
      if (wb_framer_push(&f, data + pos, size - pos, &used) != WB_OK) break;
      if (used == 0 && !f.ready) abort();
      pos += used;
      if (f.ready && f.body_len > sizeof frame) abort();
    }
    (void)wb_framer_end(&f);
  }
  return 0;
}
