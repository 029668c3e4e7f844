#ifndef WB_PLATFORM_ZEPHYR_H
#define WB_PLATFORM_ZEPHYR_H
#include "wasmbed/device.h"
const wb_platform *wb_zephyr_platform(void);
const wb_wasm_runtime *wb_zephyr_wamr_runtime(void);
#endif
