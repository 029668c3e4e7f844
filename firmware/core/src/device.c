/* The device session state machine (protocol v1, docs/protocol.md). */
#include "wasmbed/device.h"

#include <stdio.h>
#include <string.h>

#define HEARTBEAT_TIMEOUT_INTERVALS 3u
#define OUTBOX_LOG 1u
#define OUTBOX_PUBLISH 2u
#define FIRMWARE_SLOT 0xFFu
#define ENROLL_REPLY_TIMEOUT_MS 600000u /* protocol: 10 minutes, an operator may have to approve */
#define ENROLL_RETRY_MIN_MS 60000u
#define ENROLL_RETRY_MAX_MS 3600000u

static void console(wb_device *dev, wb_log_level level, const char *msg) {
  if (dev->platform->console) dev->platform->console(dev->platform->ctx, level, msg);
}

/* A console line that names the endpoint: the endpoint text (up to WB_MAX_ENDPOINT_LENGTH), a
 * claim name (up to WB_ID_MAX) and the sentence around them, so nothing is cut off. */
#define ENDPOINT_LINE_MAX (WB_MAX_ENDPOINT_LENGTH + WB_ID_MAX + 128u)

/* last_error is a bounded summary for DeviceInfo/logs: longer messages are cut on purpose. */
static void set_last_error(wb_device *dev, const char *msg) {
  size_t n = strlen(msg);
  if (n > sizeof dev->last_error - 1) n = sizeof dev->last_error - 1;
  memcpy(dev->last_error, msg, n);
  dev->last_error[n] = '\0';
}

static uint64_t now_ms(wb_device *dev) { return dev->platform->uptime_ms(dev->platform->ctx); }

static void copy_str(char *dst, size_t cap, wb_str s) {
  size_t n = s.len < cap - 1 ? s.len : cap - 1;
  if (n) memcpy(dst, s.ptr, n);
  dst[n] = '\0';
}

void wb_device_init(wb_device *dev, const wb_device_config *config, const wb_platform *platform,
                    const wb_wasm_runtime *runtime, uint8_t *module_mem, size_t module_cap) {
  memset(dev, 0, sizeof *dev);
  dev->config = *config;
  if (dev->config.heartbeat_interval_ms == 0) dev->config.heartbeat_interval_ms = 5000;
  if (dev->config.reconnect_min_ms == 0) dev->config.reconnect_min_ms = 500;
  if (dev->config.reconnect_max_ms < dev->config.reconnect_min_ms) dev->config.reconnect_max_ms = 30000;
  if (dev->config.max_app_size == 0 || dev->config.max_app_size > module_cap) dev->config.max_app_size = module_cap;
  if (dev->config.enroll_reply_timeout_ms == 0) dev->config.enroll_reply_timeout_ms = ENROLL_REPLY_TIMEOUT_MS;
  if (dev->config.enroll_retry_min_ms == 0) dev->config.enroll_retry_min_ms = ENROLL_RETRY_MIN_MS;
  if (dev->config.enroll_retry_max_ms < dev->config.enroll_retry_min_ms)
    dev->config.enroll_retry_max_ms = dev->config.enroll_retry_min_ms > ENROLL_RETRY_MAX_MS
                                          ? dev->config.enroll_retry_min_ms
                                          : ENROLL_RETRY_MAX_MS;
  dev->platform = platform;
  dev->runtime = runtime;
  dev->state = WB_STATE_DISCONNECTED;
  dev->next_message_id = 1;
  dev->heartbeat_interval_ms = dev->config.heartbeat_interval_ms;
  dev->backoff_ms = dev->config.reconnect_min_ms;
  dev->enroll_backoff_ms = dev->config.enroll_retry_min_ms;
  wb_apps_init(&dev->apps, module_mem, module_cap);
  wb_framer_init(&dev->framer, dev->rx, sizeof dev->rx);
}

wb_block_err wb_device_load_blocks(wb_device *dev, const uint8_t *endpoint_block, size_t endpoint_avail,
                                   const uint8_t *credentials_block, size_t credentials_avail) {
  char line[ENDPOINT_LINE_MAX];
  wb_block_err e = wb_parse_endpoint_block(endpoint_block, endpoint_avail, &dev->endpoint);
  dev->have_blocks = false;
  dev->claim_mode = false;
  if (e != WB_BLOCK_OK) {
    snprintf(line, sizeof line, "endpoint block at 0x%08x: %s; not dialling", WB_ENDPOINT_BLOCK_ADDRESS,
             wb_block_err_message(e));
    console(dev, WB_LOG_ERROR, line);
    return e;
  }
  e = wb_parse_credentials_block(credentials_block, credentials_avail, &dev->credentials);
  if (e != WB_BLOCK_OK) {
    snprintf(line, sizeof line, "credentials block at 0x%08x: %s; not dialling", WB_CREDENTIALS_BLOCK_ADDRESS,
             wb_block_err_message(e));
    console(dev, WB_LOG_ERROR, line);
    return e;
  }
  dev->have_blocks = true;
  snprintf(line, sizeof line, "gateway endpoint %s", dev->endpoint.text);
  console(dev, WB_LOG_INFO, line);
  return WB_BLOCK_OK;
}

