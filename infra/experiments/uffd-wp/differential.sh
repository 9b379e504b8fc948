#!/usr/bin/env bash
# Issue 29, item 4, the time-boxed first step: a redis tracked for written pages (userfaultfd write-protection in
# async mode, registered from outside by wp-track) and dumped differentially by a CRIU patched to read the kernel's
# "written" bit where it reads soft-dirty (criu-written-tracking.patch), then restored from the chain with the same
# DEBUG DIGEST. Nothing of this runs in Zanshin yet; it shows what the patch does and what it costs.
#   infra/experiments/uffd-wp/differential.sh [KEYS (default 1000000, ~330 MiB)] [SETS (default 20000)]
# Environment: CRIU_SRC=<dir of CRIU 4.2 sources> (default: Debian sid's source package, fetched with apt-get).
set -euo pipefail
keys=${1:-1000000}
sets=${2:-20000}
here=$(cd "$(dirname "$0")" && pwd)
image=$(ls -d /var/cache/zanshin/images/redis-*/rootfs 2>/dev/null | head -1)
[ -n "$image" ] || { echo "no redis image in /var/cache/zanshin/images: run npm test (or the demo) once first" >&2; exit 1; }
build=/var/cache/zanshin/criu-written
work=$(mktemp -d /tmp/zanshin-uffd-diff-XXXXXX)
port=6397
tracker=
cleanup() {
  [ -n "$tracker" ] && kill "$tracker" 2>/dev/null || true
  chroot "$work/root" redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ms() { date +%s%3N; }

# The patched CRIU, built once (bookworm's toolchain and -dev packages; ~3 min on 2 cores).
if [ ! -x "$build/criu/criu" ]; then
  apt-get install -y -q build-essential pkg-config libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev \
    protobuf-compiler python3-protobuf libnl-3-dev libnet1-dev libcap-dev libaio-dev libbsd-dev libgnutls28-dev \
    libnftables-dev uuid-dev libdrm-dev >/dev/null
  rm -rf "$build" && mkdir -p "$build"
  if [ -n "${CRIU_SRC:-}" ]; then
    cp -a "$CRIU_SRC/." "$build/"
  else
    apt=$(mktemp -d)
    mkdir -p "$apt/sources" "$apt/lists/partial"
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: sid\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > "$apt/sources/sid.sources"
    o=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$apt/sources" -o Dir::State::Lists="$apt/lists")
    apt-get "${o[@]}" update -qq
    (cd "$apt" && apt-get "${o[@]}" source -qq --download-only criu && dpkg-source -x --no-check criu_*.dsc src >/dev/null)
    cp -a "$apt/src/." "$build/"
    rm -rf "$apt"
  fi
  (cd "$build" && patch -p1 < "$here/criu-written-tracking.patch" && make -j"$(nproc)" criu >/dev/null)
fi
criu="$build/criu/criu"
cc -O2 -Wall -o "$work/wp-track" "$here/wp-track.c"

cp -a "$image" "$work/root"
# A child of this script (not daemonized): once CRIU's dump ends it, this shell reaps it and its pid is free for
# the restore (this machine's init does not reap orphans).
chroot "$work/root" redis-server --port $port --save '' --appendonly no --daemonize no --enable-debug-command yes \
  --logfile /tmp/redis.log < /dev/null > /dev/null 2>&1 &
redis=$!
sleep 0.5
chroot "$work/root" redis-cli -p $port DEBUG POPULATE "$keys" k 200 >/dev/null
pid=$redis
echo "redis pid $pid, $(grep VmRSS /proc/"$pid"/status | tr -s ' ')"

# Tracking from now: the registration is held by the tracker (one long round: it never resets the bits itself).
"$work/wp-track" "$pid" 3600000 1 > "$work/track.out" &
tracker=$!
sleep 1
cat "$work/track.out"

dump() { # $1 = image dir, rest = CRIU options; prints ms
  local t0
  t0=$(ms)
  CRIU_WRITTEN_TRACKING=1 "$criu" dump -t "$pid" -D "$1" --shell-job --track-mem -v4 -o dump.log "${@:2}" \
    || { tail -20 "$1/dump.log" >&2; echo "FAIL: CRIU's dump into $1 failed" >&2; exit 1; }
  echo "$(($(ms) - t0)) ms, $(stats "$1")"
}
stats() { # CRIU's own figures from the dump's stats-dump (the project's parser, from dist/)
  node -e "const {parseDumpStats: p, frozenMsOf: f} = require('$here/../../../dist/domain/criu-stats.js');
    const s = p(require('fs').readFileSync('$1/stats-dump'));
    console.log('frozen ' + f(s) + ' ms (memdump ' + Math.round(s.memdumpUs / 1000) + ' ms, memwrite ' + Math.round(s.memwriteUs / 1000) + ' ms), pages written ' + s.pagesWritten + ' of ' + s.pagesScanned + ' scanned')"
}
pages() { du -sm --apparent-size "$1"/pages-*.img | awk '{s+=$1} END {print s " MiB"}'; }

mkdir "$work/base" "$work/diff"
base_ms=$(dump "$work/base" --leave-running)
echo "base dump (all pages, left running): ${base_ms}; pages files $(pages "$work/base")"
chroot "$work/root" redis-benchmark -p $port -t set -c 1 -n "$sets" -r "$keys" -d 200 -q > /dev/null 2>&1
digest=$(chroot "$work/root" redis-cli -p $port DEBUG DIGEST)
# For comparison, a plain full dump of the same memory at the same moment (no tracking options: it leaves the
# written bits alone), as every dump is on this kernel today.
mkdir "$work/full"
t0=$(ms)
"$criu" dump -t "$pid" -D "$work/full" --shell-job --leave-running -v4 -o dump.log \
  || { tail -20 "$work/full/dump.log" >&2; echo "FAIL: the full dump failed" >&2; exit 1; }
echo "full dump of the same memory (left running): $(($(ms) - t0)) ms, $(stats "$work/full"); pages files $(pages "$work/full")"
rm -rf "$work/full"
diff_ms=$(dump "$work/diff" --prev-images-dir ../base)
echo "differential dump after $sets SETs (program stopped): ${diff_ms}; pages files $(pages "$work/diff")"
grep -q "write-protected again" "$work/diff/dump.log" || { echo "FAIL: the patched path did not run" >&2; exit 1; }
kill "$tracker"; tracker=
wait "$redis" 2>/dev/null || true

t0=$(ms)
# CRIU stays the restored redis's parent (not detached): this shell reaps both at the end.
"$criu" restore -D "$work/diff" --shell-job -v4 -o restore.log < /dev/null > /dev/null 2>&1 &
restorer=$!
until chroot "$work/root" redis-cli -p $port PING > /dev/null 2>&1; do
  kill -0 "$restorer" 2>/dev/null || { tail -20 "$work/diff/restore.log" >&2; echo "FAIL: CRIU could not restore the chain" >&2; exit 1; }
  sleep 0.01
done
echo "restore from the chain, until redis answers: $(($(ms) - t0)) ms"
after=$(chroot "$work/root" redis-cli -p $port DEBUG DIGEST)
echo "DEBUG DIGEST before the dump: $digest; after the restore: $after"
[ "$digest" = "$after" ] || { echo "FAIL: the restored redis holds other data" >&2; exit 1; }
echo "OK: restored from a differential dump of written pages, same data"
