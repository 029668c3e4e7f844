/* The POSIX platform: TCP + mutual TLS with mbedTLS, monotonic clock, files as storage,
 * claim-based enrollment with the key and certificate in a state dir (identity.h). */
#ifndef WB_PLATFORM_POSIX_H
#define WB_PLATFORM_POSIX_H
#include "identity.h"
#include "mbedtls/ctr_drbg.h"
#include "wasmbed/device.h"

typedef struct posix_platform posix_platform;

/* storage_dir may be NULL (no persistence). tls_debug: mbedTLS debug level 0..4. */
posix_platform *posix_platform_create(const char *storage_dir, int tls_debug);
const wb_platform *posix_platform_get(posix_platform *p);
/* The platform's seeded random generator (key generation, CSR signatures). */
mbedtls_ctr_drbg_context *posix_platform_drbg(posix_platform *p);
/* Enables connect_claim / make_csr / store_certificate with this identity (NULL disables). */
void posix_platform_use_identity(posix_platform *p, posix_identity *identity);
/* Why the last connect failed (for the console and the tests). */
const char *posix_platform_last_error(posix_platform *p);
#endif