static wb_block_err use_endpoint(wb_device *dev, const char *endpoint) {
  char line[160];
  size_t len = 0;
  wb_block_err e = WB_BLOCK_INVALID_ARGUMENT;
  dev->have_blocks = false;
  dev->claim_mode = false;
  if (endpoint) {
    while (len <= WB_MAX_ENDPOINT_LENGTH && endpoint[len]) len++;
    e = wb_parse_endpoint_text(endpoint, len, &dev->endpoint);
  }
  if (e != WB_BLOCK_OK) {
    snprintf(line, sizeof line, "gateway endpoint: %s; not dialling", wb_block_err_message(e));
    console(dev, WB_LOG_ERROR, line);
  }
  return e;
}

static bool pem_given(const char *pem, size_t len) { return pem != NULL && len > 0 && pem[len] == '\0'; }

static wb_block_err refuse_target(wb_device *dev, wb_block_err e, const char *why) {
  char line[200];
  snprintf(line, sizeof line, "%s; not dialling", why);
  console(dev, WB_LOG_ERROR, line);
  dev->have_blocks = false;
  dev->claim_mode = false;
  return e;
}

wb_block_err wb_device_use_credentials(wb_device *dev, const char *endpoint, const wb_credentials *c) {
  char line[ENDPOINT_LINE_MAX];
  wb_block_err e = use_endpoint(dev, endpoint);
  if (e != WB_BLOCK_OK) return e;
  if (!c || !pem_given(c->cert_pem, c->cert_len) || !pem_given(c->key_pem, c->key_len) ||
      !pem_given(c->ca_pem, c->ca_len))
    return refuse_target(dev, WB_BLOCK_EMPTY_CREDENTIAL,
                         "credentials: a certificate, key and CA (NUL-terminated PEM) are all needed");
  dev->credentials = *c;
  dev->have_blocks = true;
  snprintf(line, sizeof line, "gateway endpoint %s (device certificate)", dev->endpoint.text);
  console(dev, WB_LOG_INFO, line);
  return WB_BLOCK_OK;
}

wb_block_err wb_device_use_claim(wb_device *dev, const char *endpoint, const wb_claim *claim) {
  char line[ENDPOINT_LINE_MAX];
  const wb_platform *p = dev->platform;
  size_t name_len = 0;
  wb_block_err e = use_endpoint(dev, endpoint);
  if (e != WB_BLOCK_OK) return e;
  if (!p->connect_claim || !p->make_csr || !p->store_certificate)
    return refuse_target(dev, WB_BLOCK_INVALID_ARGUMENT,
                         "claim mode: this platform has no connect_claim / make_csr / store_certificate");
  if (!claim) return refuse_target(dev, WB_BLOCK_INVALID_ARGUMENT, "claim mode: no claim credential");
  if (claim->name)
    while (name_len < WB_ID_MAX && claim->name[name_len]) name_len++;
  if (name_len == 0 || name_len >= WB_ID_MAX)
    return refuse_target(dev, WB_BLOCK_INVALID_ARGUMENT, "claim mode: the device name must be 1..63 bytes");
  if (!pem_given(claim->ca_pem, claim->ca_len))
    return refuse_target(dev, WB_BLOCK_EMPTY_CREDENTIAL,
                         "claim mode: no CA to verify the gateway with (NUL-terminated PEM)");
  bool has_token = claim->token != NULL && claim->token[0] != '\0';
  bool has_cert = claim->cert_pem != NULL || claim->key_pem != NULL;
  if (has_token == has_cert)
    return refuse_target(dev, WB_BLOCK_INVALID_ARGUMENT,
                         "claim mode: give exactly one claim credential, a token or a claim certificate + key");
  if (has_cert && (!pem_given(claim->cert_pem, claim->cert_len) || !pem_given(claim->key_pem, claim->key_len)))
    return refuse_target(dev, WB_BLOCK_EMPTY_CREDENTIAL,
                         "claim mode: the claim certificate and its key must both be NUL-terminated PEM");
  if (has_token && !wb_utf8_valid((const uint8_t *)claim->token, strlen(claim->token)))
    return refuse_target(dev, WB_BLOCK_INVALID_ARGUMENT, "claim mode: the claim token is not UTF-8 text");
  dev->claim = *claim;
  memcpy(dev->claim_name, claim->name, name_len);
  dev->claim_name[name_len] = '\0';
  dev->claim.name = dev->claim_name;
  if (!has_token) dev->claim.token = NULL;
  dev->claim_mode = true;
  dev->have_blocks = true;
  dev->enroll_backoff_ms = dev->config.enroll_retry_min_ms;
  snprintf(line, sizeof line, "gateway endpoint %s; no device certificate: enrolling as %s with a claim %s",
           dev->endpoint.text, dev->claim_name, has_token ? "token" : "certificate");
  console(dev, WB_LOG_INFO, line);
  return WB_BLOCK_OK;
}

