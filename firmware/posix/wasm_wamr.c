/*
 * The POSIX device's port of the shared WAMR glue (../wamr/): one pthread per app, WAMR on the
 * system allocator. The wasmbed natives and the app steps both builds share are in ../wamr/;
 * this file is what is POSIX about them: the clock, sleeping, the state lock, threads and
 * stopping. Modules are first checked by wb_wasm_validate (imports against the host API,
 * entry export, memory within limits), then loaded and instantiated by WAMR, which runs
 * `_initialize` (if exported) and then the entry.
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

#include "wasm_wamr.h"
#include "wb_wamr.h"

#define APP_STACK (16u * 1024u)
#define APP_HEAP (8u * 1024u)
#define STOP_WAIT_MS 5000u

typedef struct {
  wb_wamr_app app; /* what the natives see */
  pthread_t thread;
  bool thread_started;
} posix_app;

static posix_app g_apps[WB_MAX_APPS];
static bool g_init;
static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;

/* See posix/wasm_runtime.cmake: the loader asks this which import modules WAMR resolves. */
bool wb_wamr_is_built_in_module(const char *module_name);
bool wasm_runtime_is_built_in_module(const char *module_name);
bool wb_wamr_is_built_in_module(const char *module_name) {
  return strcmp(module_name, "wasmbed") == 0 || wasm_runtime_is_built_in_module(module_name);
}

/* --- port hooks (../wamr/wb_wamr.h) ---------------------------------------------------- */
uint64_t wb_wamr_port_uptime_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void wb_wamr_port_sleep_ms(unsigned ms) {
  struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
  nanosleep(&ts, NULL);
}

void wb_wamr_port_lock(void) { pthread_mutex_lock(&g_mutex); }
void wb_wamr_port_unlock(void) { pthread_mutex_unlock(&g_mutex); }

wasm_function_inst_t wb_wamr_port_lookup(wasm_module_inst_t inst, const char *name) {
  return wasm_runtime_lookup_function(inst, name, NULL);
}

/* --- the runtime ----------------------------------------------------------------------- */
static void *app_thread(void *arg) {
  posix_app *p = arg;
  wb_wamr_app_finish(&p->app, wb_wamr_app_run(&p->app, APP_STACK));
  return NULL;
}

static int w_start(void *ctx, struct wb_device *dev, unsigned slot, const wb_app_spec *spec, char *err,
                   size_t errcap) {
  (void)ctx;
  if (slot >= WB_MAX_APPS) return -1;
  if (!g_init) {
    RuntimeInitArgs init;
    memset(&init, 0, sizeof init);
    init.mem_alloc_type = Alloc_With_System_Allocator;
    if (wb_wamr_init(&init, err, errcap) != 0) return -1;
    g_init = true;
  }
  if (wb_wasm_validate(spec->module, spec->module_len, spec->entry, spec->limits.memory_pages, err, errcap) != 0)
    return -1;

  posix_app *p = &g_apps[slot];
  memset(p, 0, sizeof *p);
  if (wb_wamr_app_load(&p->app, dev, slot, spec, APP_STACK, APP_HEAP, err, errcap) != 0) return -1;
  if (pthread_create(&p->thread, NULL, app_thread, p) != 0) {
    snprintf(err, errcap, "cannot start the app thread");
    wb_wamr_app_release(&p->app);
    return -1;
  }
  p->thread_started = true;
  return 0;
}

static int w_stop(void *ctx, unsigned slot, char *err, size_t errcap) {
  (void)ctx;
  if (slot >= WB_MAX_APPS) return 0;
  posix_app *p = &g_apps[slot];
  if (!p->thread_started) {
    wb_wamr_app_release(&p->app);
    return 0;
  }
  p->app.stop_requested = true;
  for (unsigned waited = 0; waited < STOP_WAIT_MS && !p->app.finished; waited += 10) wb_wamr_port_sleep_ms(10);
  if (!p->app.finished) {
    snprintf(err, errcap, "did not stop within %u s", STOP_WAIT_MS / 1000u);
    return -1;
  }
  pthread_join(p->thread, NULL);
  p->thread_started = false;
  wb_wamr_app_release(&p->app);
  return 0;
}

static wb_app_state w_poll(void *ctx, unsigned slot, char *err, size_t errcap) {
  (void)ctx;
  if (slot >= WB_MAX_APPS) return WB_APP_FAILED;
  return wb_wamr_app_poll(&g_apps[slot].app, err, errcap);
}

static const wb_wasm_runtime WAMR_RUNTIME = {
    "wamr", wb_wamr_features, 2, NULL, w_start, w_stop, w_poll,
};

const wb_wasm_runtime *wb_wamr_runtime(void) { return &WAMR_RUNTIME; }
