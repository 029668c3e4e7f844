/* Claim-based enrollment in the device state machine, against the scripted gateway. */
#include <stdlib.h>
#include <string.h>

#include "fake_platform.h"
#include "testutil.h"

static fake_platform F;
static wb_device D;
static uint8_t MODULES[WB_MAX_APPS * 4096];

static const char CA_PEM[] = "-----BEGIN CERTIFICATE-----platform CA";
static const uint8_t CERT_DER[] = {0x30, 0x82, 0x01, 0x0a, 'c', 'e', 'r', 't'};
static const uint8_t CA_DER[] = {0x30, 0x82, 0x01, 0x0b, 'c', 'a'};

static wb_claim token_claim(const char *token) {
  wb_claim c;
  memset(&c, 0, sizeof c);
  c.name = "board-7";
  c.token = token;
  c.ca_pem = CA_PEM;
  c.ca_len = sizeof CA_PEM - 1;
  return c;
}

/* A board with the enrollment hooks and no device certificate, claiming with a token. */
static void boot_claim(void) {
  wb_device_config cfg = {"0.1.0-test", "Stm32F746gDisco", 4096, 4, 5000, 500, 4000, 0, 0, 0};
  fake_init(&F);
  fake_enable_enrollment(&F);
  F.quiet = getenv("WB_TEST_VERBOSE") == NULL;
  wb_device_init(&D, &cfg, &F.platform, &wb_standin_runtime, MODULES, 4096);
  wb_claim c = token_claim("claim-token-123");
  CHECK(wb_device_use_claim(&D, "gateway.example:8443", &c) == WB_BLOCK_OK, "claim accepted");
}

/* Steps until the device has read everything queued for it, then `steps` more. */
static void run(int steps) {
  for (int i = 0; i < 10000 && F.connected && F.inbox_pos < F.inbox_len; i++) wb_device_step(&D, 50);
  for (int i = 0; i < steps; i++) wb_device_step(&D, 50);
}

static size_t sent_count(void) {
  wb_msg m;
  size_t n = 0, pos = F.sent_pos;
  while (fake_next_sent(&F, &m)) n++;
  F.sent_pos = pos;
  return n;
}

static void answer(wb_msg_type type, uint32_t id, const char *reason) {
  wb_msg m;
  memset(&m, 0, sizeof m);
  m.type = type;
  m.message_id = id;
  if (type == WB_MSG_ENROLLMENT_ACCEPTED) {
    m.u.enrollment_accepted.certificate_der.ptr = CERT_DER;
    m.u.enrollment_accepted.certificate_der.len = sizeof CERT_DER;
    m.u.enrollment_accepted.ca_certificate_der.ptr = CA_DER;
    m.u.enrollment_accepted.ca_certificate_der.len = sizeof CA_DER;
  } else if (type == WB_MSG_ENROLLMENT_REJECTED) {
    m.u.enrollment_rejected.reason = wb_str_from(reason);
  } else if (type == WB_MSG_HEARTBEAT_ACK) {
    m.u.heartbeat_ack.server_time_ms = 1700000000000ull;
    m.u.heartbeat_ack.heartbeat_interval_ms = 1000;
  }
  fake_gateway_send(&F, &m);
}

/* Connects in claim mode; checks the one EnrollmentRequest and returns its messageId. */
static uint32_t expect_request(const char *what) {
  wb_msg m;
  run(1);
  CHECK(D.state == WB_STATE_ENROLLING && F.claim_session, "%s: claim session up", what);
  CHECK(fake_next_sent(&F, &m) && m.type == WB_MSG_ENROLLMENT_REQUEST, "%s: EnrollmentRequest first", what);
  CHECK(m.u.enrollment_request.csr_der.len == strlen("CSR(CN=board-7)") &&
            memcmp(m.u.enrollment_request.csr_der.ptr, "CSR(CN=board-7)", m.u.enrollment_request.csr_der.len) == 0,
        "%s: the CSR from make_csr for the device name", what);
  CHECK(m.u.enrollment_request.claim_token.present &&
            wb_str_eq(m.u.enrollment_request.claim_token.value, "claim-token-123"),
        "%s: carries the claim token", what);
  CHECK(m.message_id >= 1 && m.message_id <= 0x7FFFFFFFu, "%s: a device messageId", what);
  return m.message_id;
}

