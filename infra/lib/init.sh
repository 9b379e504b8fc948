# zanshin-init, the first process of every container (infra/images/zanshin-init.c): a static binary that node
# workers copy into each container's rootfs. Rebuilt only when its source changes.

ZANSHIN_INIT="$ZANSHIN_BIN_DIR/zanshin-init"

provision_init() {
  local src="$ZANSHIN_ROOT/infra/images/zanshin-init.c" want have=""
  want=$(sha256sum "$src" | cut -d' ' -f1)
  [ -f "$ZANSHIN_INIT.sha256" ] && have=$(cat "$ZANSHIN_INIT.sha256")
  if [ -x "$ZANSHIN_INIT" ] && [ "$want" = "$have" ]; then
    say "  cached: $ZANSHIN_INIT"
    return
  fi
  mkdir -p "$ZANSHIN_BIN_DIR"
  gcc -static -O2 -Wall -o "$ZANSHIN_INIT.tmp" "$src" || fail "compiling zanshin-init failed (gcc and libc6-dev needed)."
  mv "$ZANSHIN_INIT.tmp" "$ZANSHIN_INIT"
  echo "$want" > "$ZANSHIN_INIT.sha256"
  say "  built $ZANSHIN_INIT"
}
