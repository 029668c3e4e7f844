/* Endpoint and credentials blocks (docs/memory-contract.md). */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "wasmbed/blocks.h"

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* An endpoint block around arbitrary text, with a correct CRC. */
static size_t raw_endpoint(const char *text, size_t len, uint8_t *buf) {
  put32(buf, WB_ENDPOINT_MAGIC);
  buf[4] = 1;
  buf[5] = 0;
  buf[6] = (uint8_t)len;
  buf[7] = (uint8_t)(len >> 8);
  memcpy(buf + 8, text, len);
  put32(buf + 8 + len, wb_crc32(0, buf, 8 + len));
  return 12 + len;
}

static wb_block_err parse_exact(const uint8_t *block, size_t len, wb_endpoint *ep) {
  uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan flags any over-read */
  memcpy(copy, block, len);
  wb_block_err e = wb_parse_endpoint_block(copy, len, ep);
  free(copy);
  return e;
}

int test_blocks(void) {
  int n = 0;
  wb_endpoint ep;
  uint8_t buf[400];

  /* the byte-exact example from docs/memory-contract.md */
  static const uint8_t doc[] = {0x57, 0x42, 0x45, 0x50, 0x01, 0x00, 0x0d, 0x00, '1', '0', '.', '0', '.', '2', '.',
                                '2',  ':',  '8',  '0',  '8',  '1',  0xd8, 0xda, 0xc4, 0x61};
  CHECK(wb_crc32(0, (const uint8_t *)"123456789", 9) == 0xCBF43926u, "crc32 check value");
  CHECK(parse_exact(doc, sizeof doc, &ep) == WB_BLOCK_OK, "doc example");
  CHECK(strcmp(ep.host, "10.0.2.2") == 0 && ep.port == 8081 && ep.is_ip_literal, "doc example fields");
  CHECK(wb_build_endpoint_block("10.0.2.2:8081", buf, sizeof buf) == sizeof doc && memcmp(buf, doc, sizeof doc) == 0,
        "builder matches the doc example");
  n += 4;

  struct {
    const char *text;
    wb_block_err want;
    const char *host;
    unsigned port;
  } cases[] = {
      {"localhost:8081", WB_BLOCK_OK, "localhost", 8081},
      {"gw-1.example.com:1", WB_BLOCK_OK, "gw-1.example.com", 1},
      {"[::1]:65535", WB_BLOCK_OK, "::1", 65535},
      {"[fe80::1.2.3.4]:443", WB_BLOCK_OK, "fe80::1.2.3.4", 443},
      {"host", WB_BLOCK_BAD_ENDPOINT, 0, 0},
      {"host:", WB_BLOCK_BAD_ENDPOINT, 0, 0},
      {":80", WB_BLOCK_BAD_ENDPOINT, 0, 0},
      {"host:0", WB_BLOCK_BAD_ENDPOINT, 0, 0},
      {"host:65536", WB_BLOCK_BAD_ENDPOINT, 0, 0},
      {"host:123456", WB_BLOCK_BAD_ENDPOINT, 0, 0},
      {"host:8a", WB_BLOCK_BAD_ENDPOINT, 0, 0},
      {"a:b:80", WB_BLOCK_BAD_ENDPOINT, 0, 0},
      {"::1:80", WB_BLOCK_BAD_ENDPOINT, 0, 0},
      {"[]:80", WB_BLOCK_BAD_ENDPOINT, 0, 0},
      {"[::1]80", WB_BLOCK_BAD_ENDPOINT, 0, 0},
      {"[g::1]:80", WB_BLOCK_BAD_ENDPOINT, 0, 0},
      {"ho_st:80", WB_BLOCK_BAD_ENDPOINT, 0, 0},
      {"host:80\x7f", WB_BLOCK_NOT_PRINTABLE, 0, 0},
      {"host :80", WB_BLOCK_NOT_PRINTABLE, 0, 0},
      {"h\xc3\xa9:80", WB_BLOCK_NOT_PRINTABLE, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t len = raw_endpoint(cases[i].text, strlen(cases[i].text), buf);
    wb_block_err e = parse_exact(buf, len, &ep);
    CHECK(e == cases[i].want, "endpoint \"%s\": %s", cases[i].text, wb_block_err_message(e));
    if (e == WB_BLOCK_OK && cases[i].host)
      CHECK(strcmp(ep.host, cases[i].host) == 0 && ep.port == cases[i].port, "endpoint \"%s\" fields",
            cases[i].text);
    n++;
  }

  /* structural defects */
  size_t len = raw_endpoint("10.0.2.2:8081", 13, buf);
  CHECK(parse_exact(buf, 11, &ep) == WB_BLOCK_TOO_SMALL, "too small");
  CHECK(parse_exact(buf, len - 1, &ep) == WB_BLOCK_BAD_LENGTH, "block cut short");
  buf[0] ^= 1;
  CHECK(parse_exact(buf, len, &ep) == WB_BLOCK_BAD_MAGIC, "magic");
  buf[0] ^= 1;
  buf[4] = 2;
  CHECK(parse_exact(buf, len, &ep) == WB_BLOCK_BAD_VERSION, "version");
  buf[4] = 1;
  buf[10] ^= 0x20;
  CHECK(parse_exact(buf, len, &ep) == WB_BLOCK_CRC_MISMATCH, "crc");
  buf[10] ^= 0x20;
  buf[6] = 0;
  CHECK(parse_exact(buf, len, &ep) == WB_BLOCK_BAD_LENGTH, "length 0");
  buf[6] = 0x00;
  buf[7] = 0x01; /* 256 */
  memset(buf + 8, 'a', 300);
  CHECK(parse_exact(buf, sizeof buf, &ep) == WB_BLOCK_BAD_LENGTH, "length 256");
  buf[6] = 0xff;
  buf[7] = 0xff;
  CHECK(parse_exact(buf, sizeof buf, &ep) == WB_BLOCK_BAD_LENGTH, "length 65535");
  {
    char longest[256];
    memset(longest, 'a', 249);
    memcpy(longest + 249, ":65535", 6);
    len = raw_endpoint(longest, 255, buf);
    CHECK(parse_exact(buf, len, &ep) == WB_BLOCK_OK && ep.port == 65535, "255-byte endpoint");
  }
  CHECK(wb_build_endpoint_block("nope", buf, sizeof buf) == 0, "builder refuses garbage");
  n += 10;

  /* credentials */
  {
    static uint8_t block[WB_CREDENTIALS_BLOCK_MAX + 64];
    wb_credentials c;
    const char *cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const char *key = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
    const char *ca = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
    size_t clen = wb_build_credentials_block(cert, key, ca, block, sizeof block);
    CHECK(clen == 24 + strlen(cert) + strlen(key) + strlen(ca) + 3, "credentials size");
    CHECK(wb_parse_credentials_block(block, clen, &c) == WB_BLOCK_OK, "credentials parse");
    CHECK(c.cert_len == strlen(cert) && strcmp(c.cert_pem, cert) == 0 && strcmp(c.key_pem, key) == 0 &&
              strcmp(c.ca_pem, ca) == 0 && c.ca_pem[c.ca_len] == '\0',
          "credentials fields");
    CHECK(wb_parse_credentials_block(block, clen - 1, &c) == WB_BLOCK_BAD_LENGTH, "credentials cut");
    CHECK(wb_parse_credentials_block(block, 23, &c) == WB_BLOCK_TOO_SMALL, "credentials too small");
    block[30] ^= 1;
    CHECK(wb_parse_credentials_block(block, clen, &c) == WB_BLOCK_CRC_MISMATCH, "credentials crc");
    block[30] ^= 1;
    block[0] = 0;
    CHECK(wb_parse_credentials_block(block, clen, &c) == WB_BLOCK_BAD_MAGIC, "credentials magic");
    block[0] = 0x57;
    block[4] = 9;
    CHECK(wb_parse_credentials_block(block, clen, &c) == WB_BLOCK_BAD_VERSION, "credentials version");
    block[4] = 1;
    put32(block + 8, 0xFFFFFFFFu); /* huge certLen: no overflow, refused */
    CHECK(wb_parse_credentials_block(block, sizeof block, &c) == WB_BLOCK_BAD_LENGTH, "credentials huge len");
    /* a NUL terminator replaced (CRC recomputed) */
    clen = wb_build_credentials_block(cert, key, ca, block, sizeof block);
    block[20 + strlen(cert)] = 'x';
    put32(block + clen - 4, wb_crc32(0, block, clen - 4));
    CHECK(wb_parse_credentials_block(block, clen, &c) == WB_BLOCK_MISSING_NUL, "credentials NUL");
    /* a block that would run past 0x20005000 is refused even if more memory follows */
    {
      char *big = malloc(WB_CREDENTIALS_BLOCK_MAX);
      memset(big, 'A', WB_CREDENTIALS_BLOCK_MAX - 40);
      big[WB_CREDENTIALS_BLOCK_MAX - 40] = '\0';
      CHECK(wb_build_credentials_block(big, key, ca, block, sizeof block) == 0, "builder refuses > 12 KiB");
      free(big);
    }
    n += 11;
  }
  return n;
}
