/*
 * libFuzzer target for the memory-block parsers. The input is placed at the end of an
 * exact-size heap buffer so any over-read is caught. Accepted blocks must rebuild to the
 * same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "wasmbed/blocks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *copy = malloc(size ? size : 1);
  static uint8_t rebuilt[WB_CREDENTIALS_BLOCK_MAX + 16];
  wb_endpoint ep;
  wb_credentials c;
  if (!copy) return 0;
  if (size) memcpy(copy, data, size);

  if (wb_parse_endpoint_block(copy, size, &ep) == WB_BLOCK_OK) {
    size_t n = wb_build_endpoint_block(ep.text, rebuilt, sizeof rebuilt);
    if (n == 0 || n > size || memcmp(rebuilt, copy, n) != 0) abort();
    if (ep.port == 0 || strlen(ep.host) == 0) abort();
  }
  if (wb_parse_credentials_block(copy, size, &c) == WB_BLOCK_OK) {
    if (strlen(c.cert_pem) != c.cert_len || strlen(c.key_pem) != c.key_len || strlen(c.ca_pem) != c.ca_len) abort();
    size_t n = wb_build_credentials_block(c.cert_pem, c.key_pem, c.ca_pem, rebuilt, sizeof rebuilt);
    /* the reserved field is not checked by the parser, so compare from the lengths on */
    if (n == 0 || n > size || memcmp(rebuilt + 8, copy + 8, n - 12) != 0) abort();
  }
  /* the same bytes with their CRC patched in, so the fuzzer gets past the CRC check */
  if (size >= 12) {
    size_t n = (size_t)copy[6] | ((size_t)copy[7] << 8);
    if (12 + n <= size) {
      uint32_t crc = wb_crc32(0, copy, 8 + n);
      for (int i = 0; i < 4; i++) copy[8 + n + i] = (uint8_t)(crc >> (8 * i));
      (void)wb_parse_endpoint_block(copy, size, &ep);
    }
  }
  if (size >= 24) {
    uint64_t body = 0;
    for (int k = 0; k < 3; k++)
      body += ((uint64_t)copy[8 + 4 * k] | ((uint64_t)copy[9 + 4 * k] << 8) | ((uint64_t)copy[10 + 4 * k] << 16) |
               ((uint64_t)copy[11 + 4 * k] << 24)) + 1u;
    if (20u + body + 4u <= size) {
      size_t end = (size_t)(20u + body);
      uint32_t crc = wb_crc32(0, copy, end);
      for (int i = 0; i < 4; i++) copy[end + i] = (uint8_t)(crc >> (8 * i));
      if (wb_parse_credentials_block(copy, size, &c) == WB_BLOCK_OK &&
          (strlen(c.cert_pem) != c.cert_len || c.key_pem[c.key_len] != '\0'))
        abort();
    }
  }
  /* endpoint text on its own */
  if (size <= WB_MAX_ENDPOINT_LENGTH) (void)wb_parse_endpoint_text((const char *)copy, size, &ep);
  free(copy);
  return 0;
}