static uint32_t new_message_id(wb_device *dev) {
  uint32_t id = dev->next_message_id;
  /* Devices number from 1..2^31-1; the gateway's requests use the upper half, so an
     unsolicited message of ours can never be taken for the reply to a gateway request. */
  dev->next_message_id = id >= 0x7FFFFFFFu ? 1u : id + 1u;
  return id;
}

static void disconnect(wb_device *dev, const char *why) {
  char line[200];
  if (dev->state == WB_STATE_DISCONNECTED) return;
  snprintf(line, sizeof line, "session closed: %s", why);
  console(dev, WB_LOG_WARN, line);
  dev->platform->disconnect(dev->platform->ctx);
  dev->state = WB_STATE_DISCONNECTED;
  dev->stats.disconnects++;
  dev->reconnect_at = now_ms(dev) + dev->backoff_ms;
  dev->net_len = dev->net_pos = 0;
}

static bool send_msg(wb_device *dev, const wb_msg *m) {
  size_t len;
  wb_error err;
  if (dev->state == WB_STATE_DISCONNECTED) return false;
  /* a claim session carries exactly one message: the gateway closes it on anything else */
  if (dev->state == WB_STATE_ENROLLING && m->type != WB_MSG_ENROLLMENT_REQUEST) return false;
  wb_err e = wb_encode_frame(m, dev->tx, sizeof dev->tx, WB_MAX_FRAME, &len, &err);
  if (e != WB_OK) {
    char line[160];
    snprintf(line, sizeof line, "cannot encode %s: %s (%s)", wb_msg_type_name(m->type), wb_err_name(e),
             err.field ? err.field : "-");
    console(dev, WB_LOG_ERROR, line);
    return false;
  }
  if (dev->platform->send(dev->platform->ctx, dev->tx, len) < 0) {
    disconnect(dev, "send failed");
    return false;
  }
  dev->stats.frames_out++;
  return true;
}

static uint64_t timestamp_ms(wb_device *dev) {
  int64_t t = (int64_t)now_ms(dev);
  if (dev->have_unix_time) t += dev->unix_offset_ms;
  return t < 0 ? 0u : (uint64_t)t;
}

static bool send_device_info(wb_device *dev, uint32_t message_id) {
  wb_msg m;
  memset(&m, 0, sizeof m);
  m.message_id = message_id;
  m.type = WB_MSG_DEVICE_INFO;
  m.u.device_info.firmware_version = wb_str_from(dev->config.firmware_version);
  m.u.device_info.mcu_type = wb_str_from(dev->config.mcu_type);
  m.u.device_info.free_memory = dev->platform->free_memory ? dev->platform->free_memory(dev->platform->ctx) : 0u;
  m.u.device_info.max_app_size = dev->config.max_app_size;
  m.u.device_info.wasm_features.count = dev->runtime->feature_count;
  m.u.device_info.wasm_features.items = dev->runtime->features;
  return send_msg(dev, &m);
}

static bool send_heartbeat(wb_device *dev) {
  wb_msg m;
  memset(&m, 0, sizeof m);
  m.message_id = new_message_id(dev);
  m.type = WB_MSG_HEARTBEAT;
  m.u.heartbeat.uptime_ms = now_ms(dev);
  if (!send_msg(dev, &m)) return false;
  dev->stats.heartbeats_sent++;
  return true;
}

static bool send_ack(wb_device *dev, wb_msg_type type, uint32_t id, wb_str app_id, const char *error) {
  wb_msg m;
  wb_ack *a = type == WB_MSG_DEPLOY_ACK ? &m.u.deploy_ack : &m.u.stop_ack;
  memset(&m, 0, sizeof m);
  m.message_id = id;
  m.type = type;
  a->app_id = app_id;
  a->ok = error == NULL;
  a->error = wb_optstr_from(error);
  return send_msg(dev, &m);
}

static bool send_status(wb_device *dev, uint32_t id, int only_slot, wb_str only_id, bool by_id) {
  wb_app_status items[WB_MAX_APPS];
  size_t n = 0;
  wb_msg m;
  for (unsigned i = 0; i < WB_MAX_APPS; i++) {
    const wb_app *a = &dev->apps.apps[i];
    if (!a->in_use) continue;
    if (only_slot >= 0 && (unsigned)only_slot != i) continue;
    if (by_id && !(strlen(a->app_id) == only_id.len && memcmp(a->app_id, only_id.ptr, only_id.len) == 0)) continue;
    wb_apps_status(&dev->apps, i, &items[n++]);
  }
  memset(&m, 0, sizeof m);
  m.message_id = id;
  m.type = WB_MSG_APPLICATION_STATUS;
  m.u.app_status.apps.count = n;
  m.u.app_status.apps.items = items;
  return send_msg(dev, &m);
}

/* --- outbox: host API output from apps (possibly other threads) --------------------------- */

