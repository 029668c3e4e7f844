/*
 * The wasmbed host API (device/apps/host-api.ts, docs/host-api.md) as WAMR natives of the
 * import module "wasmbed", for both device builds. Every call but uptime_ms, arg_count and
 * arg_get checks the app's stop flag and raises the exception "stopped", so an app that calls
 * the host API stops within one sleep slice even where WAMR cannot terminate it (POSIX).
 */
#include <string.h>

#include "wb_wamr.h"

/* The longest sleep_ms honours and the slice it sleeps in, so that a stop is seen soon. */
#define SLEEP_MAX_MS 3600000
#define SLEEP_SLICE_MS 50

static wb_wamr_app *app_of(wasm_exec_env_t env) {
  return wasm_runtime_get_custom_data(wasm_runtime_get_module_inst(env));
}

static bool check_stop(wasm_exec_env_t env, wb_wamr_app *a) {
  if (!a->stop_requested) return false;
  wasm_runtime_set_exception(wasm_runtime_get_module_inst(env), "stopped");
  return true;
}

static void n_log(wasm_exec_env_t env, const char *msg, uint32_t len) {
  wb_wamr_app *a = app_of(env);
  if (!check_stop(env, a)) wb_device_app_log(a->dev, a->slot, WB_LOG_INFO, msg, len);
}

static uint64_t n_uptime_ms(wasm_exec_env_t env) {
  (void)env;
  return wb_wamr_port_uptime_ms();
}

static void n_sleep_ms(wasm_exec_env_t env, int32_t ms) {
  wb_wamr_app *a = app_of(env);
  if (ms < 0) ms = 0;
  if (ms > SLEEP_MAX_MS) ms = SLEEP_MAX_MS;
  while (ms > 0 && !a->stop_requested) {
    int32_t slice = ms > SLEEP_SLICE_MS ? SLEEP_SLICE_MS : ms;
    wb_wamr_port_sleep_ms((unsigned)slice);
    ms -= slice;
  }
  check_stop(env, a);
}

static void n_gpio_write(wasm_exec_env_t env, int32_t pin, int32_t value) {
  wb_wamr_app *a = app_of(env);
  if (check_stop(env, a)) return;
  if (pin < 0 || pin >= 32) {
    wasm_runtime_set_exception(wasm_runtime_get_module_inst(env), "gpio_write: no such pin");
    return;
  }
  a->gpio[pin] = value != 0;
}

static int32_t n_gpio_read(wasm_exec_env_t env, int32_t pin) {
  wb_wamr_app *a = app_of(env);
  if (check_stop(env, a)) return 0;
  if (pin < 0 || pin >= 32) {
    wasm_runtime_set_exception(wasm_runtime_get_module_inst(env), "gpio_read: no such pin");
    return 0;
  }
  return a->gpio[pin];
}

static int32_t n_sensor_read(wasm_exec_env_t env, int32_t channel) {
  static const int32_t values[4] = {23500, 41000, 1013250, 3300}; /* stand-in: m°C, m%RH, mhPa, mV */
  wb_wamr_app *a = app_of(env);
  if (check_stop(env, a)) return 0;
  return channel >= 0 && channel < 4 ? values[channel] : (int32_t)0x80000000u;
}

static void n_publish(wasm_exec_env_t env, const char *topic, uint32_t topic_len, const uint8_t *data,
                      uint32_t len) {
  wb_wamr_app *a = app_of(env);
  if (check_stop(env, a)) return;
  if (topic_len == 0 || topic_len > WB_TOPIC_MAX_BYTES || len > WB_PUBLISH_MAX_BYTES ||
      !wb_utf8_valid((const uint8_t *)topic, topic_len)) {
    wasm_runtime_set_exception(wasm_runtime_get_module_inst(env), "publish: bad topic or data too large");
    return;
  }
  wb_device_app_publish(a->dev, a->slot, topic, topic_len, data, len);
}

/* Copies what fits into buf; returns the full length. */
static int32_t copy_out(const char *s, size_t n, char *buf, uint32_t cap) {
  memcpy(buf, s, n < cap ? n : cap);
  return (int32_t)n;
}

/* The value of key, or -1 if the app has no such variable. */
static int32_t n_env_get(wasm_exec_env_t env, const char *key, uint32_t key_len, char *buf, uint32_t cap) {
  wb_wamr_app *a = app_of(env);
  size_t pos = 0;
  if (check_stop(env, a)) return -1;
  while (pos < a->env_len) {
    const char *k = a->env + pos;
    size_t kl = strlen(k);
    const char *v = k + kl + 1;
    size_t vl = strlen(v);
    if (kl == key_len && memcmp(k, key, kl) == 0) return copy_out(v, vl, buf, cap);
    pos += kl + vl + 2;
  }
  return -1;
}

static int32_t n_arg_count(wasm_exec_env_t env) { return (int32_t)app_of(env)->argc; }

/* Argument index, or -1 if there is none. */
static int32_t n_arg_get(wasm_exec_env_t env, int32_t index, char *buf, uint32_t cap) {
  wb_wamr_app *a = app_of(env);
  size_t pos = 0;
  if (index < 0 || (unsigned)index >= a->argc) return -1;
  for (int32_t i = 0; i < index; i++) pos += strlen(a->args + pos) + 1;
  return copy_out(a->args + pos, strlen(a->args + pos), buf, cap);
}

/* Sorted by name, as WAMR's binary-search lookup needs. Not const: WAMR sorts the table in
 * place when it registers it. */
static NativeSymbol g_natives[] = {
    {"arg_count", (void *)n_arg_count, "()i", NULL},
    {"arg_get", (void *)n_arg_get, "(i*~)i", NULL},
    {"env_get", (void *)n_env_get, "(*~*~)i", NULL},
    {"gpio_read", (void *)n_gpio_read, "(i)i", NULL},
    {"gpio_write", (void *)n_gpio_write, "(ii)", NULL},
    {"log", (void *)n_log, "(*~)", NULL},
    {"publish", (void *)n_publish, "(*~*~)", NULL},
    {"sensor_read", (void *)n_sensor_read, "(i)i", NULL},
    {"sleep_ms", (void *)n_sleep_ms, "(i)", NULL},
    {"uptime_ms", (void *)n_uptime_ms, "()I", NULL},
};

void wb_wamr_register_natives(RuntimeInitArgs *init) {
  init->native_module_name = "wasmbed";
  init->native_symbols = g_natives;
  init->n_native_symbols = sizeof g_natives / sizeof g_natives[0];
}
