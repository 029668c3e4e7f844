/*
 * Claim-based enrollment on Zephyr (CONFIG_WASMBED_CLAIM_ENROLLMENT): the device key is an EC
 * P-256 key generated on the board from its TRNG (the zephyr,entropy driver seeds a CTR_DRBG)
 * and kept with the settings subsystem; the CSR for it goes out on the claim connection
 * (platform_zephyr.c); the certificate the platform issues and its CA are checked against the
 * key and kept in settings too, so the next boot connects with them straight away.
 * The key never leaves the board and is never handed to the core.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zephyr/device.h>
#include <zephyr/devicetree.h>
#include <zephyr/drivers/entropy.h>
#include <zephyr/kernel.h>
#include <zephyr/linker/linker-defs.h>
#include <zephyr/settings/settings.h>
#include <zephyr/sys/printk.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "platform_zephyr.h"
#include "wb_x509.h"

#define KEY_DER_CAP 160u  /* an EC P-256 private key (RFC 5915) is about 121 bytes */
#define PEM_CAP 2048u     /* one certificate */
#define KEY_PEM_CAP 512u

static const struct device *const g_entropy = DEVICE_DT_GET(DT_CHOSEN(zephyr_entropy));

/* The partition the settings subsystem keeps key, certificate and CA in (settings_nvs.c's choice). */
#if DT_HAS_CHOSEN(zephyr_settings_partition)
#define WB_SETTINGS_PARTITION DT_CHOSEN(zephyr_settings_partition)
#else
#define WB_SETTINGS_PARTITION DT_NODELABEL(storage_partition)
#endif
#if !DT_NODE_EXISTS(WB_SETTINGS_PARTITION)
#error "claim-based enrollment keeps the device key in settings: the board needs a storage_partition or a zephyr,settings-partition"
#endif

/*
 * The settings partition must lie outside this image. A board whose storage partition sits in
 * the internal flash between an MCUboot partition and the image slot (nucleo_f767zi: sectors
 * 2-3) gets it overwritten by an image linked without MCUboot from the start of flash, and NVS
 * would then erase the running code: refuse, saying which layout to use.
 */
static bool settings_clear_of_image(void) {
#if DT_NODE_EXISTS(DT_MEM_FROM_FIXED_PARTITION(WB_SETTINGS_PARTITION)) /* in the CPU's internal flash */
  const uintptr_t start = DT_FIXED_PARTITION_ADDR(WB_SETTINGS_PARTITION);
  const uintptr_t end = start + DT_REG_SIZE(WB_SETTINGS_PARTITION);
  const uintptr_t image_start = (uintptr_t)__rom_region_start;
  const uintptr_t image_end = image_start + (uintptr_t)_flash_used;
  if (start < image_end && image_start < end) {
    printk("wasmbed: the settings partition (0x%08lx..0x%08lx) overlaps this image (0x%08lx..0x%08lx); build with "
           "MCUboot (the board's slot layout) or choose a zephyr,settings-partition outside the image\n",
           (unsigned long)start, (unsigned long)end, (unsigned long)image_start, (unsigned long)image_end);
    return false;
  }
#endif
  return true;
}

static struct {
  uint8_t key_der[KEY_DER_CAP];
  size_t key_der_len;
  char cert_pem[PEM_CAP];
  char ca_pem[PEM_CAP];
  char key_pem[KEY_PEM_CAP];
  bool loaded;
} g_id;

static mbedtls_pk_context g_key;
static bool g_have_key;
static mbedtls_ctr_drbg_context g_drbg;
static bool g_drbg_ready;

/* CTR_DRBG's entropy source: the board's TRNG, nothing else. */
static int trng_entropy(void *ctx, unsigned char *buf, size_t len) {
  ARG_UNUSED(ctx);
  return entropy_get_entropy(g_entropy, buf, (uint16_t)len) == 0 ? 0 : MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
}

static int drbg(void) {
  static const char personalization[] = "wasmbed-device-key";
  if (g_drbg_ready) return 0;
  if (!device_is_ready(g_entropy)) {
    printk("wasmbed: the entropy source %s is not ready; cannot make a device key\n", g_entropy->name);
    return -ENODEV;
  }
  mbedtls_ctr_drbg_init(&g_drbg);
  int ret = mbedtls_ctr_drbg_seed(&g_drbg, trng_entropy, NULL, (const unsigned char *)personalization,
                                  sizeof personalization - 1);
  if (ret != 0) return ret;
  g_drbg_ready = true;
  return 0;
}

