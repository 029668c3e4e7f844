/**
 * The naming rules every layer shares — the API's validators and OpenAPI document, the CRDs,
 * the dashboard's form patterns, the virtual device's flags — written once. Workflow-safe.
 */

/** RFC 1123 label: what Kubernetes accepts as a name and what fits in a certificate CN. */
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
export const DNS_LABEL_MAX_LENGTH = 63;
/** The same rule for an HTML `pattern` attribute, which is anchored implicitly. */
export const DNS_LABEL_HTML_PATTERN = DNS_LABEL_PATTERN.slice(1, -1);
/** What a person is told when a name breaks the rule (after the field and the value). */
export const DNS_LABEL_MESSAGE = `is not a DNS label: use at most ${DNS_LABEL_MAX_LENGTH} lowercase letters, digits and '-', starting and ending with a letter or digit`;

const DNS_LABEL = new RegExp(DNS_LABEL_PATTERN);

export function isDnsLabel(value: string): boolean {
  return value.length <= DNS_LABEL_MAX_LENGTH && DNS_LABEL.test(value);
}

/** Dot-separated DNS labels (a ConfigMap's name). */
export const DNS_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
export const DNS_SUBDOMAIN_MAX_LENGTH = 253;
/** A DNS name in a certificate's subject alternative names: a subdomain, optionally `*.`-wildcarded. */
export const SAN_DNS_NAME_PATTERN = `^(\\*\\.)?${DNS_SUBDOMAIN_PATTERN.slice(1)}`;

/** A label key (Kubernetes-style, an optional prefix/ included) and a label value. */
export const LABEL_KEY_PATTERN = '^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$';
export const LABEL_KEY_MAX_LENGTH = 253;
export const LABEL_VALUE_PATTERN = '^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$';
export const LABEL_VALUE_MAX_LENGTH = 63;
/** The words after `labels key "x"` (the API's check and validateLabels say the same). */
export const LABEL_KEY_MESSAGE = `is not a label key: use at most ${LABEL_KEY_MAX_LENGTH} letters, digits, '-', '_', '.' and '/', starting and ending with a letter or digit`;
/** The words after `labels.<key> value "x"`. */
export const LABEL_VALUE_MESSAGE = `is not a label value: use at most ${LABEL_VALUE_MAX_LENGTH} letters, digits, '-', '_' and '.', starting and ending with a letter or digit (or nothing)`;

/** A SHA-256 in lowercase hex: module hashes. */
export const SHA256_HEX_PATTERN = '^[0-9a-f]{64}$';

/** The name of an exported WebAssembly function an application starts with. */
export const EXPORT_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*$';