static void lock(wb_device *dev) {
  if (dev->platform->lock) dev->platform->lock(dev->platform->ctx);
}
static void unlock(wb_device *dev) {
  if (dev->platform->unlock) dev->platform->unlock(dev->platform->ctx);
}

/* record: kind, slot, level, topic_len, data_len (2 bytes BE), topic, data */
static bool outbox_put(wb_device *dev, uint8_t kind, unsigned slot, uint8_t level, const char *topic,
                       size_t topic_len, const uint8_t *data, size_t len) {
  size_t need = 6 + topic_len + len;
  bool ok = false;
  lock(dev);
  if (need <= sizeof dev->outbox - dev->outbox_len) {
    uint8_t *p = dev->outbox + dev->outbox_len;
    p[0] = kind;
    p[1] = (uint8_t)slot;
    p[2] = level;
    p[3] = (uint8_t)topic_len;
    p[4] = (uint8_t)(len >> 8);
    p[5] = (uint8_t)len;
    if (topic_len) memcpy(p + 6, topic, topic_len);
    if (len) memcpy(p + 6 + topic_len, data, len);
    dev->outbox_len += need;
    ok = true;
  } else {
    dev->stats.outbox_dropped++;
  }
  unlock(dev);
  return ok;
}

bool wb_device_app_log(wb_device *dev, unsigned slot, wb_log_level level, const char *msg, size_t len) {
  uint8_t text[WB_LOG_MAX_BYTES] = {0}; /* zeroed: gcc -O2 cannot see that len == 0 reads nothing */
  if (len > WB_LOG_MAX_BYTES) len = WB_LOG_MAX_BYTES;
  if (len) memcpy(text, msg, len);
  /* do not cut a UTF-8 sequence in half (the codec refuses invalid UTF-8) */
  for (int k = 0; k < 3 && len > 0 && !wb_utf8_valid(text, len) && text[len - 1] >= 0x80; k++) len--;
  if (!wb_utf8_valid(text, len)) {
    for (size_t i = 0; i < len; i++)
      if (text[i] >= 0x80) text[i] = '?';
  }
  if ((unsigned)level > WB_LOG_ERROR) level = WB_LOG_ERROR;
  return outbox_put(dev, OUTBOX_LOG, slot, (uint8_t)level, NULL, 0, text, len);
}

bool wb_device_app_publish(wb_device *dev, unsigned slot, const char *topic, size_t topic_len, const uint8_t *data,
                           size_t len) {
  if (topic_len == 0 || topic_len > WB_TOPIC_MAX_BYTES || len > WB_PUBLISH_MAX_BYTES) return false;
  return outbox_put(dev, OUTBOX_PUBLISH, slot, 0, topic, topic_len, data, len);
}

void wb_device_log(wb_device *dev, wb_log_level level, const char *message) {
  console(dev, level, message);
  if (dev->state == WB_STATE_ONLINE) (void)wb_device_app_log(dev, FIRMWARE_SLOT, level, message, strlen(message));
}

static void drain_outbox(wb_device *dev) {
  for (;;) {
    size_t rec_len;
    lock(dev);
    if (dev->outbox_len == 0) {
      unlock(dev);
      return;
    }
    rec_len = 6u + dev->outbox[3] + (((size_t)dev->outbox[4] << 8) | dev->outbox[5]);
    memcpy(dev->scratch, dev->outbox, rec_len);
    memmove(dev->outbox, dev->outbox + rec_len, dev->outbox_len - rec_len);
    dev->outbox_len -= rec_len;
    unlock(dev);

    const uint8_t *r = dev->scratch;
    unsigned slot = r[1];
    size_t topic_len = r[3], data_len = ((size_t)r[4] << 8) | r[5];
    wb_msg m;
    memset(&m, 0, sizeof m);
    m.message_id = new_message_id(dev);
    wb_optstr app = wb_optstr_from(NULL);
    if (slot < WB_MAX_APPS && dev->apps.apps[slot].in_use) app = wb_optstr_from(dev->apps.apps[slot].app_id);
    else if (slot != FIRMWARE_SLOT) continue; /* the app is gone */
    if (r[0] == OUTBOX_LOG) {
      m.type = WB_MSG_LOG;
      m.u.log.app_id = app;
      m.u.log.level = r[2];
      m.u.log.message.ptr = (const char *)r + 6;
      m.u.log.message.len = data_len;
      m.u.log.timestamp_ms = timestamp_ms(dev);
    } else {
      if (!app.present) continue;
      m.type = WB_MSG_PUBLISH;
      m.u.publish.app_id = app.value;
      m.u.publish.topic.ptr = (const char *)r + 6;
      m.u.publish.topic.len = topic_len;
      m.u.publish.data.ptr = r + 6 + topic_len;
      m.u.publish.data.len = data_len;
    }
    if (dev->state != WB_STATE_ONLINE || !send_msg(dev, &m)) return;
  }
}

/* --- requests from the gateway ------------------------------------------------------------ */

