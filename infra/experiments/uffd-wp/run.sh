#!/usr/bin/env bash
# Kernel write-tracking without soft-dirty (issue 29, item 4), on a real program: Debian's redis (from the image
# cache the tests build) filled with DEBUG POPULATE, tracked from outside by wp-track (ptrace-injected userfaultfd
# write-protection, PAGEMAP_SCAN), written to by redis-benchmark. It shows, and fails if not:
#   1. the registration needs nothing from the program, and leaves it holding no userfaultfd;
#   2. every page whose content changed is reported written (check-superset.py), and how many more are;
#   3. CRIU 4.2 dumps the tracked program (and still says "Dirty tracking support is OFF": it cannot use the
#      tracking for a differential dump; that is the part left, see the README's Speed II section).
#   infra/experiments/uffd-wp/run.sh [KEYS (default 1000000, ~330 MiB)]
set -euo pipefail
keys=${1:-1000000}
here=$(cd "$(dirname "$0")" && pwd)
criu=${ZANSHIN_CRIU:-/var/cache/zanshin/bin/criu}
image=$(ls -d /var/cache/zanshin/images/redis-*/rootfs 2>/dev/null | head -1)
[ -n "$image" ] || { echo "no redis image in /var/cache/zanshin/images: run npm test (or the demo) once first" >&2; exit 1; }
work=$(mktemp -d /tmp/zanshin-uffd-wp-XXXXXX)
port=6398
cleanup() {
  pkill -f "wp-track" 2>/dev/null || true
  chroot "$work/root" redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cc -O2 -Wall -o "$work/wp-track" "$here/wp-track.c"
cp -a "$image" "$work/root"
chroot "$work/root" redis-server --port $port --save '' --appendonly no --daemonize yes --enable-debug-command yes \
  --logfile /tmp/redis.log
sleep 0.5
chroot "$work/root" redis-cli -p $port DEBUG POPULATE "$keys" k 200 >/dev/null
pid=$(pgrep -f "redis-server.*:$port")
echo "redis pid $pid, $(grep VmRSS /proc/"$pid"/status)"

# 1 + 2: one round of 6 s around 20,000 random SETs; content read before and after.
"$work/wp-track" "$pid" 6000 1 --write-list "$work/written" > "$work/track.out" &
sleep 0.5
python3 "$here/check-superset.py" "$pid" "$work/written" before "$work/snap"
chroot "$work/root" redis-benchmark -p $port -t set -c 1 -n 20000 -r "$keys" -d 200 -q > /dev/null 2>&1
python3 "$here/check-superset.py" "$pid" "$work/written" after "$work/snap"
wait
cat "$work/track.out"
if ls -l /proc/"$pid"/fd | grep -q userfaultfd; then echo "FAIL: the program holds a userfaultfd" >&2; exit 1; fi

# 3: CRIU's dump of the tracked program (left running).
"$work/wp-track" "$pid" 3000 1 > /dev/null &
sleep 0.5
mkdir "$work/dump"
"$criu" dump -t "$pid" -D "$work/dump" --shell-job --tcp-established --leave-running -v4 -o dump.log \
  || { tail -20 "$work/dump/dump.log" >&2; echo "FAIL: CRIU could not dump the tracked program" >&2; exit 1; }
echo "CRIU dumped the tracked program: $(du -sh "$work/dump" | cut -f1); its log says: $(grep -o 'Dirty tracking support is [A-Z]*' "$work/dump/dump.log")"
wait
