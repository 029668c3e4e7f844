/* An in-memory platform for the device state machine tests and fuzzer: a scripted gateway. */
#ifndef WB_FAKE_PLATFORM_H
#define WB_FAKE_PLATFORM_H
#include "wasmbed/device.h"

#define FAKE_BUF (256u * 1024u)

typedef struct {
  wb_platform platform;
  uint64_t clock_ms;
  int connect_result;
  int connects;
  bool connected;
  bool fail_send;
  /* gateway -> device bytes */
  uint8_t inbox[FAKE_BUF];
  size_t inbox_len, inbox_pos;
  /* device -> gateway bytes */
  uint8_t sent[FAKE_BUF];
  size_t sent_len, sent_pos;
  bool quiet;
  /* every console line, newline-separated (the oldest dropped when full) */
  char console_log[16384]; /* console lines, newline-separated (restarted when full) */
  size_t console_len;
  /* the certificate PEM of the last mutual-TLS connect */
  char connected_with[64];
  /* claim-based enrollment */
  int claim_connects;
  bool claim_session;            /* the open connection is a claim session */
  char claim_token[64];          /* token of the last claim connect ("" = claim certificate) */
  int csr_result;                /* <0: make_csr fails with it */
  int store_result;              /* <0: store_certificate fails with it */
  int stores;
  uint8_t stored_cert[512], stored_ca[512];
  size_t stored_cert_len, stored_ca_len;
} fake_platform;

/* The credentials the fake store_certificate hands back (its "flash"). */
#define FAKE_ENROLLED_CERT "-----BEGIN CERTIFICATE-----enrolled"

void fake_init(fake_platform *f);
/* Adds connect_claim, make_csr and store_certificate (a platform that can enroll). */
void fake_enable_enrollment(fake_platform *f);
bool fake_logged(const fake_platform *f, const char *text);
/* Queues a frame from the gateway. */
void fake_gateway_send(fake_platform *f, const wb_msg *m);
void fake_gateway_send_raw(fake_platform *f, const uint8_t *bytes, size_t len);
/* Next frame the device sent, decoded (points into f->sent); false if none. */
bool fake_next_sent(fake_platform *f, wb_msg *out);

/* A minimal valid module: imports wasmbed.log, exports _start and memory (1 page). */
extern const uint8_t TEST_MODULE[];
extern const size_t TEST_MODULE_LEN;
#endif
