#!/bin/sh
# The paper's own measurements of its kernel path, in a guest PC (infra/guest/run.sh; TCG: compare ratios only).
# One counter (MIB, default 64, rewriting 20 pages/s) under zanshin-init; times, each with runc and CRIU 4.2.1:
#   plain dump (no tracking) | dump with track-mem | differential dump (parent: a restored image, tracking restarted)
#   plain restore | restore + tracking restarted (clear_refs; the parent's dump time rewrite timed apart)
# and the pages each strategy would send for the same interval: kernel = pages in the differential dump; content =
# pages of a full dump taken right after whose contents differ from the parent's (what content hashing sends).
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${ZANSHIN_CACHE_DIR:-/var/cache/zanshin}
criu=$cache/bin/criu
w=/tmp/paper
runc="runc --root $w/runc --criu $criu"
mkdir -p "$w/bundle/rootfs" /etc/criu
cp -a "$(ls -d "$cache"/images/counter-*/rootfs | head -1)/." "$w/bundle/rootfs/"
mkdir -p "$w/bundle/rootfs/.zanshin" && cp "$cache/bin/zanshin-init" "$w/bundle/rootfs/.zanshin/init"
(cd "$w/bundle" && runc spec)
node -e '
  const f = process.argv[1], s = JSON.parse(require("fs").readFileSync(f, "utf8"));
  s.process.terminal = false; s.process.args = ["/.zanshin/init", "--", "/bin/counter"]; s.root.readonly = false;
  s.process.env.push("MIB=" + process.argv[2], "DIRTY_PAGES_PER_SEC=20");
  require("fs").writeFileSync(f, JSON.stringify(s));' "$w/bundle/config.json" "${MIB:-64}"
ms() { awk '{printf "%d", $1 * 1000}' /proc/uptime; }
us() { awk '{printf "%d", $1 * 1000000}' /proc/uptime; }
timed() { t0=$(ms); "$@" </dev/null >/dev/null 2>&1; echo $(($(ms) - t0)); }
pid() { $runc state c1 | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p'; }
procs() { cat "/sys/fs/cgroup$(sed -n 's/^0:://p' "/proc/$(pid)/cgroup")/cgroup.procs"; }
pages() { echo $(($(cat "$1"/pages-*.img | wc -c) / 4096)); }
$runc run -d --bundle "$w/bundle" c1 </dev/null >/dev/null 2>&1
sleep 20 # the counter fills its memory (slow under TCG)
: >/etc/criu/runc.conf
# A first dump warms CRIU up (modules loaded on demand, caches): not measured.
$runc checkpoint --leave-running --image-path "$w/warm" --work-path "$w/ww" c1 </dev/null >/dev/null 2>&1
plain=$(timed $runc checkpoint --leave-running --image-path "$w/plain" --work-path "$w/wp" c1)
echo track-mem >/etc/criu/runc.conf
tracked=$(timed $runc checkpoint --image-path "$w/d1" --work-path "$w/w1" c1)
restore_plain=$(timed $runc restore -d --image-path "$w/d1" --work-path "$w/w2" --bundle "$w/bundle" c1)
$runc delete --force c1
t0=$(ms)
$runc restore -d --image-path "$w/d1" --work-path "$w/w3" --bundle "$w/bundle" c1 </dev/null >/dev/null 2>&1
for p in $(procs); do echo 4 >"/proc/$p/clear_refs"; done
restore_tracked=$(($(ms) - t0))
# A node worker rewrites the inventory in-process; here a node process starts for it, so it is timed apart.
inventory=$(timed node "$repo/dist/infra/guest/set-dump-uptime.js" "$w/d1" "$(us)")
sleep 10
differential=$(timed $runc checkpoint --leave-running --image-path "$w/d2" --work-path "$w/w4" --parent-path ../d1 c1)
: >/etc/criu/runc.conf
$runc checkpoint --image-path "$w/full" --work-path "$w/w5" c1 </dev/null >/dev/null 2>&1
content=$(node -e '
  const fs = require("fs"), crypto = require("crypto"), path = require("path");
  const pagesOf = (d) => Buffer.concat(fs.readdirSync(d).filter((f) => /^pages-\d+\.img$/.test(f)).sort().map((f) => fs.readFileSync(path.join(d, f))));
  const held = new Set(); const a = pagesOf(process.argv[1]);
  for (let i = 0; i < a.length; i += 4096) held.add(crypto.hash("sha256", a.subarray(i, i + 4096), "hex"));
  const b = pagesOf(process.argv[2]); let missing = 0;
  for (let i = 0; i < b.length; i += 4096) if (!held.has(crypto.hash("sha256", b.subarray(i, i + 4096), "hex"))) missing++;
  console.log(missing);' "$w/d1" "$w/full")
echo "paper-measurements: plain_dump_ms=$plain tracked_dump_ms=$tracked differential_dump_ms=$differential" \
  "restore_ms=$restore_plain restore_tracked_ms=$restore_tracked inventory_rewrite_ms=$inventory" \
  "full_pages=$(pages "$w/d1")" \
  "kernel_pages=$(pages "$w/d2") content_pages=$content"
$runc delete --force c1 2>/dev/null || true
