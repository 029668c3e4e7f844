/*
 * Wasmbed device wire protocol v1: strict CBOR codec, message codec and stream framing.
 * Portable C99, no allocation, no platform includes. See docs/protocol.md and
 * protocol/messages.ts, protocol/cbor.ts, protocol/framing.ts (the TypeScript reference):
 * both codecs pass the same vectors in test/vectors/.
 *
 * Decoding is zero-copy: strings, byte strings and lists in a decoded wb_msg point into the
 * input buffer, which must outlive the message. Text strings are NOT NUL-terminated.
 */
#ifndef WASMBED_PROTOCOL_H
#define WASMBED_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WB_PROTOCOL_VERSION 1u
#define WB_MAX_NESTING_DEPTH 16u
#define WB_MAX_SAFE_INTEGER 0x1FFFFFFFFFFFFFull /* 2^53-1, the TypeScript codec's limit */
#define WB_MAX_MESSAGE_ID 0xFFFFFFFFull
#define WB_FRAME_HEADER_BYTES 4u
#define WB_DEFAULT_MAX_FRAME_BYTES (256u * 1024u)

/* Error codes. wb_err_name() returns the ProtocolError reason the TypeScript codec uses. */
typedef enum {
  WB_OK = 0,
  WB_ERR_TRUNCATED,
  WB_ERR_TRAILING_BYTES,
  WB_ERR_INDEFINITE_LENGTH,
  WB_ERR_NON_CANONICAL,
  WB_ERR_WRONG_TYPE,
  WB_ERR_WRONG_ARRAY_LENGTH,
  WB_ERR_UNKNOWN_TAG,
  WB_ERR_UNSUPPORTED_VERSION,
  WB_ERR_FRAME_TOO_LARGE,
  WB_ERR_DUPLICATE_MAP_KEY,
  WB_ERR_NESTING_TOO_DEEP,
  WB_ERR_INTEGER_OUT_OF_RANGE,
  WB_ERR_INVALID_UTF8,
  WB_ERR_INVALID_VALUE,
  WB_ERR_MALFORMED,
  WB_ERR_INTERNAL,
  /* Not wire errors: the encoder's output buffer is too small / bad arguments. */
  WB_ERR_BUFFER_TOO_SMALL,
  WB_ERR_INVALID_ARGUMENT
} wb_err;

const char *wb_err_name(wb_err err);

/* Where a codec error happened: byte offset (decoder) and field path (schema errors). */
typedef struct {
  wb_err code;
  size_t offset;
  const char *field; /* static string such as "DeployApplication.module", or NULL */
} wb_error;

/* ------------------------------------------------------------------------------------------ */
/* Values                                                                                      */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
  const char *ptr; /* UTF-8, not NUL-terminated */
  size_t len;
} wb_str;

typedef struct {
  const uint8_t *ptr;
  size_t len;
} wb_bytes;

/* A nullable text field: present == false is CBOR null. */
typedef struct {
  bool present;
  wb_str value;
} wb_optstr;

/*
 * Lists. A decoded list has items == NULL and raw pointing at the canonical CBOR of its
 * items (after the array/map header), which the encoder copies verbatim. A list built for
 * encoding sets items (and leaves raw NULL). Read either kind with the *_next iterators.
 */
typedef struct {
  size_t count;
  const wb_str *items;
  const uint8_t *raw;
  size_t raw_len;
} wb_strlist;

typedef struct {
  wb_str key;
  wb_str value;
} wb_kv;

typedef struct {
  size_t count;
  const wb_kv *items; /* any order when encoding: the encoder sorts canonically */
  const uint8_t *raw;
  size_t raw_len;
} wb_strmap;

typedef enum {
  WB_APP_DEPLOYING = 0,
  WB_APP_RUNNING,
  WB_APP_EXITED,
  WB_APP_FAILED,
  WB_APP_STOPPED,
  WB_APP_STATE_COUNT
} wb_app_state;

