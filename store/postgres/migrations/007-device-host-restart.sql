-- When a device host last started again with devices to resume (store/host-registry.ts,
-- restartedAt); 0 for a host that started empty and for rows from before.
ALTER TABLE device_hosts ADD COLUMN restarted_at bigint NOT NULL DEFAULT 0;
