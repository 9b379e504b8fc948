#!/usr/bin/env bash
# Guest PCs: a QEMU virtual machine running Debian's stock cloud kernel (which has soft-dirty page tracking, like
# real classroom PCs' kernels), seeing the host's files read-only through virtiofs. Builds what a guest boots
# from into the cache, once: the kernel package unpacked (modules indexed), and a busybox initramfs that mounts
# the share under a RAM overlay and hands over to infra/guest/init.sh. Idempotent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"
# shellcheck source=../lib/apt.sh
source "$here/../lib/apt.sh"

GUEST_DIR="$ZANSHIN_CACHE_DIR/guest"
APT_PACKAGES=(qemu-system-x86 kmod busybox-static cpio e2fsprogs socat)
provision_apt
[ -x /usr/lib/qemu/virtiofsd ] || fail "/usr/lib/qemu/virtiofsd is missing (Debian's qemu-system-common ships it)"

# The newest 6.1 cloud kernel of bookworm.
pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' | cut -d' ' -f1 | sort -V | tail -1)
[ -n "$pkg" ] || fail "no linux-image-6.1.0-*-cloud-amd64 package in apt's lists (apt-get update?)"
version=${pkg#linux-image-}
kernel="$GUEST_DIR/kernel-$version"
if [ ! -f "$kernel/.done" ]; then
  say "guest kernel $version ..."
  rm -rf "$kernel" && mkdir -p "$kernel"
  (cd "$kernel" && apt-get download "$pkg" >/dev/null 2>&1) || fail "apt-get download $pkg failed"
  dpkg-deb -x "$kernel"/*.deb "$kernel/root"
  rm -f "$kernel"/*.deb
  grep -q '^CONFIG_MEM_SOFT_DIRTY=y' "$kernel/root/boot/config-$version" || fail "$pkg has no CONFIG_MEM_SOFT_DIRTY"
  depmod -b "$kernel/root" "$version"
  touch "$kernel/.done"
fi

# Modules needed before the share is mounted, in load order.
EARLY_MODULES=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci fuse virtiofs overlay)
initrd="$kernel/initrd.cpio.gz"
stamp=$(sha256sum "$here/build.sh" | cut -c1-12)
if [ ! -f "$initrd" ] || [ "$(cat "$kernel/initrd.stamp" 2>/dev/null)" != "$stamp" ]; then
  say "guest initramfs ..."
  tree=$(mktemp -d)
  trap 'rm -rf "$tree"' EXIT
  mkdir -p "$tree"/{bin,proc,sys,dev,lower,rw,newroot,modules}
  cp /bin/busybox "$tree/bin/busybox"
  for m in "${EARLY_MODULES[@]}"; do
    ko=$(find "$kernel/root/lib/modules/$version" -name "$m.ko" | head -1)
    [ -n "$ko" ] || fail "module $m.ko not found in $pkg"
    cp "$ko" "$tree/modules/"
  done
  cat >"$tree/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in ${EARLY_MODULES[*]}; do insmod /modules/\$m.ko || echo "zanshin-guest: insmod \$m failed"; done
mount -t virtiofs hostroot /lower -o ro || { echo "zanshin-guest: no virtiofs share"; poweroff -f; }
mount -t tmpfs -o size=75% rw /rw && mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot
init=\$(sed -n 's/.*zanshin.init=\([^ ]*\).*/\1/p' /proc/cmdline)
umount /proc /sys; umount /dev 2>/dev/null
exec switch_root /newroot "\$init"
INIT
  chmod +x "$tree/init"
  (cd "$tree" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$initrd.tmp"
  mv "$initrd.tmp" "$initrd"
  echo "$stamp" >"$kernel/initrd.stamp"
fi
# Which accelerator boots a guest here: KVM if a guest comes up with it within 60 s, else TCG (emulation). Probed
# once per kernel (on this machine kind no guest boots under KVM: see ../shared/notes/host-facts.md).
if [ ! -f "$kernel/accel" ]; then
  accel=tcg
  if [ -w /dev/kvm ]; then
    say "probing whether KVM boots a guest (up to 60 s, once) ..."
    if timeout --kill-after=5 60 qemu-system-x86_64 -machine q35,accel=kvm -cpu host -smp 1 -m 512 -nographic \
      -no-reboot -kernel "$kernel/root/boot/vmlinuz-$version" -initrd "$initrd" \
      -append "console=ttyS0 quiet panic=-1 rdinit=/bin/busybox-probe" </dev/null 2>&1 |
      grep -q 'Kernel panic\|zanshin-guest'; then
      accel=kvm
    fi
  fi
  echo "$accel" >"$kernel/accel"
  say "guest accelerator: $accel"
fi
echo "$kernel"
