/*
 * wasmbed-device: the firmware core as a Linux process. It reads the RAM image the platform
 * writes (memory.bin: RAM from 0x20000000, endpoint block at +0x1000, credentials block at
 * +0x2000; docs/memory-contract.md), dials the gateway over mutual TLS with mbedTLS and
 * speaks protocol v1 exactly as the Zephyr build does.
 *
 *   wasmbed-device --memory memory.bin [--mcu-type Stm32F746gDisco] [--firmware-version V]
 *                  [--max-connect-failures N] [--run-ms N] [--storage DIR] [--tls-debug 0..4]
 *                  [--wasm auto|standin|wamr]
 *
 * Exit codes: 0 stopped (signal or --run-ms), 2 usage, 3 invalid memory blocks,
 * 4 gave up after --max-connect-failures failed connects.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int connect_verbose(void *ctx, const wb_endpoint *ep, const wb_credentials *cred) {
  const wb_platform *inner = posix_platform_get(g_posix);
  int ret = inner->connect(ctx, ep, cred);
  if (ret != 0) {
    char line[320];
    snprintf(line, sizeof line, "connect failed: %s", posix_platform_last_error(g_posix));
    inner->console(ctx, WB_LOG_WARN, line);
  }
  return ret;
}

static void usage(void) {
  fprintf(stderr,
          "usage: wasmbed-device --memory FILE [--mcu-type T] [--firmware-version V]\n"
          "                      [--max-connect-failures N] [--run-ms N] [--storage DIR]\n"
          "                      [--tls-debug 0..4] [--wasm auto|standin|wamr]\n");
}

int main(int argc, char **argv) {
  const char *memory = NULL, *mcu = "Stm32F746gDisco", *version = "0.1.0-posix", *storage = NULL, *wasm = "auto";
  long max_failures = 0, run_ms = 0, tls_debug = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v && ++i)
    if (OPT("--memory")) memory = v;
    else if (OPT("--mcu-type")) mcu = v;
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
  if (!memory) {
    usage();
    return 2;
  }

  static uint8_t image[WB_MEMORY_IMAGE_BYTES];
  FILE *f = fopen(memory, "rb");
  if (!f) {
    fprintf(stderr, "wasmbed-device: cannot open memory image %s\n", memory);
    return 3;
  }
  size_t n = fread(image, 1, sizeof image, f);
  fclose(f);
  if (n < RAM_IMAGE_MIN) {
    fprintf(stderr, "wasmbed-device: memory image %s has %lu bytes, needs at least %lu\n", memory,
            (unsigned long)n, (unsigned long)RAM_IMAGE_MIN);
    return 3;
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

  size_t ep_off = WB_ENDPOINT_BLOCK_ADDRESS - WB_RAM_BASE, cr_off = WB_CREDENTIALS_BLOCK_ADDRESS - WB_RAM_BASE;
  if (wb_device_load_blocks(&g_dev, image + ep_off, n - ep_off, image + cr_off, n - cr_off) != WB_BLOCK_OK) return 3;

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
  if (g_dev.state == WB_STATE_ONLINE) g_iface.disconnect(g_iface.ctx);
  {
    const wb_device_stats *s = &g_dev.stats;
    char line[256];
    snprintf(line, sizeof line,
             "stats connects=%u connect_failures=%u heartbeats_sent=%u heartbeat_acks=%u deploys_ok=%u "
             "deploys_failed=%u stops=%u protocol_errors=%u",
             s->connects, s->connect_failures, s->heartbeats_sent, s->heartbeat_acks, s->deploys_ok,
             s->deploys_failed, s->stops, s->protocol_errors);
    g_iface.console(g_iface.ctx, WB_LOG_INFO, line);
  }
  return code;
}
