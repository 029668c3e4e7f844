/*
 * The C codec against the shared vectors in test/vectors (the same files the TypeScript
 * codec passes): every valid envelope decodes to the expected fields and re-encodes to the
 * same bytes, every invalid one fails with the expected reason, framing splits streams alike.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "testutil.h"
#include "wasmbed/protocol.h"

static uint8_t *unhex(const char *hex, size_t *len) {
  size_t n = strlen(hex) / 2;
  uint8_t *out = malloc(n ? n : 1);
  if (!out) abort();
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    sscanf(hex + 2 * i, "%2x", &v);
    out[i] = (uint8_t)v;
  }
  *len = n;
  return out;
}

/* --- JSON envelope -> wb_msg (for the encoder) -------------------------------------------- */

typedef struct {
  void *ptrs[64];
  int n;
} arena;

static void *keep(arena *a, void *p) {
  if (a->n < 64) a->ptrs[a->n++] = p;
  return p;
}

static wb_str jstr(const jval *v) {
  wb_str s = {v->str, v->len};
  return s;
}

static wb_optstr jopt(const jval *v) {
  wb_optstr s;
  s.present = v->type != J_NULL;
  s.value.ptr = s.present ? v->str : "";
  s.value.len = s.present ? v->len : 0;
  return s;
}

static wb_bytes jbytes(arena *a, const jval *v) {
  wb_bytes b;
  const jval *hex = json_get(v, "$bytes");
  b.ptr = keep(a, unhex(hex->str, &b.len));
  return b;
}

static wb_strlist jlist(arena *a, const jval *v) {
  wb_strlist l = {0};
  wb_str *items = keep(a, calloc(v->count + 1, sizeof *items));
  for (size_t i = 0; i < v->count; i++) items[i] = jstr(v->items[i]);
  l.count = v->count;
  l.items = items;
  return l;
}

static int state_of(const char *s) {
  for (int i = 0; i < WB_APP_STATE_COUNT; i++)
    if (strcmp(wb_app_state_name((wb_app_state)i), s) == 0) return i;
  return -1;
}

