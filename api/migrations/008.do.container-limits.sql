-- A container's limits from its registration (issue 13: what a student runs must not take a PC or fill its disk):
-- disk its rootfs may take (MiB, checked whenever it is synced to another PC), CPUs (a CFS quota) and processes.
ALTER TABLE containers ADD COLUMN disk_mib integer NOT NULL DEFAULT 2048 CHECK (disk_mib > 0);
ALTER TABLE containers ADD COLUMN cpus real NOT NULL DEFAULT 1 CHECK (cpus > 0);
ALTER TABLE containers ADD COLUMN pids integer NOT NULL DEFAULT 512 CHECK (pids > 0);
