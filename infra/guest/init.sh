#!/bin/sh
# PID 1 of a guest PC, on the RAM overlay over the host's files: mounts what runc and CRIU need, lets the guest
# kernel's modules load on demand (CRIU's netlink and diag modules), runs the payload named on the kernel command
# line (zanshin.run=<script>), prints its exit code for the host and powers the guest off.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts && ln -sf pts/ptmx /dev/ptmx
mount -t tmpfs shm /dev/shm
# /tmp stays the host's (through the overlay, writes go to RAM): a guest PC's settings and secrets may live there.
mount -t tmpfs run /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
version=$(uname -r)
mkdir -p /lib/modules
ln -sfn "${ZANSHIN_CACHE_DIR:-/var/cache/zanshin}/guest/kernel-$version/root/lib/modules/$version" "/lib/modules/$version"
# Its build configuration where a Debian PC keeps it (the node worker reads whether soft-dirty is built in).
mkdir -p /boot
ln -sfn "${ZANSHIN_CACHE_DIR:-/var/cache/zanshin}/guest/kernel-$version/root/boot/config-$version" "/boot/config-$version"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
run=$(sed -n 's/.*zanshin\.run=\([^ ]*\).*/\1/p' /proc/cmdline)
echo "zanshin-guest: up in $(cut -d' ' -f1 /proc/uptime) s, kernel $version, running $run"
sh "$run"
code=$?
echo "zanshin-guest: exit $code"
sync
busybox poweroff -f