/* settings handler for "wasmbed/key", "wasmbed/crt", "wasmbed/ca" */
static int id_set(const char *name, size_t len, settings_read_cb read_cb, void *cb_arg) {
  void *dst;
  size_t cap;
  if (strcmp(name, "key") == 0) {
    dst = g_id.key_der;
    cap = sizeof g_id.key_der;
  } else if (strcmp(name, "crt") == 0) {
    dst = g_id.cert_pem;
    cap = sizeof g_id.cert_pem - 1;
  } else if (strcmp(name, "ca") == 0) {
    dst = g_id.ca_pem;
    cap = sizeof g_id.ca_pem - 1;
  } else {
    return -ENOENT;
  }
  if (len > cap) return -EINVAL;
  ssize_t n = read_cb(cb_arg, dst, len);
  if (n < 0) return (int)n;
  if (dst == g_id.key_der) g_id.key_der_len = (size_t)n;
  return 0;
}

SETTINGS_STATIC_HANDLER_DEFINE(wasmbed, "wasmbed", NULL, id_set, NULL, NULL);

static int load_key(void) {
  int ret;
  if (g_have_key) return 0;
  if (g_id.key_der_len == 0) return -ENOENT;
  mbedtls_pk_init(&g_key);
  if ((ret = drbg()) != 0) return ret;
  ret = mbedtls_pk_parse_key(&g_key, g_id.key_der, g_id.key_der_len, NULL, 0, mbedtls_ctr_drbg_random, &g_drbg);
  if (ret != 0) {
    printk("wasmbed: the device key in settings does not parse (-0x%04x)\n", (unsigned)-ret);
    mbedtls_pk_free(&g_key);
    return ret;
  }
  g_have_key = true;
  return 0;
}

/* The device key: the one in settings, or a new EC P-256 key from the TRNG, saved first. */
static int device_key(void) {
  uint8_t der[KEY_DER_CAP];
  int ret;
  if (g_have_key || load_key() == 0) return 0;
  if ((ret = drbg()) != 0) return ret;
  mbedtls_pk_init(&g_key);
  if ((ret = mbedtls_pk_setup(&g_key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) != 0 ||
      (ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(g_key), mbedtls_ctr_drbg_random, &g_drbg)) !=
          0) {
    printk("wasmbed: generating the device key failed (-0x%04x)\n", (unsigned)-ret);
    mbedtls_pk_free(&g_key);
    return ret;
  }
  int len = mbedtls_pk_write_key_der(&g_key, der, sizeof der); /* written at the end of der */
  if (len <= 0 || (ret = settings_save_one("wasmbed/key", der + sizeof der - len, (size_t)len)) != 0) {
    printk("wasmbed: saving the device key failed (%d)\n", len <= 0 ? len : ret);
    mbedtls_pk_free(&g_key);
    return len <= 0 ? len : ret;
  }
  memcpy(g_id.key_der, der + sizeof der - len, (size_t)len);
  g_id.key_der_len = (size_t)len;
  memset(der, 0, sizeof der);
  g_have_key = true;
  printk("wasmbed: generated an EC P-256 device key from the TRNG and saved it\n");
  return 0;
}

static void fill(wb_credentials *out) {
  out->cert_pem = g_id.cert_pem;
  out->cert_len = strlen(g_id.cert_pem);
  out->ca_pem = g_id.ca_pem;
  out->ca_len = strlen(g_id.ca_pem);
  out->key_pem = g_id.key_pem;
  out->key_len = strlen(g_id.key_pem);
}

