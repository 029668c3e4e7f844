/*
 * The wasmbed host API for C apps (docs/host-api.md), built by scripts/build-apps.mjs with
 * clang --target=wasm32 and no libc. Every function is imported from the module "wasmbed";
 * strings are (pointer, length) pairs, never NUL-terminated.
 */
#ifndef WASMBED_H
#define WASMBED_H

#include <stdint.h>

#define WASMBED_IMPORT(name) __attribute__((import_module("wasmbed"), import_name(#name)))

WASMBED_IMPORT(log) void wb_log(const char *ptr, int32_t len);
WASMBED_IMPORT(uptime_ms) int64_t wb_uptime_ms(void);
WASMBED_IMPORT(sleep_ms) void wb_sleep_ms(int32_t ms);
WASMBED_IMPORT(gpio_write) void wb_gpio_write(int32_t pin, int32_t value);
WASMBED_IMPORT(gpio_read) int32_t wb_gpio_read(int32_t pin);
WASMBED_IMPORT(sensor_read) int32_t wb_sensor_read(int32_t channel);
WASMBED_IMPORT(publish) void wb_publish(const char *topic, int32_t topic_len, const void *data, int32_t data_len);
WASMBED_IMPORT(env_get) int32_t wb_env_get(const char *key, int32_t key_len, char *buf, int32_t buf_len);
WASMBED_IMPORT(arg_count) int32_t wb_arg_count(void);
WASMBED_IMPORT(arg_get) int32_t wb_arg_get(int32_t index, char *buf, int32_t buf_len);

/*
 * The build exports `void _start(void)` (-Wl,--export=_start); other entries a deployment can
 * name in `entry` are exported with `WASMBED_EXPORT(name) void fn(void) { ... }`.
 */
#define WASMBED_EXPORT(name) __attribute__((export_name(#name)))

static inline int32_t wb_strlen(const char *s) {
  int32_t n = 0;
  while (s[n]) n++;
  return n;
}

/* Logs a NUL-terminated string (the NUL is not sent). */
static inline void wb_print(const char *s) { wb_log(s, wb_strlen(s)); }

/* Writes the decimal form of v at out (room for 12 bytes); returns its length. */
static inline int32_t wb_itoa(int32_t v, char *out) {
  char tmp[12];
  int32_t n = 0, len = 0;
  uint32_t u = v < 0 ? (uint32_t)0 - (uint32_t)v : (uint32_t)v;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) out[len++] = '-';
  while (n) out[len++] = tmp[--n];
  return len;
}

/* The environment variable `key` as a non-negative integer, or `fallback` when unset or not a number. */
static inline int32_t wb_env_int(const char *key, int32_t fallback) {
  char buf[12];
  int32_t n = wb_env_get(key, wb_strlen(key), buf, sizeof buf);
  if (n <= 0 || n > (int32_t)sizeof buf) return fallback;
  int32_t v = 0;
  for (int32_t i = 0; i < n; i++) {
    if (buf[i] < '0' || buf[i] > '9') return fallback;
    v = v * 10 + (buf[i] - '0');
  }
  return v;
}

#endif