/*
 * A finished app (Exited, Failed, Stopped) keeps its slot so its final state can be reported;
 * poll_apps reports a change the moment it sees it. When every slot is taken, a deploy takes
 * the first finished app's slot: the runtime frees its instance and the slot is reused.
 */
static int reclaim_finished_slot(wb_device *dev) {
  for (unsigned i = 0; i < WB_MAX_APPS; i++) {
    wb_app *a = &dev->apps.apps[i];
    char ignored[WB_ERROR_MAX];
    char line[WB_ID_MAX + 64];
    if (!a->in_use || (a->state != WB_APP_EXITED && a->state != WB_APP_FAILED && a->state != WB_APP_STOPPED))
      continue;
    snprintf(line, sizeof line, "freeing slot %u of finished app %s", i, a->app_id);
    console(dev, WB_LOG_INFO, line);
    (void)dev->runtime->stop(dev->runtime->ctx, i, ignored, sizeof ignored);
    wb_apps_release(&dev->apps, i);
    return (int)i;
  }
  return -1;
}

static void handle_deploy(wb_device *dev, const wb_msg *msg) {
  const wb_deploy_application *d = &msg->u.deploy;
  char err[WB_ERROR_MAX] = "";
  uint64_t restarts = 0;
  int slot;

  if (d->app_id.len == 0 || d->app_id.len >= WB_ID_MAX) {
    snprintf(err, sizeof err, "appId must be 1..%d bytes", WB_ID_MAX - 1);
  } else if (d->name.len >= WB_ID_MAX || d->entry.len == 0 || d->entry.len >= WB_ID_MAX) {
    snprintf(err, sizeof err, "name and entry must be at most %d bytes (entry not empty)", WB_ID_MAX - 1);
  } else if (d->module.len > dev->config.max_app_size) {
    snprintf(err, sizeof err, "module of %lu bytes exceeds the maximum app size of %lu bytes",
             (unsigned long)d->module.len, (unsigned long)dev->config.max_app_size);
  } else if (dev->config.max_memory_pages && d->limits.memory_pages > dev->config.max_memory_pages) {
    snprintf(err, sizeof err, "memoryPages %lu exceeds this device's limit of %lu",
             (unsigned long)d->limits.memory_pages, (unsigned long)dev->config.max_memory_pages);
  }
  if (err[0]) {
    dev->stats.deploys_failed++;
    send_ack(dev, WB_MSG_DEPLOY_ACK, msg->message_id, d->app_id, err);
    return;
  }

  slot = wb_apps_find(&dev->apps, d->app_id);
  if (slot >= 0) { /* redeploy: replace the running instance */
    char ignored[WB_ERROR_MAX];
    restarts = dev->apps.apps[slot].restarts + 1u;
    (void)dev->runtime->stop(dev->runtime->ctx, (unsigned)slot, ignored, sizeof ignored);
    wb_apps_release(&dev->apps, (unsigned)slot);
  } else {
    slot = wb_apps_alloc(&dev->apps);
    if (slot < 0) slot = reclaim_finished_slot(dev);
  }
  if (slot < 0) {
    snprintf(err, sizeof err, "no free app slot: this device runs at most %d apps and all are running", WB_MAX_APPS);
    dev->stats.deploys_failed++;
    send_ack(dev, WB_MSG_DEPLOY_ACK, msg->message_id, d->app_id, err);
    return;
  }

  wb_app *a = &dev->apps.apps[slot];
  a->in_use = true;
  copy_str(a->app_id, sizeof a->app_id, d->app_id);
  copy_str(a->name, sizeof a->name, d->name);
  copy_str(a->entry, sizeof a->entry, d->entry);
  a->limits = d->limits;
  a->restarts = restarts;
  a->state = WB_APP_DEPLOYING;
  if (d->module.len) memcpy(a->module, d->module.ptr, d->module.len);
  a->module_len = d->module.len;

  wb_app_spec spec;
  spec.app_id = a->app_id;
  spec.name = a->name;
  spec.entry = a->entry;
  spec.module = a->module;
  spec.module_len = a->module_len;
  spec.limits = a->limits;
  spec.env = &d->env;
  spec.args = &d->args;
  if (dev->runtime->start(dev->runtime->ctx, dev, (unsigned)slot, &spec, err, sizeof err) != 0) {
    if (!err[0]) snprintf(err, sizeof err, "the runtime refused the module");
    a->state = WB_APP_FAILED;
    copy_str(a->error, sizeof a->error, wb_str_from(err));
    dev->stats.deploys_failed++;
    send_ack(dev, WB_MSG_DEPLOY_ACK, msg->message_id, d->app_id, err);
    return;
  }
  a->state = WB_APP_RUNNING;
  a->error[0] = '\0';
  if (dev->platform->storage_write)
    (void)dev->platform->storage_write(dev->platform->ctx, a->app_id, a->module, a->module_len);
  dev->stats.deploys_ok++;
  {
    char line[200];
    snprintf(line, sizeof line, "deployed %s (%lu bytes, entry %s, runtime %s)", a->app_id,
             (unsigned long)a->module_len, a->entry, dev->runtime->name);
    console(dev, WB_LOG_INFO, line);
  }
  send_ack(dev, WB_MSG_DEPLOY_ACK, msg->message_id, d->app_id, NULL);
}

