/*
 * wasmbed-device: the firmware core as a Linux process, in one of two modes.
 *
 * Emulated board: it reads the RAM image the platform writes (memory.bin: RAM from
 * 0x20000000, endpoint block at +0x1000, credentials block at +0x2000;
 * docs/memory-contract.md) and dials the gateway over mutual TLS with mbedTLS.
 *
 * Real board (claim-based enrollment, the flags of the TypeScript `npx wasmbed-device`): it
 * keeps its own key in the state dir, enrolls with a claim token or claim certificate, keeps
 * the certificate it gets and from then on (also after a restart) connects with it.
 *
 *   wasmbed-device --memory memory.bin [common options]
 *   wasmbed-device --gateway HOST:PORT --name NAME [--state-dir DIR] [--ca CA.pem]
 *                  [--claim-token TOKEN | --claim-cert CERT.pem --claim-key KEY.pem] [common options]
 *   common: [--mcu-type|--mcu T] [--firmware-version V] [--max-connect-failures N] [--run-ms N]
 *           [--storage DIR] [--tls-debug 0..4] [--wasm auto|standin|wamr]
 *
 * Both speak protocol v1 exactly as the Zephyr build does. Exit codes: 0 stopped (signal or
 * --run-ms), 2 usage, 3 invalid memory blocks or credentials (it never dials garbage),
 * 4 gave up after --max-connect-failures failed connects.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mbedtls/error.h"
#include "mbedtls/pk.h"
#include "mbedtls/x509_crt.h"
#include "platform_posix.h"
#include "wasm_wamr.h"
#include "wasmbed/device.h"

#define MODULE_CAP (64u * 1024u)
#define RAM_IMAGE_MIN (WB_CREDENTIALS_BLOCK_ADDRESS - WB_RAM_BASE + 24u)

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static wb_device g_dev;
static uint8_t g_modules[WB_MAX_APPS * MODULE_CAP];
static posix_platform *g_posix;
static wb_platform g_iface; /* the POSIX platform with connect wrapped to report why it failed */

static int report(void *ctx, int ret) {
  if (ret != 0) {
    char line[320];
    snprintf(line, sizeof line, "connect failed: %s", posix_platform_last_error(g_posix));
    posix_platform_get(g_posix)->console(ctx, WB_LOG_WARN, line);
  }
  return ret;
}
static int connect_verbose(void *ctx, const wb_endpoint *ep, const wb_credentials *cred) {
  return report(ctx, posix_platform_get(g_posix)->connect(ctx, ep, cred));
}
static int connect_claim_verbose(void *ctx, const wb_endpoint *ep, const wb_claim *claim) {
  return report(ctx, posix_platform_get(g_posix)->connect_claim(ctx, ep, claim));
}

static void usage(void) {
  fprintf(stderr,
          "usage: wasmbed-device --memory FILE [options]\n"
          "       wasmbed-device --gateway HOST:PORT --name NAME [--state-dir DIR] [--ca CA.pem]\n"
          "                      [--claim-token TOKEN | --claim-cert CERT.pem --claim-key KEY.pem] [options]\n"
          "options: [--mcu-type T] [--firmware-version V] [--max-connect-failures N] [--run-ms N]\n"
          "         [--storage DIR] [--tls-debug 0..4] [--wasm auto|standin|wamr]\n"
          "The CA certificate is published by the platform at GET /api/v1/pki/ca.pem.\n"
          "Enrollment tokens: wasmbed enrollment-token create [--name NAME] [--ttl 1h].\n");
}

