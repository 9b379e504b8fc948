#!/bin/sh
# A guest PC's node worker (runs inside the guest, as root, from infra/guest/init.sh). The host's cluster wrote the
# worker's settings to a root-only file named on the kernel command line (zanshin.env=<file>): never on the command
# line itself, which every user of the host can read. Two network cards, found by their MAC addresses: the LAN (the
# classroom bridge, this PC's own address) and the host's way in (QEMU user networking: Temporal and migration-api
# are forwarded from 10.0.2.100 to the cluster's unix sockets, and nothing else is reachable through it).
set -eu
env_file=$(sed -n 's/.*zanshin\.env=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -r "$env_file" ] || { echo "zanshin-guest: no settings file ($env_file)"; exit 1; }
set -a
# shellcheck disable=SC1090
. "$env_file"
set +a
repo=$(cd "$(dirname "$0")/../.." && pwd)

iface_with_mac() {
  for dev in /sys/class/net/*; do
    [ "$(cat "$dev/address")" = "$1" ] && basename "$dev" && return 0
  done
  return 1
}
modprobe virtio_net
modprobe virtio_blk
lan=$(iface_with_mac "$ZANSHIN_GUEST_LAN_MAC") || { echo "zanshin-guest: no LAN card $ZANSHIN_GUEST_LAN_MAC"; exit 1; }
svc=$(iface_with_mac "$ZANSHIN_GUEST_SERVICE_MAC") || { echo "zanshin-guest: no service card"; exit 1; }
ip addr add "$ZANSHIN_NODE_ADDRESS/24" dev "$lan" && ip link set "$lan" up
ip addr add 10.0.2.15/24 dev "$svc" && ip link set "$svc" up

# The PC's own disk: its remnant store and runc state survive the worker, not the guest's RAM overlay.
mkdir -p "$ZANSHIN_NODE_DATA_DIR"
mount -t ext4 /dev/vda "$ZANSHIN_NODE_DATA_DIR" || { echo "zanshin-guest: cannot mount the store disk"; exit 1; }
echo "zanshin-guest: $ZANSHIN_NODE_ID at $ZANSHIN_NODE_ADDRESS ($lan), store on /dev/vda, services via $svc"
# The PC's fence (a process of its own: a dead or wedged worker still leaves the PC fenced), then its worker.
node "$repo/dist/workers/fence-watchdog.js" &
exec node --max-semi-space-size=1 "$repo/dist/workers/node-worker.js"