static int msg_from_json(arena *a, const jval *env, wb_msg *m) {
  const jval *body = json_get(env, "body");
  const char *type = json_get(body, "type")->str;
  memset(m, 0, sizeof *m);
  m->message_id = (uint32_t)json_get(env, "messageId")->num;
  for (unsigned t = WB_MSG_TYPE_MIN; t <= WB_MSG_TYPE_MAX; t++)
    if (strcmp(wb_msg_type_name(t), type) == 0) m->type = (wb_msg_type)t;
#define F(name) json_get(body, name)
  switch (m->type) {
    case WB_MSG_HEARTBEAT: m->u.heartbeat.uptime_ms = F("uptimeMs")->num; break;
    case WB_MSG_HEARTBEAT_ACK:
      m->u.heartbeat_ack.server_time_ms = F("serverTimeMs")->num;
      m->u.heartbeat_ack.heartbeat_interval_ms = F("heartbeatIntervalMs")->num;
      break;
    case WB_MSG_DEVICE_INFO:
      m->u.device_info.firmware_version = jstr(F("firmwareVersion"));
      m->u.device_info.mcu_type = jstr(F("mcuType"));
      m->u.device_info.free_memory = F("freeMemory")->num;
      m->u.device_info.max_app_size = F("maxAppSize")->num;
      m->u.device_info.wasm_features = jlist(a, F("wasmFeatures"));
      break;
    case WB_MSG_ENROLLMENT_REQUEST:
      m->u.enrollment_request.csr_der = jbytes(a, F("csrDer"));
      m->u.enrollment_request.claim_token = jopt(F("claimToken"));
      break;
    case WB_MSG_ENROLLMENT_ACCEPTED:
      m->u.enrollment_accepted.certificate_der = jbytes(a, F("certificateDer"));
      m->u.enrollment_accepted.ca_certificate_der = jbytes(a, F("caCertificateDer"));
      break;
    case WB_MSG_ENROLLMENT_REJECTED: m->u.enrollment_rejected.reason = jstr(F("reason")); break;
    case WB_MSG_DEPLOY_APPLICATION: {
      wb_deploy_application *x = &m->u.deploy;
      const jval *limits = F("limits"), *env_map = F("env"), *cpu = json_get(limits, "cpuMsPerCall");
      x->app_id = jstr(F("appId"));
      x->name = jstr(F("name"));
      x->module = jbytes(a, F("module"));
      x->entry = jstr(F("entry"));
      x->limits.memory_pages = json_get(limits, "memoryPages")->num;
      x->limits.has_cpu_ms_per_call = cpu->type != J_NULL;
      x->limits.cpu_ms_per_call = cpu->num;
      wb_kv *kv = keep(a, calloc(env_map->count + 1, sizeof *kv));
      for (size_t i = 0; i < env_map->count; i++) {
        kv[i].key.ptr = env_map->keys[i];
        kv[i].key.len = strlen(env_map->keys[i]);
        kv[i].value = jstr(env_map->items[i]);
      }
      x->env.count = env_map->count;
      x->env.items = kv;
      x->args = jlist(a, F("args"));
      break;
    }
    case WB_MSG_DEPLOY_ACK:
    case WB_MSG_STOP_ACK: {
      wb_ack *x = m->type == WB_MSG_DEPLOY_ACK ? &m->u.deploy_ack : &m->u.stop_ack;
      x->app_id = jstr(F("appId"));
      x->ok = F("ok")->b;
      x->error = jopt(F("error"));
      break;
    }
    case WB_MSG_STOP_APPLICATION: m->u.stop.app_id = jstr(F("appId")); break;
    case WB_MSG_REQUEST_DEVICE_INFO: break;
    case WB_MSG_REQUEST_APPLICATION_STATUS: m->u.request_status.app_id = jopt(F("appId")); break;
    case WB_MSG_APPLICATION_STATUS: {
      const jval *apps = F("apps");
      wb_app_status *items = keep(a, calloc(apps->count + 1, sizeof *items));
      for (size_t i = 0; i < apps->count; i++) {
        items[i].app_id = jstr(json_get(apps->items[i], "appId"));
        items[i].state = (wb_app_state)state_of(json_get(apps->items[i], "state")->str);
        items[i].error = jopt(json_get(apps->items[i], "error"));
        items[i].restarts = json_get(apps->items[i], "restarts")->num;
      }
      m->u.app_status.apps.count = apps->count;
      m->u.app_status.apps.items = items;
      break;
    }
    case WB_MSG_LOG:
      m->u.log.app_id = jopt(F("appId"));
      m->u.log.level = (uint8_t)F("level")->num;
      m->u.log.message = jstr(F("message"));
      m->u.log.timestamp_ms = F("timestampMs")->num;
      break;
    case WB_MSG_PUBLISH:
      m->u.publish.app_id = jstr(F("appId"));
      m->u.publish.topic = jstr(F("topic"));
      m->u.publish.data = jbytes(a, F("data"));
      break;
    default: return -1;
  }
#undef F
  return 0;
}

/* --- decoded wb_msg vs JSON envelope ------------------------------------------------------ */

static const char *g_name;

