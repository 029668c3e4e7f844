/*
 * The device: session state machine (Hello = DeviceInfo, heartbeat, deploy, stop, status),
 * claim-based enrollment, app table and host-API outbox, behind a small platform interface
 * (socket + TLS, clock, storage, lock, key + CSR) and a wasm runtime interface. Implemented
 * for POSIX (posix/) and Zephyr (zephyr/). Portable C99; no allocation; one wb_device is a
 * few buffers in one struct.
 */
#ifndef WASMBED_DEVICE_H
#define WASMBED_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wasmbed/blocks.h"
#include "wasmbed/protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef WB_MAX_APPS
#define WB_MAX_APPS 4
#endif
#ifndef WB_MAX_FRAME
#define WB_MAX_FRAME (64u * 1024u + 1024u) /* the largest frame this device accepts */
#endif
#ifndef WB_TX_BUFFER
#define WB_TX_BUFFER 4608u /* a 4096-byte Publish plus its envelope */
#endif
#ifndef WB_OUTBOX_BYTES
#define WB_OUTBOX_BYTES 8192u
#endif
#define WB_ID_MAX 64    /* appId, name, entry: at most 63 bytes */
#define WB_ERROR_MAX 128
#define WB_LOG_MAX_BYTES 1024u   /* host API caps (device/apps/host-api.ts HOST_LIMITS) */
#define WB_TOPIC_MAX_BYTES 128u
#define WB_PUBLISH_MAX_BYTES 4096u

/* The ALPN protocol a claim connection offers: it lets the gateway accept a TLS client without
 * a certificate for one EnrollmentRequest (gateway/enrollment-session.ts ENROLLMENT_ALPN). */
#define WB_ENROLL_ALPN "wasmbed-enroll"

typedef enum { WB_LOG_DEBUG = 0, WB_LOG_INFO = 1, WB_LOG_WARN = 2, WB_LOG_ERROR = 3 } wb_log_level;

/*
 * A claim credential: what a board that has no device certificate yet enrolls with (issue #9,
 * docs/firmware.md "Claim-based enrollment"). Strings are NUL-terminated, lengths exclude the
 * NUL, and the platform keeps them valid for as long as the device may enroll.
 */
typedef struct {
  const char *name;     /* the device name the CSR asks for (its subject CN): a DNS label */
  const char *token;    /* a claim token, or NULL when a claim certificate is presented */
  const char *cert_pem; /* a claim certificate from the platform's claim CA, or NULL */
  size_t cert_len;
  const char *key_pem; /* the claim certificate's key */
  size_t key_len;
  const char *ca_pem; /* the CA the gateway's certificate must chain to */
  size_t ca_len;
} wb_claim;

/* What the core needs from the board / OS. Functions marked optional may be NULL. */
typedef struct {
  void *ctx;
  /* TCP connect + mutual-TLS handshake with the credentials; 0 on success, <0 on failure. */
  int (*connect)(void *ctx, const wb_endpoint *endpoint, const wb_credentials *credentials);
  /* Sends all len bytes; 0 on success, <0 if the connection failed. */
  int (*send)(void *ctx, const uint8_t *data, size_t len);
  /* Waits up to timeout_ms: >0 bytes read, 0 timeout, <0 closed or failed. */
  int (*recv)(void *ctx, uint8_t *buf, size_t cap, uint32_t timeout_ms);
  void (*disconnect)(void *ctx);
  /* Monotonic milliseconds since boot. */
  uint64_t (*uptime_ms)(void *ctx);
  /* Sleeps (used only while disconnected, for the reconnect backoff). */
  void (*sleep_ms)(void *ctx, uint32_t ms);
  /* Console output (UART / stderr). */
  void (*console)(void *ctx, wb_log_level level, const char *message);
  /* optional: free heap bytes for DeviceInfo.freeMemory (0 if NULL). */
  uint64_t (*free_memory)(void *ctx);
  /* optional: lock around the outbox when apps run on their own threads. */
  void (*lock)(void *ctx);
  void (*unlock)(void *ctx);
  /* optional: persist / forget a deployed module (flash, file); 0 on success. */
  int (*storage_write)(void *ctx, const char *key, const uint8_t *data, size_t len);
  int (*storage_erase)(void *ctx, const char *key);

  /* optional: claim-based enrollment (all three, or none and the device needs provisioned
   * credentials). The device's private key is the platform's: generated on the device and
   * never handed to the core, let alone sent. */
  /* TCP connect + TLS that verifies the gateway against claim->ca_pem (hostname / IP SAN as
   * for connect), offers ALPN WB_ENROLL_ALPN and presents the claim certificate and key when
   * claim->cert_pem is set, no client certificate otherwise; 0 on success, <0 on failure. */
  int (*connect_claim)(void *ctx, const wb_endpoint *endpoint, const wb_claim *claim);
  /* Writes a PKCS#10 CSR (DER) with subject CN=name for the device key, generating the key on
   * first use (EC P-256 or RSA >= 2048, what the platform accepts) and keeping it on the
   * device; returns the CSR's length, <0 on failure. */
  int (*make_csr)(void *ctx, const char *name, uint8_t *out, size_t cap);
  /* Keeps the device certificate the platform issued and its CA (both DER) across reboots,
   * after checking the certificate is for the device key, and fills *out with the mutual-TLS
   * credentials from now on (that certificate, the device key, that CA) in buffers the
   * platform owns; 0 on success, <0 on failure (nothing kept). */
  int (*store_certificate)(void *ctx, const uint8_t *cert_der, size_t cert_len, const uint8_t *ca_der,
                           size_t ca_len, wb_credentials *out);
} wb_platform;