int test_enrollment(void) {
  wb_msg m;
  int n = 0;

  /* accepted: one request, nothing else while waiting; the certificate is stored and the
   * device reconnects in normal mode with it and says Hello */
  {
    boot_claim();
    uint32_t id = expect_request("accepted path");
    for (int i = 0; i < 590; i++) wb_device_step(&D, 1000); /* almost the 10-minute reply timeout */
    CHECK(D.state == WB_STATE_ENROLLING && sent_count() == 0,
          "nothing but the request while waiting (no Hello, no Heartbeat): %u sent", (unsigned)sent_count());
    answer(WB_MSG_ENROLLMENT_ACCEPTED, id, NULL);
    run(0);
    CHECK(F.stores == 1 && F.stored_cert_len == sizeof CERT_DER &&
              memcmp(F.stored_cert, CERT_DER, sizeof CERT_DER) == 0 && F.stored_ca_len == sizeof CA_DER &&
              memcmp(F.stored_ca, CA_DER, sizeof CA_DER) == 0,
          "certificate and CA (DER) handed to store_certificate");
    CHECK(!D.claim_mode && D.stats.enrollments_accepted == 1 && D.state == WB_STATE_DISCONNECTED,
          "claim session closed after EnrollmentAccepted");
    run(1);
    CHECK(D.state == WB_STATE_ONLINE && F.connects == 1 && !F.claim_session &&
              strcmp(F.connected_with, FAKE_ENROLLED_CERT) == 0,
          "reconnected at once in normal mode with the stored certificate (%s)", F.connected_with);
    CHECK(fake_next_sent(&F, &m) && m.type == WB_MSG_DEVICE_INFO && m.message_id > id, "then Hello (DeviceInfo)");
    CHECK(fake_next_sent(&F, &m) && m.type == WB_MSG_HEARTBEAT, "and heartbeats");
    CHECK(F.claim_connects == 1 && D.stats.enroll_requests == 1, "enrolled once");
    /* a stray enrollment reply on a device session is ignored, not fatal */
    answer(WB_MSG_ENROLLMENT_ACCEPTED, id, NULL);
    run(1);
    CHECK(D.state == WB_STATE_ONLINE && F.stores == 1, "EnrollmentAccepted outside claim mode is ignored");
    n += 12;
  }

  /* rejected: the reason is logged, the device waits at least a minute, then asks again with
   * a new request; repeated rejections double the wait up to the cap */
  {
    boot_claim();
    uint32_t id = expect_request("rejected path");
    answer(WB_MSG_ENROLLMENT_REJECTED, id, "not approved by the operator");
    run(0);
    CHECK(D.state == WB_STATE_DISCONNECTED && D.stats.enrollments_rejected == 1 && F.stores == 0 &&
              D.claim_mode,
          "EnrollmentRejected closes the claim session");
    CHECK(fake_logged(&F, "enrollment rejected: not approved by the operator") &&
              strstr(D.last_error, "not approved by the operator") != NULL,
          "the reason is logged");
    CHECK(D.reconnect_at >= F.clock_ms + 59000u, "backs off at least 60 s (%llu ms)",
          (unsigned long long)(D.reconnect_at - F.clock_ms));
    for (int i = 0; i < 58; i++) wb_device_step(&D, 1000);
    CHECK(F.claim_connects == 1 && F.connects == 0, "does not dial again within the minute");
    for (int i = 0; i < 5 && D.state != WB_STATE_ENROLLING; i++) wb_device_step(&D, 1000);
    uint32_t id2 = expect_request("after the backoff");
    CHECK(F.claim_connects == 2 && id2 != id, "asks again after the backoff with a new messageId");
    uint64_t prev = 60000u;
    bool doubling = true;
    for (int k = 0; k < 12; k++) {
      answer(WB_MSG_ENROLLMENT_REJECTED, D.enroll_request_id, "still no");
      run(0);
      uint64_t wait = D.reconnect_at - F.clock_ms;
      if (k < 5 && wait != prev * 2u) doubling = false;
      prev = wait;
      F.clock_ms = D.reconnect_at;
      for (int i = 0; i < 3 && D.state != WB_STATE_ENROLLING; i++) wb_device_step(&D, 50);
      F.sent_pos = F.sent_len;
    }
    CHECK(doubling, "the wait doubles after each rejection");
    CHECK(prev == 3600000u, "and is capped at an hour (%llu ms)", (unsigned long long)prev);
    CHECK(F.connects == 0 && F.stores == 0, "never connected as a device");
    n += 8;
  }

  /* anything but the answer on a claim session closes it, and the device sends nothing */
  {
    static const wb_msg_type unexpected[] = {WB_MSG_HEARTBEAT_ACK, WB_MSG_DEPLOY_APPLICATION,
                                             WB_MSG_REQUEST_DEVICE_INFO, WB_MSG_ENROLLMENT_ACCEPTED};
    for (size_t k = 0; k < sizeof unexpected / sizeof unexpected[0]; k++) {
      boot_claim();
      uint32_t id = expect_request("unexpected message");
      if (unexpected[k] == WB_MSG_DEPLOY_APPLICATION) {
        memset(&m, 0, sizeof m);
        m.type = WB_MSG_DEPLOY_APPLICATION;
        m.message_id = 0x80000001u;
        m.u.deploy.app_id = wb_str_from("app");
        m.u.deploy.entry = wb_str_from("_start");
        m.u.deploy.module.ptr = TEST_MODULE;
        m.u.deploy.module.len = TEST_MODULE_LEN;
        fake_gateway_send(&F, &m);
      } else if (unexpected[k] == WB_MSG_ENROLLMENT_ACCEPTED) {
        answer(WB_MSG_ENROLLMENT_ACCEPTED, id + 1u, NULL); /* not the request's messageId */
      } else {
        answer(unexpected[k], 0x80000002u, NULL);
      }
      run(0);
      CHECK(D.state == WB_STATE_DISCONNECTED && D.stats.disconnects == 1 && D.stats.protocol_errors == 1 &&
                sent_count() == 0 && F.stores == 0 && wb_apps_count(&D.apps) == 0 && D.claim_mode,
            "%s on a claim session closes it, nothing sent", wb_msg_type_name(unexpected[k]));
      CHECK(D.reconnect_at - F.clock_ms <= 4000u, "then an ordinary reconnect backoff");
      n += 2;
    }
  }

  /* no answer in 10 minutes, or the gateway closing first: the device asks again */
  {
    boot_claim();
    uint32_t id = expect_request("reply timeout");
    for (int i = 0; i < 700 && D.state == WB_STATE_ENROLLING; i++) wb_device_step(&D, 1000);
    CHECK(D.state == WB_STATE_DISCONNECTED && fake_logged(&F, "no answer to the EnrollmentRequest in time"),
          "the request times out after 10 minutes");
    for (int i = 0; i < 10 && D.state != WB_STATE_ENROLLING; i++) wb_device_step(&D, 200);
    CHECK(expect_request("re-sent") != id, "and is sent again");
    F.connected = false; /* the gateway went away */
    run(1);
    CHECK(D.state == WB_STATE_DISCONNECTED &&
              fake_logged(&F, "connection closed by the gateway before it answered the EnrollmentRequest"),
          "a closed claim session is noticed");
    n += 3;
  }

  /* a certificate the platform cannot keep, or no CSR: no device session, the long backoff */
  {
    boot_claim();
    F.store_result = -1;
    answer(WB_MSG_ENROLLMENT_ACCEPTED, expect_request("store fails"), NULL);
    run(0);
    CHECK(D.claim_mode && D.state == WB_STATE_DISCONNECTED && D.reconnect_at >= F.clock_ms + 60000u &&
              fake_logged(&F, "could not be kept"),
          "a certificate that cannot be stored keeps the device in claim mode");
    boot_claim();
    F.csr_result = -5;
    run(1);
    CHECK(D.state == WB_STATE_DISCONNECTED && sent_count() == 0 && fake_logged(&F, "cannot make a CSR") &&
              D.reconnect_at >= F.clock_ms + 60000u,
          "no CSR: nothing sent, long backoff");
    n += 2;
  }

  /* a claim credential: exactly one of token / certificate, a CA, a name, and the hooks */
  {
    wb_device_config cfg = {"0.1.0-test", "Stm32F746gDisco", 4096, 4, 5000, 500, 4000, 0, 0, 0};
    static const char CERT[] = "claim cert", KEY[] = "claim key";
    wb_claim c;
    fake_init(&F);
    F.quiet = true;
    wb_device_init(&D, &cfg, &F.platform, &wb_standin_runtime, MODULES, 4096);
    c = token_claim("t");
    CHECK(wb_device_use_claim(&D, "gateway.example:8443", &c) == WB_BLOCK_INVALID_ARGUMENT && !D.have_blocks,
          "a platform without the enrollment hooks cannot claim");
    fake_enable_enrollment(&F);
    CHECK(wb_device_use_claim(&D, "gateway.example", &c) == WB_BLOCK_BAD_ENDPOINT, "endpoint without a port");
    c = token_claim(NULL);
    CHECK(wb_device_use_claim(&D, "gateway.example:8443", &c) == WB_BLOCK_INVALID_ARGUMENT, "no credential");
    c = token_claim("t");
    c.cert_pem = CERT;
    c.cert_len = sizeof CERT - 1;
    c.key_pem = KEY;
    c.key_len = sizeof KEY - 1;
    CHECK(wb_device_use_claim(&D, "gateway.example:8443", &c) == WB_BLOCK_INVALID_ARGUMENT, "token and certificate");
    c.token = NULL;
    c.ca_len = 0;
    CHECK(wb_device_use_claim(&D, "gateway.example:8443", &c) == WB_BLOCK_EMPTY_CREDENTIAL, "no CA");
    c = token_claim("t");
    c.name = "";
    CHECK(wb_device_use_claim(&D, "gateway.example:8443", &c) == WB_BLOCK_INVALID_ARGUMENT, "no name");
    run(3);
    CHECK(F.connects == 0 && F.claim_connects == 0, "a refused claim dials nothing");
    /* a claim certificate instead of a token: the request carries no token */
    c = token_claim(NULL);
    c.cert_pem = CERT;
    c.cert_len = sizeof CERT - 1;
    c.key_pem = KEY;
    c.key_len = sizeof KEY - 1;
    CHECK(wb_device_use_claim(&D, "gateway.example:8443", &c) == WB_BLOCK_OK, "claim certificate accepted");
    run(1);
    CHECK(F.claim_connects == 1 && F.claim_token[0] == '\0' && fake_next_sent(&F, &m) &&
              m.type == WB_MSG_ENROLLMENT_REQUEST && !m.u.enrollment_request.claim_token.present,
          "with a claim certificate the EnrollmentRequest has claimToken null");
    n += 9;
  }

  /* a board that enrolled before boots with its own credentials: no enrollment */
  {
    wb_device_config cfg = {"0.1.0-test", "Stm32F746gDisco", 4096, 4, 5000, 500, 4000, 0, 0, 0};
    static const char CERT[] = "-----BEGIN CERTIFICATE-----from flash", KEY[] = "key", CA[] = "ca";
    wb_credentials cred = {CERT, sizeof CERT - 1, KEY, sizeof KEY - 1, CA, sizeof CA - 1};
    fake_init(&F);
    fake_enable_enrollment(&F);
    F.quiet = true;
    wb_device_init(&D, &cfg, &F.platform, &wb_standin_runtime, MODULES, 4096);
    CHECK(wb_device_use_credentials(&D, "10.0.0.5:8443", &cred) == WB_BLOCK_OK, "stored credentials");
    run(1);
    CHECK(D.state == WB_STATE_ONLINE && F.claim_connects == 0 && strcmp(F.connected_with, CERT) == 0 &&
              fake_next_sent(&F, &m) && m.type == WB_MSG_DEVICE_INFO,
          "connects with them and says Hello");
    cred.key_len = 0;
    CHECK(wb_device_use_credentials(&D, "10.0.0.5:8443", &cred) == WB_BLOCK_EMPTY_CREDENTIAL, "empty key refused");
    n += 3;
  }
  return n;
}
