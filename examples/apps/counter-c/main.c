/*
 * counter-c: the C example (clang --target=wasm32, no libc). Counts up, logging
 * "counter-c: N" and toggling a GPIO pin at each count, sleeping between counts.
 * env PIN (default 0 = led0), PERIOD_MS (between counts, default 500), COUNT (how many
 * counts before exiting, default 0 = forever), STARTUP_MS (default 0: how long the app takes to
 * start, like a sensor warming up; spent in _initialize, so the device acknowledges the deploy
 * only after it — rollout tests use it to make the switch between versions observable).
 */
#include "wasmbed.h"

static void log_count(int32_t n, int32_t level) {
  char line[48] = "counter-c: ";
  int32_t len = 11;
  len += wb_itoa(n, line + len);
  const char *tail = level ? " (pin high)" : " (pin low)";
  for (int32_t i = 0; tail[i]; i++) line[len++] = tail[i];
  wb_log(line, len);
}

WASMBED_EXPORT(_initialize) void initialize(void) {
  int32_t startup = wb_env_int("STARTUP_MS", 0);
  if (startup > 0) wb_sleep_ms(startup);
}

/* Exported by the build (-Wl,--export=_start). */
void _start(void) {
  int32_t pin = wb_env_int("PIN", 0);
  int32_t period = wb_env_int("PERIOD_MS", 500);
  int32_t count = wb_env_int("COUNT", 0);
  wb_print("counter-c: started");
  int32_t level = 0;
  for (int32_t n = 1; count == 0 || n <= count; n++) {
    level ^= 1;
    wb_gpio_write(pin, level);
    log_count(n, level);
    wb_sleep_ms(period);
  }
  wb_print("counter-c: done");
}