static void eq_str(const char *field, wb_str got, const jval *want) {
  CHECK(want && want->type == J_STR && got.len == want->len && memcmp(got.ptr, want->str, got.len) == 0,
        "%s: %s differs", g_name, field);
}
static void eq_opt(const char *field, wb_optstr got, const jval *want) {
  if (!want || want->type == J_NULL) {
    CHECK(!got.present, "%s: %s should be null", g_name, field);
    return;
  }
  CHECK(got.present, "%s: %s should be present", g_name, field);
  eq_str(field, got.value, want);
}
static void eq_num(const char *field, uint64_t got, const jval *want) {
  CHECK(want && want->type == J_NUM && got == want->num, "%s: %s = %llu, want %llu", g_name, field,
        (unsigned long long)got, want ? (unsigned long long)want->num : 0ull);
}
static void eq_bytes(const char *field, wb_bytes got, const jval *want) {
  size_t n;
  uint8_t *b = unhex(json_get(want, "$bytes")->str, &n);
  CHECK(got.len == n && (n == 0 || memcmp(got.ptr, b, n) == 0), "%s: %s bytes differ", g_name, field);
  free(b);
}
static void eq_list(const char *field, const wb_strlist *got, const jval *want) {
  wb_iter it = {0, 0};
  wb_str s;
  size_t i = 0;
  CHECK(got->count == want->count, "%s: %s count", g_name, field);
  while (wb_strlist_next(got, &it, &s) && i < want->count) eq_str(field, s, want->items[i++]);
}

static void check_decoded(const wb_msg *m, const jval *env) {
  const jval *body = json_get(env, "body");
#define F(name) json_get(body, name)
  eq_num("messageId", m->message_id, json_get(env, "messageId"));
  CHECK(strcmp(wb_msg_type_name(m->type), json_get(body, "type")->str) == 0, "%s: type", g_name);
  switch (m->type) {
    case WB_MSG_HEARTBEAT: eq_num("uptimeMs", m->u.heartbeat.uptime_ms, F("uptimeMs")); break;
    case WB_MSG_HEARTBEAT_ACK:
      eq_num("serverTimeMs", m->u.heartbeat_ack.server_time_ms, F("serverTimeMs"));
      eq_num("heartbeatIntervalMs", m->u.heartbeat_ack.heartbeat_interval_ms, F("heartbeatIntervalMs"));
      break;
    case WB_MSG_DEVICE_INFO:
      eq_str("firmwareVersion", m->u.device_info.firmware_version, F("firmwareVersion"));
      eq_str("mcuType", m->u.device_info.mcu_type, F("mcuType"));
      eq_num("freeMemory", m->u.device_info.free_memory, F("freeMemory"));
      eq_num("maxAppSize", m->u.device_info.max_app_size, F("maxAppSize"));
      eq_list("wasmFeatures", &m->u.device_info.wasm_features, F("wasmFeatures"));
      break;
    case WB_MSG_ENROLLMENT_REQUEST:
      eq_bytes("csrDer", m->u.enrollment_request.csr_der, F("csrDer"));
      eq_opt("claimToken", m->u.enrollment_request.claim_token, F("claimToken"));
      break;
    case WB_MSG_ENROLLMENT_ACCEPTED:
      eq_bytes("certificateDer", m->u.enrollment_accepted.certificate_der, F("certificateDer"));
      eq_bytes("caCertificateDer", m->u.enrollment_accepted.ca_certificate_der, F("caCertificateDer"));
      break;
    case WB_MSG_ENROLLMENT_REJECTED: eq_str("reason", m->u.enrollment_rejected.reason, F("reason")); break;
    case WB_MSG_DEPLOY_APPLICATION: {
      const wb_deploy_application *x = &m->u.deploy;
      const jval *limits = F("limits"), *env_map = F("env"), *cpu = json_get(limits, "cpuMsPerCall");
      eq_str("appId", x->app_id, F("appId"));
      eq_str("name", x->name, F("name"));
      eq_bytes("module", x->module, F("module"));
      eq_str("entry", x->entry, F("entry"));
      eq_num("memoryPages", x->limits.memory_pages, json_get(limits, "memoryPages"));
      CHECK(x->limits.has_cpu_ms_per_call == (cpu->type != J_NULL), "%s: cpuMsPerCall null", g_name);
      if (cpu->type != J_NULL) eq_num("cpuMsPerCall", x->limits.cpu_ms_per_call, cpu);
      CHECK(x->env.count == env_map->count, "%s: env count", g_name);
      {
        wb_iter it = {0, 0};
        wb_kv kv;
        while (wb_strmap_next(&x->env, &it, &kv)) {
          char key[256];
          size_t n = kv.key.len < 255 ? kv.key.len : 255;
          memcpy(key, kv.key.ptr, n);
          key[n] = '\0';
          eq_str("env value", kv.value, json_get(env_map, key));
        }
      }
      eq_list("args", &x->args, F("args"));
      break;
    }
    case WB_MSG_DEPLOY_ACK:
    case WB_MSG_STOP_ACK: {
      const wb_ack *x = m->type == WB_MSG_DEPLOY_ACK ? &m->u.deploy_ack : &m->u.stop_ack;
      eq_str("appId", x->app_id, F("appId"));
      CHECK(x->ok == F("ok")->b, "%s: ok", g_name);
      eq_opt("error", x->error, F("error"));
      break;
    }
    case WB_MSG_STOP_APPLICATION: eq_str("appId", m->u.stop.app_id, F("appId")); break;
    case WB_MSG_REQUEST_DEVICE_INFO: break;
    case WB_MSG_REQUEST_APPLICATION_STATUS: eq_opt("appId", m->u.request_status.app_id, F("appId")); break;
    case WB_MSG_APPLICATION_STATUS: {
      const jval *apps = F("apps");
      wb_iter it = {0, 0};
      wb_app_status st;
      size_t i = 0;
      CHECK(m->u.app_status.apps.count == apps->count, "%s: apps count", g_name);
      while (wb_applist_next(&m->u.app_status.apps, &it, &st) && i < apps->count) {
        const jval *want = apps->items[i++];
        eq_str("apps[].appId", st.app_id, json_get(want, "appId"));
        CHECK(strcmp(wb_app_state_name(st.state), json_get(want, "state")->str) == 0, "%s: state", g_name);
        eq_opt("apps[].error", st.error, json_get(want, "error"));
        eq_num("apps[].restarts", st.restarts, json_get(want, "restarts"));
      }
      break;
    }
    case WB_MSG_LOG:
      eq_opt("appId", m->u.log.app_id, F("appId"));
      eq_num("level", m->u.log.level, F("level"));
      eq_str("message", m->u.log.message, F("message"));
      eq_num("timestampMs", m->u.log.timestamp_ms, F("timestampMs"));
      break;
    case WB_MSG_PUBLISH:
      eq_str("appId", m->u.publish.app_id, F("appId"));
      eq_str("topic", m->u.publish.topic, F("topic"));
      eq_bytes("data", m->u.publish.data, F("data"));
      break;
  }
#undef F
}

