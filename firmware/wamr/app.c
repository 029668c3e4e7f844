/*
 * The steps of an app's life under WAMR that are the same on every platform: copying what
 * the DeployApplication asked for into the slot, loading and instantiating the module,
 * running `_initialize` and the entry, and recording how the app ended. Threads, the
 * allocator and stopping are the port's (posix/wasm_wamr.c, zephyr/src/wasm_wamr.c).
 */
#include <stdio.h>
#include <string.h>

#include "wb_wamr.h"

#define LOAD_ERROR_BYTES 128 /* WAMR's load / instantiate error text */

const wb_str wb_wamr_features[2] = {{"mvp", 3}, {"bulk-memory", 11}};

int wb_wamr_init(RuntimeInitArgs *init, char *err, size_t errcap) {
  wb_wamr_register_natives(init);
  if (wasm_runtime_full_init(init)) return 0;
  snprintf(err, errcap, "WAMR failed to initialise");
  return -1;
}

/* Copies what the app is deployed with into its slot. */
static void prepare(wb_wamr_app *a, wb_device *dev, unsigned slot, const wb_app_spec *spec) {
  wb_iter it = {0, 0};
  wb_kv kv;
  wb_iter ai = {0, 0};
  wb_str s;
  memset(a, 0, sizeof *a);
  a->dev = dev;
  a->slot = slot;
  a->state = WB_APP_RUNNING;
  snprintf(a->entry, sizeof a->entry, "%s", spec->entry);
  /* in order, up to the first variable or argument that does not fit */
  while (wb_strmap_next(spec->env, &it, &kv) && a->env_len + kv.key.len + kv.value.len + 2 <= sizeof a->env) {
    memcpy(a->env + a->env_len, kv.key.ptr, kv.key.len);
    a->env_len += kv.key.len;
    a->env[a->env_len++] = '\0';
    memcpy(a->env + a->env_len, kv.value.ptr, kv.value.len);
    a->env_len += kv.value.len;
    a->env[a->env_len++] = '\0';
  }
  while (wb_strlist_next(spec->args, &ai, &s) && a->args_len + s.len + 1 <= sizeof a->args) {
    memcpy(a->args + a->args_len, s.ptr, s.len);
    a->args_len += s.len;
    a->args[a->args_len++] = '\0';
    a->argc++;
  }
}

int wb_wamr_app_load(wb_wamr_app *a, wb_device *dev, unsigned slot, const wb_app_spec *spec, uint32_t stack,
                     uint32_t heap, char *err, size_t errcap) {
  char ebuf[LOAD_ERROR_BYTES] = "";
  prepare(a, dev, slot, spec);
  /* WAMR may patch the buffer it loads from, and it stays referenced: the app table owns it */
  a->module = wasm_runtime_load((uint8_t *)spec->module, (uint32_t)spec->module_len, ebuf, sizeof ebuf);
  if (!a->module) {
    snprintf(err, errcap, "WAMR load: %s", ebuf);
    return -1;
  }
  a->inst = wasm_runtime_instantiate(a->module, stack, heap, ebuf, sizeof ebuf);
  if (!a->inst) {
    snprintf(err, errcap, "WAMR instantiate: %s", ebuf);
    wb_wamr_app_release(a);
    return -1;
  }
  wasm_runtime_set_custom_data(a->inst, a); /* how the natives find their app */
  return 0;
}

const char *wb_wamr_app_run(wb_wamr_app *a, uint32_t stack) {
  const char *exception = NULL;
  wasm_exec_env_t env = wasm_runtime_create_exec_env(a->inst, stack);
  if (!env) return "cannot create an execution environment";
  wasm_function_inst_t init = wb_wamr_port_lookup(a->inst, "_initialize");
  wasm_function_inst_t entry = wb_wamr_port_lookup(a->inst, a->entry);
  uint32_t argv[2] = {0, 0};
  if (init && !wasm_runtime_call_wasm(env, init, 0, argv)) exception = wasm_runtime_get_exception(a->inst);
  if (!exception && !entry) exception = "entry function not found";
  if (!exception && !wasm_runtime_call_wasm(env, entry, 0, argv)) exception = wasm_runtime_get_exception(a->inst);
  wasm_runtime_destroy_exec_env(env);
  return exception; /* the instance's own text: valid until wb_wamr_app_release */
}

void wb_wamr_app_finish(wb_wamr_app *a, const char *exception) {
  wb_wamr_port_lock();
  if (a->stop_requested) {
    a->state = WB_APP_STOPPED; /* whatever the stop made the app raise */
  } else if (exception) {
    snprintf(a->error, sizeof a->error, "trap: %s", exception);
    a->state = WB_APP_FAILED;
  } else {
    a->state = WB_APP_EXITED;
  }
  a->finished = true;
  wb_wamr_port_unlock();
}

void wb_wamr_app_release(wb_wamr_app *a) {
  if (a->inst) wasm_runtime_deinstantiate(a->inst);
  if (a->module) wasm_runtime_unload(a->module);
  a->inst = NULL;
  a->module = NULL;
}

wb_app_state wb_wamr_app_poll(wb_wamr_app *a, char *err, size_t errcap) {
  wb_app_state s;
  wb_wamr_port_lock();
  s = a->state;
  if (s == WB_APP_FAILED) snprintf(err, errcap, "%s", a->error);
  wb_wamr_port_unlock();
  return s;
}