static void handle_stop(wb_device *dev, const wb_msg *msg) {
  char err[WB_ERROR_MAX] = "";
  int slot = wb_apps_find(&dev->apps, msg->u.stop.app_id);
  if (slot < 0) {
    char id[WB_ID_MAX];
    copy_str(id, sizeof id, msg->u.stop.app_id);
    snprintf(err, sizeof err, "no app \"%s\" on this device", id);
    send_ack(dev, WB_MSG_STOP_ACK, msg->message_id, msg->u.stop.app_id, err);
    return;
  }
  wb_app *a = &dev->apps.apps[slot];
  if (dev->runtime->stop(dev->runtime->ctx, (unsigned)slot, err, sizeof err) != 0) {
    if (!err[0]) snprintf(err, sizeof err, "the runtime could not stop the app");
    a->state = WB_APP_FAILED;
    copy_str(a->error, sizeof a->error, wb_str_from(err));
    send_ack(dev, WB_MSG_STOP_ACK, msg->message_id, msg->u.stop.app_id, err);
    return;
  }
  if (dev->platform->storage_erase) (void)dev->platform->storage_erase(dev->platform->ctx, a->app_id);
  wb_apps_release(&dev->apps, (unsigned)slot);
  dev->stats.stops++;
  send_ack(dev, WB_MSG_STOP_ACK, msg->message_id, msg->u.stop.app_id, NULL);
}

/* --- claim-based enrollment --------------------------------------------------------------- */

/* After a rejection (or a certificate that could not be kept): a long, doubling, capped wait. */
static void enroll_later(wb_device *dev, const char *why) {
  char line[WB_ERROR_MAX + 64];
  uint32_t wait = dev->enroll_backoff_ms;
  disconnect(dev, why);
  dev->reconnect_at = now_ms(dev) + wait;
  dev->enroll_backoff_ms =
      wait > dev->config.enroll_retry_max_ms / 2u ? dev->config.enroll_retry_max_ms : wait * 2u;
  snprintf(line, sizeof line, "asking to enroll again in %lu s", (unsigned long)(wait / 1000u));
  console(dev, WB_LOG_WARN, line);
}

static bool handle_enrollment_reply(wb_device *dev, const wb_msg *msg) {
  char line[WB_ERROR_MAX + 64];
  if ((msg->type != WB_MSG_ENROLLMENT_ACCEPTED && msg->type != WB_MSG_ENROLLMENT_REJECTED) ||
      msg->message_id != dev->enroll_request_id) {
    dev->stats.protocol_errors++;
    snprintf(line, sizeof line, "%s (messageId %lu) on a claim session: only the answer to EnrollmentRequest %lu may come",
             wb_msg_type_name(msg->type), (unsigned long)msg->message_id, (unsigned long)dev->enroll_request_id);
    set_last_error(dev, line);
    console(dev, WB_LOG_ERROR, line);
    return false;
  }
  if (msg->type == WB_MSG_ENROLLMENT_REJECTED) {
    char reason[WB_ERROR_MAX - 24];
    copy_str(reason, sizeof reason, msg->u.enrollment_rejected.reason);
    dev->stats.enrollments_rejected++;
    snprintf(dev->last_error, sizeof dev->last_error, "enrollment rejected: %s", reason);
    console(dev, WB_LOG_ERROR, dev->last_error);
    enroll_later(dev, "enrollment rejected");
    return true;
  }
  const wb_enrollment_accepted *a = &msg->u.enrollment_accepted;
  wb_credentials issued;
  memset(&issued, 0, sizeof issued);
  if (a->certificate_der.len == 0 || a->ca_certificate_der.len == 0 ||
      dev->platform->store_certificate(dev->platform->ctx, a->certificate_der.ptr, a->certificate_der.len,
                                       a->ca_certificate_der.ptr, a->ca_certificate_der.len, &issued) != 0 ||
      !pem_given(issued.cert_pem, issued.cert_len) || !pem_given(issued.key_pem, issued.key_len) ||
      !pem_given(issued.ca_pem, issued.ca_len)) {
    snprintf(dev->last_error, sizeof dev->last_error,
             "enrollment accepted, but the certificate (%lu bytes) could not be kept for this device's key",
             (unsigned long)a->certificate_der.len);
    console(dev, WB_LOG_ERROR, dev->last_error);
    enroll_later(dev, "certificate not kept");
    return true;
  }
  dev->stats.enrollments_accepted++;
  dev->credentials = issued;
  dev->claim_mode = false;
  console(dev, WB_LOG_INFO, "enrolled: device certificate stored; reconnecting with it");
  disconnect(dev, "enrolled");
  dev->reconnect_at = now_ms(dev); /* at once, with the new certificate */
  dev->backoff_ms = dev->config.reconnect_min_ms;
  dev->enroll_backoff_ms = dev->config.enroll_retry_min_ms;
  return true;
}

