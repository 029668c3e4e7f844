/*
 * WAMR-backed wasm runtime for the POSIX device: the wasmbed host API as WAMR natives, one
 * thread per app. Modules are first checked by wb_wasm_validate (imports against the host
 * API, entry export, memory within limits), then loaded and instantiated by WAMR, which runs
 * `_initialize` (if exported) and then the entry. The Zephyr build has its own copy of this
 * glue (zephyr/src/wasm_wamr.c) on Zephyr threads.
 *
 * Stopping: host calls (sleep_ms, log, ...) check a stop flag and raise an exception, so an
 * app that calls the host API stops within one sleep slice. The WAMR version available from
 * a registry here (wamr-sys 0.1.1) has no wasm_runtime_terminate, so an app spinning in
 * pure wasm without host calls cannot be interrupted: stop() then reports "did not stop".
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "wasm_export.h"
#include "wasm_wamr.h"

#define APP_STACK (16u * 1024u)
#define APP_HEAP (8u * 1024u)
#define STOP_WAIT_MS 5000u

typedef struct {
  wb_device *dev;
  unsigned slot;
  wasm_module_t module;
  wasm_module_inst_t inst;
  pthread_t thread;
  bool thread_started;
  volatile bool stop_requested;
  volatile bool finished;
  volatile wb_app_state state;
  char error[WB_ERROR_MAX];
  char entry[WB_ID_MAX];
  /* env / args copied for env_get / arg_get */
  char env[1024];
  size_t env_len; /* "key\0value\0key\0value\0" */
  char args[1024];
  size_t args_len;
  unsigned argc;
  uint8_t gpio[32];
} wamr_app;

static void sleep_ms(unsigned ms) {
  struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
  nanosleep(&ts, NULL);
}

static wamr_app g_apps[WB_MAX_APPS];
static bool g_init;
static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;

/* See posix/wasm_runtime.cmake: the loader asks this which import modules WAMR resolves. */
bool wb_wamr_is_built_in_module(const char *module_name);
bool wasm_runtime_is_built_in_module(const char *module_name);
bool wb_wamr_is_built_in_module(const char *module_name) {
  return strcmp(module_name, "wasmbed") == 0 || wasm_runtime_is_built_in_module(module_name);
}

static wamr_app *app_of(wasm_exec_env_t env) {
  return wasm_runtime_get_custom_data(wasm_runtime_get_module_inst(env));
}

static bool check_stop(wasm_exec_env_t env, wamr_app *a) {
  if (a->stop_requested) {
    wasm_runtime_set_exception(wasm_runtime_get_module_inst(env), "stopped");
    return true;
  }
  return false;
}

static void n_log(wasm_exec_env_t env, const char *msg, uint32_t len) {
  wamr_app *a = app_of(env);
  if (check_stop(env, a)) return;
  wb_device_app_log(a->dev, a->slot, WB_LOG_INFO, msg, len);
}

