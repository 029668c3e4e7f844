/* Internal CBOR helpers shared by the codec sources. Not part of the public API. */
#ifndef WASMBED_CBOR_INTERNAL_H
#define WASMBED_CBOR_INTERNAL_H

#include "wasmbed/protocol.h"

#define WB_MT_UINT 0u
#define WB_MT_NINT 1u
#define WB_MT_BSTR 2u
#define WB_MT_TSTR 3u
#define WB_MT_ARRAY 4u
#define WB_MT_MAP 5u
#define WB_MT_TAG 6u
#define WB_MT_SIMPLE 7u

#define WB_SIMPLE_FALSE 0xF4u
#define WB_SIMPLE_TRUE 0xF5u
#define WB_SIMPLE_NULL 0xF6u

/* A cursor over bytes that wb_cbor_check has already accepted. */
typedef struct {
  const uint8_t *buf;
  size_t len;
  size_t pos;
} wb_reader;

typedef struct {
  uint8_t major;
  uint8_t initial; /* the initial byte (for simple values) */
  uint64_t arg;    /* argument: value, length or count */
  size_t start;    /* offset of the initial byte */
} wb_head;

/* Reads the head at r->pos (input already checked, so this cannot fail) and advances past it. */
void wb_read_head(wb_reader *r, wb_head *h);
/* Skips one complete (checked) item. */
void wb_skip_item(wb_reader *r);


/* Encoding into a bounded buffer; overflow is sticky. */
typedef struct {
  uint8_t *buf;
  size_t cap;
  size_t len;
  bool overflow;
} wb_writer;

void wb_write_head(wb_writer *w, uint8_t major, uint64_t arg);
void wb_write_bytes(wb_writer *w, const void *data, size_t len);
void wb_write_byte(wb_writer *w, uint8_t b);

#endif