static jval *load(const char *dir, const char *file) {
  char path[1024];
  const char *err = NULL;
  snprintf(path, sizeof path, "%s/%s", dir, file);
  char *text = read_file(path, NULL);
  if (!text) {
    fprintf(stderr, "cannot read %s\n", path);
    exit(2);
  }
  jval *v = json_parse(text, &err);
  free(text);
  if (err) {
    fprintf(stderr, "%s: JSON error: %s\n", path, err);
    exit(2);
  }
  return v;
}

int test_valid_vectors(const char *dir) {
  jval *root = load(dir, "messages.json");
  const jval *vectors = json_get(root, "vectors");
  int n = 0;
  for (size_t i = 0; i < vectors->count; i++) {
    const jval *v = vectors->items[i];
    size_t len, out_len = 0;
    uint8_t *bytes = unhex(json_get(v, "hex")->str, &len);
    uint8_t out[4096];
    wb_msg m, built;
    wb_error err;
    arena a = {{0}, 0};
    g_name = json_get(v, "name")->str;

    wb_err e = wb_decode(bytes, len, &m, &err);
    CHECK(e == WB_OK, "%s: decode failed: %s (%s at %zu)", g_name, wb_err_name(e), err.field ? err.field : "-",
          err.offset);
    if (e == WB_OK) {
      check_decoded(&m, json_get(v, "envelope"));
      /* re-encoding the decoded message gives the same bytes */
      e = wb_encode(&m, out, sizeof out, &out_len, &err);
      CHECK(e == WB_OK && out_len == len && memcmp(out, bytes, len) == 0, "%s: re-encode differs", g_name);
    }
    /* encoding the JSON envelope gives the vector's bytes */
    CHECK(msg_from_json(&a, json_get(v, "envelope"), &built) == 0, "%s: unknown type", g_name);
    e = wb_encode(&built, out, sizeof out, &out_len, &err);
    CHECK(e == WB_OK && out_len == len && memcmp(out, bytes, len) == 0, "%s: encode differs (%s)", g_name,
          wb_err_name(e));
    /* too small a buffer fails cleanly at every size */
    for (size_t cap = 0; cap < len; cap++) {
      e = wb_encode(&built, out, cap, &out_len, NULL);
      CHECK(e == WB_ERR_BUFFER_TOO_SMALL, "%s: encode into %zu bytes gave %s", g_name, cap, wb_err_name(e));
    }
    /* every strict prefix is Truncated */
    for (size_t cut = 0; cut < len; cut++) {
      uint8_t *prefix = malloc(cut ? cut : 1);
      memcpy(prefix, bytes, cut);
      e = wb_decode(prefix, cut, &m, NULL);
      CHECK(e == WB_ERR_TRUNCATED, "%s: prefix of %zu bytes gave %s", g_name, cut, wb_err_name(e));
      free(prefix);
    }
    for (int k = 0; k < a.n; k++) free(a.ptrs[k]);
    free(bytes);
    n++;
  }
  json_free(root);
  return n;
}

