/* The POSIX device's key, CSR and enrolled certificate in its state dir (identity.h). */
#include "identity.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mbedtls/ecp.h"
#include "mbedtls/error.h"
#include "mbedtls/pk.h"
#include "mbedtls/sha256.h"
#include "mbedtls/x509_crt.h"
#include "wb_x509.h"

#define PEM_CAP 8192u

struct posix_identity {
  char dir[512];
  mbedtls_ctr_drbg_context *drbg;
  mbedtls_pk_context key;
  /* NUL-terminated PEMs handed to the core as wb_credentials */
  char key_pem[PEM_CAP], cert_pem[PEM_CAP], ca_pem[PEM_CAP];
};

static void tls_err(char *err, size_t cap, const char *what, int ret) {
  char buf[128];
  mbedtls_strerror(ret, buf, sizeof buf);
  snprintf(err, cap, "%s: %s (-0x%04x)", what, buf, (unsigned)-ret);
}

static void path_of(const posix_identity *id, const char *file, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", id->dir, file);
}

/* Reads a whole (small) file, NUL-terminated; its length, or -1 (errno set; E2BIG if too big). */
static long read_file(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t n = fread(buf, 1, cap, f);
  int bad = ferror(f);
  fclose(f);
  if (bad) return -1;
  if (n >= cap) {
    errno = E2BIG;
    return -1;
  }
  buf[n] = '\0';
  return (long)n;
}

/* Writes path atomically (a temporary file, fsync, rename) with the given mode. */
static int write_file(const char *path, const char *data, size_t len, mode_t mode) {
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (fd < 0) return -1;
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      close(fd);
      unlink(tmp);
      return -1;
    }
    off += (size_t)w;
  }
  if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

/* A new EC P-256 key in key_path, created exclusively so a concurrent start never replaces it. */
static int generate_key(posix_identity *id, const char *key_path, char *err, size_t errcap) {
  mbedtls_pk_context key;
  unsigned char pem[1024];
  int ret;
  mbedtls_pk_init(&key);
  if ((ret = mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) != 0 ||
      (ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), mbedtls_ctr_drbg_random, id->drbg)) !=
          0 ||
      (ret = mbedtls_pk_write_key_pem(&key, pem, sizeof pem)) != 0) {
    mbedtls_pk_free(&key);
    tls_err(err, errcap, "generating the device key", ret);
    return -1;
  }
  mbedtls_pk_free(&key);
  int fd = open(key_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return 0; /* another start made one meanwhile: use that one */
    snprintf(err, errcap, "cannot create %s: %s", key_path, strerror(errno));
    return -1;
  }
  size_t len = strlen((const char *)pem);
  int ok = write(fd, pem, len) == (ssize_t)len && fsync(fd) == 0;
  mbedtls_platform_zeroize(pem, sizeof pem);
  if (close(fd) != 0 || !ok) {
    unlink(key_path);
    snprintf(err, errcap, "cannot write %s", key_path);
    return -1;
  }
  return 0;
}

posix_identity *posix_identity_open(const char *state_dir, mbedtls_ctr_drbg_context *drbg, char *err, size_t errcap) {
  char key_path[600];
  struct stat st;
  int ret;
  if (strlen(state_dir) >= sizeof ((posix_identity *)0)->dir - 16) {
    snprintf(err, errcap, "state dir path is too long");
    return NULL;
  }
  if (mkdir(state_dir, 0700) != 0 && errno != EEXIST) {
    snprintf(err, errcap, "cannot create the state dir %s: %s", state_dir, strerror(errno));
    return NULL;
  }
  posix_identity *id = calloc(1, sizeof *id);
  if (!id) {
    snprintf(err, errcap, "out of memory");
    return NULL;
  }
  snprintf(id->dir, sizeof id->dir, "%s", state_dir);
  id->drbg = drbg;
  mbedtls_pk_init(&id->key);
  path_of(id, "device.key", key_path, sizeof key_path);
  if (stat(key_path, &st) != 0 && generate_key(id, key_path, err, errcap) != 0) goto fail;
  if (stat(key_path, &st) == 0 && (st.st_mode & 077) != 0) {
    snprintf(err, errcap, "%s is readable by others (mode %03o): chmod 600 it", key_path, (unsigned)(st.st_mode & 0777));
    goto fail;
  }
  long n = read_file(key_path, id->key_pem, sizeof id->key_pem);
  if (n <= 0) {
    snprintf(err, errcap, "cannot read %s: %s", key_path, n == 0 ? "empty" : strerror(errno));
    goto fail;
  }
  if ((ret = mbedtls_pk_parse_key(&id->key, (const unsigned char *)id->key_pem, (size_t)n + 1, NULL, 0)) != 0) {
    tls_err(err, errcap, key_path, ret);
    goto fail;
  }
  return id;
fail:
  posix_identity_close(id);
  return NULL;
}

