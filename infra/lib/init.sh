# The project's small static binaries, rebuilt only when their source changes:
#   zanshin-init (infra/images/zanshin-init.c), the first process of every container; node workers copy it into each
#   container's rootfs.
#   zanshin-hold (infra/images/zanshin-hold.c), which holds a moving container's incoming packets until it runs again.
#   zanshin-nothp (infra/images/zanshin-nothp.c), which runs runc restore with transparent huge pages off.
# Static, so that guest PCs (which see the host's files) run them whatever their libc.

ZANSHIN_INIT="$ZANSHIN_BIN_DIR/zanshin-init"

build_static() { # name: infra/images/<name>.c -> $ZANSHIN_BIN_DIR/<name>
  local name=$1 src="$ZANSHIN_ROOT/infra/images/$1.c" out="$ZANSHIN_BIN_DIR/$1" want have=""
  want=$(sha256sum "$src" | cut -d' ' -f1)
  [ -f "$out.sha256" ] && have=$(cat "$out.sha256")
  if [ -x "$out" ] && [ "$want" = "$have" ]; then
    say "  cached: $out"
    return
  fi
  mkdir -p "$ZANSHIN_BIN_DIR"
  gcc -static -O2 -Wall -o "$out.tmp" "$src" || fail "compiling $name failed (gcc and libc6-dev needed)."
  mv "$out.tmp" "$out"
  echo "$want" > "$out.sha256"
  say "  built $out"
}

provision_init() {
  build_static zanshin-init
  build_static zanshin-hold
  build_static zanshin-nothp
}
