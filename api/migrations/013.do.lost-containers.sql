-- Issue 28 (found by the soak): a container its PC no longer knows (the PC was powered off and came back, its copy
-- was removed behind Zanshin's back) did not end by itself: it is "lost", and crash recovery brings it back from its
-- newest checkpoint. Only a program whose ending zanshin-init recorded is "exited" (its restart policy decides).
ALTER TABLE containers DROP CONSTRAINT containers_state_check;
ALTER TABLE containers ADD CONSTRAINT containers_state_check
  CHECK (state IN ('created', 'running', 'migrating', 'stopped', 'exited', 'lost'));
