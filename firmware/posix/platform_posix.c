/*
 * POSIX platform for the device core: mbedTLS (Debian's libmbedtls-dev, 2.28) client with
 * mutual authentication against the platform CA (from the credentials block or the state
 * dir), and, for claim-based enrollment, a claim connection: the gateway verified against the
 * CA the device trusts, ALPN "wasmbed-enroll", a claim certificate or no client certificate.
 *
 * Server identity: a DNS endpoint is checked against the certificate's DNS names by
 * mbedTLS. mbedTLS 2.28 does not match iPAddress SANs, so for an IP endpoint this file
 * checks the iPAddress SAN itself after the handshake (the chain is always verified).
 */
#include "platform_posix.h"

#include "identity.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/debug.h"
#include "mbedtls/entropy.h"
#include "mbedtls/error.h"
#include "mbedtls/net_sockets.h"
#include "mbedtls/pk.h"
#include "mbedtls/ssl.h"
#include "mbedtls/x509_crt.h"

struct posix_platform {
  wb_platform iface;
  mbedtls_net_context net;
  mbedtls_ssl_context ssl;
  mbedtls_ssl_config conf;
  mbedtls_x509_crt ca, cert;
  mbedtls_pk_context key;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  bool tls_ready, connected;
  int tls_debug;
  pthread_mutex_t mutex;
  char storage_dir[512];
  char last_error[WB_MAX_ENDPOINT_LENGTH + 128]; /* a sentence naming the dialled host, uncut */
  posix_identity *identity; /* claim-based enrollment: the device key, CSR, stored certificate */
};

static void tls_error(posix_platform *p, const char *what, int ret) {
  char buf[160];
  mbedtls_strerror(ret, buf, sizeof buf);
  snprintf(p->last_error, sizeof p->last_error, "%s: %s (-0x%04x)", what, buf, (unsigned)-ret);
}

static void free_tls(posix_platform *p) {
  if (!p->tls_ready) return;
  mbedtls_ssl_free(&p->ssl);
  mbedtls_ssl_config_free(&p->conf);
  mbedtls_x509_crt_free(&p->ca);
  mbedtls_x509_crt_free(&p->cert);
  mbedtls_pk_free(&p->key);
  mbedtls_net_free(&p->net);
  p->tls_ready = false;
}

static void debug_cb(void *ctx, int level, const char *file, int line, const char *msg) {
  (void)ctx;
  fprintf(stderr, "[mbedtls %d] %s:%d: %s", level, file, line, msg);
}

/* Checks an iPAddress subjectAltName (tag [7]) of the peer against the endpoint's IP. */
static int peer_has_ip(const mbedtls_x509_crt *crt, const char *host) {
  unsigned char want[16];
  size_t want_len;
  if (inet_pton(AF_INET, host, want) == 1) want_len = 4;
  else if (inet_pton(AF_INET6, host, want) == 1) want_len = 16;
  else return 0;
  for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s != NULL; s = s->next) {
    if ((s->buf.tag & MBEDTLS_ASN1_TAG_VALUE_MASK) == 7 && s->buf.len == want_len &&
        memcmp(s->buf.p, want, want_len) == 0)
      return 1;
  }
  return 0;
}

/* The PEMs are NUL-terminated; mbedTLS wants the length with the NUL. cert_pem NULL: no
 * client certificate (a token claim). alpn: offered protocol or NULL. */
