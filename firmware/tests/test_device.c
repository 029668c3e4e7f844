/* The device state machine against a scripted in-memory gateway (fake_platform.c). */
#include <stdlib.h>
#include <string.h>

#include "fake_platform.h"
#include "testutil.h"

static fake_platform F;
static wb_device D;
static uint8_t MODULES[WB_MAX_APPS * 4096];

static void boot(size_t max_app_size) {
  static uint8_t ep[64], cred[512];
  wb_device_config cfg = {"0.1.0-test", "Stm32F746gDisco", max_app_size, 4, 5000, 500, 4000, 0, 0, 0};
  fake_init(&F);
  F.quiet = getenv("WB_TEST_VERBOSE") == NULL;
  wb_device_init(&D, &cfg, &F.platform, &wb_standin_runtime, MODULES, 4096);
  size_t el = wb_build_endpoint_block("127.0.0.1:8081", ep, sizeof ep);
  size_t cl = wb_build_credentials_block("CERT", "KEY", "CA", cred, sizeof cred);
  CHECK(wb_device_load_blocks(&D, ep, el, cred, cl) == WB_BLOCK_OK, "blocks");
}

static bool expect(wb_msg_type type, wb_msg *out) {
  wb_msg m;
  while (fake_next_sent(&F, &m)) {
    if (m.type == type) {
      *out = m;
      return true;
    }
    if (m.type != WB_MSG_LOG && m.type != WB_MSG_HEARTBEAT) {
      CHECK(0, "unexpected %s while waiting for %s", wb_msg_type_name(m.type), wb_msg_type_name(type));
      return false;
    }
  }
  CHECK(0, "no %s sent", wb_msg_type_name(type));
  return false;
}

static void deploy(uint32_t id, const char *app, const uint8_t *module, size_t len, const char *entry) {
  wb_msg m;
  memset(&m, 0, sizeof m);
  m.type = WB_MSG_DEPLOY_APPLICATION;
  m.message_id = id;
  m.u.deploy.app_id = wb_str_from(app);
  m.u.deploy.name = wb_str_from("blink");
  m.u.deploy.module.ptr = module;
  m.u.deploy.module.len = len;
  m.u.deploy.entry = wb_str_from(entry);
  m.u.deploy.limits.memory_pages = 2;
  fake_gateway_send(&F, &m);
}

/* Steps until the device has read everything queued for it, then `steps` more. */
static void run(int steps) {
  for (int i = 0; i < 10000 && F.connected && F.inbox_pos < F.inbox_len; i++) wb_device_step(&D, 50);
  for (int i = 0; i < steps; i++) wb_device_step(&D, 50);
}

static const wb_ack *ack_of(wb_msg *m) { return m->type == WB_MSG_DEPLOY_ACK ? &m->u.deploy_ack : &m->u.stop_ack; }

