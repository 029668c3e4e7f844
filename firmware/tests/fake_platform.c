#include "fake_platform.h"

#include <stdio.h>
#include <string.h>

const uint8_t TEST_MODULE[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,                                     /* header */
    0x01, 0x09, 0x02, 0x60, 0x02, 0x7f, 0x7f, 0x00, 0x60, 0x00, 0x00,                   /* types */
    0x02, 0x0f, 0x01, 0x07, 'w',  'a',  's',  'm',  'b',  'e',  'd',  0x03, 'l', 'o', 'g', 0x00, 0x00, /* import */
    0x03, 0x02, 0x01, 0x01,                                                             /* functions */
    0x05, 0x03, 0x01, 0x00, 0x01,                                                       /* memory */
    0x07, 0x13, 0x02, 0x06, '_',  's',  't',  'a',  'r',  't',  0x00, 0x01, 0x06, 'm', 'e', 'm', 'o', 'r', 'y',
    0x02, 0x00,                                                                         /* exports */
    0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b                                                  /* code */
};
const size_t TEST_MODULE_LEN = sizeof TEST_MODULE;

static int f_connect(void *ctx, const wb_endpoint *ep, const wb_credentials *c) {
  fake_platform *f = ctx;
  (void)ep;
  f->connects++;
  snprintf(f->connected_with, sizeof f->connected_with, "%s", c->cert_pem);
  f->claim_session = false;
  if (f->connect_result == 0) f->connected = true;
  return f->connect_result;
}
static int f_connect_claim(void *ctx, const wb_endpoint *ep, const wb_claim *claim) {
  fake_platform *f = ctx;
  (void)ep;
  f->claim_connects++;
  snprintf(f->claim_token, sizeof f->claim_token, "%s", claim->token ? claim->token : "");
  f->claim_session = true;
  if (f->connect_result == 0) f->connected = true;
  return f->connect_result;
}
static int f_make_csr(void *ctx, const char *name, uint8_t *out, size_t cap) {
  fake_platform *f = ctx;
  int n = snprintf((char *)out, cap, "CSR(CN=%s)", name); /* stands in for the DER */
  return f->csr_result < 0 ? f->csr_result : n;
}
static int f_store_certificate(void *ctx, const uint8_t *cert, size_t cert_len, const uint8_t *ca, size_t ca_len,
                               wb_credentials *out) {
  static const char CERT[] = FAKE_ENROLLED_CERT, KEY[] = "device key made on the device", CA[] = "issuing CA";
  fake_platform *f = ctx;
  if (f->store_result < 0) return f->store_result;
  if (cert_len > sizeof f->stored_cert || ca_len > sizeof f->stored_ca) return -1;
  memcpy(f->stored_cert, cert, cert_len);
  memcpy(f->stored_ca, ca, ca_len);
  f->stored_cert_len = cert_len;
  f->stored_ca_len = ca_len;
  f->stores++;
  out->cert_pem = CERT;
  out->cert_len = sizeof CERT - 1;
  out->key_pem = KEY;
  out->key_len = sizeof KEY - 1;
  out->ca_pem = CA;
  out->ca_len = sizeof CA - 1;
  return 0;
}
static int f_send(void *ctx, const uint8_t *data, size_t len) {
  fake_platform *f = ctx;
  if (f->fail_send || !f->connected) return -1;
  if (len > sizeof f->sent - f->sent_len) return -1;
  memcpy(f->sent + f->sent_len, data, len);
  f->sent_len += len;
  return 0;
}
static int f_recv(void *ctx, uint8_t *buf, size_t cap, uint32_t timeout_ms) {
  fake_platform *f = ctx;
  if (!f->connected) return -1;
  if (f->inbox_pos == f->inbox_len) {
    f->clock_ms += timeout_ms;
    return 0;
  }
  size_t n = f->inbox_len - f->inbox_pos;
  if (n > cap) n = cap;
  if (n > 7) n = 7; /* deliver in odd small chunks to exercise the framer */
  memcpy(buf, f->inbox + f->inbox_pos, n);
  f->inbox_pos += n;
  return (int)n;
}
static void f_disconnect(void *ctx) {
  fake_platform *f = ctx;
  f->connected = false;
  f->inbox_len = f->inbox_pos = 0;
}
static uint64_t f_uptime(void *ctx) { return ((fake_platform *)ctx)->clock_ms; }
static void f_sleep(void *ctx, uint32_t ms) { ((fake_platform *)ctx)->clock_ms += ms; }
static void f_console(void *ctx, wb_log_level level, const char *msg) {
  fake_platform *f = ctx;
  size_t len = strlen(msg) + 1;
  if (!f->quiet) fprintf(stderr, "    [device %d] %s\n", (int)level, msg);
  if (len >= sizeof f->console_log) return;
  if (len > sizeof f->console_log - 1 - f->console_len) f->console_len = 0; /* full: start over */
  memcpy(f->console_log + f->console_len, msg, len - 1);
  f->console_log[f->console_len + len - 1] = '\n';
  f->console_len += len;
  f->console_log[f->console_len] = '\0';
}

bool fake_logged(const fake_platform *f, const char *text) { return strstr(f->console_log, text) != NULL; }
static uint64_t f_free(void *ctx) {
  (void)ctx;
  return 123456;
}

void fake_init(fake_platform *f) {
  memset(f, 0, sizeof *f);
  f->platform.ctx = f;
  f->platform.connect = f_connect;
  f->platform.send = f_send;
  f->platform.recv = f_recv;
  f->platform.disconnect = f_disconnect;
  f->platform.uptime_ms = f_uptime;
  f->platform.sleep_ms = f_sleep;
  f->platform.console = f_console;
  f->platform.free_memory = f_free;
  f->clock_ms = 1000;
}

void fake_enable_enrollment(fake_platform *f) {
  f->platform.connect_claim = f_connect_claim;
  f->platform.make_csr = f_make_csr;
  f->platform.store_certificate = f_store_certificate;
}

void fake_gateway_send_raw(fake_platform *f, const uint8_t *bytes, size_t len) {
  if (len > sizeof f->inbox - f->inbox_len) return;
  memcpy(f->inbox + f->inbox_len, bytes, len);
  f->inbox_len += len;
}

void fake_gateway_send(fake_platform *f, const wb_msg *m) {
  static uint8_t frame[128 * 1024];
  size_t len;
  if (wb_encode_frame(m, frame, sizeof frame, sizeof frame, &len, NULL) == WB_OK) fake_gateway_send_raw(f, frame, len);
}

bool fake_next_sent(fake_platform *f, wb_msg *out) {
  if (f->sent_len - f->sent_pos < 4) return false;
  const uint8_t *p = f->sent + f->sent_pos;
  size_t n = ((size_t)p[0] << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
  if (f->sent_len - f->sent_pos - 4 < n) return false;
  f->sent_pos += 4 + n;
  wb_error err;
  wb_err e = wb_decode(p + 4, n, out, &err);
  if (e != WB_OK) fprintf(stderr, "    device sent an undecodable frame: %s (%s)\n", wb_err_name(e), err.field ? err.field : "-");
  return e == WB_OK;
}
