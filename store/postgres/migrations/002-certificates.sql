-- The device certificate ledger (store/postgres/certificate-repository.ts). The partial unique
-- index makes "at most one non-revoked certificate per device" the database's rule: two
-- processes issuing at once cannot both succeed. Timestamps are ISO-8601 text, as in the records.
CREATE TABLE certificates (
  serial      text PRIMARY KEY,
  -- Insertion order, for listing a device's certificates oldest first.
  seq         bigserial NOT NULL,
  device_name text NOT NULL,
  cert_pem    text NOT NULL,
  key_pem     text,
  spki_sha256 text NOT NULL,
  not_before  text NOT NULL,
  not_after   text NOT NULL,
  revoked_at  text,
  created_at  text NOT NULL
);
CREATE UNIQUE INDEX certificates_one_active_per_device ON certificates (device_name) WHERE revoked_at IS NULL;
CREATE INDEX certificates_by_device ON certificates (device_name, seq);
