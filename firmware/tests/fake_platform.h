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
} fake_platform;

void fake_init(fake_platform *f);
/* Queues a frame from the gateway. */
void fake_gateway_send(fake_platform *f, const wb_msg *m);
void fake_gateway_send_raw(fake_platform *f, const uint8_t *bytes, size_t len);
/* Next frame the device sent, decoded (points into f->sent); false if none. */
bool fake_next_sent(fake_platform *f, wb_msg *out);

/* A minimal valid module: imports wasmbed.log, exports _start and memory (1 page). */
extern const uint8_t TEST_MODULE[];
extern const size_t TEST_MODULE_LEN;
#endif
