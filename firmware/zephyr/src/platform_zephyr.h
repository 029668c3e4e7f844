#ifndef WASMBED_PLATFORM_ZEPHYR_H
#define WASMBED_PLATFORM_ZEPHYR_H
#include <stddef.h>

#include "wasmbed/device.h"

const wb_platform *wb_zephyr_platform(void);
const wb_wasm_runtime *wb_zephyr_wamr_runtime(void);

/* Bytes free in WAMR's pool (loaded modules, instances, linear memories). */
size_t wb_zephyr_wamr_free_bytes(void);

/* The device credentials changed (enrollment): the next connect registers them again. */
void wb_zephyr_credentials_changed(void);

#ifdef CONFIG_WASMBED_CLAIM_ENROLLMENT
/* enroll_zephyr.c: the claim-based enrollment hooks of wb_platform. */
int wb_zephyr_make_csr(void *ctx, const char *name, uint8_t *out, size_t cap);
int wb_zephyr_store_certificate(void *ctx, const uint8_t *cert_der, size_t cert_len, const uint8_t *ca_der,
                                size_t ca_len, wb_credentials *out);
/* Loads the identity kept in settings: 1 and *out filled when the board has enrolled, 0 when
 * it has not (no certificate for its key yet), <0 when storage cannot be read. */
int wb_zephyr_identity_load(wb_credentials *out);
#endif
#endif
