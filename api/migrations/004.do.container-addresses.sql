-- Each container's own LAN address, given from the pool once (never twice while the container exists) and kept
-- across moves; NULL when the cluster has no address pool (loopback only).
ALTER TABLE containers ADD COLUMN network jsonb;
ALTER TABLE containers ADD COLUMN address text UNIQUE;
