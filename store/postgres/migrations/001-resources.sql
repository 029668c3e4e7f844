-- Device, Gateway and Application resources, the resource itself as JSON (store/postgres/resource-store.ts).
-- Every write takes the next value of resource_revision as the row's resource_version; the
-- sequence's last value is the store's revision().
CREATE SEQUENCE resource_revision;

CREATE TABLE resources (
  kind             text NOT NULL,
  namespace        text NOT NULL,
  -- Byte order, like SQLite and JavaScript: keyset paging compares names with the order they sort in.
  name             text COLLATE "C" NOT NULL,
  resource_version bigint NOT NULL,
  -- The revision that created the row: a catch-up tells ADDED from MODIFIED with it.
  created_revision bigint NOT NULL,
  body             jsonb NOT NULL,
  PRIMARY KEY (kind, namespace, name)
);
CREATE INDEX resources_by_revision ON resources (resource_version);

-- What was deleted, at which revision: a watcher that lost its connection learns what went
-- away meanwhile. Rows older than a day are trimmed by the deleting transactions.
CREATE TABLE resource_deletions (
  revision   bigint PRIMARY KEY,
  kind       text NOT NULL,
  namespace  text NOT NULL,
  name       text COLLATE "C" NOT NULL,
  deleted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX resource_deletions_by_time ON resource_deletions (deleted_at);
