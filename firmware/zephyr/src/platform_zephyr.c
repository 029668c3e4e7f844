/*
 * Zephyr platform for the Wasmbed core: TLS sockets (TLS_SEC_TAG_LIST) with the credentials
 * from the credentials block registered through the TLS credentials API, k_uptime clock,
 * printk console, a k_mutex for the outbox, and (CONFIG_WASMBED_CLAIM_ENROLLMENT) the claim
 * connection of claim-based enrollment.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zephyr/kernel.h>
#include <zephyr/net/socket.h>
#include <zephyr/net/tls_credentials.h>
#include <zephyr/sys/printk.h>
#include <zephyr/sys/sys_heap.h>

#include "platform_zephyr.h"

static int g_sock = -1;
static bool g_credentials_registered;
static K_MUTEX_DEFINE(g_outbox_mutex);

void wb_zephyr_credentials_changed(void) { g_credentials_registered = false; }

/* Registers (or re-registers) CA, certificate and key under a sec_tag. The lengths include the
 * NUL that follows each PEM: mbedTLS's PEM parser needs it. cert/key may be NULL (CA only). */
static int register_tag(sec_tag_t tag, const char *ca, size_t ca_len, const char *cert, size_t cert_len,
                        const char *key, size_t key_len) {
  int ret;
  (void)tls_credential_delete(tag, TLS_CREDENTIAL_CA_CERTIFICATE);
  (void)tls_credential_delete(tag, TLS_CREDENTIAL_SERVER_CERTIFICATE);
  (void)tls_credential_delete(tag, TLS_CREDENTIAL_PRIVATE_KEY);
  ret = tls_credential_add(tag, TLS_CREDENTIAL_CA_CERTIFICATE, ca, ca_len + 1);
  if (ret == 0 && cert) ret = tls_credential_add(tag, TLS_CREDENTIAL_SERVER_CERTIFICATE, cert, cert_len + 1);
  if (ret == 0 && key) ret = tls_credential_add(tag, TLS_CREDENTIAL_PRIVATE_KEY, key, key_len + 1);
  if (ret != 0) printk("wasmbed: registering TLS credentials under sec_tag %d failed (%d)\n", (int)tag, ret);
  return ret;
}

static int register_credentials(const wb_credentials *c) {
  if (g_credentials_registered) return 0;
  int ret = register_tag(CONFIG_WASMBED_TLS_SEC_TAG, c->ca_pem, c->ca_len, c->cert_pem, c->cert_len, c->key_pem,
                         c->key_len);
  g_credentials_registered = ret == 0;
  return ret;
}

