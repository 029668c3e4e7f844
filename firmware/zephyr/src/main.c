/*
 * Wasmbed firmware entry point on Zephyr: bring the network up (DHCPv4 or a static address,
 * Kconfig WASMBED_IPV4_*), find what to connect with, then run the device state machine
 * forever. What to connect with, in order: the credentials this board enrolled for (settings,
 * CONFIG_WASMBED_CLAIM_ENROLLMENT), the claim credential compiled in (enrolls), or the
 * endpoint and credentials blocks the platform wrote into RAM before the CPU started.
 */
#include <stdio.h>
#include <zephyr/kernel.h>
#include <zephyr/net/net_if.h> /* before dhcpv4.h, which uses struct net_if without declaring it */
#include <zephyr/net/dhcpv4.h>
#include <zephyr/net/net_mgmt.h>
#include <zephyr/sys/printk.h>
#include <zephyr/version.h>

#include "platform_zephyr.h"
#include "wasmbed/device.h"

#if defined(CONFIG_TEST_RANDOM_GENERATOR) && !defined(CONFIG_WASMBED_TEST_ONLY_RNG)
#error "TEST_RANDOM_GENERATOR is not random: only an emulated board may use it, through WASMBED_TEST_ONLY_RNG"
#endif
#if !defined(CONFIG_WASMBED_TEST_ONLY_RNG) && !defined(CONFIG_ENTROPY_HAS_DRIVER)
#error "no entropy driver: TLS needs the board's TRNG (zephyr,entropy with status okay)"
#endif

static wb_device g_dev;
#ifdef CONFIG_WASMBED_MODULES_IN_DTCM
#include <zephyr/linker/section_tags.h>
static uint8_t g_modules[CONFIG_WASMBED_MAX_APPS * CONFIG_WASMBED_APP_MODULE_SIZE] __aligned(8) __dtcm_noinit_section;
#else
static uint8_t g_modules[CONFIG_WASMBED_MAX_APPS * CONFIG_WASMBED_APP_MODULE_SIZE] __aligned(8);
#endif

static K_SEM_DEFINE(g_ipv4_ready, 0, 1);
static struct net_mgmt_event_callback g_mgmt_cb;

/*
 * Zephyr 4.2 widened net_mgmt events to 64 bits: a handler still taking a uint32_t there is
 * called through a mismatched function pointer (the build warns), and may compare the wrong
 * half and wait for DHCP for ever. 4.1 (what west.yml pins) still passes 32 bits.
 */
#if ZEPHYR_VERSION_CODE >= ZEPHYR_VERSION(4, 2, 0)
typedef uint64_t wb_net_event_t;
#else
typedef uint32_t wb_net_event_t;
#endif

static void on_ipv4(struct net_mgmt_event_callback *cb, wb_net_event_t event, struct net_if *iface) {
  ARG_UNUSED(cb);
  ARG_UNUSED(iface);
  if (event == NET_EVENT_IPV4_ADDR_ADD) k_sem_give(&g_ipv4_ready);
}

static void network_up(void) {
  struct net_if *iface = net_if_get_default();
  net_mgmt_init_event_callback(&g_mgmt_cb, on_ipv4, NET_EVENT_IPV4_ADDR_ADD);
  net_mgmt_add_event_callback(&g_mgmt_cb);
#if defined(CONFIG_WASMBED_IPV4_STATIC)
  struct in_addr addr, mask, gw;
  net_addr_pton(AF_INET, CONFIG_WASMBED_IPV4_ADDR, &addr);
  net_addr_pton(AF_INET, CONFIG_WASMBED_IPV4_NETMASK, &mask);
  net_addr_pton(AF_INET, CONFIG_WASMBED_IPV4_GATEWAY, &gw);
  net_if_ipv4_addr_add(iface, &addr, NET_ADDR_MANUAL, 0);
  net_if_ipv4_set_netmask_by_addr(iface, &addr, &mask);
  net_if_ipv4_set_gw(iface, &gw);
  printk("wasmbed: static IPv4 %s\n", CONFIG_WASMBED_IPV4_ADDR);
#else
  printk("wasmbed: waiting for a DHCPv4 lease\n");
  net_dhcpv4_start(iface);
  k_sem_take(&g_ipv4_ready, K_FOREVER);
  printk("wasmbed: IPv4 address assigned\n");
#endif
}

