#!/bin/sh
# Go/no-go of the paper's differential checkpoint on a stock kernel (runs inside a guest PC: infra/guest/run.sh).
# A counter is checkpointed with memory tracking, restored, tracking restarted, left to dirty pages for a few
# seconds and dumped again with the restored image as parent: the new pages-*.img must hold about the pages dirtied
# since the restore, not the whole image. How each of the four conditions stock CRIU needs is met here:
#   1. track-mem on every dump: /etc/criu/runc.conf (per PC; Zanshin's nodes would write it at provisioning);
#   2. tracking restarted after the restore: clear_refs of the restored task;
#   3. the parent inventory's dump_uptime moved to that moment (infra/guest/set-dump-uptime.ts);
#   4. transparent huge pages off for the container: zanshin-init (its first process) sets PR_SET_THP_DISABLE; the
#      PC keeps THP on (else a dirty 4-KiB page marks its whole 2 MiB).
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
criu=${ZANSHIN_CACHE_DIR:-/var/cache/zanshin}/bin/criu
rate=20
w=/tmp/soft-dirty-check
runc="runc --root $w/runc --criu $criu"
mkdir -p "$w/bundle" /etc/criu
echo track-mem >/etc/criu/runc.conf
echo "soft-dirty-check: the PC's transparent huge pages: $(cat /sys/kernel/mm/transparent_hugepage/enabled)"
rootfs=$(ls -d "${ZANSHIN_CACHE_DIR:-/var/cache/zanshin}"/images/counter-*/rootfs | head -1)
cp -a "$rootfs" "$w/bundle/rootfs"
mkdir -p "$w/bundle/rootfs/.zanshin"
cp "${ZANSHIN_CACHE_DIR:-/var/cache/zanshin}/bin/zanshin-init" "$w/bundle/rootfs/.zanshin/init"
(cd "$w/bundle" && runc spec)
node -e '
  const f = process.argv[1], s = JSON.parse(require("fs").readFileSync(f, "utf8"));
  s.process.terminal = false; s.process.args = ["/.zanshin/init", "--", "/bin/counter"]; s.root.readonly = false;
  s.process.env.push("MIB=64", "DIRTY_PAGES_PER_SEC=" + process.argv[2]);
  require("fs").writeFileSync(f, JSON.stringify(s));' "$w/bundle/config.json" "$rate"
$runc run -d --bundle "$w/bundle" c1 </dev/null >/dev/null 2>&1
pid() { $runc state c1 | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p'; }
# Every process of the container (zanshin-init and the counter), from its cgroup.
procs() { cat "/sys/fs/cgroup$(sed -n 's/^0:://p' "/proc/$(pid)/cgroup")/cgroup.procs"; }
counter() { for p in $(procs); do [ "$p" != "$(pid)" ] && echo "$p"; done | head -1; }
for _ in $(seq 240); do
  c=$(counter)
  [ -n "$c" ] && [ "$(awk '/VmRSS/ {print $2}' "/proc/$c/status")" -ge 60000 ] && break
  sleep 0.5
done
pages() { echo $(($(cat "$1"/pages-*.img | wc -c) / 4096)); }
$runc checkpoint --image-path "$w/d1" --work-path "$w/w1" c1
$runc restore -d --image-path "$w/d1" --work-path "$w/w2" --bundle "$w/bundle" c1 </dev/null >/dev/null 2>&1
for p in $(procs); do echo 4 >"/proc/$p/clear_refs"; done
echo "soft-dirty-check: restored counter's THP_enabled: $(awk '/THP_enabled/ {print $2}' "/proc/$(counter)/status")"
start=$(awk '{printf "%d", $1 * 1000000}' /proc/uptime)
node "$repo/dist/infra/guest/set-dump-uptime.js" "$w/d1" "$start"
sleep 4
$runc checkpoint --image-path "$w/d2" --work-path "$w/w3" --parent-path ../d1 c1
end=$(awk '{printf "%d", $1 * 1000000}' /proc/uptime)
echo "soft-dirty-check: full ${full:=$(pages "$w/d1")} pages, differential $(pages "$w/d2") pages," \
  "$(((end - start) / 1000)) ms after tracking restarted at $rate dirty pages/s"
# The chain (d2 -> d1) restores.
$runc restore -d --image-path "$w/d2" --work-path "$w/w4" --bundle "$w/bundle" c1 </dev/null >/dev/null 2>&1
echo "soft-dirty-check: restored from the differential dump: $($runc state c1 | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p')"
$runc delete --force c1
