# CRIU >= 4.2. Prefer the system's when it is new enough and `criu check` passes; otherwise unpack Debian
# unstable's CRIU and its library closure into a private prefix run through its own dynamic loader, so the system
# glibc is untouched. Why 4.2: on kernels >= 6.16, CRIU 4.1 cannot dump a process holding any inet socket
# (SO_PASSCRED is refused on non-unix sockets), and on this machine kind (6.18.44) its dump of even a plain process
# hangs while curing the parasite; 4.2.1 does both.

CRIU_SUITE="${ZANSHIN_CRIU_SUITE:-sid}"
CRIU_MIN_VERSION="4.2"
CRIU_PREFIX="$ZANSHIN_CACHE_DIR/criu-$CRIU_SUITE"
CRIU_LINK="$ZANSHIN_BIN_DIR/criu"

criu_works() { # $1 = criu binary; true when it is >= CRIU_MIN_VERSION and `criu check` passes
  local version
  version=$("$1" --version 2>/dev/null | sed -n 's/^Version: \([0-9][0-9.]*\).*/\1/p') || return 1
  [ -n "$version" ] || return 1
  # sort -V puts the smaller first: the minimum must come first (or be equal).
  [ "$(printf '%s\n%s\n' "$CRIU_MIN_VERSION" "$version" | sort -V | head -1)" = "$CRIU_MIN_VERSION" ] || return 1
  "$1" check >/dev/null 2>&1
}

criu_private_apt() { # apt-get/apt-cache with a source list of that suite only, and private state
  local tool="$1"; shift
  "$tool" -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$CRIU_PREFIX/apt/sources" \
    -o Dir::State::Lists="$CRIU_PREFIX/apt/lists" -o Dir::Cache="$CRIU_PREFIX/apt/cache" \
    -o Dir::State::Status=/dev/null -o Debug::NoLocking=1 "$@"
}

provision_criu() {
  mkdir -p "$ZANSHIN_BIN_DIR"
  if [ -x "$CRIU_LINK" ] && criu_works "$CRIU_LINK"; then
    say "  cached: $("$CRIU_LINK" --version | head -1) at $CRIU_LINK"
    return
  fi
  local sys
  sys=$(command -v criu || true)
  if [ -n "$sys" ] && criu_works "$sys"; then
    ln -sfn "$sys" "$CRIU_LINK"
    say "  using the system CRIU ($sys)"
    return
  fi
  [ -n "$sys" ] && say "  system CRIU at $sys is unusable here: $("$sys" check 2>&1 | tail -1)"
  say "  provisioning CRIU from Debian $CRIU_SUITE into $CRIU_PREFIX (system libraries untouched)"
  rm -rf "$CRIU_PREFIX"
  mkdir -p "$CRIU_PREFIX/apt/sources" "$CRIU_PREFIX/apt/lists/partial" "$CRIU_PREFIX/apt/cache/archives/partial" \
    "$CRIU_PREFIX/debs" "$CRIU_PREFIX/root"
  cat > "$CRIU_PREFIX/apt/sources/$CRIU_SUITE.sources" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $CRIU_SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  criu_private_apt apt-get update -qq || fail "could not read Debian $CRIU_SUITE's package list for CRIU."
  local pkgs
  pkgs=$(criu_private_apt apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances criu | grep -v '^[ <]' | sort -u | tr '\n' ' ')
  say "  packages: $pkgs"
  # shellcheck disable=SC2086
  (cd "$CRIU_PREFIX/debs" && criu_private_apt apt-get download -qq $pkgs 2>/dev/null) \
    || fail "downloading CRIU's $CRIU_SUITE packages failed."
  local deb
  for deb in "$CRIU_PREFIX"/debs/*.deb; do dpkg-deb -x "$deb" "$CRIU_PREFIX/root"; done
  local libs="$CRIU_PREFIX/root/usr/lib/x86_64-linux-gnu"
  cat > "$CRIU_PREFIX/criu" <<WRAP
#!/bin/sh
# CRIU from Debian $CRIU_SUITE, run with its own glibc through its own loader.
exec "$libs/ld-linux-x86-64.so.2" --library-path "$libs" "$CRIU_PREFIX/root/usr/sbin/criu" "\$@"
WRAP
  chmod 755 "$CRIU_PREFIX/criu"
  rm -rf "$CRIU_PREFIX/debs" "$CRIU_PREFIX/apt/cache"
  criu_works "$CRIU_PREFIX/criu" \
    || fail "CRIU >= $CRIU_MIN_VERSION required; the provisioned one is too old or fails \`criu check\`: $("$CRIU_PREFIX/criu" check 2>&1 | tail -3)"
  ln -sfn "$CRIU_PREFIX/criu" "$CRIU_LINK"
  say "  $("$CRIU_LINK" --version | head -1) ready at $CRIU_LINK"
}
