-- The user a container's program runs as (issue 13: a non-root program must keep working after a move):
-- {"uid": n, "gid": n}, numbers of its own rootfs; NULL runs it as root (with runc's default few capabilities).
ALTER TABLE containers ADD COLUMN run_as jsonb CHECK (run_as IS NULL OR (jsonb_typeof(run_as -> 'uid') = 'number' AND jsonb_typeof(run_as -> 'gid') = 'number'));
