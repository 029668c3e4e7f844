-- Live device hosts (store/host-registry.ts): each host upserts its row every 2 s.
CREATE TABLE device_hosts (
  id        text PRIMARY KEY,
  last_seen bigint NOT NULL,
  pid       integer NOT NULL,
  devices   integer NOT NULL
);
