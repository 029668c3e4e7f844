/*
 * The POSIX device's own identity in its state dir (claim-based enrollment, docs/firmware.md):
 *
 *   device.key  EC P-256 private key, PEM, mode 0600: generated here on first use, never sent
 *   device.crt  the device certificate the platform issued for it (PEM), once enrolled
 *   ca.crt      the CA that issued it, which the gateway's certificate must chain to (PEM)
 *
 * The same files, names and meaning as the TypeScript board (device/enrollment-client.ts).
 */
#ifndef WB_POSIX_IDENTITY_H
#define WB_POSIX_IDENTITY_H
#include "mbedtls/ctr_drbg.h"
#include "wasmbed/device.h"

typedef struct posix_identity posix_identity;

/* Opens (creates, 0700) the state dir and loads or generates device.key; NULL with err filled. */
posix_identity *posix_identity_open(const char *state_dir, mbedtls_ctr_drbg_context *drbg, char *err, size_t errcap);
void posix_identity_close(posix_identity *id);

/* 1: enrolled, *out = device.crt + device.key + ca.crt (valid until close); 0: not enrolled
 * (no certificate, one that is not for this key, or an expired one: err says which);
 * -1: unreadable (err). */
int posix_identity_credentials(posix_identity *id, wb_credentials *out, char *err, size_t errcap);

/* Lowercase hex SHA-256 of the key's DER SubjectPublicKeyInfo: the "CSR fingerprint" an operator
 * compares before approving. 0, or -1. */
int posix_identity_fingerprint(posix_identity *id, char out[65]);

/* PKCS#10 CSR (DER, SHA-256) for device.key with subject CN=name; its length, or -1 (err). */
int posix_identity_csr(posix_identity *id, const char *name, uint8_t *out, size_t cap, char *err, size_t errcap);

/* Checks the certificate is for device.key and chains to ca, writes ca.crt then device.crt
 * (each atomically) and fills *out; 0, or -1 (err) with nothing written. */
int posix_identity_store(posix_identity *id, const uint8_t *cert_der, size_t cert_len, const uint8_t *ca_der,
                         size_t ca_len, wb_credentials *out, char *err, size_t errcap);
#endif
