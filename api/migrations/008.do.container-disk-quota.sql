-- Disk a container's rootfs may take (MiB), checked whenever it is synced to another PC (issue 13: one container
-- must not fill every PC's disk).
ALTER TABLE containers ADD COLUMN disk_mib integer NOT NULL DEFAULT 2048 CHECK (disk_mib > 0);
