-- When a module was last stored (store/postgres/module-store.ts): a put of bytes already here sets
-- it again. The collector of unused modules (workers/module-collector.ts) keeps any module stored
-- within its retention, and removes one only if it was not stored again since it listed it: to the
-- millisecond, as a JavaScript Date carries it, so the time it read compares equal to the row's.
ALTER TABLE modules ADD COLUMN stored_at timestamptz(3) NOT NULL DEFAULT now();
UPDATE modules SET stored_at = created_at;
