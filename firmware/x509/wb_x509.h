/*
 * The X.509 writing both device builds do the same way with mbedTLS (the POSIX device's
 * posix/identity.c, the Zephyr build's src/enroll_zephyr.c): the CSR of claim-based
 * enrollment and the PEM the enrolled certificate and its CA are kept as. mbedTLS 2.28 on the
 * host and 3.x on Zephyr: both have these calls with the same meaning.
 */
#ifndef WB_X509_H
#define WB_X509_H
#include <stddef.h>
#include <stdint.h>

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/pk.h"

/* Writes the DER CSR for key with the subject CN=name, signed with SHA-256, to the start of
 * out. name must be a DNS label (at most 63 bytes; the caller checks). Returns the DER's
 * length, or the mbedTLS error (<= 0). */
int wb_x509_write_csr(mbedtls_pk_context *key, mbedtls_ctr_drbg_context *drbg, const char *name, uint8_t *out,
                      size_t cap);

/* The PEM of a DER certificate, NUL-terminated, in out. 0, or the mbedTLS error (too small). */
int wb_x509_certificate_pem(const uint8_t *der, size_t len, char *out, size_t cap);
#endif