/* The certificate is for this key and chains to the CA, with the profile of a device certificate. */
static int check_certificate(const char *cert_pem, const char *ca_pem) {
  mbedtls_x509_crt crt, ca;
  uint32_t flags = 0;
  int ret;
  mbedtls_x509_crt_init(&crt);
  mbedtls_x509_crt_init(&ca);
  if ((ret = mbedtls_x509_crt_parse(&crt, (const unsigned char *)cert_pem, strlen(cert_pem) + 1)) != 0 ||
      (ret = mbedtls_x509_crt_parse(&ca, (const unsigned char *)ca_pem, strlen(ca_pem) + 1)) != 0) {
    printk("wasmbed: the stored certificate or CA does not parse (-0x%04x)\n", (unsigned)-ret);
  } else if ((ret = mbedtls_pk_check_pair(&crt.pk, &g_key, mbedtls_ctr_drbg_random, &g_drbg)) != 0) {
    printk("wasmbed: the certificate is not for this device's key\n");
  } else if ((ret = mbedtls_x509_crt_verify(&crt, &ca, NULL, NULL, &flags, NULL, NULL)) != 0) {
    printk("wasmbed: the certificate does not chain to the CA (flags 0x%08x)\n", (unsigned)flags);
  } else if ((ret = mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_CLIENT_AUTH,
                                                              MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH))) != 0) {
    printk("wasmbed: the certificate is not for TLS client authentication\n");
  }
  mbedtls_x509_crt_free(&crt);
  mbedtls_x509_crt_free(&ca);
  return ret;
}

int wb_zephyr_identity_load(wb_credentials *out) {
  int ret;
  if (!g_id.loaded) {
    if (!settings_clear_of_image()) return -EFAULT;
    if ((ret = settings_subsys_init()) != 0 || (ret = settings_load_subtree("wasmbed")) != 0) {
      printk("wasmbed: reading settings failed (%d)\n", ret);
      return ret < 0 ? ret : -EIO;
    }
    g_id.loaded = true;
  }
  if (g_id.key_der_len == 0 || !g_id.cert_pem[0] || !g_id.ca_pem[0]) return 0;
  if (load_key() != 0 || check_certificate(g_id.cert_pem, g_id.ca_pem) != 0) return 0; /* enroll again */
  if (mbedtls_pk_write_key_pem(&g_key, (unsigned char *)g_id.key_pem, sizeof g_id.key_pem) != 0) return -ENOMEM;
  fill(out);
  return 1;
}

int wb_zephyr_make_csr(void *ctx, const char *name, uint8_t *out, size_t cap) {
  int ret;
  ARG_UNUSED(ctx);
  if ((ret = device_key()) != 0) return ret < 0 ? ret : -EIO;
  ret = wb_x509_write_csr(&g_key, &g_drbg, name, out, cap); /* the core checked name is a DNS label */
  if (ret <= 0) {
    printk("wasmbed: writing the CSR failed (-0x%04x)\n", (unsigned)-ret);
    return ret < 0 ? ret : -EIO;
  }
  return ret;
}

int wb_zephyr_store_certificate(void *ctx, const uint8_t *cert_der, size_t cert_len, const uint8_t *ca_der,
                                size_t ca_len, wb_credentials *out) {
  static char cert_pem[PEM_CAP], ca_pem[PEM_CAP];
  int ret;
  ARG_UNUSED(ctx);
  if (!g_have_key) return -ENOENT;
  if (wb_x509_certificate_pem(cert_der, cert_len, cert_pem, sizeof cert_pem) != 0 ||
      wb_x509_certificate_pem(ca_der, ca_len, ca_pem, sizeof ca_pem) != 0) {
    printk("wasmbed: the certificate is too large to keep\n");
    return -ENOMEM;
  }
  if (check_certificate(cert_pem, ca_pem) != 0) return -EINVAL;
  if (mbedtls_pk_write_key_pem(&g_key, (unsigned char *)g_id.key_pem, sizeof g_id.key_pem) != 0) return -ENOMEM;
  /* the CA first: a stored certificate is what "enrolled" means at the next boot */
  if ((ret = settings_save_one("wasmbed/ca", ca_pem, strlen(ca_pem))) != 0 ||
      (ret = settings_save_one("wasmbed/crt", cert_pem, strlen(cert_pem))) != 0) {
    printk("wasmbed: saving the certificate failed (%d)\n", ret);
    return ret;
  }
  memcpy(g_id.cert_pem, cert_pem, sizeof cert_pem);
  memcpy(g_id.ca_pem, ca_pem, sizeof ca_pem);
  fill(out);
  wb_zephyr_credentials_changed();
  return 0;
}