struct wb_device;

/* What a deployment asks the runtime to run. Strings are NUL-terminated copies. */
typedef struct {
  const char *app_id;
  const char *name;
  const char *entry;
  const uint8_t *module; /* owned by the app table; valid until stop() */
  size_t module_len;
  wb_app_limits limits;
  const wb_strmap *env; /* valid only during start() */
  const wb_strlist *args;
} wb_app_spec;

/* A WebAssembly runtime behind the core: WAMR on boards, WAMR or a stand-in on POSIX. */
typedef struct {
  const char *name; /* "wamr", "standin" */
  const wb_str *features;
  size_t feature_count;
  void *ctx;
  /* Validates, loads, instantiates and starts the app in slot; 0, or -1 with err filled. */
  int (*start)(void *ctx, struct wb_device *dev, unsigned slot, const wb_app_spec *spec, char *err, size_t errcap);
  /* Stops the app and frees its instance; 0, or -1 with err filled (it is then left Failed). */
  int (*stop)(void *ctx, unsigned slot, char *err, size_t errcap);
  /* The app's state now (Running, Exited or Failed with err). */
  wb_app_state (*poll)(void *ctx, unsigned slot, char *err, size_t errcap);
} wb_wasm_runtime;

typedef struct {
  bool in_use;
  char app_id[WB_ID_MAX];
  char name[WB_ID_MAX];
  char entry[WB_ID_MAX];
  wb_app_state state;
  char error[WB_ERROR_MAX];
  uint64_t restarts;
  wb_app_limits limits;
  uint8_t *module; /* slot's module buffer */
  size_t module_len;
} wb_app;

typedef struct {
  wb_app apps[WB_MAX_APPS];
  uint8_t *module_mem; /* WB_MAX_APPS * module_cap bytes */
  size_t module_cap;
} wb_app_table;

void wb_apps_init(wb_app_table *t, uint8_t *module_mem, size_t module_cap);
int wb_apps_find(const wb_app_table *t, wb_str app_id);  /* slot or -1 */
int wb_apps_alloc(wb_app_table *t);                      /* a free slot or -1 */
void wb_apps_release(wb_app_table *t, unsigned slot);
size_t wb_apps_count(const wb_app_table *t);
void wb_apps_status(const wb_app_table *t, unsigned slot, wb_app_status *out);

typedef struct {
  const char *firmware_version;
  const char *mcu_type;
  uint64_t max_app_size;          /* also bounded by the module buffer */
  uint64_t max_memory_pages;      /* an app asking for more is refused */
  uint32_t heartbeat_interval_ms; /* until the gateway says otherwise */
  uint32_t reconnect_min_ms;
  uint32_t reconnect_max_ms;
  /* claim-based enrollment (0 = the defaults below) */
  uint32_t enroll_reply_timeout_ms; /* wait for the answer to an EnrollmentRequest (10 min) */
  uint32_t enroll_retry_min_ms;     /* after a rejection: at least this long (60 s) ... */
  uint32_t enroll_retry_max_ms;     /* ... doubling up to this (1 h), so a refused board never hammers */
} wb_device_config;

typedef enum {
  WB_STATE_DISCONNECTED = 0, /* waiting for the reconnect backoff */
  WB_STATE_ONLINE,           /* TLS up, Hello sent */
  WB_STATE_ENROLLING         /* claim session up, EnrollmentRequest sent, waiting for its answer */
} wb_session_state;

typedef struct {
  uint32_t connects, connect_failures, disconnects;
  uint32_t heartbeats_sent, heartbeat_acks;
  uint32_t deploys_ok, deploys_failed, stops;
  uint32_t frames_in, frames_out, protocol_errors;
  uint32_t outbox_dropped;
  uint32_t enroll_requests, enrollments_accepted, enrollments_rejected;
} wb_device_stats;