static int resolve(const wb_endpoint *ep, struct sockaddr_in *addr) {
  memset(addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_port = htons(ep->port);
  if (ep->is_ip_literal) return zsock_inet_pton(AF_INET, ep->host, &addr->sin_addr) == 1 ? 0 : -EINVAL;
  struct zsock_addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
  struct zsock_addrinfo *res = NULL;
  int ret = zsock_getaddrinfo(ep->host, NULL, &hints, &res);
  if (ret != 0 || res == NULL) return -EHOSTUNREACH;
  addr->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
  zsock_freeaddrinfo(res);
  return 0;
}

static void z_disconnect(void *ctx) {
  ARG_UNUSED(ctx);
  if (g_sock >= 0) zsock_close(g_sock);
  g_sock = -1;
}

/*
 * TCP + TLS 1.2 with the credentials of `tag`. The gateway is verified in full: its chain to
 * the CA, the serverAuth purpose (mbedTLS checks extendedKeyUsage on the client side) and the
 * name or address this device dialled (TLS_HOSTNAME: DNS names and, for an IP literal such as
 * an emulator's 10.0.2.2, the iPAddress SANs). alpn: NULL-terminated list, or NULL.
 */
static int open_tls(const wb_endpoint *ep, sec_tag_t tag, const char *const *alpn, size_t alpn_size) {
  struct sockaddr_in addr;
  const sec_tag_t tags[] = {tag};
  int verify = TLS_PEER_VERIFY_REQUIRED;
  int ret;
  if ((ret = resolve(ep, &addr)) != 0) {
    printk("wasmbed: cannot resolve %s (%d)\n", ep->host, ret);
    return ret;
  }
  g_sock = zsock_socket(AF_INET, SOCK_STREAM, IPPROTO_TLS_1_2);
  if (g_sock < 0) return -errno;
  if (zsock_setsockopt(g_sock, SOL_TLS, TLS_SEC_TAG_LIST, tags, sizeof tags) < 0 ||
      zsock_setsockopt(g_sock, SOL_TLS, TLS_HOSTNAME, ep->host, strlen(ep->host) + 1) < 0 ||
      zsock_setsockopt(g_sock, SOL_TLS, TLS_PEER_VERIFY, &verify, sizeof verify) < 0 ||
      (alpn && zsock_setsockopt(g_sock, SOL_TLS, TLS_ALPN_LIST, alpn, alpn_size) < 0)) {
    ret = -errno;
    printk("wasmbed: TLS socket options failed (%d)\n", ret);
    z_disconnect(NULL);
    return ret;
  }
  /* the TLS handshake (mutual authentication) runs inside connect() */
  int64_t started = k_uptime_get();
  if (zsock_connect(g_sock, (struct sockaddr *)&addr, sizeof addr) < 0) {
    ret = -errno;
    printk("wasmbed: connect/TLS handshake with %s failed (%d)\n", ep->text, ret);
    z_disconnect(NULL);
    return ret;
  }
  printk("wasmbed: TLS handshake with %s took %d ms\n", ep->text, (int)(k_uptime_get() - started));
  return 0;
}

static int z_connect(void *ctx, const wb_endpoint *ep, const wb_credentials *cred) {
  int ret;
  z_disconnect(ctx);
  if ((ret = register_credentials(cred)) != 0) return ret;
  return open_tls(ep, CONFIG_WASMBED_TLS_SEC_TAG, NULL, 0);
}

#ifdef CONFIG_WASMBED_CLAIM_ENROLLMENT
/* A claim connection: the CA (plus the claim certificate and key, if the claim has them) under
 * its own sec_tag, and ALPN "wasmbed-enroll" so the gateway accepts one EnrollmentRequest. */
static int z_connect_claim(void *ctx, const wb_endpoint *ep, const wb_claim *claim) {
  static const char *const alpn[] = {WB_ENROLL_ALPN, NULL};
  int ret;
  z_disconnect(ctx);
  ret = register_tag(CONFIG_WASMBED_CLAIM_SEC_TAG, claim->ca_pem, claim->ca_len, claim->cert_pem, claim->cert_len,
                     claim->cert_pem ? claim->key_pem : NULL, claim->key_len);
  if (ret != 0) return ret;
  return open_tls(ep, CONFIG_WASMBED_CLAIM_SEC_TAG, alpn, sizeof alpn);
}
#endif

static int z_send(void *ctx, const uint8_t *data, size_t len) {
  ARG_UNUSED(ctx);
  while (len > 0) {
    ssize_t n = zsock_send(g_sock, data, len, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return -errno;
    }
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

static int z_recv(void *ctx, uint8_t *buf, size_t cap, uint32_t timeout_ms) {
  struct zsock_pollfd pfd = {.fd = g_sock, .events = ZSOCK_POLLIN};
  ARG_UNUSED(ctx);
  int ret = zsock_poll(&pfd, 1, (int)timeout_ms);
  if (ret == 0) return 0;
  if (ret < 0 || (pfd.revents & (ZSOCK_POLLERR | ZSOCK_POLLNVAL))) return -EIO;
  ssize_t n = zsock_recv(g_sock, buf, cap, ZSOCK_MSG_DONTWAIT);
  if (n > 0) return (int)n;
  if (n < 0 && errno == EAGAIN) return 0;
  return -ECONNRESET; /* 0 = closed by the gateway */
}

static uint64_t z_uptime(void *ctx) {
  ARG_UNUSED(ctx);
  return (uint64_t)k_uptime_get();
}

static void z_sleep(void *ctx, uint32_t ms) {
  ARG_UNUSED(ctx);
  k_msleep((int32_t)ms);
}

static void z_console(void *ctx, wb_log_level level, const char *msg) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  ARG_UNUSED(ctx);
  printk("wasmbed [%s] %s\n", names[(unsigned)level & 3u], msg);
}

/* DeviceInfo.freeMemory: what is left to allocate: the system heap (runtime statistics) and
 * WAMR's pool, where apps' modules, instances and linear memories live. */
static uint64_t z_free_memory(void *ctx) {
  extern struct k_heap _system_heap; /* kernel/mempool.c: k_malloc's heap */
  struct sys_memory_stats stats;
  uint64_t free_bytes = wb_zephyr_wamr_free_bytes();
  ARG_UNUSED(ctx);
  if (sys_heap_runtime_stats_get(&_system_heap.heap, &stats) == 0) free_bytes += stats.free_bytes;
  return free_bytes;
}

static void z_lock(void *ctx) {
  ARG_UNUSED(ctx);
  k_mutex_lock(&g_outbox_mutex, K_FOREVER);
}

static void z_unlock(void *ctx) {
  ARG_UNUSED(ctx);
  k_mutex_unlock(&g_outbox_mutex);
}

static const wb_platform g_platform = {
    .ctx = NULL,
    .connect = z_connect,
    .send = z_send,
    .recv = z_recv,
    .disconnect = z_disconnect,
    .uptime_ms = z_uptime,
    .sleep_ms = z_sleep,
    .console = z_console,
    .free_memory = z_free_memory,
    .lock = z_lock,
    .unlock = z_unlock,
    .storage_write = NULL, /* apps are re-deployed by the platform after a reboot */
    .storage_erase = NULL,
#ifdef CONFIG_WASMBED_CLAIM_ENROLLMENT
    .connect_claim = z_connect_claim,
    .make_csr = wb_zephyr_make_csr,
    .store_certificate = wb_zephyr_store_certificate,
#endif
};

const wb_platform *wb_zephyr_platform(void) { return &g_platform; }
