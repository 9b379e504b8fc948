#!/usr/bin/env bash
# Can this PC's runc + CRIU checkpoint and restore a container with its own user namespace in a network namespace
# the PC made (as Zanshin's containers have, to keep their address)? Issue 13 asked; the answer on 2026-11-29 was no.
# Run it again after a CRIU or runc upgrade (as root): it prints what each attempt gave and cleans up after itself.
#   A. user namespace made by runc, network namespace made by the PC: the dump.
#   B. both made by the PC first (the network one owned by the user one), the container joining both: the dump, then
#      the restore into a new pair (as on another PC).
set -uo pipefail
CRIU="${ZANSHIN_CRIU:-/var/cache/zanshin/bin/criu}"
work=$(mktemp -d /tmp/zanshin-userns-XXXXXX)
chmod 755 "$work" # the container's root (uid 100000 here) must reach its rootfs
holder=""
cleanup() {
  runc --root "$work/runc" delete -f userns-a >/dev/null 2>&1
  runc --root "$work/runc" delete -f userns-b >/dev/null 2>&1
  [ -n "$holder" ] && kill "$holder" 2>/dev/null
  for m in "$work/ns-user" "$work/ns-net"; do umount "$m" 2>/dev/null; done
  ip netns del zanshin-userns-a 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
[ -x "$CRIU" ] || { echo "no CRIU at $CRIU (infra/provision.sh, or set ZANSHIN_CRIU)" >&2; exit 2; }

bundle="$work/bundle"
mkdir -p "$bundle/rootfs"/{bin,proc,sys,dev,tmp,www}
cp /bin/busybox "$bundle/rootfs/bin/" && echo hello > "$bundle/rootfs/www/index.html"
chown -R 100000:100000 "$bundle/rootfs"
(cd "$bundle" && runc spec)
# $1: user namespace path ('' = runc makes one), $2: network namespace path
spec() {
  node -e '
    const fs = require("fs"); const f = process.argv[1]; const s = JSON.parse(fs.readFileSync(f));
    s.process.terminal = false; s.process.args = ["/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"];
    s.root = { path: "rootfs", readonly: false };
    s.linux.namespaces = s.linux.namespaces.filter((n) => !["network", "user"].includes(n.type))
      .concat([{ type: "network", path: process.argv[3] }, process.argv[2] ? { type: "user", path: process.argv[2] } : { type: "user" }]);
    const map = [{ containerID: 0, hostID: 100000, size: 65536 }]; s.linux.uidMappings = map; s.linux.gidMappings = map;
    // sysfs cannot be mounted in a user namespace that does not own the network namespace.
    s.mounts = s.mounts.filter((m) => !["/sys", "/sys/fs/cgroup"].includes(m.destination))
      .concat([{ destination: "/sys", type: "tmpfs", source: "tmpfs", options: ["nosuid", "noexec", "nodev", "ro"] }]);
    fs.writeFileSync(f, JSON.stringify(s));' "$bundle/config.json" "$1" "$2"
}
errors() { grep -h 'Error' "$1" 2>/dev/null | grep -v RLIMIT_NOFILE | head -3 | sed 's/^/      /'; }
# A pair of namespaces made by the PC: a user namespace (0 -> 100000) and a network namespace it owns.
make_pair() {
  for m in "$work/ns-user" "$work/ns-net"; do umount "$m" 2>/dev/null; touch "$m"; done
  [ -n "$holder" ] && kill "$holder" 2>/dev/null
  unshare --user --net --fork --kill-child sleep infinity & local parent=$!
  sleep 0.3; holder=$(pgrep -P "$parent")
  echo "0 100000 65536" > "/proc/$holder/uid_map"; echo "0 100000 65536" > "/proc/$holder/gid_map"
  mount --bind "/proc/$holder/ns/user" "$work/ns-user"; mount --bind "/proc/$holder/ns/net" "$work/ns-net"
  nsenter --net="$work/ns-net" ip link set lo up
}
R=(runc --root "$work/runc" --criu "$CRIU" --log "$work/runc.log")

echo "runc $(runc --version | head -1 | awk '{print $3}'), CRIU $("$CRIU" --version | awk '/Version/ {print $2}')"
echo "A. own user namespace, the PC's network namespace"
ip netns add zanshin-userns-a && ip -n zanshin-userns-a link set lo up
spec "" /run/netns/zanshin-userns-a
if "${R[@]}" run -d --bundle "$bundle" userns-a </dev/null >/dev/null 2>&1; then
  mkdir -p "$work/img-a"
  if "${R[@]}" checkpoint --image-path "$work/img-a" --work-path "$work/img-a" userns-a >/dev/null 2>&1; then
    echo "   dump: works"
  else
    echo "   dump: refused"; errors "$work/img-a/dump.log"
  fi
else
  echo "   run: failed"; tail -1 "$work/runc.log" | sed "s/^/      /"
fi
"${R[@]}" delete -f userns-a >/dev/null 2>&1

echo "B. the PC makes a user namespace and a network namespace it owns; the container joins both"
make_pair
spec "$work/ns-user" "$work/ns-net"
"${R[@]}" run -d --bundle "$bundle" userns-b </dev/null >/dev/null 2>&1 || { echo "   run: failed"; tail -1 "$work/runc.log" | sed "s/^/      /"; }
mkdir -p "$work/img-b"
if "${R[@]}" checkpoint --image-path "$work/img-b" --work-path "$work/img-b" userns-b >/dev/null 2>&1; then
  echo "   dump: works"
  make_pair # a new pair, as another PC would make
  if "${R[@]}" restore -d --bundle "$bundle" --image-path "$work/img-b" --work-path "$work/img-b" userns-b \
    </dev/null >/dev/null 2>&1; then
    echo "   restore: works (user namespaces can be adopted: see README, threat model)"
  else
    echo "   restore: refused"; errors "$work/img-b/restore.log"
  fi
else
  echo "   dump: refused"; errors "$work/img-b/dump.log"
fi