int test_invalid_vectors(const char *dir) {
  jval *root = load(dir, "invalid.json");
  const jval *vectors = json_get(root, "vectors");
  int n = 0;
  for (size_t i = 0; i < vectors->count; i++) {
    const jval *v = vectors->items[i];
    size_t len;
    uint8_t *bytes = unhex(json_get(v, "hex")->str, &len);
    /* an exact-size heap copy so ASan catches any read past the end */
    uint8_t *exact = malloc(len ? len : 1);
    memcpy(exact, bytes, len);
    wb_msg m;
    wb_error err = {WB_OK, 0, NULL};
    const char *want = json_get(v, "error")->str;
    g_name = json_get(v, "name")->str;
    wb_err e = wb_decode(len ? exact : NULL, len, &m, &err);
    CHECK(strcmp(wb_err_name(e), want) == 0, "%s: got %s (%s), want %s", g_name, wb_err_name(e),
          err.field ? err.field : "-", want);
    free(exact);
    free(bytes);
    n++;
  }
  json_free(root);
  return n;
}

/* Feeds the stream in chunks of `chunk` bytes and compares frames or the error. */
static void run_frames(const jval *v, size_t chunk) {
  size_t len, nframes = 0;
  uint8_t *stream = unhex(json_get(v, "stream")->str, &len);
  size_t max = (size_t)json_get(v, "maxFrameBytes")->num;
  uint8_t *buf = malloc(max ? max : 1);
  const jval *frames = json_get(v, "frames");
  const jval *error = json_get(v, "error");
  wb_framer f;
  wb_err e = WB_OK;
  wb_framer_init(&f, buf, max);
  for (size_t pos = 0; pos < len && e == WB_OK;) {
    size_t n = len - pos < chunk ? len - pos : chunk;
    size_t off = 0;
    while (off < n) {
      size_t used = 0;
      e = wb_framer_push(&f, stream + pos + off, n - off, &used);
      off += used;
      if (e) break;
      if (f.ready) {
        size_t flen;
        uint8_t *want = frames && nframes < frames->count ? unhex(frames->items[nframes]->str, &flen) : NULL;
        CHECK(want && flen == f.body_len && memcmp(want, f.buf, flen) == 0, "%s: frame %zu differs (chunk %zu)",
              g_name, nframes, chunk);
        free(want);
        nframes++;
      }
    }
    pos += n;
  }
  if (e == WB_OK) e = wb_framer_end(&f);
  if (error) {
    CHECK(strcmp(wb_err_name(e), error->str) == 0, "%s: got %s, want %s (chunk %zu)", g_name, wb_err_name(e),
          error->str, chunk);
  } else {
    CHECK(e == WB_OK && nframes == frames->count, "%s: %s, %zu frames (chunk %zu)", g_name, wb_err_name(e), nframes,
          chunk);
  }
  free(buf);
  free(stream);
}