const char *wb_app_state_name(wb_app_state state);

typedef struct {
  wb_str app_id;
  wb_app_state state;
  wb_optstr error;
  uint64_t restarts;
} wb_app_status;

typedef struct {
  size_t count;
  const wb_app_status *items;
  const uint8_t *raw;
  size_t raw_len;
} wb_applist;

/* Iterator state for the *_next functions; zero-initialise before the first call. */
typedef struct {
  size_t index;
  size_t offset;
} wb_iter;

bool wb_strlist_next(const wb_strlist *list, wb_iter *it, wb_str *out);
bool wb_strmap_next(const wb_strmap *map, wb_iter *it, wb_kv *out);
bool wb_applist_next(const wb_applist *list, wb_iter *it, wb_app_status *out);

/* ------------------------------------------------------------------------------------------ */
/* Messages                                                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef enum {
  WB_MSG_HEARTBEAT = 1,
  WB_MSG_HEARTBEAT_ACK = 2,
  WB_MSG_DEVICE_INFO = 3,
  WB_MSG_ENROLLMENT_REQUEST = 4,
  WB_MSG_ENROLLMENT_ACCEPTED = 5,
  WB_MSG_ENROLLMENT_REJECTED = 6,
  WB_MSG_DEPLOY_APPLICATION = 7,
  WB_MSG_DEPLOY_ACK = 8,
  WB_MSG_STOP_APPLICATION = 9,
  WB_MSG_STOP_ACK = 10,
  WB_MSG_REQUEST_DEVICE_INFO = 11,
  WB_MSG_REQUEST_APPLICATION_STATUS = 12,
  WB_MSG_APPLICATION_STATUS = 13,
  WB_MSG_LOG = 14,
  WB_MSG_PUBLISH = 15
} wb_msg_type;

#define WB_MSG_TYPE_MIN 1
#define WB_MSG_TYPE_MAX 15

/* "Heartbeat", "DeployApplication", ... or NULL for an unknown tag. */
const char *wb_msg_type_name(uint64_t tag);

typedef struct {
  uint64_t uptime_ms;
} wb_heartbeat;

typedef struct {
  uint64_t server_time_ms;
  uint64_t heartbeat_interval_ms;
} wb_heartbeat_ack;

typedef struct {
  wb_str firmware_version;
  wb_str mcu_type;
  uint64_t free_memory;
  uint64_t max_app_size;
  wb_strlist wasm_features;
} wb_device_info;

typedef struct {
  wb_bytes csr_der;
  wb_optstr claim_token;
} wb_enrollment_request;

typedef struct {
  wb_bytes certificate_der;
  wb_bytes ca_certificate_der;
} wb_enrollment_accepted;

typedef struct {
  wb_str reason;
} wb_enrollment_rejected;

typedef struct {
  uint64_t memory_pages;
  bool has_cpu_ms_per_call; /* false: null */
  uint64_t cpu_ms_per_call;
} wb_app_limits;

typedef struct {
  wb_str app_id;
  wb_str name;
  wb_bytes module;
  wb_str entry;
  wb_app_limits limits;
  wb_strmap env;
  wb_strlist args;
} wb_deploy_application;

/* DeployAck and StopAck have the same fields. */
typedef struct {
  wb_str app_id;
  bool ok;
  wb_optstr error;
} wb_ack;

typedef struct {
  wb_str app_id;
} wb_stop_application;

typedef struct {
  wb_optstr app_id; /* absent: every app */
} wb_request_application_status;

typedef struct {
  wb_applist apps;
} wb_application_status;

typedef struct {
  wb_optstr app_id; /* absent: the firmware's own log */
  uint8_t level;    /* 0 debug, 1 info, 2 warn, 3 error */
  wb_str message;
  uint64_t timestamp_ms;
} wb_log;

typedef struct {
  wb_str app_id;
  wb_str topic;
  wb_bytes data;
} wb_publish;

