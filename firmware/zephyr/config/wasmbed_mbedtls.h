/*
 * mbedTLS settings on top of Zephyr's config-tls-generic.h (CONFIG_MBEDTLS_USER_CONFIG_FILE).
 * Incoming records stay at the TLS maximum (16 KiB: the gateway does not negotiate a smaller
 * fragment length); outgoing records are at most 4 KiB, which holds a Publish frame and saves
 * 12 KiB of the mbedTLS heap on every board.
 */
#undef MBEDTLS_SSL_OUT_CONTENT_LEN
#define MBEDTLS_SSL_OUT_CONTENT_LEN 4096
