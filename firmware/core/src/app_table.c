/* The app table: fixed slots, each with its own module buffer. */
#include <string.h>

#include "wasmbed/device.h"

void wb_apps_init(wb_app_table *t, uint8_t *module_mem, size_t module_cap) {
  memset(t->apps, 0, sizeof t->apps);
  t->module_mem = module_mem;
  t->module_cap = module_cap;
  for (unsigned i = 0; i < WB_MAX_APPS; i++) t->apps[i].module = module_mem ? module_mem + i * module_cap : NULL;
}

int wb_apps_find(const wb_app_table *t, wb_str app_id) {
  for (unsigned i = 0; i < WB_MAX_APPS; i++) {
    const wb_app *a = &t->apps[i];
    if (a->in_use && strlen(a->app_id) == app_id.len && memcmp(a->app_id, app_id.ptr, app_id.len) == 0)
      return (int)i;
  }
  return -1;
}

int wb_apps_alloc(wb_app_table *t) {
  for (unsigned i = 0; i < WB_MAX_APPS; i++) {
    if (!t->apps[i].in_use) return (int)i;
  }
  return -1;
}

void wb_apps_release(wb_app_table *t, unsigned slot) {
  uint8_t *module = t->apps[slot].module;
  memset(&t->apps[slot], 0, sizeof t->apps[slot]);
  t->apps[slot].module = module;
}

size_t wb_apps_count(const wb_app_table *t) {
  size_t n = 0;
  for (unsigned i = 0; i < WB_MAX_APPS; i++) n += t->apps[i].in_use ? 1u : 0u;
  return n;
}

void wb_apps_status(const wb_app_table *t, unsigned slot, wb_app_status *out) {
  const wb_app *a = &t->apps[slot];
  out->app_id = wb_str_from(a->app_id);
  out->state = a->state;
  out->error = a->error[0] ? wb_optstr_from(a->error) : wb_optstr_from(NULL);
  out->restarts = a->restarts;
}
