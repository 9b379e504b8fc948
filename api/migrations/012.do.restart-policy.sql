-- Issue 28: restart policies as Podman has them. A restart is a fresh start of the program on the container's
-- current rootfs; a crash loop backs off (domain/restart-policy.ts).
ALTER TABLE containers
  ADD COLUMN restart_policy text NOT NULL DEFAULT 'no' CHECK (restart_policy IN ('no', 'on-failure', 'always')),
  ADD COLUMN restart_count integer NOT NULL DEFAULT 0 CHECK (restart_count >= 0),
  ADD COLUMN last_restart_at timestamptz;
