/*
 * libFuzzer target for the device state machine: the input is what a (hostile) gateway
 * sends after the Hello, and after an EnrollmentRequest on a claim session. The device must
 * never crash, and must keep its invariants (on a claim session: it sends nothing but the
 * request and runs nothing).
 */
#include <stdlib.h>
#include <string.h>

#include "fake_platform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static fake_platform f;
  static wb_device dev;
  static uint8_t modules[WB_MAX_APPS * 1024];
  static uint8_t ep[64], cred[64];
  wb_device_config cfg = {"0.1.0", "Stm32F746gDisco", 1024, 4, 1000, 100, 1000, 0, 0, 0};
  fake_init(&f);
  f.quiet = true;
  wb_device_init(&dev, &cfg, &f.platform, &wb_standin_runtime, modules, 1024);
  size_t el = wb_build_endpoint_block("127.0.0.1:8081", ep, sizeof ep);
  size_t cl = wb_build_credentials_block("C", "K", "A", cred, sizeof cred);
  if (wb_device_load_blocks(&dev, ep, el, cred, cl) != WB_BLOCK_OK) abort();
  wb_device_step(&dev, 10);
  if (dev.state != WB_STATE_ONLINE) abort();
  fake_gateway_send_raw(&f, data, size);
  for (int i = 0; i < 400 && f.inbox_pos < f.inbox_len && dev.state == WB_STATE_ONLINE; i++) wb_device_step(&dev, 10);
  if (wb_apps_count(&dev.apps) > WB_MAX_APPS) abort();
  /* whatever it sent must decode */
  wb_msg m;
  while (f.sent_len - f.sent_pos >= 4) {
    size_t before = f.sent_pos;
    if (!fake_next_sent(&f, &m)) abort();
    if (f.sent_pos == before) break;
  }
  /* also feed each input directly as one frame payload */
  fake_init(&f);
  f.quiet = true;
  wb_device_init(&dev, &cfg, &f.platform, &wb_standin_runtime, modules, 1024);
  (void)wb_device_load_blocks(&dev, ep, el, cred, cl);
  wb_device_step(&dev, 10);
  (void)wb_device_handle_frame(&dev, data, size);

  /* the same bytes on a claim session */
  static const char ca[] = "A";
  wb_claim claim = {"board", "token", NULL, 0, NULL, 0, ca, sizeof ca - 1};
  fake_init(&f);
  fake_enable_enrollment(&f);
  f.quiet = true;
  wb_device_init(&dev, &cfg, &f.platform, &wb_standin_runtime, modules, 1024);
  if (wb_device_use_claim(&dev, "127.0.0.1:8081", &claim) != WB_BLOCK_OK) abort();
  wb_device_step(&dev, 10);
  if (dev.state != WB_STATE_ENROLLING) abort();
  fake_gateway_send_raw(&f, data, size);
  for (int i = 0; i < 400 && f.inbox_pos < f.inbox_len && dev.state == WB_STATE_ENROLLING; i++)
    wb_device_step(&dev, 10);
  if (!fake_next_sent(&f, &m) || m.type != WB_MSG_ENROLLMENT_REQUEST) abort();
  if (fake_next_sent(&f, &m) || wb_apps_count(&dev.apps) != 0) abort();
  return 0;
}