void posix_identity_close(posix_identity *id) {
  if (!id) return;
  mbedtls_pk_free(&id->key);
  mbedtls_platform_zeroize(id->key_pem, sizeof id->key_pem);
  free(id);
}

/* 0 when crt's public key is device.key's and crt chains to ca; else -1 with err. */
static int check_certificate(posix_identity *id, mbedtls_x509_crt *crt, mbedtls_x509_crt *ca, char *err,
                             size_t errcap) {
  uint32_t flags = 0;
  if (mbedtls_pk_check_pair(&crt->pk, &id->key) != 0) {
    snprintf(err, errcap, "the certificate is not for this device's key");
    return -1;
  }
  if (mbedtls_x509_crt_verify(crt, ca, NULL, NULL, &flags, NULL, NULL) != 0) {
    char info[200];
    mbedtls_x509_crt_verify_info(info, sizeof info, "", flags);
    for (char *c = info; *c; c++)
      if (*c == '\n') *c = ' ';
    snprintf(err, errcap, "the certificate does not verify against its CA: %s", info);
    return -1;
  }
  return 0;
}

static void fill(posix_identity *id, wb_credentials *out) {
  out->cert_pem = id->cert_pem;
  out->cert_len = strlen(id->cert_pem);
  out->key_pem = id->key_pem;
  out->key_len = strlen(id->key_pem);
  out->ca_pem = id->ca_pem;
  out->ca_len = strlen(id->ca_pem);
}

int posix_identity_credentials(posix_identity *id, wb_credentials *out, char *err, size_t errcap) {
  char cert_path[600], ca_path[600];
  mbedtls_x509_crt crt, ca;
  int ret, result = -1;
  path_of(id, "device.crt", cert_path, sizeof cert_path);
  path_of(id, "ca.crt", ca_path, sizeof ca_path);
  long cn = read_file(cert_path, id->cert_pem, sizeof id->cert_pem);
  if (cn < 0 && errno == ENOENT) {
    snprintf(err, errcap, "not enrolled yet (no %s)", cert_path);
    return 0;
  }
  long an = cn < 0 ? -1 : read_file(ca_path, id->ca_pem, sizeof id->ca_pem);
  if (cn <= 0 || an <= 0) {
    snprintf(err, errcap, "cannot read %s / %s: %s", cert_path, ca_path, strerror(errno));
    return -1;
  }
  mbedtls_x509_crt_init(&crt);
  mbedtls_x509_crt_init(&ca);
  if ((ret = mbedtls_x509_crt_parse(&crt, (const unsigned char *)id->cert_pem, (size_t)cn + 1)) != 0) {
    tls_err(err, errcap, cert_path, ret);
  } else if ((ret = mbedtls_x509_crt_parse(&ca, (const unsigned char *)id->ca_pem, (size_t)an + 1)) != 0) {
    tls_err(err, errcap, ca_path, ret);
  } else if (mbedtls_pk_check_pair(&crt.pk, &id->key) != 0) {
    /* a key made after the certificate (e.g. device.key deleted): enroll again for the new key */
    snprintf(err, errcap, "%s is not for device.key; enrolling again", cert_path);
    result = 0;
  } else if (mbedtls_x509_time_is_past(&crt.valid_to)) {
    /* renewal: the platform re-approves a known key at once (docs/enrollment.md) */
    snprintf(err, errcap, "%s expired on %04d-%02d-%02d; enrolling again with the same key", cert_path,
             crt.valid_to.year, crt.valid_to.mon, crt.valid_to.day);
    result = 0;
  } else {
    fill(id, out);
    result = 1;
  }
  mbedtls_x509_crt_free(&crt);
  mbedtls_x509_crt_free(&ca);
  return result;
}

