#!/usr/bin/env bash
# Boots a guest PC (infra/guest/build.sh), runs one script in it as root and prints its console; exits with the
# script's exit code. Under TCG (no KVM guest boots on this machine kind): correct, but ~30x slower than the host.
# Usage: infra/guest/run.sh <script under the repository> [timeout seconds, default 600]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"
payload=$(realpath "${1:?usage: run.sh <script> [timeout seconds]}")
timeout_s=${2:-600}
[ -f "$payload" ] || fail "$payload: no such script"
kernel=$(bash "$here/build.sh" | tail -1)
version=${kernel##*/kernel-}
work=$(mktemp -d /tmp/zanshin-guest-XXXXXX)
vfsd_pid=""
cleanup() {
  [ -n "$vfsd_pid" ] && kill "$vfsd_pid" 2>/dev/null && wait "$vfsd_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
/usr/lib/qemu/virtiofsd --socket-path="$work/vfs.sock" -o source=/ -o cache=auto -o sandbox=chroot \
  >"$work/virtiofsd.log" 2>&1 &
vfsd_pid=$!
for _ in $(seq 100); do [ -S "$work/vfs.sock" ] && break; sleep 0.1; done
[ -S "$work/vfs.sock" ] || fail "virtiofsd did not start: $(cat "$work/virtiofsd.log")"
set +e
timeout --kill-after=5 "$timeout_s" qemu-system-x86_64 \
  -machine q35,accel=tcg -cpu max -smp 2 -m 2048 -nographic -no-reboot \
  -kernel "$kernel/root/boot/vmlinuz-$version" -initrd "$kernel/initrd.cpio.gz" \
  -append "console=ttyS0 quiet panic=-1 zanshin.init=$here/init.sh zanshin.run=$payload" \
  -object memory-backend-memfd,id=mem,size=2048M,share=on -numa node,memdev=mem \
  -chardev socket,id=vfs,path="$work/vfs.sock" -device vhost-user-fs-pci,chardev=vfs,tag=hostroot \
  </dev/null | tee "$work/console.log"
qemu=${PIPESTATUS[0]}
set -e
[ "$qemu" = 124 ] && fail "the guest did not finish within $timeout_s s"
code=$(sed -n 's/.*zanshin-guest: exit \([0-9]*\).*/\1/p' "$work/console.log" | tail -1)
[ -n "$code" ] || fail "the guest stopped without its script finishing (qemu exit $qemu)"
exit "$code"
