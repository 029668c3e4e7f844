/*
 * Protocol v1 messages: schema validation on decode (second pass, after wb_cbor_check) and
 * canonical encoding. Field order and error precedence follow protocol/messages.ts.
 */
#include <string.h>

#include "cbor_internal.h"

static const char *const MSG_NAMES[WB_MSG_TYPE_MAX + 1] = {
    NULL,          "Heartbeat",    "HeartbeatAck",    "DeviceInfo",
    "EnrollmentRequest", "EnrollmentAccepted", "EnrollmentRejected", "DeployApplication",
    "DeployAck",   "StopApplication", "StopAck",      "RequestDeviceInfo",
    "RequestApplicationStatus", "ApplicationStatus", "Log", "Publish"};

/* Number of fields after the tag, per message type. */
static const uint8_t FIELD_COUNT[WB_MSG_TYPE_MAX + 1] = {0, 1, 2, 5, 2, 2, 1, 7, 3, 1, 3, 0, 1, 1, 4, 3};

static const char *const STATE_NAMES[WB_APP_STATE_COUNT] = {"Deploying", "Running", "Exited", "Failed",
                                                            "Stopped"};

const char *wb_msg_type_name(uint64_t tag) {
  if (tag < WB_MSG_TYPE_MIN || tag > WB_MSG_TYPE_MAX) return NULL;
  return MSG_NAMES[tag];
}

const char *wb_app_state_name(wb_app_state state) {
  return (unsigned)state < WB_APP_STATE_COUNT ? STATE_NAMES[state] : "Unknown";
}

wb_str wb_str_from(const char *s) {
  wb_str out;
  out.ptr = s ? s : "";
  out.len = s ? strlen(s) : 0;
  return out;
}

wb_optstr wb_optstr_from(const char *s) {
  wb_optstr out;
  out.present = s != NULL;
  out.value = wb_str_from(s);
  return out;
}