/* A whole text file, NUL-terminated (the core keeps pointers into it); NULL with a message. */
static char *read_text(const char *what, const char *path, size_t *len) {
  char *buf = NULL;
  long n = -1;
  errno = 0;
  FILE *f = fopen(path, "rb");
  if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 && n < 1024 * 1024 &&
      (buf = malloc((size_t)n + 1)) != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n) {
    buf[n] = '\0';
    *len = strlen(buf);
  } else {
    fprintf(stderr, "wasmbed-device: cannot read %s %s: %s\n", what, path, errno ? strerror(errno) : "too large");
    free(buf);
    buf = NULL;
  }
  if (f) fclose(f);
  if (buf && *len == 0) {
    fprintf(stderr, "wasmbed-device: %s %s is empty\n", what, path);
    free(buf);
    buf = NULL;
  }
  return buf;
}

static int dns_label(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-') return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-')) return 0;
  return 1;
}

typedef struct {
  const char *gateway, *name, *state_dir, *ca, *token, *claim_cert, *claim_key;
} board_options;

/* A PEM certificate (and key) that mbedTLS can use, checked before anything is dialled. */
static int usable_pem(const char *what, const char *path, const char *pem, size_t len, int is_key) {
  char reason[128];
  int ret;
  if (is_key) {
    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    ret = mbedtls_pk_parse_key(&key, (const unsigned char *)pem, len + 1, NULL, 0);
    mbedtls_pk_free(&key);
  } else {
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    ret = mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, len + 1);
    mbedtls_x509_crt_free(&crt);
  }
  if (ret == 0) return 1;
  mbedtls_strerror(ret, reason, sizeof reason);
  fprintf(stderr, "wasmbed-device: %s %s is not usable: %s\n", what, path, reason);
  return 0;
}

/*
 * A real board: the state dir's certificate if it has one for its key, else enroll with the
 * claim credential. Returns 0, 2 (usage) or 3 (credentials unusable).
 */
static int setup_board(const board_options *o, posix_identity **identity_out) {
  static char default_dir[600];
  static wb_claim claim;
  char err[320];
  char line[sizeof err + sizeof default_dir + WB_ID_MAX + 64]; /* err, the state dir and the name, uncut */
  const char *dir = o->state_dir;
  wb_endpoint endpoint;
  wb_block_err e = wb_parse_endpoint_text(o->gateway, strlen(o->gateway), &endpoint);
  if (e != WB_BLOCK_OK) {
    fprintf(stderr, "wasmbed-device: --gateway \"%s\": %s\n", o->gateway, wb_block_err_message(e));
    return 2;
  }
  if (!dns_label(o->name)) {
    fprintf(stderr, "wasmbed-device: --name \"%s\" is not a DNS label (lowercase letters, digits and '-')\n", o->name);
    return 2;
  }
  if (!dir) {
    const char *home = getenv("HOME");
    snprintf(default_dir, sizeof default_dir, "%s/.wasmbed-device", home ? home : ".");
    (void)mkdir(default_dir, 0700);
    snprintf(default_dir, sizeof default_dir, "%s/.wasmbed-device/%s", home ? home : ".", o->name);
    dir = default_dir;
  }
  posix_identity *id = posix_identity_open(dir, posix_platform_drbg(g_posix), err, sizeof err);
  if (!id) {
    fprintf(stderr, "wasmbed-device: %s\n", err);
    return 3;
  }
  *identity_out = id;
  posix_platform_use_identity(g_posix, id);
  g_iface.connect_claim = connect_claim_verbose;
  g_iface.make_csr = posix_platform_get(g_posix)->make_csr;
  g_iface.store_certificate = posix_platform_get(g_posix)->store_certificate;

  wb_credentials cred;
  int enrolled = posix_identity_credentials(id, &cred, err, sizeof err);
  if (enrolled < 0) {
    fprintf(stderr, "wasmbed-device: %s\n", err);
    return 3;
  }
  if (enrolled == 1) {
    snprintf(line, sizeof line, "board %s: enrolled already; connecting with the certificate in %s", o->name, dir);
    g_iface.console(g_iface.ctx, WB_LOG_INFO, line);
    return wb_device_use_credentials(&g_dev, o->gateway, &cred) == WB_BLOCK_OK ? 0 : 3;
  }

  snprintf(line, sizeof line, "board %s: %s; key in %s", o->name, err, dir);
  g_iface.console(g_iface.ctx, WB_LOG_INFO, line);
  if (!o->ca) {
    fprintf(stderr, "wasmbed-device: --ca CA.pem is required to enroll\n");
    return 2;
  }
  if (!o->token == !(o->claim_cert && o->claim_key) || (!o->claim_cert != !o->claim_key)) {
    fprintf(stderr, "wasmbed-device: not enrolled yet: give --claim-token, or --claim-cert and --claim-key\n");
    return 2;
  }
  memset(&claim, 0, sizeof claim);
  claim.name = o->name;
  claim.token = o->token;
  if (!(claim.ca_pem = read_text("CA certificate", o->ca, &claim.ca_len)) ||
      !usable_pem("CA certificate", o->ca, claim.ca_pem, claim.ca_len, 0))
    return 3;
  if (o->claim_cert) {
    if (!(claim.cert_pem = read_text("claim certificate", o->claim_cert, &claim.cert_len)) ||
        !usable_pem("claim certificate", o->claim_cert, claim.cert_pem, claim.cert_len, 0) ||
        !(claim.key_pem = read_text("claim key", o->claim_key, &claim.key_len)) ||
        !usable_pem("claim key", o->claim_key, claim.key_pem, claim.key_len, 1))
      return 3;
  }
  /* what the operator compares with the pending enrollment's CSR fingerprint before approving */
  char fingerprint[65] = "?";
  (void)posix_identity_fingerprint(id, fingerprint);
  snprintf(line, sizeof line, "board %s: key fingerprint %s; enrolling", o->name, fingerprint);
  g_iface.console(g_iface.ctx, WB_LOG_INFO, line);
  return wb_device_use_claim(&g_dev, o->gateway, &claim) == WB_BLOCK_OK ? 0 : 3;
}