bool wb_device_handle_frame(wb_device *dev, const uint8_t *payload, size_t len) {
  wb_msg msg;
  wb_error err;
  wb_err e = wb_decode(payload, len, &msg, &err);
  dev->stats.frames_in++;
  dev->last_rx_at = now_ms(dev);
  if (e != WB_OK) {
    char line[160];
    dev->stats.protocol_errors++;
    snprintf(line, sizeof line, "protocol error %s (%s at byte %lu)", wb_err_name(e), err.field ? err.field : "-",
             (unsigned long)err.offset);
    set_last_error(dev, line);
    console(dev, WB_LOG_ERROR, line);
    return false;
  }
  if (dev->state == WB_STATE_ENROLLING) return handle_enrollment_reply(dev, &msg);
  switch (msg.type) {
    case WB_MSG_HEARTBEAT_ACK: {
      uint64_t interval = msg.u.heartbeat_ack.heartbeat_interval_ms;
      if (interval < 100u) interval = 100u;
      if (interval > 3600000u) interval = 3600000u;
      dev->heartbeat_interval_ms = (uint32_t)interval;
      if (dev->next_heartbeat_at > now_ms(dev) + interval) dev->next_heartbeat_at = now_ms(dev) + interval;
      dev->unix_offset_ms = (int64_t)msg.u.heartbeat_ack.server_time_ms - (int64_t)now_ms(dev);
      dev->have_unix_time = true;
      dev->stats.heartbeat_acks++;
      return true;
    }
    case WB_MSG_DEPLOY_APPLICATION: handle_deploy(dev, &msg); return dev->state == WB_STATE_ONLINE;
    case WB_MSG_STOP_APPLICATION: handle_stop(dev, &msg); return dev->state == WB_STATE_ONLINE;
    case WB_MSG_REQUEST_DEVICE_INFO: return send_device_info(dev, msg.message_id);
    case WB_MSG_REQUEST_APPLICATION_STATUS:
      return send_status(dev, msg.message_id, -1, msg.u.request_status.app_id.value, msg.u.request_status.app_id.present);
    case WB_MSG_ENROLLMENT_ACCEPTED:
    case WB_MSG_ENROLLMENT_REJECTED:
      console(dev, WB_LOG_WARN, "enrollment reply ignored: this device uses provisioned credentials");
      return true;
    default: {
      char line[96];
      snprintf(line, sizeof line, "ignoring %s: a device-to-gateway message", wb_msg_type_name(msg.type));
      console(dev, WB_LOG_WARN, line);
      return true;
    }
  }
}

static void poll_apps(wb_device *dev) {
  for (unsigned i = 0; i < WB_MAX_APPS && dev->state == WB_STATE_ONLINE; i++) {
    wb_app *a = &dev->apps.apps[i];
    char err[WB_ERROR_MAX] = "";
    if (!a->in_use || a->state != WB_APP_RUNNING) continue;
    wb_app_state s = dev->runtime->poll(dev->runtime->ctx, i, err, sizeof err);
    if (s == a->state) continue;
    a->state = s;
    copy_str(a->error, sizeof a->error, wb_str_from(err));
    send_status(dev, new_message_id(dev), (int)i, wb_str_from(""), false);
  }
}

/* The one message of a claim session; then the device only waits for its answer. */
static void send_enrollment_request(wb_device *dev) {
  char line[160];
  wb_msg m;
  dev->state = WB_STATE_ENROLLING;
  /* the outbox is not drained on a claim session, so its scratch buffer holds the CSR */
  int n = dev->platform->make_csr(dev->platform->ctx, dev->claim_name, dev->scratch, sizeof dev->scratch);
  if (n <= 0 || (size_t)n > sizeof dev->scratch) {
    snprintf(dev->last_error, sizeof dev->last_error, "cannot make a CSR for %s (%d)", dev->claim_name, n);
    console(dev, WB_LOG_ERROR, dev->last_error);
    enroll_later(dev, "no CSR");
    return;
  }
  memset(&m, 0, sizeof m);
  m.message_id = new_message_id(dev);
  m.type = WB_MSG_ENROLLMENT_REQUEST;
  m.u.enrollment_request.csr_der.ptr = dev->scratch;
  m.u.enrollment_request.csr_der.len = (size_t)n;
  m.u.enrollment_request.claim_token = wb_optstr_from(dev->claim.token);
  if (!send_msg(dev, &m)) return;
  dev->stats.enroll_requests++;
  dev->enroll_request_id = m.message_id;
  dev->enroll_deadline = now_ms(dev) + dev->config.enroll_reply_timeout_ms;
  snprintf(line, sizeof line, "claim session up; EnrollmentRequest %lu sent (CSR of %d bytes), waiting for approval",
           (unsigned long)m.message_id, n);
  console(dev, WB_LOG_INFO, line);
}

