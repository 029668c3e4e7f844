-- Claim credentials for enrollment (store/postgres/claim-store.ts): a token's SHA-256 or a
-- claim certificate's serial. Single use is one UPDATE … WHERE used_at IS NULL RETURNING.
CREATE TABLE claim_credentials (
  id            text PRIMARY KEY,
  seq           bigserial NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('token', 'certificate')),
  secret_sha256 text UNIQUE,
  serial        text UNIQUE,
  device_name   text,
  created_at    text NOT NULL,
  expires_at    text NOT NULL,
  revoked_at    text,
  used_at       text,
  used_by       text,
  used_spki     text,
  outcome       text CHECK (outcome IN ('enrolled', 'rejected')),
  reason        text
);
