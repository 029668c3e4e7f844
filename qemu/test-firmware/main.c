/*
 * Wasmbed qemu test firmware for mps2-an385 (Cortex-M3). It does what the real firmware does
 * first, and nothing more: read and validate the endpoint and credential blocks the platform
 * wrote into RAM before the CPU started (docs/memory-contract.md), and report over UART0 what
 * it found. It also reads the lan9118 NIC's ID so a test sees the network device is there.
 * Freestanding: no C library, no interrupts. Built by runtimes/qemu.ts (ensureQemuTestFirmware).
 */
#include <stdint.h>

#define UART0_BASE 0x40004000u /* CMSDK APB UART0 */
#define UART_DATA (*(volatile uint32_t *)(UART0_BASE + 0x00))
#define UART_STATE (*(volatile uint32_t *)(UART0_BASE + 0x04))
#define UART_CTRL (*(volatile uint32_t *)(UART0_BASE + 0x08))
#define UART_BAUDDIV (*(volatile uint32_t *)(UART0_BASE + 0x10))
#define LAN9118_ID_REV (*(volatile uint32_t *)(0x40200000u + 0x50))

#define ENDPOINT_BLOCK ((const volatile uint8_t *)0x20001000u)
#define CREDENTIALS_BLOCK ((const volatile uint8_t *)0x20002000u)
#define CREDENTIALS_LIMIT 0x3000u
#define ENDPOINT_MAGIC 0x50454257u
#define CREDENTIALS_MAGIC 0x52434257u

static void putc_(char c) {
  while (UART_STATE & 1u) { /* TX buffer full */
  }
  UART_DATA = (uint32_t)(uint8_t)c;
}
static void puts_(const char *s) {
  while (*s) putc_(*s++);
}
static void putu(uint32_t v) {
  char buf[11];
  int i = 10;
  buf[i] = 0;
  do {
    buf[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v && i > 0);
  puts_(&buf[i]);
}
static void puthex(uint32_t v) {
  puts_("0x");
  for (int shift = 28; shift >= 0; shift -= 4) putc_("0123456789abcdef"[(v >> shift) & 0xf]);
}

static uint32_t rd32(const volatile uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint32_t rd16(const volatile uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }

/* CRC-32/ISO-HDLC (zlib), bitwise. */
static uint32_t crc32(const volatile uint8_t *p, uint32_t n) {
  uint32_t crc = 0xffffffffu;
  while (n--) {
    crc ^= *p++;
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

static int endpoint_ok(void) {
  const volatile uint8_t *b = ENDPOINT_BLOCK;
  if (rd32(b) != ENDPOINT_MAGIC) return puts_("endpoint block invalid: bad magic\n"), 0;
  if (rd16(b + 4) != 1) return puts_("endpoint block invalid: bad version\n"), 0;
  uint32_t len = rd16(b + 6);
  if (len == 0 || len > 255) return puts_("endpoint block invalid: bad length\n"), 0;
  if (crc32(b, 8 + len) != rd32(b + 8 + len)) return puts_("endpoint block invalid: CRC mismatch\n"), 0;
  int colon = 0;
  for (uint32_t i = 0; i < len; i++) {
    uint8_t c = b[8 + i];
    if (c <= 0x20 || c >= 0x7f) return puts_("endpoint block invalid: not printable\n"), 0;
    if (c == ':') colon = 1;
  }
  if (!colon) return puts_("endpoint block invalid: no port\n"), 0;
  puts_("wasmbed-qemu-test: endpoint=");
  for (uint32_t i = 0; i < len; i++) putc_((char)b[8 + i]);
  putc_('\n');
  return 1;
}

static void credentials(void) {
  const volatile uint8_t *b = CREDENTIALS_BLOCK;
  if (rd32(b) != CREDENTIALS_MAGIC) {
    puts_("wasmbed-qemu-test: credentials=absent\n");
    return;
  }
  uint32_t cert = rd32(b + 8), key = rd32(b + 12), ca = rd32(b + 16);
  uint32_t body = cert + key + ca + 3;
  if (20 + body + 4 > CREDENTIALS_LIMIT || cert > CREDENTIALS_LIMIT || key > CREDENTIALS_LIMIT || ca > CREDENTIALS_LIMIT) {
    puts_("wasmbed-qemu-test: credentials=invalid (lengths)\n");
    return;
  }
  if (crc32(b, 20 + body) != rd32(b + 20 + body)) {
    puts_("wasmbed-qemu-test: credentials=invalid (CRC)\n");
    return;
  }
  puts_("wasmbed-qemu-test: credentials=ok cert=");
  putu(cert);
  puts_(" key=");
  putu(key);
  puts_(" ca=");
  putu(ca);
  putc_('\n');
}

extern uint32_t _sbss, _ebss, _stack_top;

void reset_handler(void) {
  for (uint32_t *p = &_sbss; p < &_ebss; p++) *p = 0;
  UART_BAUDDIV = 16;
  UART_CTRL = 1; /* TX enable */
  puts_("wasmbed-qemu-test: boot on mps2-an385\n");
  puts_("wasmbed-qemu-test: nic lan9118 id_rev=");
  puthex(LAN9118_ID_REV);
  putc_('\n');
  if (endpoint_ok()) credentials();
  else puts_("wasmbed-qemu-test: refusing to dial\n");
  puts_("wasmbed-qemu-test: done\n");
  for (;;) __asm__ volatile("wfi");
}

static void default_handler(void) {
  for (;;) {
  }
}

__attribute__((section(".vectors"), used)) const void *const vectors[16] = {
    &_stack_top,     reset_handler,   default_handler, default_handler, default_handler, default_handler,
    default_handler, 0,               0,               0,               0,               default_handler,
    default_handler, 0,               default_handler, default_handler,
};
