/* Endpoint and credentials blocks: parsing with full validation (docs/memory-contract.md). */
#include "wasmbed/blocks.h"

#include <string.h>

const char *wb_block_err_message(wb_block_err err) {
  switch (err) {
    case WB_BLOCK_OK: return "ok";
    case WB_BLOCK_TOO_SMALL: return "memory too small";
    case WB_BLOCK_BAD_MAGIC: return "bad magic";
    case WB_BLOCK_BAD_VERSION: return "unsupported version";
    case WB_BLOCK_BAD_LENGTH: return "bad length";
    case WB_BLOCK_CRC_MISMATCH: return "CRC mismatch";
    case WB_BLOCK_NOT_PRINTABLE: return "endpoint is not printable ASCII";
    case WB_BLOCK_BAD_ENDPOINT: return "endpoint is not host:port with a port in 1..65535";
    case WB_BLOCK_MISSING_NUL: return "missing NUL terminator";
    case WB_BLOCK_EMPTY_CREDENTIAL: return "empty certificate, key or CA";
    case WB_BLOCK_INVALID_ARGUMENT: return "invalid argument";
  }
  return "unknown error";
}

uint32_t wb_crc32(uint32_t crc, const uint8_t *data, size_t len) {
  crc = ~crc;
  for (size_t i = 0; i < len; i++) {
    crc ^= data[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static int is_host_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}
static int is_ipv6_char(char c) {
  return (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9') || c == ':' || c == '.';
}

/* /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/ and port 1..65535 */
wb_block_err wb_parse_endpoint_text(const char *text, size_t len, wb_endpoint *out) {
  size_t i = 0, host_start, host_end;
  int bracketed = 0;
  if (text == NULL || out == NULL || len == 0 || len > WB_MAX_ENDPOINT_LENGTH) return WB_BLOCK_BAD_ENDPOINT;
  if (text[0] == '[') {
    bracketed = 1;
    i = 1;
    while (i < len && is_ipv6_char(text[i])) i++;
    if (i == 1 || i >= len || text[i] != ']') return WB_BLOCK_BAD_ENDPOINT;
    host_start = 1;
    host_end = i;
    i++;
  } else {
    while (i < len && is_host_char(text[i])) i++;
    if (i == 0) return WB_BLOCK_BAD_ENDPOINT;
    host_start = 0;
    host_end = i;
  }
  if (i >= len || text[i] != ':') return WB_BLOCK_BAD_ENDPOINT;
  i++;
  size_t digits = len - i;
  if (digits < 1 || digits > 5) return WB_BLOCK_BAD_ENDPOINT;
  uint32_t port = 0;
  for (; i < len; i++) {
    if (text[i] < '0' || text[i] > '9') return WB_BLOCK_BAD_ENDPOINT;
    port = port * 10u + (uint32_t)(text[i] - '0');
  }
  if (port < 1 || port > 65535) return WB_BLOCK_BAD_ENDPOINT;

  memcpy(out->text, text, len);
  out->text[len] = '\0';
  memcpy(out->host, text + host_start, host_end - host_start);
  out->host[host_end - host_start] = '\0';
  out->port = (uint16_t)port;
  out->is_ip_literal = bracketed;
  if (!bracketed) {
    int only_digits_dots = 1;
    for (size_t k = host_start; k < host_end; k++) {
      if (!((text[k] >= '0' && text[k] <= '9') || text[k] == '.')) only_digits_dots = 0;
    }
    out->is_ip_literal = only_digits_dots;
  }
  return WB_BLOCK_OK;
}

wb_block_err wb_parse_endpoint_block(const uint8_t *mem, size_t avail, wb_endpoint *out) {
  if (mem == NULL || out == NULL) return WB_BLOCK_INVALID_ARGUMENT;
  if (avail < 12) return WB_BLOCK_TOO_SMALL;
  if (le32(mem) != WB_ENDPOINT_MAGIC) return WB_BLOCK_BAD_MAGIC;
  if (le16(mem + 4) != WB_BLOCK_VERSION) return WB_BLOCK_BAD_VERSION;
  size_t len = le16(mem + 6);
  if (len == 0 || len > WB_MAX_ENDPOINT_LENGTH || 12 + len > avail) return WB_BLOCK_BAD_LENGTH;
  if (wb_crc32(0, mem, 8 + len) != le32(mem + 8 + len)) return WB_BLOCK_CRC_MISMATCH;
  for (size_t i = 0; i < len; i++) {
    if (mem[8 + i] <= 0x20 || mem[8 + i] >= 0x7f) return WB_BLOCK_NOT_PRINTABLE;
  }
  return wb_parse_endpoint_text((const char *)mem + 8, len, out);
}

wb_block_err wb_parse_credentials_block(const uint8_t *mem, size_t avail, wb_credentials *out) {
  if (mem == NULL || out == NULL) return WB_BLOCK_INVALID_ARGUMENT;
  if (avail > WB_CREDENTIALS_BLOCK_MAX) avail = WB_CREDENTIALS_BLOCK_MAX;
  if (avail < 24) return WB_BLOCK_TOO_SMALL;
  if (le32(mem) != WB_CREDENTIALS_MAGIC) return WB_BLOCK_BAD_MAGIC;
  if (le16(mem + 4) != WB_BLOCK_VERSION) return WB_BLOCK_BAD_VERSION;
  uint64_t lengths[3];
  uint64_t body = 0;
  for (int i = 0; i < 3; i++) {
    lengths[i] = le32(mem + 8 + 4 * i);
    body += lengths[i] + 1u;
  }
  if (20u + body + 4u > (uint64_t)avail) return WB_BLOCK_BAD_LENGTH;
  size_t end = (size_t)(20u + body);
  if (wb_crc32(0, mem, end) != le32(mem + end)) return WB_BLOCK_CRC_MISMATCH;
  const char *parts[3];
  size_t cursor = 20;
  for (int i = 0; i < 3; i++) {
    parts[i] = (const char *)mem + cursor;
    if (mem[cursor + lengths[i]] != 0) return WB_BLOCK_MISSING_NUL;
    /* a NUL inside the PEM would silently truncate it for mbedTLS */
    if (memchr(parts[i], 0, (size_t)lengths[i]) != NULL) return WB_BLOCK_MISSING_NUL;
    cursor += (size_t)lengths[i] + 1u;
  }
  if (lengths[0] == 0 || lengths[1] == 0 || lengths[2] == 0) return WB_BLOCK_EMPTY_CREDENTIAL;
  out->cert_pem = parts[0];
  out->cert_len = (size_t)lengths[0];
  out->key_pem = parts[1];
  out->key_len = (size_t)lengths[1];
  out->ca_pem = parts[2];
  out->ca_len = (size_t)lengths[2];
  return WB_BLOCK_OK;
}

size_t wb_build_endpoint_block(const char *endpoint, uint8_t *buf, size_t cap) {
  wb_endpoint ep;
  size_t len = endpoint ? strlen(endpoint) : 0;
  if (wb_parse_endpoint_text(endpoint, len, &ep) != WB_BLOCK_OK) return 0;
  if (cap < 12 + len) return 0;
  put32(buf, WB_ENDPOINT_MAGIC);
  put16(buf + 4, WB_BLOCK_VERSION);
  put16(buf + 6, (uint16_t)len);
  memcpy(buf + 8, endpoint, len);
  put32(buf + 8 + len, wb_crc32(0, buf, 8 + len));
  return 12 + len;
}

size_t wb_build_credentials_block(const char *cert, const char *key, const char *ca, uint8_t *buf, size_t cap) {
  const char *parts[3] = {cert, key, ca};
  size_t lens[3], total = 24;
  for (int i = 0; i < 3; i++) {
    if (parts[i] == NULL) return 0;
    lens[i] = strlen(parts[i]);
    total += lens[i] + 1;
  }
  if (total > cap || total > WB_CREDENTIALS_BLOCK_MAX) return 0;
  memset(buf, 0, total);
  put32(buf, WB_CREDENTIALS_MAGIC);
  put16(buf + 4, WB_BLOCK_VERSION);
  size_t cursor = 20;
  for (int i = 0; i < 3; i++) {
    put32(buf + 8 + 4 * i, (uint32_t)lens[i]);
    memcpy(buf + cursor, parts[i], lens[i]);
    cursor += lens[i] + 1;
  }
  put32(buf + cursor, wb_crc32(0, buf, cursor));
  return total;
}
