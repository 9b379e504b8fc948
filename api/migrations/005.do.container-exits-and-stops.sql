-- A container whose program ended (or that its PC no longer runs) is "exited", with how it ended; a container
-- stopped by a user keeps the generation of its final checkpoint, from which it starts again.
ALTER TABLE containers DROP CONSTRAINT containers_state_check;
ALTER TABLE containers ADD CONSTRAINT containers_state_check CHECK (state IN ('created', 'running', 'migrating', 'stopped', 'exited'));
ALTER TABLE containers ADD COLUMN exit_status text;
ALTER TABLE containers ADD COLUMN stopped_generation integer;
