#!/usr/bin/env bash
# A Debian 12 classroom PC as a guest image: a root tree made offline from Debian packages (mmdebstrap, minbase with
# systemd) that a guest PC boots with systemd as PID 1, on the same kernel as the other guest PCs (build.sh; its
# modules copied in). Nothing of Zanshin is in it: infra/pc/install.sh puts Zanshin on it, as on a real PC. The
# test rig's only additions stand in for the administrator at the keyboard: a virtiofs "USB stick" (tag `setup`,
# mounted on /media/setup when given) and a unit that runs /media/setup/admin.sh once at boot, its output on the
# console. Cached by a hash of this script and the kernel; prints the image's root directory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"
# shellcheck source=../lib/apt.sh
source "$here/../lib/apt.sh"

APT_PACKAGES=(mmdebstrap)
provision_apt
kernel=$(bash "$here/build.sh" | tail -1)
version=${kernel##*/kernel-}
# What a campus PC has before Zanshin: systemd (with dbus, so that logind handles the power button, and
# libpam-systemd, so that a login on its console is a logind session), the network tools, and Debian's packages
# install.sh asks for (here beforehand: a guest has no way to Debian's mirrors).
PACKAGES=systemd-sysv,udev,dbus,libpam-systemd,kmod,iproute2,procps,ca-certificates,runc,iptables,openssl,skopeo,umoci,busybox
stamp=$( (cat "$0"; echo "$version $PACKAGES") | sha256sum | cut -c1-12)
image="$ZANSHIN_CACHE_DIR/guest/debian-pc-$stamp"
if [ -f "$image/.done" ]; then
  echo "$image/root"
  exit 0
fi
say "Debian 12 PC image $stamp (mmdebstrap, a few minutes, once) ..." >&2
# An interrupted mmdebstrap may leave the host's /proc, /sys or /dev mounted inside: unmount before removing anything.
awk -v d="$image/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
rm -rf "$image" && mkdir -p "$image"
mmdebstrap --variant=minbase --include="$PACKAGES" bookworm "$image/root" http://deb.debian.org/debian >&2 \
  || fail "mmdebstrap failed (see above)"
root="$image/root"
mkdir -p "$root/lib/modules" "$root/media/setup" "$root/boot"
cp -a "$kernel/root/lib/modules/$version" "$root/lib/modules/"
# Where a Debian PC keeps its kernel's build configuration (the node worker reads whether soft-dirty is built in).
cp "$kernel/root/boot/config-$version" "$root/boot/"
echo "debian-pc" >"$root/etc/hostname"
: >"$root/etc/machine-id"
echo "setup /media/setup virtiofs ro,nofail,x-systemd.device-timeout=5s 0 0" >>"$root/etc/fstab"
cat >"$root/etc/systemd/system/rig-admin.service" <<'UNIT'
# Test rig only: what the administrator would type, from the "USB stick" (/media/setup/admin.sh).
[Unit]
Description=Test rig: the administrator's commands from /media/setup/admin.sh
ConditionPathExists=/media/setup/admin.sh
RequiresMountsFor=/media/setup
After=local-fs.target

[Service]
Type=oneshot
ExecStart=/bin/sh /media/setup/admin.sh
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
UNIT
ln -s /etc/systemd/system/rig-admin.service "$root/etc/systemd/system/multi-user.target.wants/rig-admin.service"
# The journal on the console too (the guest's console is the test's log): Zanshin's units' lines among it.
mkdir -p "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nForwardToConsole=yes\nMaxLevelConsole=info\nTTYPath=/dev/ttyS0\n' \
  >"$root/etc/systemd/journald.conf.d/console.conf"
# Nothing else at boot that a test does not need: no login prompt on the serial console (the test's log), no periodic
# maintenance. The PC's own screen keeps its login prompt (getty on tty1): students log in there.
for u in serial-getty@ttyS0.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
  fstrim.timer dpkg-db-backup.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$u"
done
touch "$image/.done"
# Older images go.
for old in "$ZANSHIN_CACHE_DIR"/guest/debian-pc-*; do [ "$old" = "$image" ] || rm -rf "$old"; done
echo "$root"