int main(int argc, char **argv) {
  const char *memory = NULL, *mcu = "Stm32F746gDisco", *version = "0.1.0-posix", *storage = NULL, *wasm = "auto";
  long max_failures = 0, run_ms = 0, tls_debug = 0;
  board_options board;
  memset(&board, 0, sizeof board);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v && ++i)
    if (OPT("--memory")) memory = v;
    else if (OPT("--mcu-type") || OPT("--mcu")) mcu = v;
    else if (OPT("--gateway")) board.gateway = v;
    else if (OPT("--name")) board.name = v;
    else if (OPT("--state-dir")) board.state_dir = v;
    else if (OPT("--ca")) board.ca = v;
    else if (OPT("--claim-token")) board.token = v;
    else if (OPT("--claim-cert")) board.claim_cert = v;
    else if (OPT("--claim-key")) board.claim_key = v;
    else if (OPT("--firmware-version")) version = v;
    else if (OPT("--max-connect-failures")) max_failures = strtol(v, NULL, 10);
    else if (OPT("--run-ms")) run_ms = strtol(v, NULL, 10);
    else if (OPT("--storage")) storage = v;
    else if (OPT("--tls-debug")) tls_debug = strtol(v, NULL, 10);
    else if (OPT("--wasm")) wasm = v;
    else {
      fprintf(stderr, "wasmbed-device: unknown or incomplete option %s\n", a);
      usage();
      return 2;
    }
#undef OPT
  }
  if (!memory == !board.gateway) {
    fprintf(stderr, "wasmbed-device: give either --memory (emulated board) or --gateway (real board)\n");
    usage();
    return 2;
  }
  if (board.gateway && !board.name) {
    fprintf(stderr, "wasmbed-device: --name is required with --gateway\n");
    usage();
    return 2;
  }

  static uint8_t image[WB_MEMORY_IMAGE_BYTES];
  size_t n = 0;
  if (memory) {
    FILE *f = fopen(memory, "rb");
    if (!f) {
      fprintf(stderr, "wasmbed-device: cannot open memory image %s\n", memory);
      return 3;
    }
    n = fread(image, 1, sizeof image, f);
    fclose(f);
    if (n < RAM_IMAGE_MIN) {
      fprintf(stderr, "wasmbed-device: memory image %s has %lu bytes, needs at least %lu\n", memory,
              (unsigned long)n, (unsigned long)RAM_IMAGE_MIN);
      return 3;
    }
  }

  const wb_wasm_runtime *runtime = &wb_standin_runtime;