int test_device(void) {
  wb_msg m, req;
  int n = 0;

  /* Hello first, then a heartbeat */
  boot(4096);
  run(1);
  CHECK(D.state == WB_STATE_ONLINE && F.connects == 1, "connects");
  CHECK(fake_next_sent(&F, &m) && m.type == WB_MSG_DEVICE_INFO, "first message is DeviceInfo");
  CHECK(wb_str_eq(m.u.device_info.mcu_type, "Stm32F746gDisco") && m.u.device_info.max_app_size == 4096 &&
            m.u.device_info.free_memory == 123456 && m.u.device_info.wasm_features.count == 1,
        "DeviceInfo fields");
  CHECK(fake_next_sent(&F, &m) && m.type == WB_MSG_HEARTBEAT, "then a Heartbeat");
  n += 4;

  /* HeartbeatAck sets the interval; heartbeats follow it */
  memset(&req, 0, sizeof req);
  req.type = WB_MSG_HEARTBEAT_ACK;
  req.message_id = m.message_id;
  req.u.heartbeat_ack.server_time_ms = 1700000000000ull;
  req.u.heartbeat_ack.heartbeat_interval_ms = 1000;
  fake_gateway_send(&F, &req);
  run(3);
  CHECK(D.heartbeat_interval_ms == 1000 && D.stats.heartbeat_acks == 1, "interval from HeartbeatAck");
  uint32_t before = D.stats.heartbeats_sent;
  for (int i = 0; i < 30; i++) {
    if (F.inbox_pos == F.inbox_len) fake_gateway_send(&F, &req); /* keep the session alive */
    F.clock_ms += 200;
    wb_device_step(&D, 200);
  }
  CHECK(D.stats.heartbeats_sent >= before + 4, "heartbeats every interval (%u sent)", D.stats.heartbeats_sent - before);
  F.sent_pos = F.sent_len;
  n += 2;

  /* deploy -> DeployAck ok with the request's messageId; the app is Running */
  deploy(77, "app-1", TEST_MODULE, TEST_MODULE_LEN, "_start");
  run(4);
  CHECK(expect(WB_MSG_DEPLOY_ACK, &m) && m.message_id == 77 && ack_of(&m)->ok && !ack_of(&m)->error.present,
        "DeployAck ok");
  memset(&req, 0, sizeof req);
  req.type = WB_MSG_REQUEST_APPLICATION_STATUS;
  req.message_id = 78;
  fake_gateway_send(&F, &req);
  run(3);
  {
    wb_iter it = {0, 0};
    wb_app_status st;
    CHECK(expect(WB_MSG_APPLICATION_STATUS, &m) && m.message_id == 78 && m.u.app_status.apps.count == 1 &&
              wb_applist_next(&m.u.app_status.apps, &it, &st) && wb_str_eq(st.app_id, "app-1") &&
              st.state == WB_APP_RUNNING && st.restarts == 0,
          "ApplicationStatus Running");
  }
  n += 2;

  /* redeploy the same app: replaced, restarts counts it */
  deploy(79, "app-1", TEST_MODULE, TEST_MODULE_LEN, "_start");
  run(4);
  CHECK(expect(WB_MSG_DEPLOY_ACK, &m) && ack_of(&m)->ok && D.apps.apps[0].restarts == 1 && wb_apps_count(&D.apps) == 1,
        "redeploy replaces");
  n++;

  /* refused modules: bad magic, missing entry, foreign import, too large, too many pages */
  {
    static uint8_t bad[128], big[5000];
    memcpy(bad, TEST_MODULE, TEST_MODULE_LEN);
    bad[1] = 'X';
    deploy(80, "bad-magic", bad, TEST_MODULE_LEN, "_start");
    run(4);
    CHECK(expect(WB_MSG_DEPLOY_ACK, &m) && !ack_of(&m)->ok && ack_of(&m)->error.present, "bad magic refused");
    deploy(81, "no-entry", TEST_MODULE, TEST_MODULE_LEN, "main");
    run(4);
    CHECK(expect(WB_MSG_DEPLOY_ACK, &m) && !ack_of(&m)->ok, "missing entry refused");
    memcpy(bad, TEST_MODULE, TEST_MODULE_LEN);
    memcpy(bad + 23, "wasmbeX", 7);
    deploy(82, "foreign", bad, TEST_MODULE_LEN, "_start");
    run(4);
    CHECK(expect(WB_MSG_DEPLOY_ACK, &m) && !ack_of(&m)->ok, "foreign import refused");
    memset(big, 0, sizeof big);
    deploy(83, "big", big, sizeof big, "_start");
    run(8);
    CHECK(expect(WB_MSG_DEPLOY_ACK, &m) && !ack_of(&m)->ok && m.message_id == 83, "too large refused");
    memset(&req, 0, sizeof req);
    req.type = WB_MSG_DEPLOY_APPLICATION;
    req.message_id = 84;
    req.u.deploy.app_id = wb_str_from("pages");
    req.u.deploy.entry = wb_str_from("_start");
    req.u.deploy.module.ptr = TEST_MODULE;
    req.u.deploy.module.len = TEST_MODULE_LEN;
    req.u.deploy.limits.memory_pages = 5;
    fake_gateway_send(&F, &req);
    run(4);
    CHECK(expect(WB_MSG_DEPLOY_ACK, &m) && !ack_of(&m)->ok, "memoryPages above the device limit refused");
    deploy(85, "", TEST_MODULE, TEST_MODULE_LEN, "_start");
    run(4);
    CHECK(expect(WB_MSG_DEPLOY_ACK, &m) && !ack_of(&m)->ok, "empty appId refused");
    n += 6;
  }

  /* the failed deploys that reached the runtime are reported Failed; fill the table */
  memset(&req, 0, sizeof req);
  req.type = WB_MSG_REQUEST_APPLICATION_STATUS;
  req.message_id = 86;
  req.u.request_status.app_id = wb_optstr_from("bad-magic");
  fake_gateway_send(&F, &req);
  run(3);
  {
    wb_iter it = {0, 0};
    wb_app_status st;
    CHECK(expect(WB_MSG_APPLICATION_STATUS, &m) && m.u.app_status.apps.count == 1 &&
              wb_applist_next(&m.u.app_status.apps, &it, &st) && st.state == WB_APP_FAILED && st.error.present,
          "a refused module is Failed with its error");
  }
  /* the table is full (app-1 Running, three Failed); deploys take the finished apps' slots */
  CHECK(wb_apps_count(&D.apps) == WB_MAX_APPS, "table full: %d apps", (int)wb_apps_count(&D.apps));
  deploy(87, "app-4", TEST_MODULE, TEST_MODULE_LEN, "_start");
  run(4);
  CHECK(expect(WB_MSG_DEPLOY_ACK, &m) && ack_of(&m)->ok && wb_apps_find(&D.apps, wb_str_from("bad-magic")) < 0 &&
            wb_apps_find(&D.apps, wb_str_from("app-4")) >= 0,
        "a deploy takes a finished app's slot");
  deploy(88, "app-5", TEST_MODULE, TEST_MODULE_LEN, "_start");
  run(4);
  CHECK(expect(WB_MSG_DEPLOY_ACK, &m) && ack_of(&m)->ok, "second finished slot reused");
  deploy(89, "app-6", TEST_MODULE, TEST_MODULE_LEN, "_start");
  run(4);
  CHECK(expect(WB_MSG_DEPLOY_ACK, &m) && ack_of(&m)->ok, "third finished slot reused");
  deploy(187, "app-7", TEST_MODULE, TEST_MODULE_LEN, "_start");
  run(4);
  CHECK(expect(WB_MSG_DEPLOY_ACK, &m) && !ack_of(&m)->ok && ack_of(&m)->error.present,
        "no free slot when every app is running: %d apps", (int)wb_apps_count(&D.apps));
  n += 6;

  /* stop: known app ok, unknown app refused */
  memset(&req, 0, sizeof req);
  req.type = WB_MSG_STOP_APPLICATION;
  req.message_id = 90;
  req.u.stop.app_id = wb_str_from("app-1");
  fake_gateway_send(&F, &req);
  run(3);
  CHECK(expect(WB_MSG_STOP_ACK, &m) && m.message_id == 90 && ack_of(&m)->ok && wb_apps_find(&D.apps, wb_str_from("app-1")) < 0,
        "StopAck ok");
  req.message_id = 91;
  fake_gateway_send(&F, &req);
  run(3);
  CHECK(expect(WB_MSG_STOP_ACK, &m) && m.message_id == 91 && !ack_of(&m)->ok && ack_of(&m)->error.present,
        "stopping an unknown app is refused");
  n += 2;

  /* RequestDeviceInfo -> DeviceInfo with its messageId */
  memset(&req, 0, sizeof req);
  req.type = WB_MSG_REQUEST_DEVICE_INFO;
  req.message_id = 92;
  fake_gateway_send(&F, &req);
  run(3);
  CHECK(expect(WB_MSG_DEVICE_INFO, &m) && m.message_id == 92, "DeviceInfo reply");
  n++;

  /* a malformed frame closes the session; the device reconnects and says Hello again */
  {
    static const uint8_t garbage[] = {0, 0, 0, 2, 0x9f, 0xff};
    fake_gateway_send_raw(&F, garbage, sizeof garbage);
    run(3);
    CHECK(D.stats.protocol_errors == 1 && D.stats.disconnects == 1, "protocol error closes the session");
    run(20);
    CHECK(D.state == WB_STATE_ONLINE && F.connects == 2, "reconnects after the backoff");
    CHECK(expect(WB_MSG_DEVICE_INFO, &m), "Hello again after reconnecting");
    n += 3;
  }

  /* a frame header above the maximum closes the session at once */
  {
    static const uint8_t huge[] = {0x7f, 0xff, 0xff, 0xff};
    fake_gateway_send_raw(&F, huge, sizeof huge);
    run(2);
    CHECK(D.stats.disconnects == 2, "oversized frame closes the session");
    n++;
  }

  /* silence for 3 heartbeat intervals closes the session */
  run(40);
  CHECK(D.state == WB_STATE_ONLINE, "back online");
  {
    uint32_t d0 = D.stats.disconnects;
    for (int i = 0; i < 100 && D.stats.disconnects == d0; i++) wb_device_step(&D, 1000);
    CHECK(D.stats.disconnects == d0 + 1, "heartbeat timeout closes the session");
    n++;
  }

  /* connect failures back off exponentially up to the maximum */
  F.connect_result = -1;
  run(200);
  CHECK(D.backoff_ms == 4000 && D.state == WB_STATE_DISCONNECTED, "backoff capped (%u)", D.backoff_ms);
  n++;

  /* invalid blocks: the device never dials */
  {
    static uint8_t ep[64], cred[64];
    fake_init(&F);
    F.quiet = true;
    wb_device_config cfg = {"0.1.0", "Stm32F746gDisco", 4096, 4, 5000, 500, 4000, 0, 0, 0};
    wb_device_init(&D, &cfg, &F.platform, &wb_standin_runtime, MODULES, 4096);
    size_t el = wb_build_endpoint_block("127.0.0.1:8081", ep, sizeof ep);
    ep[9] ^= 1; /* CRC no longer matches */
    CHECK(wb_device_load_blocks(&D, ep, el, cred, sizeof cred) == WB_BLOCK_CRC_MISMATCH, "bad endpoint block");
    run(5);
    CHECK(F.connects == 0, "does not dial garbage");
    n += 2;
  }

  /* host API output: logs are truncated to valid UTF-8, publishes capped */
  {
    boot(4096);
    run(1);
    F.sent_pos = F.sent_len;
    deploy(5, "pub", TEST_MODULE, TEST_MODULE_LEN, "_start");
    run(4);
    CHECK(expect(WB_MSG_DEPLOY_ACK, &m) && ack_of(&m)->ok, "deploy for publish");
    uint8_t data[3] = {1, 2, 3};
    CHECK(wb_device_app_publish(&D, 0, "temp", 4, data, 3), "publish queued");
    CHECK(!wb_device_app_publish(&D, 0, "", 0, data, 3), "empty topic refused");
    CHECK(wb_device_app_log(&D, 0, WB_LOG_INFO, "caf\xc3", 4), "log with a cut UTF-8 sequence");
    run(2);
    CHECK(expect(WB_MSG_PUBLISH, &m) && wb_str_eq(m.u.publish.topic, "temp") && m.u.publish.data.len == 3,
          "Publish sent");
    {
      bool found = false;
      while (fake_next_sent(&F, &m))
        if (m.type == WB_MSG_LOG && m.u.log.app_id.present && wb_str_eq(m.u.log.message, "caf")) found = true;
      CHECK(found, "Log sent with the partial sequence removed");
    }
    n += 6;
  }
  return n;
}