bool wb_str_eq(wb_str a, const char *s) {
  size_t n = strlen(s);
  return a.len == n && (n == 0 || memcmp(a.ptr, s, n) == 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Decoding (input already accepted by wb_cbor_check)                                          */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
  wb_reader r;
  wb_error *err;
} dec;

static wb_err dfail(dec *d, wb_err code, const char *field, size_t offset) {
  if (d->err) {
    d->err->code = code;
    d->err->field = field;
    d->err->offset = offset;
  }
  return code;
}

static wb_err d_uint(dec *d, const char *field, uint64_t max, uint64_t *out) {
  wb_head h;
  wb_read_head(&d->r, &h);
  if (h.major != WB_MT_UINT) return dfail(d, WB_ERR_WRONG_TYPE, field, h.start);
  if (h.arg > max) return dfail(d, WB_ERR_INTEGER_OUT_OF_RANGE, field, h.start);
  *out = h.arg;
  return WB_OK;
}

static bool d_peek_null(dec *d) {
  if (d->r.buf[d->r.pos] == WB_SIMPLE_NULL) {
    d->r.pos++;
    return true;
  }
  return false;
}

static wb_err d_text(dec *d, const char *field, wb_str *out) {
  wb_head h;
  size_t at = d->r.pos;
  if ((d->r.buf[at] >> 5) != WB_MT_TSTR) return dfail(d, WB_ERR_WRONG_TYPE, field, at);
  wb_read_head(&d->r, &h);
  out->ptr = (const char *)(d->r.buf + d->r.pos);
  out->len = (size_t)h.arg;
  d->r.pos += (size_t)h.arg;
  return WB_OK;
}

static wb_err d_opttext(dec *d, const char *field, wb_optstr *out) {
  if (d_peek_null(d)) {
    out->present = false;
    out->value.ptr = "";
    out->value.len = 0;
    return WB_OK;
  }
  out->present = true;
  return d_text(d, field, &out->value);
}

static wb_err d_bytes(dec *d, const char *field, wb_bytes *out) {
  wb_head h;
  size_t at = d->r.pos;
  if ((d->r.buf[at] >> 5) != WB_MT_BSTR) return dfail(d, WB_ERR_WRONG_TYPE, field, at);
  wb_read_head(&d->r, &h);
  out->ptr = d->r.buf + d->r.pos;
  out->len = (size_t)h.arg;
  d->r.pos += (size_t)h.arg;
  return WB_OK;
}

static wb_err d_bool(dec *d, const char *field, bool *out) {
  uint8_t b = d->r.buf[d->r.pos];
  if (b != WB_SIMPLE_FALSE && b != WB_SIMPLE_TRUE) return dfail(d, WB_ERR_WRONG_TYPE, field, d->r.pos);
  d->r.pos++;
  *out = b == WB_SIMPLE_TRUE;
  return WB_OK;
}

/* An array header (any length); *count = its item count. */
static wb_err d_array(dec *d, const char *field, uint64_t *count) {
  wb_head h;
  size_t at = d->r.pos;
  if ((d->r.buf[at] >> 5) != WB_MT_ARRAY) return dfail(d, WB_ERR_WRONG_TYPE, field, at);
  wb_read_head(&d->r, &h);
  *count = h.arg;
  return WB_OK;
}

/* An array of exactly n items. */
static wb_err d_tuple(dec *d, const char *field, uint64_t n) {
  uint64_t count;
  size_t at = d->r.pos;
  wb_err e = d_array(d, field, &count);
  if (e) return e;
  if (count != n) return dfail(d, WB_ERR_WRONG_ARRAY_LENGTH, field, at);
  return WB_OK;
}

static wb_err d_strlist(dec *d, const char *field, wb_strlist *out) {
  uint64_t count;
  wb_err e = d_array(d, field, &count);
  if (e) return e;
  size_t raw_start = d->r.pos;
  for (uint64_t i = 0; i < count; i++) {
    wb_str s;
    e = d_text(d, field, &s);
    if (e) return e;
  }
  out->count = (size_t)count;
  out->items = NULL;
  out->raw = d->r.buf + raw_start;
  out->raw_len = d->r.pos - raw_start;
  return WB_OK;
}

static wb_err d_strmap(dec *d, const char *field, wb_strmap *out) {
  wb_head h;
  size_t at = d->r.pos;
  if ((d->r.buf[at] >> 5) != WB_MT_MAP) return dfail(d, WB_ERR_WRONG_TYPE, field, at);
  wb_read_head(&d->r, &h);
  size_t raw_start = d->r.pos;
  for (uint64_t i = 0; i < h.arg; i++) {
    wb_str key, value;
    wb_err e = d_text(d, field, &key); /* keys: text, sorted, unique (checked by wb_cbor_check) */
    if (e) return e;
    e = d_text(d, field, &value);
    if (e) return e;
  }
  out->count = (size_t)h.arg;
  out->items = NULL;
  out->raw = d->r.buf + raw_start;
  out->raw_len = d->r.pos - raw_start;
  return WB_OK;
}

static wb_err d_state(dec *d, const char *field, wb_app_state *out) {
  wb_str s;
  size_t at = d->r.pos;
  wb_err e = d_text(d, field, &s);
  if (e) return e;
  for (unsigned i = 0; i < WB_APP_STATE_COUNT; i++) {
    if (wb_str_eq(s, STATE_NAMES[i])) {
      *out = (wb_app_state)i;
      return WB_OK;
    }
  }
  return dfail(d, WB_ERR_INVALID_VALUE, field, at);
}

static wb_err d_app_entry(dec *d, wb_app_status *out) {
  wb_err e = d_tuple(d, "ApplicationStatus.apps[]", 4);
  if (!e) e = d_text(d, "ApplicationStatus.apps[].appId", &out->app_id);
  if (!e) e = d_state(d, "ApplicationStatus.apps[].state", &out->state);
  if (!e) e = d_opttext(d, "ApplicationStatus.apps[].error", &out->error);
  if (!e) e = d_uint(d, "ApplicationStatus.apps[].restarts", WB_MAX_SAFE_INTEGER, &out->restarts);
  return e;
}

static wb_err d_applist(dec *d, wb_applist *out) {
  uint64_t count;
  wb_err e = d_array(d, "ApplicationStatus.apps", &count);
  if (e) return e;
  size_t raw_start = d->r.pos;
  for (uint64_t i = 0; i < count; i++) {
    wb_app_status entry;
    e = d_app_entry(d, &entry);
    if (e) return e;
  }
  out->count = (size_t)count;
  out->items = NULL;
  out->raw = d->r.buf + raw_start;
  out->raw_len = d->r.pos - raw_start;
  return WB_OK;
}

static wb_err d_body(dec *d, wb_msg *m) {
  wb_err e = WB_OK;
  uint64_t v;
  switch (m->type) {
    case WB_MSG_HEARTBEAT:
      return d_uint(d, "Heartbeat.uptimeMs", WB_MAX_SAFE_INTEGER, &m->u.heartbeat.uptime_ms);
    case WB_MSG_HEARTBEAT_ACK:
      e = d_uint(d, "HeartbeatAck.serverTimeMs", WB_MAX_SAFE_INTEGER, &m->u.heartbeat_ack.server_time_ms);
      if (!e)
        e = d_uint(d, "HeartbeatAck.heartbeatIntervalMs", WB_MAX_SAFE_INTEGER,
                   &m->u.heartbeat_ack.heartbeat_interval_ms);
      return e;
    case WB_MSG_DEVICE_INFO: {
      wb_device_info *x = &m->u.device_info;
      e = d_text(d, "DeviceInfo.firmwareVersion", &x->firmware_version);
      if (!e) e = d_text(d, "DeviceInfo.mcuType", &x->mcu_type);
      if (!e) e = d_uint(d, "DeviceInfo.freeMemory", WB_MAX_SAFE_INTEGER, &x->free_memory);
      if (!e) e = d_uint(d, "DeviceInfo.maxAppSize", WB_MAX_SAFE_INTEGER, &x->max_app_size);
      if (!e) e = d_strlist(d, "DeviceInfo.wasmFeatures", &x->wasm_features);
      return e;
    }
    case WB_MSG_ENROLLMENT_REQUEST:
      e = d_bytes(d, "EnrollmentRequest.csrDer", &m->u.enrollment_request.csr_der);
      if (!e) e = d_opttext(d, "EnrollmentRequest.claimToken", &m->u.enrollment_request.claim_token);
      return e;
    case WB_MSG_ENROLLMENT_ACCEPTED:
      e = d_bytes(d, "EnrollmentAccepted.certificateDer", &m->u.enrollment_accepted.certificate_der);
      if (!e) e = d_bytes(d, "EnrollmentAccepted.caCertificateDer", &m->u.enrollment_accepted.ca_certificate_der);
      return e;
    case WB_MSG_ENROLLMENT_REJECTED:
      return d_text(d, "EnrollmentRejected.reason", &m->u.enrollment_rejected.reason);
    case WB_MSG_DEPLOY_APPLICATION: {
      wb_deploy_application *x = &m->u.deploy;
      e = d_text(d, "DeployApplication.appId", &x->app_id);
      if (!e) e = d_text(d, "DeployApplication.name", &x->name);
      if (!e) e = d_bytes(d, "DeployApplication.module", &x->module);
      if (!e) e = d_text(d, "DeployApplication.entry", &x->entry);
      if (!e) e = d_tuple(d, "DeployApplication.limits", 2);
      if (!e) e = d_uint(d, "DeployApplication.limits.memoryPages", WB_MAX_SAFE_INTEGER, &x->limits.memory_pages);
      if (!e) {
        x->limits.has_cpu_ms_per_call = !d_peek_null(d);
        x->limits.cpu_ms_per_call = 0;
        if (x->limits.has_cpu_ms_per_call)
          e = d_uint(d, "DeployApplication.limits.cpuMsPerCall", WB_MAX_SAFE_INTEGER, &x->limits.cpu_ms_per_call);
      }
      if (!e) e = d_strmap(d, "DeployApplication.env", &x->env);
      if (!e) e = d_strlist(d, "DeployApplication.args", &x->args);
      return e;
    }
    case WB_MSG_DEPLOY_ACK:
    case WB_MSG_STOP_ACK: {
      wb_ack *x = m->type == WB_MSG_DEPLOY_ACK ? &m->u.deploy_ack : &m->u.stop_ack;
      bool deploy = m->type == WB_MSG_DEPLOY_ACK;
      e = d_text(d, deploy ? "DeployAck.appId" : "StopAck.appId", &x->app_id);
      if (!e) e = d_bool(d, deploy ? "DeployAck.ok" : "StopAck.ok", &x->ok);
      if (!e) e = d_opttext(d, deploy ? "DeployAck.error" : "StopAck.error", &x->error);
      return e;
    }
    case WB_MSG_STOP_APPLICATION:
      return d_text(d, "StopApplication.appId", &m->u.stop.app_id);
    case WB_MSG_REQUEST_DEVICE_INFO:
      return WB_OK;
    case WB_MSG_REQUEST_APPLICATION_STATUS:
      return d_opttext(d, "RequestApplicationStatus.appId", &m->u.request_status.app_id);
    case WB_MSG_APPLICATION_STATUS:
      return d_applist(d, &m->u.app_status.apps);
    case WB_MSG_LOG: {
      wb_log *x = &m->u.log;
      size_t at;
      e = d_opttext(d, "Log.appId", &x->app_id);
      at = d->r.pos;
      if (!e) e = d_uint(d, "Log.level", WB_MAX_SAFE_INTEGER, &v);
      if (!e && v > 3) e = dfail(d, WB_ERR_INVALID_VALUE, "Log.level", at);
      if (!e) x->level = (uint8_t)v;
      if (!e) e = d_text(d, "Log.message", &x->message);
      if (!e) e = d_uint(d, "Log.timestampMs", WB_MAX_SAFE_INTEGER, &x->timestamp_ms);
      return e;
    }
    case WB_MSG_PUBLISH:
      e = d_text(d, "Publish.appId", &m->u.publish.app_id);
      if (!e) e = d_text(d, "Publish.topic", &m->u.publish.topic);
      if (!e) e = d_bytes(d, "Publish.data", &m->u.publish.data);
      return e;
  }
  return dfail(d, WB_ERR_INTERNAL, "envelope.body.tag", d->r.pos);
}

wb_err wb_decode(const uint8_t *buf, size_t len, wb_msg *out, wb_error *err) {
  wb_err e;
  dec d;
  uint64_t n, v;
  size_t at;

  if (out == NULL) return WB_ERR_INVALID_ARGUMENT;
  memset(out, 0, sizeof *out);
  e = wb_cbor_check(buf, len, err);
  if (e) return e;

  d.r.buf = buf;
  d.r.len = len;
  d.r.pos = 0;
  d.err = err;

  /* The version is checked before anything else about the envelope's shape. */
  at = d.r.pos;
  e = d_array(&d, "envelope", &n);
  if (e) return e;
  if (n == 0) return dfail(&d, WB_ERR_WRONG_ARRAY_LENGTH, "envelope", at);
  e = d_uint(&d, "envelope.version", WB_MAX_SAFE_INTEGER, &v);
  if (e) return e;
  if (v != WB_PROTOCOL_VERSION) return dfail(&d, WB_ERR_UNSUPPORTED_VERSION, "envelope.version", at + 1);
  if (n != 3) return dfail(&d, WB_ERR_WRONG_ARRAY_LENGTH, "envelope", at);
  e = d_uint(&d, "envelope.messageId", WB_MAX_MESSAGE_ID, &v);
  if (e) return e;
  out->message_id = (uint32_t)v;

  at = d.r.pos;
  e = d_array(&d, "envelope.body", &n);
  if (e) return e;
  if (n == 0) return dfail(&d, WB_ERR_WRONG_ARRAY_LENGTH, "envelope.body", at);
  e = d_uint(&d, "envelope.body.tag", WB_MAX_SAFE_INTEGER, &v);
  if (e) return e;
  if (v < WB_MSG_TYPE_MIN || v > WB_MSG_TYPE_MAX) return dfail(&d, WB_ERR_UNKNOWN_TAG, "envelope.body.tag", at);
  out->type = (wb_msg_type)v;
  if (n != 1u + FIELD_COUNT[v]) return dfail(&d, WB_ERR_WRONG_ARRAY_LENGTH, MSG_NAMES[v], at);
  e = d_body(&d, out);
  if (e) return e;
  if (d.r.pos != len) return dfail(&d, WB_ERR_INTERNAL, "envelope", d.r.pos); /* cannot happen */
  return WB_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Iterators                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static void raw_text(const uint8_t *raw, size_t *offset, wb_str *out) {
  wb_reader r;
  wb_head h;
  r.buf = raw;
  r.len = SIZE_MAX;
  r.pos = *offset;
  wb_read_head(&r, &h);
  out->ptr = (const char *)(raw + r.pos);
  out->len = (size_t)h.arg;
  *offset = r.pos + (size_t)h.arg;
}

bool wb_strlist_next(const wb_strlist *list, wb_iter *it, wb_str *out) {
  if (it->index >= list->count) return false;
  if (list->items) *out = list->items[it->index];
  else raw_text(list->raw, &it->offset, out);
  it->index++;
  return true;
}

bool wb_strmap_next(const wb_strmap *map, wb_iter *it, wb_kv *out) {
  if (it->index >= map->count) return false;
  if (map->items) {
    *out = map->items[it->index];
  } else {
    raw_text(map->raw, &it->offset, &out->key);
    raw_text(map->raw, &it->offset, &out->value);
  }
  it->index++;
  return true;
}

bool wb_applist_next(const wb_applist *list, wb_iter *it, wb_app_status *out) {
  if (it->index >= list->count) return false;
  if (list->items) {
    *out = list->items[it->index];
  } else {
    dec d;
    d.r.buf = list->raw;
    d.r.len = list->raw_len;
    d.r.pos = it->offset;
    d.err = NULL;
    (void)d_app_entry(&d, out); /* validated when decoded */
    it->offset = d.r.pos;
  }
  it->index++;
  return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Encoding                                                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
  wb_writer w;
  wb_error *err;
  wb_err first;
} enc;

static void efail(enc *e, wb_err code, const char *field) {
  if (e->first) return;
  e->first = code;
  if (e->err) {
    e->err->code = code;
    e->err->field = field;
    e->err->offset = e->w.len;
  }
}

static void e_uint(enc *e, const char *field, uint64_t v, uint64_t max) {
  if (v > max) efail(e, WB_ERR_INTEGER_OUT_OF_RANGE, field);
  wb_write_head(&e->w, WB_MT_UINT, v);
}

static void e_text(enc *e, const char *field, wb_str s) {
  if (s.len > 0 && s.ptr == NULL) {
    efail(e, WB_ERR_INVALID_ARGUMENT, field);
    return;
  }
  if (!wb_utf8_valid((const uint8_t *)s.ptr, s.len)) efail(e, WB_ERR_INVALID_UTF8, field);
  wb_write_head(&e->w, WB_MT_TSTR, s.len);
  wb_write_bytes(&e->w, s.ptr, s.len);
}

static void e_opttext(enc *e, const char *field, wb_optstr s) {
  if (!s.present) wb_write_byte(&e->w, WB_SIMPLE_NULL);
  else e_text(e, field, s.value);
}

static void e_bytes(enc *e, const char *field, wb_bytes b) {
  if (b.len > 0 && b.ptr == NULL) {
    efail(e, WB_ERR_INVALID_ARGUMENT, field);
    return;
  }
  wb_write_head(&e->w, WB_MT_BSTR, b.len);
  wb_write_bytes(&e->w, b.ptr, b.len);
}

static void e_bool(enc *e, bool b) { wb_write_byte(&e->w, b ? WB_SIMPLE_TRUE : WB_SIMPLE_FALSE); }

static void e_strlist(enc *e, const char *field, const wb_strlist *l) {
  wb_write_head(&e->w, WB_MT_ARRAY, l->count);
  if (l->items == NULL) {
    if (l->count > 0 && l->raw == NULL) efail(e, WB_ERR_INVALID_ARGUMENT, field);
    else wb_write_bytes(&e->w, l->raw, l->raw_len);
    return;
  }
  for (size_t i = 0; i < l->count; i++) e_text(e, field, l->items[i]);
}

/* Canonical key order: shorter UTF-8 first, then bytewise (= order of the encoded keys). */
static int key_cmp(wb_str a, wb_str b) {
  if (a.len != b.len) return a.len < b.len ? -1 : 1;
  return a.len ? memcmp(a.ptr, b.ptr, a.len) : 0;
}

static void e_strmap(enc *e, const char *field, const wb_strmap *m) {
  wb_write_head(&e->w, WB_MT_MAP, m->count);
  if (m->items == NULL) {
    if (m->count > 0 && m->raw == NULL) efail(e, WB_ERR_INVALID_ARGUMENT, field);
    else wb_write_bytes(&e->w, m->raw, m->raw_len);
    return;
  }
  /* Emit in canonical order without allocating: repeatedly pick the smallest key above the last. */
  const wb_kv *last = NULL;
  for (size_t n = 0; n < m->count; n++) {
    const wb_kv *best = NULL;
    for (size_t i = 0; i < m->count; i++) {
      const wb_kv *kv = &m->items[i];
      int above = last == NULL ? 1 : key_cmp(kv->key, last->key);
      if (above == 0 && kv != last) {
        efail(e, WB_ERR_DUPLICATE_MAP_KEY, field);
        return;
      }
      if (above > 0 && (best == NULL || key_cmp(kv->key, best->key) < 0)) best = kv;
    }
    if (best == NULL) { /* only duplicates remain */
      efail(e, WB_ERR_DUPLICATE_MAP_KEY, field);
      return;
    }
    e_text(e, field, best->key);
    e_text(e, field, best->value);
    last = best;
  }
}

static void e_app_entry(enc *e, const wb_app_status *a) {
  wb_write_head(&e->w, WB_MT_ARRAY, 4);
  e_text(e, "ApplicationStatus.apps[].appId", a->app_id);
  if ((unsigned)a->state >= WB_APP_STATE_COUNT) {
    efail(e, WB_ERR_INVALID_VALUE, "ApplicationStatus.apps[].state");
    return;
  }
  e_text(e, "ApplicationStatus.apps[].state", wb_str_from(STATE_NAMES[a->state]));
  e_opttext(e, "ApplicationStatus.apps[].error", a->error);
  e_uint(e, "ApplicationStatus.apps[].restarts", a->restarts, WB_MAX_SAFE_INTEGER);
}

static void e_body(enc *e, const wb_msg *m) {
  const uint64_t MAX = WB_MAX_SAFE_INTEGER;
  wb_write_head(&e->w, WB_MT_ARRAY, 1u + FIELD_COUNT[m->type]);
  wb_write_head(&e->w, WB_MT_UINT, (uint64_t)m->type);
  switch (m->type) {
    case WB_MSG_HEARTBEAT:
      e_uint(e, "Heartbeat.uptimeMs", m->u.heartbeat.uptime_ms, MAX);
      break;
    case WB_MSG_HEARTBEAT_ACK:
      e_uint(e, "HeartbeatAck.serverTimeMs", m->u.heartbeat_ack.server_time_ms, MAX);
      e_uint(e, "HeartbeatAck.heartbeatIntervalMs", m->u.heartbeat_ack.heartbeat_interval_ms, MAX);
      break;
    case WB_MSG_DEVICE_INFO:
      e_text(e, "DeviceInfo.firmwareVersion", m->u.device_info.firmware_version);
      e_text(e, "DeviceInfo.mcuType", m->u.device_info.mcu_type);
      e_uint(e, "DeviceInfo.freeMemory", m->u.device_info.free_memory, MAX);
      e_uint(e, "DeviceInfo.maxAppSize", m->u.device_info.max_app_size, MAX);
      e_strlist(e, "DeviceInfo.wasmFeatures", &m->u.device_info.wasm_features);
      break;
    case WB_MSG_ENROLLMENT_REQUEST:
      e_bytes(e, "EnrollmentRequest.csrDer", m->u.enrollment_request.csr_der);
      e_opttext(e, "EnrollmentRequest.claimToken", m->u.enrollment_request.claim_token);
      break;
    case WB_MSG_ENROLLMENT_ACCEPTED:
      e_bytes(e, "EnrollmentAccepted.certificateDer", m->u.enrollment_accepted.certificate_der);
      e_bytes(e, "EnrollmentAccepted.caCertificateDer", m->u.enrollment_accepted.ca_certificate_der);
      break;
    case WB_MSG_ENROLLMENT_REJECTED:
      e_text(e, "EnrollmentRejected.reason", m->u.enrollment_rejected.reason);
      break;
    case WB_MSG_DEPLOY_APPLICATION: {
      const wb_deploy_application *x = &m->u.deploy;
      e_text(e, "DeployApplication.appId", x->app_id);
      e_text(e, "DeployApplication.name", x->name);
      e_bytes(e, "DeployApplication.module", x->module);
      e_text(e, "DeployApplication.entry", x->entry);
      wb_write_head(&e->w, WB_MT_ARRAY, 2);
      e_uint(e, "DeployApplication.limits.memoryPages", x->limits.memory_pages, MAX);
      if (x->limits.has_cpu_ms_per_call)
        e_uint(e, "DeployApplication.limits.cpuMsPerCall", x->limits.cpu_ms_per_call, MAX);
      else
        wb_write_byte(&e->w, WB_SIMPLE_NULL);
      e_strmap(e, "DeployApplication.env", &x->env);
      e_strlist(e, "DeployApplication.args", &x->args);
      break;
    }
    case WB_MSG_DEPLOY_ACK:
    case WB_MSG_STOP_ACK: {
      const wb_ack *x = m->type == WB_MSG_DEPLOY_ACK ? &m->u.deploy_ack : &m->u.stop_ack;
      e_text(e, "Ack.appId", x->app_id);
      e_bool(e, x->ok);
      e_opttext(e, "Ack.error", x->error);
      break;
    }
    case WB_MSG_STOP_APPLICATION:
      e_text(e, "StopApplication.appId", m->u.stop.app_id);
      break;
    case WB_MSG_REQUEST_DEVICE_INFO:
      break;
    case WB_MSG_REQUEST_APPLICATION_STATUS:
      e_opttext(e, "RequestApplicationStatus.appId", m->u.request_status.app_id);
      break;
    case WB_MSG_APPLICATION_STATUS: {
      const wb_applist *l = &m->u.app_status.apps;
      wb_write_head(&e->w, WB_MT_ARRAY, l->count);
      if (l->items == NULL) {
        if (l->count > 0 && l->raw == NULL) efail(e, WB_ERR_INVALID_ARGUMENT, "ApplicationStatus.apps");
        else wb_write_bytes(&e->w, l->raw, l->raw_len);
      } else {
        for (size_t i = 0; i < l->count; i++) e_app_entry(e, &l->items[i]);
      }
      break;
    }
    case WB_MSG_LOG:
      e_opttext(e, "Log.appId", m->u.log.app_id);
      if (m->u.log.level > 3) efail(e, WB_ERR_INVALID_VALUE, "Log.level");
      wb_write_head(&e->w, WB_MT_UINT, m->u.log.level);
      e_text(e, "Log.message", m->u.log.message);
      e_uint(e, "Log.timestampMs", m->u.log.timestamp_ms, MAX);
      break;
    case WB_MSG_PUBLISH:
      e_text(e, "Publish.appId", m->u.publish.app_id);
      e_text(e, "Publish.topic", m->u.publish.topic);
      e_bytes(e, "Publish.data", m->u.publish.data);
      break;
  }
}

wb_err wb_encode(const wb_msg *msg, uint8_t *buf, size_t cap, size_t *out_len, wb_error *err) {
  enc e;
  if (out_len) *out_len = 0;
  if (err) {
    err->code = WB_OK;
    err->field = NULL;
    err->offset = 0;
  }
  if (msg == NULL || (buf == NULL && cap != 0)) return WB_ERR_INVALID_ARGUMENT;
  e.w.buf = buf;
  e.w.cap = cap;
  e.w.len = 0;
  e.w.overflow = false;
  e.err = err;
  e.first = WB_OK;
  if ((unsigned)msg->type < WB_MSG_TYPE_MIN || (unsigned)msg->type > WB_MSG_TYPE_MAX) {
    efail(&e, WB_ERR_UNKNOWN_TAG, "body.type");
    return e.first;
  }
  wb_write_head(&e.w, WB_MT_ARRAY, 3);
  wb_write_head(&e.w, WB_MT_UINT, WB_PROTOCOL_VERSION);
  wb_write_head(&e.w, WB_MT_UINT, msg->message_id);
  e_body(&e, msg);
  if (e.first) return e.first;
  if (e.w.overflow) {
    efail(&e, WB_ERR_BUFFER_TOO_SMALL, "envelope");
    return e.first;
  }
  if (out_len) *out_len = e.w.len;
  return WB_OK;
}

wb_err wb_encode_frame(const wb_msg *msg, uint8_t *buf, size_t cap, size_t max_frame, size_t *out_len,
                       wb_error *err) {
  size_t n = 0;
  wb_err e;
  if (out_len) *out_len = 0;
  if (buf == NULL || cap < WB_FRAME_HEADER_BYTES) return WB_ERR_BUFFER_TOO_SMALL;
  e = wb_encode(msg, buf + WB_FRAME_HEADER_BYTES, cap - WB_FRAME_HEADER_BYTES, &n, err);
  if (e) return e;
  if (n > max_frame) { /* max_frame is far below the 4-byte header limit */
    if (err) err->code = WB_ERR_FRAME_TOO_LARGE;
    return WB_ERR_FRAME_TOO_LARGE;
  }
  buf[0] = (uint8_t)(n >> 24);
  buf[1] = (uint8_t)(n >> 16);
  buf[2] = (uint8_t)(n >> 8);
  buf[3] = (uint8_t)n;
  if (out_len) *out_len = n + WB_FRAME_HEADER_BYTES;
  return WB_OK;
}