int posix_identity_fingerprint(posix_identity *id, char out[65]) {
  unsigned char der[600], hash[32];
  int len = mbedtls_pk_write_pubkey_der(&id->key, der, sizeof der);
  if (len <= 0 || mbedtls_sha256_ret(der + sizeof der - (size_t)len, (size_t)len, hash, 0) != 0) return -1;
  for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", hash[i]);
  return 0;
}

static int valid_name(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > 63 || name[0] == '-' || name[n - 1] == '-') return 0;
  for (size_t i = 0; i < n; i++)
    if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '-')) return 0;
  return 1;
}

int posix_identity_csr(posix_identity *id, const char *name, uint8_t *out, size_t cap, char *err, size_t errcap) {
  int ret;
  if (!valid_name(name)) { /* it goes into a DN string: no ',', '=' or escapes */
    snprintf(err, errcap, "device name \"%s\" is not a DNS label", name);
    return -1;
  }
  ret = wb_x509_write_csr(&id->key, id->drbg, name, out, cap);
  if (ret <= 0) {
    tls_err(err, errcap, "writing the CSR", ret);
    return -1;
  }
  return ret;
}

int posix_identity_store(posix_identity *id, const uint8_t *cert_der, size_t cert_len, const uint8_t *ca_der,
                         size_t ca_len, wb_credentials *out, char *err, size_t errcap) {
  char cert_path[600], ca_path[600], cert_pem[PEM_CAP], ca_pem[PEM_CAP];
  mbedtls_x509_crt crt, ca;
  int ret, result = -1;
  mbedtls_x509_crt_init(&crt);
  mbedtls_x509_crt_init(&ca);
  if ((ret = mbedtls_x509_crt_parse_der(&crt, cert_der, cert_len)) != 0) {
    tls_err(err, errcap, "EnrollmentAccepted.certificateDer", ret);
  } else if ((ret = mbedtls_x509_crt_parse_der(&ca, ca_der, ca_len)) != 0) {
    tls_err(err, errcap, "EnrollmentAccepted.caCertificateDer", ret);
  } else if (check_certificate(id, &crt, &ca, err, errcap) == 0) {
    if (wb_x509_certificate_pem(cert_der, cert_len, cert_pem, sizeof cert_pem) != 0 ||
        wb_x509_certificate_pem(ca_der, ca_len, ca_pem, sizeof ca_pem) != 0) {
      snprintf(err, errcap, "the certificate is too large to keep");
    } else {
      path_of(id, "device.crt", cert_path, sizeof cert_path);
      path_of(id, "ca.crt", ca_path, sizeof ca_path);
      /* the CA first: device.crt existing is what "enrolled" means on the next start */
      if (write_file(ca_path, ca_pem, strlen(ca_pem), 0644) != 0 ||
          write_file(cert_path, cert_pem, strlen(cert_pem), 0644) != 0) {
        snprintf(err, errcap, "cannot write %s: %s", cert_path, strerror(errno));
      } else {
        memcpy(id->cert_pem, cert_pem, sizeof cert_pem);
        memcpy(id->ca_pem, ca_pem, sizeof ca_pem);
        fill(id, out);
        result = 0;
      }
    }
  }
  mbedtls_x509_crt_free(&crt);
  mbedtls_x509_crt_free(&ca);
  return result;
}
