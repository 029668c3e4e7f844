/**
 * PKI: the platform's device CA, certificate inspection, and device certificate issuance. The
 * enrollment pieces (claim credentials, CSRs) live in claim-credentials.ts and csr.ts.
 */
export {
  CA_CERT_FILE,
  CA_KEY_FILE,
  CLOCK_SKEW_MS,
  CertificateAuthority,
  DEFAULT_CA_COMMON_NAME,
  DEFAULT_CA_KEY_TYPE,
  DEFAULT_CA_VALIDITY_DAYS,
  DEFAULT_CLIENT_VALIDITY_DAYS,
  DEFAULT_SERVER_KEY_TYPE,
  DEFAULT_SERVER_VALIDITY_DAYS,
  type CertificateAuthorityOptions,
  type ClientCertificateRequest,
  type IssuedCertificate,
  type ServerCertificateRequest,
} from './certificate-authority.js';
export {
  inspectCertificate,
  serialHex,
  spkiSha256FromDer,
  spkiSha256FromPeerCertificate,
  spkiSha256FromPublicKey,
  type CertificateInfo,
} from './certificate-info.js';
export {
  DeviceCertificates,
  type DeviceCertificateIssuer,
  type DeviceCertificatesOptions,
  type IssueOptions,
} from './device-certificates.js';
export { PkiError, type PkiErrorCode } from './errors.js';
export { DEFAULT_DEVICE_KEY_TYPE, KEY_TYPES, isKeyType, type KeyType } from './keys.js';
export type { CertificateRecord, CertificateRepository } from './certificate-repository.js';
export { SqliteCertificateRepository } from './sqlite-certificate-repository.js';