int test_wasm(void) {
  char err[128];
  int n = 0;
  CHECK(wb_wasm_validate(TEST_MODULE, TEST_MODULE_LEN, "_start", 1, err, sizeof err) == 0, "valid: %s", err);
  CHECK(wb_wasm_validate(TEST_MODULE, TEST_MODULE_LEN, "_start", 0, err, sizeof err) == 0, "no page limit");
  n += 2;
  for (size_t cut = 0; cut < TEST_MODULE_LEN; cut++) {
    uint8_t *m = malloc(cut + 1);
    memcpy(m, TEST_MODULE, cut);
    /* any strict prefix either lacks the entry export or is truncated */
    CHECK(wb_wasm_validate(m, cut, "_start", 1, err, sizeof err) != 0, "prefix %zu accepted", cut);
    free(m);
    n++;
  }
  {
    uint8_t m[128];
    memcpy(m, TEST_MODULE, TEST_MODULE_LEN);
    m[35] = 0x01; /* wasmbed.log imported with the () -> () type */
    CHECK(wb_wasm_validate(m, TEST_MODULE_LEN, "_start", 1, err, sizeof err) != 0 && strstr(err, "signature"),
          "wrong host signature refused: %s", err);
    memcpy(m, TEST_MODULE, TEST_MODULE_LEN);
    memcpy(m + 31, "lug", 3);
    CHECK(wb_wasm_validate(m, TEST_MODULE_LEN, "_start", 1, err, sizeof err) != 0 && strstr(err, "host API"),
          "unknown host function refused: %s", err);
    n += 2;
  }
  return n;
}
