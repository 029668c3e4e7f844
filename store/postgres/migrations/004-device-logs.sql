-- Per-device log lines and app output (store/postgres/device-logs.ts), a bounded ring per device.
CREATE TABLE device_logs (
  id      bigserial PRIMARY KEY,
  device  text NOT NULL,
  time    text NOT NULL,
  app_id  text,
  kind    text NOT NULL,
  level   integer NOT NULL,
  message text NOT NULL
);
CREATE INDEX device_logs_by_device ON device_logs (device, id);