int test_frame_vectors(const char *dir) {
  jval *root = load(dir, "frames.json");
  const jval *vectors = json_get(root, "vectors");
  int n = 0;
  for (size_t i = 0; i < vectors->count; i++) {
    g_name = json_get(vectors->items[i], "name")->str;
    run_frames(vectors->items[i], 1);
    run_frames(vectors->items[i], 3);
    run_frames(vectors->items[i], 1u << 20);
    n++;
  }
  json_free(root);
  return n;
}

/* Encoder validation: what the TypeScript encoder refuses, the C encoder refuses. */
int test_encoder_rejects(void) {
  uint8_t out[256];
  size_t len;
  wb_msg m;
  int n = 0;
  memset(&m, 0, sizeof m);
  m.type = WB_MSG_HEARTBEAT;
  m.u.heartbeat.uptime_ms = WB_MAX_SAFE_INTEGER + 1u;
  CHECK(wb_encode(&m, out, sizeof out, &len, NULL) == WB_ERR_INTEGER_OUT_OF_RANGE, "uptime 2^53");
  n++;
  m.type = WB_MSG_LOG;
  m.u.log.level = 4;
  m.u.log.message = wb_str_from("x");
  CHECK(wb_encode(&m, out, sizeof out, &len, NULL) == WB_ERR_INVALID_VALUE, "log level 4");
  n++;
  m.u.log.level = 1;
  m.u.log.message.ptr = "\xed\xa0\x80";
  m.u.log.message.len = 3;
  CHECK(wb_encode(&m, out, sizeof out, &len, NULL) == WB_ERR_INVALID_UTF8, "surrogate");
  n++;
  m.type = (wb_msg_type)16;
  CHECK(wb_encode(&m, out, sizeof out, &len, NULL) == WB_ERR_UNKNOWN_TAG, "tag 16");
  n++;
  {
    wb_kv kv[2] = {{{"a", 1}, {"1", 1}}, {{"a", 1}, {"2", 1}}};
    memset(&m, 0, sizeof m);
    m.type = WB_MSG_DEPLOY_APPLICATION;
    m.u.deploy.env.count = 2;
    m.u.deploy.env.items = kv;
    CHECK(wb_encode(&m, out, sizeof out, &len, NULL) == WB_ERR_DUPLICATE_MAP_KEY, "duplicate env key");
    n++;
  }
  {
    wb_app_status st = {{"a", 1}, (wb_app_state)9, {false, {"", 0}}, 0};
    memset(&m, 0, sizeof m);
    m.type = WB_MSG_APPLICATION_STATUS;
    m.u.app_status.apps.count = 1;
    m.u.app_status.apps.items = &st;
    CHECK(wb_encode(&m, out, sizeof out, &len, NULL) == WB_ERR_INVALID_VALUE, "bad state");
    n++;
  }
  {
    /* frame header and FrameTooLarge at the sender */
    memset(&m, 0, sizeof m);
    m.type = WB_MSG_HEARTBEAT;
    m.message_id = 1;
    m.u.heartbeat.uptime_ms = 1000;
    CHECK(wb_encode_frame(&m, out, sizeof out, 256 * 1024, &len, NULL) == WB_OK && len == 12 &&
              memcmp(out, "\x00\x00\x00\x08\x83\x01\x01\x82\x01\x19\x03\xe8", 12) == 0,
          "heartbeat frame");
    CHECK(wb_encode_frame(&m, out, sizeof out, 7, &len, NULL) == WB_ERR_FRAME_TOO_LARGE, "frame > max");
    n += 2;
  }
  return n;
}
