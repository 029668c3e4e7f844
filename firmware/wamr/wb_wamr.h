/*
 * The WAMR glue both device builds share (core/port split): the per-app state, the wasmbed
 * host API as WAMR natives (natives.c) and the app steps that do not depend on the platform
 * (app.c). Each build is a port: it owns the threads, the allocator and stopping, and
 * implements the port hooks below (posix/wasm_wamr.c, zephyr/src/wasm_wamr.c).
 */
#ifndef WB_WAMR_H
#define WB_WAMR_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wasm_export.h"
#include "wasmbed/device.h"

/* Bytes kept for an app's environment and for its arguments (each); what does not fit is
 * dropped. A port sets its own size (the Zephyr build: 512, its apps sit in a small RAM). */
#ifndef WB_WAMR_ENV_BYTES
#define WB_WAMR_ENV_BYTES 1024u
#endif

/* One app slot as the natives see it; a port's slot embeds it and adds its thread. */
typedef struct {
  wb_device *dev;
  unsigned slot;
  wasm_module_t module;
  wasm_module_inst_t inst;
  volatile bool stop_requested; /* set by the port's stop; every host call checks it */
  volatile bool finished;
  volatile wb_app_state state;
  char error[WB_ERROR_MAX];
  char entry[WB_ID_MAX];
  /* env / args copied for env_get / arg_get */
  char env[WB_WAMR_ENV_BYTES];
  size_t env_len; /* "key\0value\0key\0value\0" */
  char args[WB_WAMR_ENV_BYTES];
  size_t args_len;
  unsigned argc;
  uint8_t gpio[32]; /* stand-in GPIO bank; boards map real pins here */
} wb_wamr_app;

/* The features a WAMR device reports in its DeviceInfo (2 entries). */
extern const wb_str wb_wamr_features[2];

/* natives.c: names the wasmbed import module and its natives in the runtime's init args. */
void wb_wamr_register_natives(RuntimeInitArgs *init);

/* app.c: initialises WAMR once, with the port's allocator choice in init and the natives.
 * 0, or -1 with err set. */
int wb_wamr_init(RuntimeInitArgs *init, char *err, size_t errcap);
/* app.c: fills a from spec (after clearing it: device, slot, entry, env, args), loads and
 * instantiates the module (stack, heap: WAMR's per-instance sizes) and ties the instance to a
 * for the natives. The module was validated. 0, or -1 with err set and nothing left loaded. */
int wb_wamr_app_load(wb_wamr_app *a, wb_device *dev, unsigned slot, const wb_app_spec *spec, uint32_t stack,
                     uint32_t heap, char *err, size_t errcap);
/* app.c: on the app's thread: runs `_initialize` (if exported), then the entry. Returns the
 * exception that ended it, or NULL when it returned. */
const char *wb_wamr_app_run(wb_wamr_app *a, uint32_t stack);
/* app.c: on the app's thread, last: records how it ended (Stopped, Failed or Exited). */
void wb_wamr_app_finish(wb_wamr_app *a, const char *exception);
/* app.c: unloads what wb_wamr_app_load made (safe to call again). */
void wb_wamr_app_release(wb_wamr_app *a);
/* app.c: the app's state for wb_wasm_runtime.poll; err gets the trap of a failed app. */
wb_app_state wb_wamr_app_poll(wb_wamr_app *a, char *err, size_t errcap);

/* --- port hooks: each build implements these ------------------------------------------ */
uint64_t wb_wamr_port_uptime_ms(void); /* monotonic milliseconds since boot / start */
void wb_wamr_port_sleep_ms(unsigned ms);
/* Guard the state an app's thread writes when it ends and poll reads. */
void wb_wamr_port_lock(void);
void wb_wamr_port_unlock(void);
/* The exported function `name` of inst, or NULL. A hook because the builds link different
 * WAMR releases: the POSIX one (wamr-sys) still takes a signature argument, 2.x does not. */
wasm_function_inst_t wb_wamr_port_lookup(wasm_module_inst_t inst, const char *name);
#endif
