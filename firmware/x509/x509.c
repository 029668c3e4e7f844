/* X.509 writing shared by the device builds (wb_x509.h). */
#include "wb_x509.h"

#include <stdio.h>
#include <string.h>

#include "mbedtls/pem.h"
#include "mbedtls/x509_csr.h"

#define SUBJECT_BYTES (sizeof "CN=" + 63u) /* a DNS label is at most 63 bytes */

int wb_x509_write_csr(mbedtls_pk_context *key, mbedtls_ctr_drbg_context *drbg, const char *name, uint8_t *out,
                      size_t cap) {
  mbedtls_x509write_csr req;
  char subject[SUBJECT_BYTES];
  int ret;
  snprintf(subject, sizeof subject, "CN=%s", name);
  mbedtls_x509write_csr_init(&req);
  mbedtls_x509write_csr_set_md_alg(&req, MBEDTLS_MD_SHA256);
  mbedtls_x509write_csr_set_key(&req, key);
  ret = mbedtls_x509write_csr_set_subject_name(&req, subject);
  if (ret == 0) ret = mbedtls_x509write_csr_der(&req, out, cap, mbedtls_ctr_drbg_random, drbg);
  mbedtls_x509write_csr_free(&req);
  if (ret > 0) memmove(out, out + cap - (size_t)ret, (size_t)ret); /* mbedTLS writes DER at the end of the buffer */
  return ret;
}

int wb_x509_certificate_pem(const uint8_t *der, size_t len, char *out, size_t cap) {
  size_t olen = 0;
  return mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n", der, len,
                                  (unsigned char *)out, cap, &olen);
}
