/*
 * WAMR runtime for the Zephyr build: the wasmbed host API (device/apps/host-api.ts,
 * docs/host-api.md) as WAMR natives, one Zephyr thread per app. Modules are checked by the
 * core's wb_wasm_validate first (imports against the host API, entry export, memory
 * limit), then loaded, instantiated and run: `_initialize` if exported, then the entry.
 * StopApplication raises a stop flag (seen by every host call) and calls
 * wasm_runtime_terminate, so even an app spinning in pure wasm is stopped.
 * The same glue for Linux is posix/wasm_wamr.c, which the host tests exercise.
 */
#include <stdio.h>
#include <string.h>
#include <zephyr/kernel.h>

#include "platform_zephyr.h"
#include "wasm_export.h"

#define APP_HEAP 0u /* apps allocate inside their own linear memory; the natives allocate nothing */
#define STOP_WAIT_MS 5000
#define WAMR_POOL_BYTES CONFIG_WASMBED_WAMR_POOL_SIZE

typedef struct {
  wb_device *dev;
  unsigned slot;
  wasm_module_t module;
  wasm_module_inst_t inst;
  struct k_thread thread;
  k_tid_t tid;
  volatile bool stop_requested;
  volatile bool finished;
  volatile wb_app_state state;
  char error[WB_ERROR_MAX];
  char entry[WB_ID_MAX];
  char env[512];
  size_t env_len;
  char args[512];
  size_t args_len;
  unsigned argc;
  uint8_t gpio[32];
} wamr_app;

K_THREAD_STACK_ARRAY_DEFINE(g_stacks, CONFIG_WASMBED_MAX_APPS, CONFIG_WASMBED_APP_STACK_SIZE);
static wamr_app g_apps[CONFIG_WASMBED_MAX_APPS];
static uint8_t g_pool[WAMR_POOL_BYTES] __aligned(8);
static bool g_init;
static K_MUTEX_DEFINE(g_state_mutex);

static wamr_app *app_of(wasm_exec_env_t env) {
  return wasm_runtime_get_custom_data(wasm_runtime_get_module_inst(env));
}

static bool check_stop(wasm_exec_env_t env, wamr_app *a) {
  if (!a->stop_requested) return false;
  wasm_runtime_set_exception(wasm_runtime_get_module_inst(env), "stopped");
  return true;
}

static void n_log(wasm_exec_env_t env, const char *msg, uint32_t len) {
  wamr_app *a = app_of(env);
  if (!check_stop(env, a)) wb_device_app_log(a->dev, a->slot, WB_LOG_INFO, msg, len);
}

static uint64_t n_uptime_ms(wasm_exec_env_t env) {
  ARG_UNUSED(env);
  return (uint64_t)k_uptime_get();
}

static void n_sleep_ms(wasm_exec_env_t env, int32_t ms) {
  wamr_app *a = app_of(env);
  if (ms < 0) ms = 0;
  if (ms > 3600000) ms = 3600000;
  while (ms > 0 && !a->stop_requested) {
    int32_t slice = ms > 50 ? 50 : ms;
    k_msleep(slice);
    ms -= slice;
  }
  check_stop(env, a);
}

static void n_gpio_write(wasm_exec_env_t env, int32_t pin, int32_t value) {
  wamr_app *a = app_of(env);
  if (check_stop(env, a)) return;
  if (pin < 0 || pin >= 32) {
    wasm_runtime_set_exception(wasm_runtime_get_module_inst(env), "gpio_write: no such pin");
    return;
  }
  a->gpio[pin] = value != 0; /* stand-in GPIO bank; boards map real pins here */
}

static int32_t n_gpio_read(wasm_exec_env_t env, int32_t pin) {
  wamr_app *a = app_of(env);
  if (check_stop(env, a)) return 0;
  if (pin < 0 || pin >= 32) {
    wasm_runtime_set_exception(wasm_runtime_get_module_inst(env), "gpio_read: no such pin");
    return 0;
  }
  return a->gpio[pin];
}

static int32_t n_sensor_read(wasm_exec_env_t env, int32_t channel) {
  static const int32_t values[4] = {23500, 41000, 1013250, 3300}; /* stand-in sensor, milli-units */
  wamr_app *a = app_of(env);
  if (check_stop(env, a)) return 0;
  return channel >= 0 && channel < 4 ? values[channel] : (int32_t)0x80000000u;
}