static uint64_t n_uptime_ms(wasm_exec_env_t env) {
  struct timespec ts;
  (void)env;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void n_sleep_ms(wasm_exec_env_t env, int32_t ms) {
  wamr_app *a = app_of(env);
  if (ms < 0) ms = 0;
  if (ms > 3600000) ms = 3600000;
  while (ms > 0 && !a->stop_requested) {
    int32_t slice = ms > 50 ? 50 : ms;
    sleep_ms((unsigned)slice);
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
  a->gpio[pin] = value != 0;
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
  static const int32_t values[4] = {23500, 41000, 1013250, 3300}; /* m°C, m%RH, mhPa, mV */
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

/* Copies what fits into buf; returns the full length, or -1 if absent. */
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

/* Sorted by name: this WAMR looks natives up by binary search. */
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

static void *app_thread(void *arg) {
  wamr_app *a = arg;
  wasm_exec_env_t env = wasm_runtime_create_exec_env(a->inst, APP_STACK);
  const char *exception = NULL;
  if (!env) {
    exception = "cannot create an execution environment";
  } else {
    wasm_function_inst_t init = wasm_runtime_lookup_function(a->inst, "_initialize", NULL);
    wasm_function_inst_t entry = wasm_runtime_lookup_function(a->inst, a->entry, NULL);
    uint32_t argv[2] = {0, 0};
    if (init && !wasm_runtime_call_wasm(env, init, 0, argv)) exception = wasm_runtime_get_exception(a->inst);
    if (!exception && !entry) exception = "entry function not found";
    if (!exception && !wasm_runtime_call_wasm(env, entry, 0, argv)) exception = wasm_runtime_get_exception(a->inst);
    wasm_runtime_destroy_exec_env(env);
  }
  pthread_mutex_lock(&g_mutex);
  if (a->stop_requested) {
    a->state = WB_APP_STOPPED;
  } else if (exception) {
    snprintf(a->error, sizeof a->error, "trap: %s", exception);
    a->state = WB_APP_FAILED;
  } else {
    a->state = WB_APP_EXITED;
  }
  a->finished = true;
  pthread_mutex_unlock(&g_mutex);
  return NULL;
}

static void release(wamr_app *a) {
  if (a->inst) wasm_runtime_deinstantiate(a->inst);
  if (a->module) wasm_runtime_unload(a->module);
  a->inst = NULL;
  a->module = NULL;
}

static int w_start(void *ctx, struct wb_device *dev, unsigned slot, const wb_app_spec *spec, char *err,
                   size_t errcap) {
  (void)ctx;
  if (slot >= WB_MAX_APPS) return -1;
  if (!g_init) {
    RuntimeInitArgs init;
    memset(&init, 0, sizeof init);
    init.mem_alloc_type = Alloc_With_System_Allocator;
    init.native_module_name = "wasmbed";
    init.native_symbols = g_natives;
    init.n_native_symbols = sizeof g_natives / sizeof g_natives[0];
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
  {
    wb_iter it = {0, 0};
    wb_kv kv;
    while (wb_strmap_next(spec->env, &it, &kv)) {
      if (a->env_len + kv.key.len + kv.value.len + 2 > sizeof a->env) break;
      memcpy(a->env + a->env_len, kv.key.ptr, kv.key.len);
      a->env_len += kv.key.len;
      a->env[a->env_len++] = '\0';
      memcpy(a->env + a->env_len, kv.value.ptr, kv.value.len);
      a->env_len += kv.value.len;
      a->env[a->env_len++] = '\0';
    }
  }
  {
    wb_iter it = {0, 0};
    wb_str s;
    while (wb_strlist_next(spec->args, &it, &s)) {
      if (a->args_len + s.len + 1 > sizeof a->args) break;
      memcpy(a->args + a->args_len, s.ptr, s.len);
      a->args_len += s.len;
      a->args[a->args_len++] = '\0';
      a->argc++;
    }
  }
  char ebuf[128] = "";
  /* WAMR may patch the buffer it loads from, and it stays referenced: the app table owns it */
  a->module = wasm_runtime_load((uint8_t *)spec->module, (uint32_t)spec->module_len, ebuf, sizeof ebuf);
  if (!a->module) {
    snprintf(err, errcap, "WAMR load: %s", ebuf);
    return -1;
  }
  a->inst = wasm_runtime_instantiate(a->module, APP_STACK, APP_HEAP, ebuf, sizeof ebuf);
  if (!a->inst) {
    snprintf(err, errcap, "WAMR instantiate: %s", ebuf);
    release(a);
    return -1;
  }
  wasm_runtime_set_custom_data(a->inst, a);
  if (pthread_create(&a->thread, NULL, app_thread, a) != 0) {
    snprintf(err, errcap, "cannot start the app thread");
    release(a);
    return -1;
  }
  a->thread_started = true;
  return 0;
}

static int w_stop(void *ctx, unsigned slot, char *err, size_t errcap) {
  (void)ctx;
  if (slot >= WB_MAX_APPS) return 0;
  wamr_app *a = &g_apps[slot];
  if (!a->thread_started) {
    release(a);
    return 0;
  }
  a->stop_requested = true;
  for (unsigned waited = 0; waited < STOP_WAIT_MS && !a->finished; waited += 10) sleep_ms(10);
  if (!a->finished) {
    snprintf(err, errcap, "did not stop within %u s", STOP_WAIT_MS / 1000u);
    return -1;
  }
  pthread_join(a->thread, NULL);
  a->thread_started = false;
  release(a);
  return 0;
}

static wb_app_state w_poll(void *ctx, unsigned slot, char *err, size_t errcap) {
  wb_app_state s;
  (void)ctx;
  if (slot >= WB_MAX_APPS) return WB_APP_FAILED;
  pthread_mutex_lock(&g_mutex);
  s = g_apps[slot].state;
  if (s == WB_APP_FAILED) snprintf(err, errcap, "%s", g_apps[slot].error);
  pthread_mutex_unlock(&g_mutex);
  return s;
}

static const wb_str WAMR_FEATURES[] = {{"mvp", 3}, {"bulk-memory", 11}};

static const wb_wasm_runtime WAMR_RUNTIME = {
    "wamr", WAMR_FEATURES, 2, NULL, w_start, w_stop, w_poll,
};

const wb_wasm_runtime *wb_wamr_runtime(void) { return &WAMR_RUNTIME; }
