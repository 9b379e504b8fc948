-- Issue 28: each container's copy runs under an epoch, bumped at every restore (a move's target, a rollback, a
-- recovery, a start): PCs report the epoch of each copy they run, and a copy under an older epoch is stale and
-- killed. Generation numbers carry the epoch (epoch x 1,000,000 + count): they outgrow integer.
ALTER TABLE containers ADD COLUMN epoch bigint NOT NULL DEFAULT 0 CHECK (epoch >= 0);
ALTER TABLE containers ALTER COLUMN stopped_generation TYPE bigint;
ALTER TABLE remnants ALTER COLUMN generations TYPE bigint[];
