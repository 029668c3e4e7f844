-- WebAssembly modules by content hash (store/postgres/module-store.ts). The bytes live here too:
-- processes on other machines have no shared disk to read them from.
CREATE TABLE modules (
  sha256     text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  size       integer NOT NULL,
  bytes      bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