#ifdef CONFIG_WASMBED_CLAIM_ENROLLMENT
static const char g_claim_ca[] = {
#include "wasmbed_claim_ca.inc"
    0x00};

/* Enrolled already: connect with the stored certificate. Not yet: enroll with the claim. */
static bool use_own_identity(void) {
  static wb_credentials enrolled;
  int r = wb_zephyr_identity_load(&enrolled);
  if (r == 1) {
    printk("wasmbed: enrolled already; connecting with the certificate in settings\n");
    return wb_device_use_credentials(&g_dev, CONFIG_WASMBED_CLAIM_ENDPOINT, &enrolled) == WB_BLOCK_OK;
  }
  if (r < 0 || CONFIG_WASMBED_CLAIM_NAME[0] == '\0' || CONFIG_WASMBED_CLAIM_TOKEN[0] == '\0') return false;
  static const wb_claim claim = {
      .name = CONFIG_WASMBED_CLAIM_NAME,
      .token = CONFIG_WASMBED_CLAIM_TOKEN,
      .ca_pem = g_claim_ca,
      .ca_len = sizeof g_claim_ca - 1,
  };
  return wb_device_use_claim(&g_dev, CONFIG_WASMBED_CLAIM_ENDPOINT, &claim) == WB_BLOCK_OK;
}
#endif

static bool use_memory_blocks(void) {
  /* The blocks are read where the platform wrote them, before the network stack could reuse
   * that RAM (what Zephyr may use on every board is away from 0x20001000..0x20005000:
   * boards/<board>.overlay, checked by test/app-fit.test.ts). */
  const uint8_t *endpoint = (const uint8_t *)WB_ENDPOINT_BLOCK_ADDRESS;
  const uint8_t *credentials = (const uint8_t *)WB_CREDENTIALS_BLOCK_ADDRESS;
  return wb_device_load_blocks(&g_dev, endpoint, WB_CREDENTIALS_BLOCK_ADDRESS - WB_ENDPOINT_BLOCK_ADDRESS,
                               credentials, WB_CREDENTIALS_BLOCK_MAX) == WB_BLOCK_OK;
}

int main(void) {
  const wb_platform *platform = wb_zephyr_platform();
  wb_device_config cfg = {
      .firmware_version = CONFIG_WASMBED_FIRMWARE_VERSION,
      .mcu_type = CONFIG_WASMBED_MCU_TYPE,
      .max_app_size = CONFIG_WASMBED_APP_MODULE_SIZE,
      .max_memory_pages = CONFIG_WASMBED_APP_MEMORY_PAGES,
      .heartbeat_interval_ms = 5000,
      .reconnect_min_ms = 500,
      .reconnect_max_ms = 30000,
  };
  printk("wasmbed firmware %s on %s (%s): %d app slot(s) of %d bytes, %d page(s) of linear memory each\n",
         CONFIG_WASMBED_FIRMWARE_VERSION, CONFIG_BOARD, CONFIG_WASMBED_MCU_TYPE, CONFIG_WASMBED_MAX_APPS,
         CONFIG_WASMBED_APP_MODULE_SIZE, CONFIG_WASMBED_APP_MEMORY_PAGES);
#ifdef CONFIG_WASMBED_TEST_ONLY_RNG
  printk("wasmbed: WARNING: this board has no TRNG; TLS uses Zephyr's TEST-ONLY random generator, which is "
         "NOT random (emulation only, never a real deployment)\n");
#endif

  wb_device_init(&g_dev, &cfg, platform, wb_zephyr_wamr_runtime(), g_modules, CONFIG_WASMBED_APP_MODULE_SIZE);

  bool ready = false;
#ifdef CONFIG_WASMBED_CLAIM_ENROLLMENT
  ready = use_own_identity();
#endif
  if (!ready) ready = use_memory_blocks();
  if (!ready) {
    printk("wasmbed: no valid gateway endpoint/credentials; staying offline\n");
    for (;;) k_sleep(K_FOREVER);
  }

  network_up();
  for (;;) wb_device_step(&g_dev, 1000);
  return 0;
}