typedef struct wb_device {
  wb_device_config config;
  const wb_platform *platform;
  const wb_wasm_runtime *runtime;
  wb_endpoint endpoint;
  wb_credentials credentials;
  bool have_blocks; /* an endpoint and credentials (or a claim) to connect with */

  /* claim-based enrollment: set until the platform's certificate is stored */
  bool claim_mode;
  wb_claim claim;
  char claim_name[WB_ID_MAX];
  uint32_t enroll_request_id;
  uint64_t enroll_deadline;
  uint32_t enroll_backoff_ms;

  wb_session_state state;
  uint32_t next_message_id;
  uint32_t heartbeat_interval_ms;
  uint64_t next_heartbeat_at;
  uint64_t last_rx_at;
  uint64_t reconnect_at;
  uint32_t backoff_ms;
  char last_error[WB_ERROR_MAX];

  wb_framer framer;
  uint8_t rx[WB_MAX_FRAME];
  uint8_t tx[WB_TX_BUFFER];
  uint8_t net[1024];
  size_t net_len, net_pos;

  wb_app_table apps;

  /* host API output (Log / Publish) queued by apps, sent by wb_device_step */
  uint8_t outbox[WB_OUTBOX_BYTES];
  size_t outbox_len;
  uint8_t scratch[WB_TX_BUFFER];
  int64_t unix_offset_ms; /* serverTimeMs - uptime at the last HeartbeatAck */
  bool have_unix_time;

  wb_device_stats stats;
} wb_device;

void wb_device_init(wb_device *dev, const wb_device_config *config, const wb_platform *platform,
                    const wb_wasm_runtime *runtime, uint8_t *module_mem, size_t module_cap);

/* Validates both memory blocks; the device will not dial unless this returned WB_BLOCK_OK. */
wb_block_err wb_device_load_blocks(wb_device *dev, const uint8_t *endpoint_block, size_t endpoint_avail,
                                   const uint8_t *credentials_block, size_t credentials_avail);

/*
 * A board that keeps its own credentials (e.g. those it enrolled for, from flash): the gateway
 * "host:port" and PEMs that stay valid. Not valid: nothing is dialled.
 */
wb_block_err wb_device_use_credentials(wb_device *dev, const char *endpoint, const wb_credentials *credentials);

/*
 * A board without a device certificate: connects in claim mode (connect_claim), sends one
 * EnrollmentRequest with a CSR from make_csr and nothing else, and on EnrollmentAccepted hands
 * the certificate to store_certificate and reconnects with it in normal mode. On
 * EnrollmentRejected it logs the reason and asks again after enroll_retry_min_ms..max_ms.
 * Refused (WB_BLOCK_INVALID_ARGUMENT, nothing dialled) without the three platform hooks, a
 * name, a CA, or a token or claim certificate + key.
 */
wb_block_err wb_device_use_claim(wb_device *dev, const char *endpoint, const wb_claim *claim);

/*
 * One iteration: (re)connects with backoff and says Hello, sends heartbeats when due, waits
 * for input for at most max_wait_ms, handles every complete frame, reports app state
 * changes and drains the outbox. Returns the session state afterwards.
 */
wb_session_state wb_device_step(wb_device *dev, uint32_t max_wait_ms);

/* Handles one received frame payload (exposed for tests and fuzzing); false = close session.
 * On a claim session only the answer to the EnrollmentRequest is accepted. */
bool wb_device_handle_frame(wb_device *dev, const uint8_t *payload, size_t len);

/* Host API for runtimes: queue app output (thread-safe with the platform lock). */
bool wb_device_app_log(wb_device *dev, unsigned slot, wb_log_level level, const char *msg, size_t len);
bool wb_device_app_publish(wb_device *dev, unsigned slot, const char *topic, size_t topic_len, const uint8_t *data,
                           size_t len);
/* Firmware log to the console and, when online, to the gateway. */
void wb_device_log(wb_device *dev, wb_log_level level, const char *message);

/* The stand-in runtime (core/src/wasm_standin.c): validates modules but executes nothing. */
extern const wb_wasm_runtime wb_standin_runtime;

/* Structural validation shared by runtimes: header, sections, imports vs. the wasmbed host
 * API, entry export, memory within limits. 0 or -1 with err. */
int wb_wasm_validate(const uint8_t *module, size_t len, const char *entry, uint64_t max_pages, char *err,
                     size_t errcap);

#ifdef __cplusplus
}
#endif
#endif
