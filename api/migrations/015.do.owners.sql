-- Issue 31: owners. Administrators issue each owner one token (only its hash is kept; revoking it cuts the owner off)
-- and quotas; a container belongs to one owner, or to none (created by an administrator).
CREATE TABLE owners (
  id text PRIMARY KEY,
  token_sha256 bytea NOT NULL UNIQUE,
  max_containers integer NOT NULL CHECK (max_containers >= 0),
  max_memory_mib integer NOT NULL CHECK (max_memory_mib >= 0),
  max_disk_mib integer NOT NULL CHECK (max_disk_mib >= 0),
  issued_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
ALTER TABLE containers ADD COLUMN owner text REFERENCES owners (id);
CREATE INDEX containers_owner ON containers (owner);