static void try_connect(wb_device *dev) {
  char line[ENDPOINT_LINE_MAX];
  uint64_t now = now_ms(dev);
  if (now < dev->reconnect_at) {
    uint64_t wait = dev->reconnect_at - now;
    dev->platform->sleep_ms(dev->platform->ctx, (uint32_t)(wait > 1000u ? 1000u : wait));
    return;
  }
  snprintf(line, sizeof line, "connecting to %s%s", dev->endpoint.text, dev->claim_mode ? " (claim mode)" : "");
  console(dev, WB_LOG_INFO, line);
  int ret = dev->claim_mode ? dev->platform->connect_claim(dev->platform->ctx, &dev->endpoint, &dev->claim)
                            : dev->platform->connect(dev->platform->ctx, &dev->endpoint, &dev->credentials);
  if (ret != 0) {
    dev->stats.connect_failures++;
    snprintf(line, sizeof line, "connect to %s failed; retrying in %lu ms", dev->endpoint.text,
             (unsigned long)dev->backoff_ms);
    console(dev, WB_LOG_WARN, line);
    dev->reconnect_at = now_ms(dev) + dev->backoff_ms;
    dev->backoff_ms = dev->backoff_ms * 2u > dev->config.reconnect_max_ms ? dev->config.reconnect_max_ms
                                                                          : dev->backoff_ms * 2u;
    return;
  }
  dev->stats.connects++;
  dev->backoff_ms = dev->config.reconnect_min_ms;
  dev->heartbeat_interval_ms = dev->config.heartbeat_interval_ms;
  wb_framer_init(&dev->framer, dev->rx, sizeof dev->rx);
  dev->net_len = dev->net_pos = 0;
  dev->last_rx_at = now_ms(dev);
  if (dev->claim_mode) {
    send_enrollment_request(dev);
    return;
  }
  dev->state = WB_STATE_ONLINE;
  console(dev, WB_LOG_INFO, "mutual TLS session up; sending Hello (DeviceInfo)");
  if (!send_device_info(dev, new_message_id(dev))) return;
  /* first heartbeat right after the Hello, then every interval */
  if (send_heartbeat(dev)) dev->next_heartbeat_at = now_ms(dev) + dev->heartbeat_interval_ms;
}

/* Waits up to wait_ms for bytes and handles every complete frame. */
static void receive(wb_device *dev, uint32_t wait_ms) {
  wb_session_state session = dev->state;
  int n = dev->platform->recv(dev->platform->ctx, dev->net, sizeof dev->net, wait_ms);
  if (n < 0) {
    disconnect(dev, session == WB_STATE_ENROLLING ? "connection closed by the gateway before it answered the "
                                                    "EnrollmentRequest"
                                                  : "connection closed by the gateway");
    return;
  }
  size_t pos = 0;
  while (pos < (size_t)n && dev->state == session) {
    size_t used = 0;
    wb_err e = wb_framer_push(&dev->framer, dev->net + pos, (size_t)n - pos, &used);
    pos += used;
    if (e != WB_OK) {
      dev->stats.protocol_errors++;
      disconnect(dev, "frame above the maximum size");
      break;
    }
    if (dev->framer.ready && !wb_device_handle_frame(dev, dev->framer.buf, dev->framer.body_len)) {
      disconnect(dev, "protocol error");
      break;
    }
  }
}

wb_session_state wb_device_step(wb_device *dev, uint32_t max_wait_ms) {
  if (!dev->have_blocks) {
    dev->platform->sleep_ms(dev->platform->ctx, max_wait_ms);
    return dev->state;
  }
  if (dev->state == WB_STATE_DISCONNECTED) {
    try_connect(dev);
    return dev->state;
  }
  uint64_t now = now_ms(dev);
  if (dev->state == WB_STATE_ENROLLING) { /* no Heartbeat, no app output: only wait for the answer */
    if (now >= dev->enroll_deadline) {
      disconnect(dev, "no answer to the EnrollmentRequest in time; asking again");
      return dev->state;
    }
    uint64_t left = dev->enroll_deadline - now;
    receive(dev, left < max_wait_ms ? (uint32_t)left : max_wait_ms);
    return dev->state;
  }
  if (now - dev->last_rx_at > (uint64_t)HEARTBEAT_TIMEOUT_INTERVALS * dev->heartbeat_interval_ms) {
    disconnect(dev, "no reply from the gateway for 3 heartbeat intervals");
    return dev->state;
  }
  if (now >= dev->next_heartbeat_at) {
    if (!send_heartbeat(dev)) return dev->state;
    dev->next_heartbeat_at = now + dev->heartbeat_interval_ms;
  }
  poll_apps(dev);
  drain_outbox(dev);
  if (dev->state != WB_STATE_ONLINE) return dev->state;

  now = now_ms(dev);
  uint64_t until_beat = dev->next_heartbeat_at > now ? dev->next_heartbeat_at - now : 0u;
  receive(dev, until_beat < max_wait_ms ? (uint32_t)until_beat : max_wait_ms);
  return dev->state;
}