static int tls_open(posix_platform *p, const wb_endpoint *ep, const char *ca_pem, size_t ca_len, const char *cert_pem,
                    size_t cert_len, const char *key_pem, size_t key_len, const char *cert_what, const char *alpn) {
  static const char *alpn_list[2];
  char port[8], what[64];
  int ret;
  free_tls(p);
  p->last_error[0] = '\0';
  mbedtls_net_init(&p->net);
  mbedtls_ssl_init(&p->ssl);
  mbedtls_ssl_config_init(&p->conf);
  mbedtls_x509_crt_init(&p->ca);
  mbedtls_x509_crt_init(&p->cert);
  mbedtls_pk_init(&p->key);
  p->tls_ready = true;

  if ((ret = mbedtls_x509_crt_parse(&p->ca, (const unsigned char *)ca_pem, ca_len + 1)) != 0) {
    tls_error(p, "CA certificate", ret);
    return -1;
  }
  if (cert_pem) {
    if ((ret = mbedtls_x509_crt_parse(&p->cert, (const unsigned char *)cert_pem, cert_len + 1)) != 0) {
      snprintf(what, sizeof what, "%s certificate", cert_what);
      tls_error(p, what, ret);
      return -1;
    }
    if ((ret = mbedtls_pk_parse_key(&p->key, (const unsigned char *)key_pem, key_len + 1, NULL, 0)) != 0) {
      snprintf(what, sizeof what, "%s key", cert_what);
      tls_error(p, what, ret);
      return -1;
    }
  }
  snprintf(port, sizeof port, "%u", (unsigned)ep->port);
  if ((ret = mbedtls_net_connect(&p->net, ep->host, port, MBEDTLS_NET_PROTO_TCP)) != 0) {
    tls_error(p, "TCP connect", ret);
    return -1;
  }
  if ((ret = mbedtls_ssl_config_defaults(&p->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                         MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
    tls_error(p, "TLS config", ret);
    return -1;
  }
  mbedtls_ssl_conf_min_version(&p->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3); /* TLS 1.2+ */
  mbedtls_ssl_conf_authmode(&p->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
  mbedtls_ssl_conf_ca_chain(&p->conf, &p->ca, NULL);
  mbedtls_ssl_conf_rng(&p->conf, mbedtls_ctr_drbg_random, &p->drbg);
  mbedtls_ssl_conf_read_timeout(&p->conf, 1000);
  if (p->tls_debug > 0) {
    mbedtls_debug_set_threshold(p->tls_debug);
    mbedtls_ssl_conf_dbg(&p->conf, debug_cb, NULL);
  }
  if (cert_pem && (ret = mbedtls_ssl_conf_own_cert(&p->conf, &p->cert, &p->key)) != 0) {
    snprintf(what, sizeof what, "%s certificate and key do not match", cert_what);
    tls_error(p, what, ret);
    return -1;
  }
  if (alpn) {
    alpn_list[0] = alpn;
    alpn_list[1] = NULL;
    if ((ret = mbedtls_ssl_conf_alpn_protocols(&p->conf, alpn_list)) != 0) {
      tls_error(p, "TLS ALPN", ret);
      return -1;
    }
  }
  if ((ret = mbedtls_ssl_setup(&p->ssl, &p->conf)) != 0) {
    tls_error(p, "TLS setup", ret);
    return -1;
  }
  if (!ep->is_ip_literal && (ret = mbedtls_ssl_set_hostname(&p->ssl, ep->host)) != 0) {
    tls_error(p, "TLS hostname", ret);
    return -1;
  }
  mbedtls_ssl_set_bio(&p->ssl, &p->net, mbedtls_net_send, NULL, mbedtls_net_recv_timeout);
  for (;;) {
    ret = mbedtls_ssl_handshake(&p->ssl);
    if (ret == 0) break;
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
    if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
      char info[200];
      mbedtls_x509_crt_verify_info(info, sizeof info, "", mbedtls_ssl_get_verify_result(&p->ssl));
      for (char *c = info; *c; c++)
        if (*c == '\n') *c = ' ';
      snprintf(p->last_error, sizeof p->last_error, "TLS handshake: gateway certificate not trusted: %s", info);
    } else {
      tls_error(p, "TLS handshake", ret);
    }
    return -1;
  }
  if (ep->is_ip_literal && !peer_has_ip(mbedtls_ssl_get_peer_cert(&p->ssl), ep->host)) {
    snprintf(p->last_error, sizeof p->last_error,
             "TLS handshake: gateway certificate has no iPAddress SAN %s", ep->host);
    return -1;
  }
  p->connected = true;
  return 0;
}

static int p_connect(void *ctx, const wb_endpoint *ep, const wb_credentials *cred) {
  return tls_open(ctx, ep, cred->ca_pem, cred->ca_len, cred->cert_pem, cred->cert_len, cred->key_pem, cred->key_len,
                  "device", NULL);
}

static int p_connect_claim(void *ctx, const wb_endpoint *ep, const wb_claim *claim) {
  return tls_open(ctx, ep, claim->ca_pem, claim->ca_len, claim->cert_pem, claim->cert_len, claim->key_pem,
                  claim->key_len, "claim", WB_ENROLL_ALPN);
}

static int p_make_csr(void *ctx, const char *name, uint8_t *out, size_t cap) {
  posix_platform *p = ctx;
  int n = posix_identity_csr(p->identity, name, out, cap, p->last_error, sizeof p->last_error);
  if (n < 0) p->iface.console(ctx, WB_LOG_ERROR, p->last_error);
  return n;
}

static int p_store_certificate(void *ctx, const uint8_t *cert, size_t cert_len, const uint8_t *ca, size_t ca_len,
                               wb_credentials *out) {
  posix_platform *p = ctx;
  int ret = posix_identity_store(p->identity, cert, cert_len, ca, ca_len, out, p->last_error, sizeof p->last_error);
  if (ret != 0) p->iface.console(ctx, WB_LOG_ERROR, p->last_error);
  return ret;
}

static int p_send(void *ctx, const uint8_t *data, size_t len) {
  posix_platform *p = ctx;
  size_t off = 0;
  if (!p->connected) return -1;
  while (off < len) {
    int ret = mbedtls_ssl_write(&p->ssl, data + off, len - off);
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
    if (ret <= 0) {
      tls_error(p, "TLS write", ret);
      return -1;
    }
    off += (size_t)ret;
  }
  return 0;
}

static int p_recv(void *ctx, uint8_t *buf, size_t cap, uint32_t timeout_ms) {
  posix_platform *p = ctx;
  if (!p->connected) return -1;
  mbedtls_ssl_conf_read_timeout(&p->conf, timeout_ms ? timeout_ms : 1);
  int ret = mbedtls_ssl_read(&p->ssl, buf, cap);
  if (ret > 0) return ret;
  if (ret == MBEDTLS_ERR_SSL_TIMEOUT || ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) return 0;
  if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) snprintf(p->last_error, sizeof p->last_error, "closed by peer");
  else tls_error(p, "TLS read", ret);
  return -1;
}

static void p_disconnect(void *ctx) {
  posix_platform *p = ctx;
  if (p->connected) (void)mbedtls_ssl_close_notify(&p->ssl);
  p->connected = false;
  free_tls(p);
}

static uint64_t p_uptime(void *ctx) {
  struct timespec ts;
  (void)ctx;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void p_sleep(void *ctx, uint32_t ms) {
  struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
  (void)ctx;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void p_console(void *ctx, wb_log_level level, const char *msg) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  (void)ctx;
  fprintf(stdout, "wasmbed-device [%s] %s\n", names[(unsigned)level & 3u], msg);
  fflush(stdout);
}

static uint64_t p_free_memory(void *ctx) {
  FILE *f = fopen("/proc/meminfo", "r");
  char line[128];
  unsigned long long kb = 0;
  (void)ctx;
  if (!f) return 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
  fclose(f);
  return (uint64_t)kb * 1024u;
}

static void p_lock(void *ctx) { pthread_mutex_lock(&((posix_platform *)ctx)->mutex); }
static void p_unlock(void *ctx) { pthread_mutex_unlock(&((posix_platform *)ctx)->mutex); }

static int safe_key(const char *key) {
  if (!key[0] || key[0] == '.') return 0;
  for (const char *c = key; *c; c++)
    if (*c == '/') return 0;
  return 1;
}

static int p_storage_write(void *ctx, const char *key, const uint8_t *data, size_t len) {
  posix_platform *p = ctx;
  char path[700], tmp[720];
  if (!safe_key(key)) return -1;
  snprintf(path, sizeof path, "%s/%s.wasm", p->storage_dir, key);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) return -1;
  size_t n = fwrite(data, 1, len, f);
  if (fclose(f) != 0 || n != len) return -1;
  return rename(tmp, path);
}

static int p_storage_erase(void *ctx, const char *key) {
  posix_platform *p = ctx;
  char path[700];
  if (!safe_key(key)) return -1;
  snprintf(path, sizeof path, "%s/%s.wasm", p->storage_dir, key);
  return remove(path);
}

posix_platform *posix_platform_create(const char *storage_dir, int tls_debug) {
  static const char pers[] = "wasmbed-device";
  posix_platform *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->tls_debug = tls_debug;
  pthread_mutex_init(&p->mutex, NULL);
  mbedtls_entropy_init(&p->entropy);
  mbedtls_ctr_drbg_init(&p->drbg);
  if (mbedtls_ctr_drbg_seed(&p->drbg, mbedtls_entropy_func, &p->entropy, (const unsigned char *)pers,
                            sizeof pers - 1) != 0) {
    free(p);
    return NULL;
  }
  p->iface.ctx = p;
  p->iface.connect = p_connect;
  p->iface.send = p_send;
  p->iface.recv = p_recv;
  p->iface.disconnect = p_disconnect;
  p->iface.uptime_ms = p_uptime;
  p->iface.sleep_ms = p_sleep;
  p->iface.console = p_console;
  p->iface.free_memory = p_free_memory;
  p->iface.lock = p_lock;
  p->iface.unlock = p_unlock;
  if (storage_dir) {
    snprintf(p->storage_dir, sizeof p->storage_dir, "%s", storage_dir);
    mkdir(storage_dir, 0700);
    p->iface.storage_write = p_storage_write;
    p->iface.storage_erase = p_storage_erase;
  }
  return p;
}

void posix_platform_use_identity(posix_platform *p, posix_identity *identity) {
  p->identity = identity;
  p->iface.connect_claim = identity ? p_connect_claim : NULL;
  p->iface.make_csr = identity ? p_make_csr : NULL;
  p->iface.store_certificate = identity ? p_store_certificate : NULL;
}

mbedtls_ctr_drbg_context *posix_platform_drbg(posix_platform *p) { return &p->drbg; }
const wb_platform *posix_platform_get(posix_platform *p) { return &p->iface; }
const char *posix_platform_last_error(posix_platform *p) { return p->last_error; }
