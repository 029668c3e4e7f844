/*
 * The memory contract (docs/memory-contract.md, device/memory-contract.ts): the endpoint
 * block at 0x20001000 and the credentials block at 0x20002000, written into RAM by the
 * platform before the CPU starts. The firmware validates both and refuses to dial garbage.
 */
#ifndef WASMBED_BLOCKS_H
#define WASMBED_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WB_RAM_BASE 0x20000000u
#define WB_ENDPOINT_BLOCK_ADDRESS 0x20001000u
#define WB_CREDENTIALS_BLOCK_ADDRESS 0x20002000u
#define WB_CREDENTIALS_BLOCK_END 0x20005000u /* 12 KiB */
#define WB_CREDENTIALS_BLOCK_MAX (WB_CREDENTIALS_BLOCK_END - WB_CREDENTIALS_BLOCK_ADDRESS)
#define WB_MEMORY_IMAGE_BYTES 0x8000u
#define WB_ENDPOINT_MAGIC 0x50454257u    /* "WBEP" in memory order */
#define WB_CREDENTIALS_MAGIC 0x52434257u /* "WBCR" in memory order */
#define WB_BLOCK_VERSION 1u
#define WB_MAX_ENDPOINT_LENGTH 255u

typedef enum {
  WB_BLOCK_OK = 0,
  WB_BLOCK_TOO_SMALL,        /* "memory too small" */
  WB_BLOCK_BAD_MAGIC,        /* "bad magic" */
  WB_BLOCK_BAD_VERSION,      /* "unsupported version" */
  WB_BLOCK_BAD_LENGTH,       /* endpoint: "bad length"; credentials: "lengths exceed the block" */
  WB_BLOCK_CRC_MISMATCH,     /* "CRC mismatch" */
  WB_BLOCK_NOT_PRINTABLE,    /* "endpoint is not printable ASCII" */
  WB_BLOCK_BAD_ENDPOINT,     /* "not host:port with a port in 1..65535" */
  WB_BLOCK_MISSING_NUL,      /* "missing NUL terminator" */
  WB_BLOCK_EMPTY_CREDENTIAL, /* a PEM of length 0 (the device cannot do mutual TLS without it) */
  WB_BLOCK_INVALID_ARGUMENT
} wb_block_err;

const char *wb_block_err_message(wb_block_err err);

/* CRC-32/ISO-HDLC (zlib). Pass 0 as crc to start. */
uint32_t wb_crc32(uint32_t crc, const uint8_t *data, size_t len);

typedef struct {
  char text[WB_MAX_ENDPOINT_LENGTH + 1]; /* "host:port", NUL-terminated */
  char host[WB_MAX_ENDPOINT_LENGTH + 1]; /* without IPv6 brackets */
  uint16_t port;
  int is_ip_literal; /* 1 for dotted IPv4 or bracketed IPv6 (no DNS name to check) */
} wb_endpoint;

/* Validates "host:port" exactly as parseEndpoint in device/memory-contract.ts. */
wb_block_err wb_parse_endpoint_text(const char *text, size_t len, wb_endpoint *out);

/* mem points at the block; avail = readable bytes from there. */
wb_block_err wb_parse_endpoint_block(const uint8_t *mem, size_t avail, wb_endpoint *out);

/* Points into the block; each PEM is NUL-terminated there (len excludes the NUL). */
typedef struct {
  const char *cert_pem;
  size_t cert_len;
  const char *key_pem;
  size_t key_len;
  const char *ca_pem;
  size_t ca_len;
} wb_credentials;

/* avail is capped at 12 KiB (the block may not extend past 0x20005000). */
wb_block_err wb_parse_credentials_block(const uint8_t *mem, size_t avail, wb_credentials *out);

/* Builders (tests, the POSIX port's image writer): return bytes written or 0 on error. */
size_t wb_build_endpoint_block(const char *endpoint, uint8_t *buf, size_t cap);
size_t wb_build_credentials_block(const char *cert, const char *key, const char *ca, uint8_t *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
