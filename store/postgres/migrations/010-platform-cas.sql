-- The CAs every machine of the platform must share (pki/ca-fingerprints.ts): the SHA-256 of each
-- CA certificate, recorded by the first process that opens the database. A machine whose
-- pki/ holds another CA (or none) refuses to start instead of signing devices no other machine's
-- gateway trusts.
CREATE TABLE platform_cas (
  name        text PRIMARY KEY,
  cert_sha256 text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