static void n_publish(wasm_exec_env_t env, const char *topic, uint32_t topic_len, const uint8_t *data,
                      uint32_t len) {
  wamr_app *a = app_of(env);
  if (check_stop(env, a)) return;
  if (topic_len == 0 || topic_len > WB_TOPIC_MAX_BYTES || len > WB_PUBLISH_MAX_BYTES ||
      !wb_utf8_valid((const uint8_t *)topic, topic_len)) {
    wasm_runtime_set_exception(wasm_runtime_get_module_inst(env), "publish: bad topic or data too large");
    return;
  }
  wb_device_app_publish(a->dev, a->slot, topic, topic_len, data, len);
}

static int32_t copy_out(const char *s, size_t n, char *buf, uint32_t cap) {
  memcpy(buf, s, n < cap ? n : cap);
  return (int32_t)n;
}

static int32_t n_env_get(wasm_exec_env_t env, const char *key, uint32_t key_len, char *buf, uint32_t cap) {
  wamr_app *a = app_of(env);
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

static int32_t n_arg_get(wasm_exec_env_t env, int32_t index, char *buf, uint32_t cap) {
  wamr_app *a = app_of(env);
  size_t pos = 0;
  if (index < 0 || (unsigned)index >= a->argc) return -1;
  for (int32_t i = 0; i < index; i++) pos += strlen(a->args + pos) + 1;
  return copy_out(a->args + pos, strlen(a->args + pos), buf, cap);
}

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

static void app_thread(void *p1, void *p2, void *p3) {
  wamr_app *a = p1;
  const char *exception = NULL;
  ARG_UNUSED(p2);
  ARG_UNUSED(p3);
  wasm_runtime_init_thread_env();
  wasm_exec_env_t env = wasm_runtime_create_exec_env(a->inst, CONFIG_WASMBED_APP_STACK_SIZE / 2);
  if (!env) {
    exception = "cannot create an execution environment";
  } else {
    wasm_function_inst_t init = wasm_runtime_lookup_function(a->inst, "_initialize");
    wasm_function_inst_t entry = wasm_runtime_lookup_function(a->inst, a->entry);
    uint32_t argv[2] = {0, 0};
    if (init && !wasm_runtime_call_wasm(env, init, 0, argv)) exception = wasm_runtime_get_exception(a->inst);
    if (!exception && !entry) exception = "entry function not found";
    if (!exception && !wasm_runtime_call_wasm(env, entry, 0, argv)) exception = wasm_runtime_get_exception(a->inst);
    wasm_runtime_destroy_exec_env(env);
  }
  k_mutex_lock(&g_state_mutex, K_FOREVER);
  if (a->stop_requested) {
    a->state = WB_APP_STOPPED;
  } else if (exception) {
    snprintf(a->error, sizeof a->error, "trap: %s", exception);
    a->state = WB_APP_FAILED;
  } else {
    a->state = WB_APP_EXITED;
  }
  a->finished = true;
  k_mutex_unlock(&g_state_mutex);
  wasm_runtime_destroy_thread_env();
}

static void release(wamr_app *a) {
  if (a->inst) wasm_runtime_deinstantiate(a->inst);
  if (a->module) wasm_runtime_unload(a->module);
  a->inst = NULL;
  a->module = NULL;
}

static int z_start(void *ctx, struct wb_device *dev, unsigned slot, const wb_app_spec *spec, char *err,
                   size_t errcap) {
  ARG_UNUSED(ctx);
  if (slot >= CONFIG_WASMBED_MAX_APPS) return -1;
  if (!g_init) {
    RuntimeInitArgs init;
    memset(&init, 0, sizeof init);
    init.mem_alloc_type = Alloc_With_Pool;
    init.mem_alloc_option.pool.heap_buf = g_pool;
    init.mem_alloc_option.pool.heap_size = sizeof g_pool;
    init.native_module_name = "wasmbed";
    init.native_symbols = g_natives;
    init.n_native_symbols = ARRAY_SIZE(g_natives);
    if (!wasm_runtime_full_init(&init)) {
      snprintf(err, errcap, "WAMR failed to initialise");
      return -1;
    }
    g_init = true;
  }
  if (wb_wasm_validate(spec->module, spec->module_len, spec->entry, spec->limits.memory_pages, err, errcap) != 0)
    return -1;

  wamr_app *a = &g_apps[slot];
  memset(a, 0, sizeof *a);
  a->dev = dev;
  a->slot = slot;
  a->state = WB_APP_RUNNING;
  snprintf(a->entry, sizeof a->entry, "%s", spec->entry);
  wb_iter it = {0, 0};
  wb_kv kv;
  while (wb_strmap_next(spec->env, &it, &kv) && a->env_len + kv.key.len + kv.value.len + 2 <= sizeof a->env) {
    memcpy(a->env + a->env_len, kv.key.ptr, kv.key.len);
    a->env_len += kv.key.len;
    a->env[a->env_len++] = '\0';
    memcpy(a->env + a->env_len, kv.value.ptr, kv.value.len);
    a->env_len += kv.value.len;
    a->env[a->env_len++] = '\0';
  }
  wb_iter ai = {0, 0};
  wb_str s;
  while (wb_strlist_next(spec->args, &ai, &s) && a->args_len + s.len + 1 <= sizeof a->args) {
    memcpy(a->args + a->args_len, s.ptr, s.len);
    a->args_len += s.len;
    a->args[a->args_len++] = '\0';
    a->argc++;
  }

  char ebuf[128] = "";
  a->module = wasm_runtime_load((uint8_t *)spec->module, (uint32_t)spec->module_len, ebuf, sizeof ebuf);
  if (!a->module) {
    snprintf(err, errcap, "WAMR load: %s", ebuf);
    return -1;
  }
  a->inst = wasm_runtime_instantiate(a->module, CONFIG_WASMBED_APP_STACK_SIZE / 2, APP_HEAP, ebuf, sizeof ebuf);
  if (!a->inst) {
    snprintf(err, errcap, "WAMR instantiate: %s", ebuf);
    release(a);
    return -1;
  }
  wasm_runtime_set_custom_data(a->inst, a);
  a->tid = k_thread_create(&a->thread, g_stacks[slot], K_THREAD_STACK_SIZEOF(g_stacks[slot]), app_thread, a, NULL,
                           NULL, K_LOWEST_APPLICATION_THREAD_PRIO, 0, K_NO_WAIT);
  k_thread_name_set(a->tid, spec->app_id);
  return 0;
}

static int z_stop(void *ctx, unsigned slot, char *err, size_t errcap) {
  ARG_UNUSED(ctx);
  if (slot >= CONFIG_WASMBED_MAX_APPS) return 0;
  wamr_app *a = &g_apps[slot];
  if (!a->tid) {
    release(a);
    return 0;
  }
  a->stop_requested = true;
  wasm_runtime_terminate(a->inst);
  if (k_thread_join(&a->thread, K_MSEC(STOP_WAIT_MS)) != 0) {
    snprintf(err, errcap, "did not stop within %d s", STOP_WAIT_MS / 1000);
    return -1;
  }
  a->tid = NULL;
  release(a);
  return 0;
}

static wb_app_state z_poll(void *ctx, unsigned slot, char *err, size_t errcap) {
  wb_app_state s;
  ARG_UNUSED(ctx);
  if (slot >= CONFIG_WASMBED_MAX_APPS) return WB_APP_FAILED;
  k_mutex_lock(&g_state_mutex, K_FOREVER);
  s = g_apps[slot].state;
  if (s == WB_APP_FAILED) snprintf(err, errcap, "%s", g_apps[slot].error);
  k_mutex_unlock(&g_state_mutex);
  return s;
}

size_t wb_zephyr_wamr_free_bytes(void) {
  mem_alloc_info_t info;
  if (!g_init) return sizeof g_pool;
  return wasm_runtime_get_mem_alloc_info(&info) ? info.total_free_size : 0;
}

static const wb_str WAMR_FEATURES[] = {{"mvp", 3}, {"bulk-memory", 11}};
static const wb_wasm_runtime WAMR_RUNTIME = {"wamr", WAMR_FEATURES, 2, NULL, z_start, z_stop, z_poll};

const wb_wasm_runtime *wb_zephyr_wamr_runtime(void) { return &WAMR_RUNTIME; }
