/*
 * The Zephyr build's port of the shared WAMR glue (../../wamr/): one Zephyr thread per app,
 * WAMR on a static pool. The wasmbed natives and the app steps both builds share are in
 * ../../wamr/; this file is what is Zephyr about them: the clock, sleeping, the state lock,
 * threads, the pool and stopping. Modules are checked by the core's wb_wasm_validate first
 * (imports against the host API, entry export, memory limit), then loaded, instantiated and
 * run: `_initialize` if exported, then the entry.
 * StopApplication raises a stop flag (seen by every host call) and calls
 * wasm_runtime_terminate, so even an app spinning in pure wasm is stopped.
 * The POSIX device's port (posix/wasm_wamr.c) runs the same shared glue in the host tests.
 */
#include <stdio.h>
#include <string.h>
#include <zephyr/kernel.h>

#include "platform_zephyr.h"
#include "wb_wamr.h"

#define APP_HEAP 0u /* apps allocate inside their own linear memory; the natives allocate nothing */
#define APP_WASM_STACK (CONFIG_WASMBED_APP_STACK_SIZE / 2) /* the rest is the thread's own */
#define STOP_WAIT_MS 5000
#define WAMR_POOL_BYTES CONFIG_WASMBED_WAMR_POOL_SIZE

typedef struct {
  wb_wamr_app app; /* what the natives see */
  struct k_thread thread;
  k_tid_t tid;
} zephyr_app;

K_THREAD_STACK_ARRAY_DEFINE(g_stacks, CONFIG_WASMBED_MAX_APPS, CONFIG_WASMBED_APP_STACK_SIZE);
static zephyr_app g_apps[CONFIG_WASMBED_MAX_APPS];
static uint8_t g_pool[WAMR_POOL_BYTES] __aligned(8);
static bool g_init;
static K_MUTEX_DEFINE(g_state_mutex);

/* --- port hooks (../../wamr/wb_wamr.h) -------------------------------------------------- */
uint64_t wb_wamr_port_uptime_ms(void) { return (uint64_t)k_uptime_get(); }

void wb_wamr_port_sleep_ms(unsigned ms) { k_msleep((int32_t)ms); }

void wb_wamr_port_lock(void) { k_mutex_lock(&g_state_mutex, K_FOREVER); }
void wb_wamr_port_unlock(void) { k_mutex_unlock(&g_state_mutex); }

wasm_function_inst_t wb_wamr_port_lookup(wasm_module_inst_t inst, const char *name) {
  return wasm_runtime_lookup_function(inst, name);
}

/* --- the runtime ----------------------------------------------------------------------- */
static void app_thread(void *p1, void *p2, void *p3) {
  zephyr_app *z = p1;
  ARG_UNUSED(p2);
  ARG_UNUSED(p3);
  wasm_runtime_init_thread_env(); /* WAMR's per-thread state, on a thread WAMR did not create */
  wb_wamr_app_finish(&z->app, wb_wamr_app_run(&z->app, APP_WASM_STACK));
  wasm_runtime_destroy_thread_env();
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
    if (wb_wamr_init(&init, err, errcap) != 0) return -1;
    g_init = true;
  }
  if (wb_wasm_validate(spec->module, spec->module_len, spec->entry, spec->limits.memory_pages, err, errcap) != 0)
    return -1;

  zephyr_app *z = &g_apps[slot];
  memset(z, 0, sizeof *z);
  if (wb_wamr_app_load(&z->app, dev, slot, spec, APP_WASM_STACK, APP_HEAP, err, errcap) != 0) return -1;
  z->tid = k_thread_create(&z->thread, g_stacks[slot], K_THREAD_STACK_SIZEOF(g_stacks[slot]), app_thread, z, NULL,
                           NULL, K_LOWEST_APPLICATION_THREAD_PRIO, 0, K_NO_WAIT);
  k_thread_name_set(z->tid, spec->app_id);
  return 0;
}

static int z_stop(void *ctx, unsigned slot, char *err, size_t errcap) {
  ARG_UNUSED(ctx);
  if (slot >= CONFIG_WASMBED_MAX_APPS) return 0;
  zephyr_app *z = &g_apps[slot];
  if (!z->tid) {
    wb_wamr_app_release(&z->app);
    return 0;
  }
  z->app.stop_requested = true;
  wasm_runtime_terminate(z->app.inst);
  if (k_thread_join(&z->thread, K_MSEC(STOP_WAIT_MS)) != 0) {
    snprintf(err, errcap, "did not stop within %d s", STOP_WAIT_MS / 1000);
    return -1;
  }
  z->tid = NULL;
  wb_wamr_app_release(&z->app);
  return 0;
}

static wb_app_state z_poll(void *ctx, unsigned slot, char *err, size_t errcap) {
  ARG_UNUSED(ctx);
  if (slot >= CONFIG_WASMBED_MAX_APPS) return WB_APP_FAILED;
  return wb_wamr_app_poll(&g_apps[slot].app, err, errcap);
}

size_t wb_zephyr_wamr_free_bytes(void) {
  mem_alloc_info_t info;
  if (!g_init) return sizeof g_pool;
  return wasm_runtime_get_mem_alloc_info(&info) ? info.total_free_size : 0;
}

static const wb_wasm_runtime WAMR_RUNTIME = {"wamr", wb_wamr_features, 2, NULL, z_start, z_stop, z_poll};

const wb_wasm_runtime *wb_zephyr_wamr_runtime(void) { return &WAMR_RUNTIME; }
