/* WAMR-backed wasm runtime for the POSIX device (posix/wasm_wamr.c), built when WAMR is. */
#ifndef WB_WASM_WAMR_H
#define WB_WASM_WAMR_H
#include "wasmbed/device.h"
#ifdef WB_HAVE_WAMR
const wb_wasm_runtime *wb_wamr_runtime(void);
#endif
#endif