typedef struct {
  uint32_t message_id;
  wb_msg_type type;
  union {
    wb_heartbeat heartbeat;
    wb_heartbeat_ack heartbeat_ack;
    wb_device_info device_info;
    wb_enrollment_request enrollment_request;
    wb_enrollment_accepted enrollment_accepted;
    wb_enrollment_rejected enrollment_rejected;
    wb_deploy_application deploy;
    wb_ack deploy_ack;
    wb_stop_application stop;
    wb_ack stop_ack;
    wb_request_application_status request_status;
    wb_application_status app_status;
    wb_log log;
    wb_publish publish;
  } u;
} wb_msg;

/* Strict UTF-8 check (no overlongs, no surrogates, <= U+10FFFF), as the codec applies. */
bool wb_utf8_valid(const uint8_t *s, size_t len);

/* Helpers to build strings for encoding. */
wb_str wb_str_from(const char *nul_terminated);
wb_optstr wb_optstr_from(const char *nul_terminated_or_null);
bool wb_str_eq(wb_str a, const char *nul_terminated);

/*
 * Checks that buf[0..len) is exactly one well-formed item of the strict CBOR subset
 * (canonical, definite lengths, no tags/floats, depth <= 16, UTF-8, sorted unique text map
 * keys, integers within +-(2^53-1)). This is the first pass of wb_decode.
 */
wb_err wb_cbor_check(const uint8_t *buf, size_t len, wb_error *err);

/*
 * Decodes one envelope filling buf[0..len) (one frame's payload). Reports the same error
 * reason as the TypeScript decodeEnvelope for every input. err may be NULL.
 */
wb_err wb_decode(const uint8_t *buf, size_t len, wb_msg *out, wb_error *err);

/*
 * Encodes msg canonically into buf (capacity cap), *out_len = bytes written. Validates like
 * the TypeScript encoder (ranges, UTF-8, enumerations, unique env keys). err may be NULL.
 */
wb_err wb_encode(const wb_msg *msg, uint8_t *buf, size_t cap, size_t *out_len, wb_error *err);

/* wb_encode preceded by the 4-byte big-endian length header; refuses payloads > max_frame. */
wb_err wb_encode_frame(const wb_msg *msg, uint8_t *buf, size_t cap, size_t max_frame, size_t *out_len,
                       wb_error *err);

/* ------------------------------------------------------------------------------------------ */
/* Framing: 4-byte big-endian length N, then N bytes of CBOR                                   */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
  uint8_t *buf;     /* holds one frame body, capacity >= max_frame */
  size_t max_frame; /* N above this fails with WB_ERR_FRAME_TOO_LARGE */
  uint8_t header[WB_FRAME_HEADER_BYTES];
  size_t header_fill;
  size_t body_len;
  size_t body_fill;
  bool in_body;
  bool ready;  /* a complete frame is in buf[0..body_len) */
  bool failed; /* FrameTooLarge seen: the stream cannot be resynchronised */
} wb_framer;

void wb_framer_init(wb_framer *f, uint8_t *buf, size_t max_frame);

/*
 * Consumes bytes from data until one frame completes or data runs out; *consumed says how
 * many. Returns WB_OK or WB_ERR_FRAME_TOO_LARGE
 * (as soon as a header above max_frame is read; every later push fails the same way).
 * After it returns with f->ready set, the frame is f->buf[0..f->body_len); the next push
 * starts the following frame.
 */
wb_err wb_framer_push(wb_framer *f, const uint8_t *data, size_t len, size_t *consumed);

/* Bytes of an incomplete frame held (header included); 0 at a frame boundary. */
size_t wb_framer_buffered(const wb_framer *f);

/* Call at end of stream: WB_ERR_TRUNCATED if it stopped inside a frame. */
wb_err wb_framer_end(const wb_framer *f);

#ifdef __cplusplus
}
#endif
#endif