#ifdef WB_HAVE_WAMR
  if (strcmp(wasm, "standin") != 0) runtime = wb_wamr_runtime();
#else
  if (strcmp(wasm, "wamr") == 0) {
    fprintf(stderr, "wasmbed-device: built without WAMR (see scripts/setup-firmware.sh)\n");
    return 2;
  }
#endif

  g_posix = posix_platform_create(storage, (int)tls_debug);
  if (!g_posix) {
    fprintf(stderr, "wasmbed-device: cannot initialise mbedTLS\n");
    return 1;
  }
  g_iface = *posix_platform_get(g_posix);
  g_iface.connect = connect_verbose;

  wb_device_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.firmware_version = version;
  cfg.mcu_type = mcu;
  cfg.max_app_size = MODULE_CAP;
  cfg.max_memory_pages = 4;
  cfg.heartbeat_interval_ms = 5000;
  cfg.reconnect_min_ms = 250;
  cfg.reconnect_max_ms = 5000;
  wb_device_init(&g_dev, &cfg, &g_iface, runtime, g_modules, MODULE_CAP);
  {
    char line[128];
    snprintf(line, sizeof line, "wasmbed firmware %s (%s, POSIX, wasm runtime: %s)", version, mcu, runtime->name);
    g_iface.console(g_iface.ctx, WB_LOG_INFO, line);
  }

  posix_identity *identity = NULL;
  if (memory) {
    size_t ep_off = WB_ENDPOINT_BLOCK_ADDRESS - WB_RAM_BASE, cr_off = WB_CREDENTIALS_BLOCK_ADDRESS - WB_RAM_BASE;
    if (wb_device_load_blocks(&g_dev, image + ep_off, n - ep_off, image + cr_off, n - cr_off) != WB_BLOCK_OK) return 3;
  } else {
    int rc = setup_board(&board, &identity);
    if (rc == 2) usage();
    if (rc != 0) return rc;
  }

  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);
  uint64_t start = g_iface.uptime_ms(g_iface.ctx);
  int code = 0;
  while (!g_stop) {
    wb_device_step(&g_dev, 200);
    if (max_failures > 0 && g_dev.stats.connect_failures >= (uint32_t)max_failures && g_dev.stats.connects == 0) {
      g_iface.console(g_iface.ctx, WB_LOG_ERROR, "giving up: the gateway refused every connection");
      code = 4;
      break;
    }
    if (run_ms > 0 && g_iface.uptime_ms(g_iface.ctx) - start >= (uint64_t)run_ms) break;
  }
  if (g_dev.state != WB_STATE_DISCONNECTED) g_iface.disconnect(g_iface.ctx);
  {
    const wb_device_stats *s = &g_dev.stats;
    char line[256];
    snprintf(line, sizeof line,
             "stats connects=%u connect_failures=%u heartbeats_sent=%u heartbeat_acks=%u deploys_ok=%u "
             "deploys_failed=%u stops=%u protocol_errors=%u enroll_requests=%u enrollments_accepted=%u "
             "enrollments_rejected=%u",
             s->connects, s->connect_failures, s->heartbeats_sent, s->heartbeat_acks, s->deploys_ok,
             s->deploys_failed, s->stops, s->protocol_errors, s->enroll_requests, s->enrollments_accepted,
             s->enrollments_rejected);
    g_iface.console(g_iface.ctx, WB_LOG_INFO, line);
  }
  posix_identity_close(identity);
  return code;
}
