/* The POSIX platform: TCP + mutual TLS with mbedTLS, monotonic clock, files as storage. */
#ifndef WB_PLATFORM_POSIX_H
#define WB_PLATFORM_POSIX_H
#include "wasmbed/device.h"

typedef struct posix_platform posix_platform;

/* storage_dir may be NULL (no persistence). tls_debug: mbedTLS debug level 0..4. */
posix_platform *posix_platform_create(const char *storage_dir, int tls_debug);
const wb_platform *posix_platform_get(posix_platform *p);
/* Why the last connect failed (for the console and the tests). */
const char *posix_platform_last_error(posix_platform *p);
#endif
