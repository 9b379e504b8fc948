# npm dependencies (exactly as locked) and the TypeScript build.

provision_node_modules() {
  local want have=""
  want="$(node --version) $(sha256sum "$ZANSHIN_ROOT/package-lock.json" | cut -d' ' -f1)"
  [ -f "$ZANSHIN_ROOT/node_modules/.zanshin-stamp" ] && have=$(cat "$ZANSHIN_ROOT/node_modules/.zanshin-stamp")
  if [ "$want" = "$have" ]; then
    say "  node_modules matches package-lock.json"
    return
  fi
  (cd "$ZANSHIN_ROOT" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci failed (see above)."
  echo "$want" > "$ZANSHIN_ROOT/node_modules/.zanshin-stamp"
}

build_typescript() {
  (cd "$ZANSHIN_ROOT" && npm run -s build) || fail "the TypeScript build failed (see above)."
  install_zanshin_command
}

# `zanshin` on PATH, from any directory: a link to this checkout's build (node follows it to find the repository).
install_zanshin_command() {
  local link=/usr/local/bin/zanshin target="$ZANSHIN_ROOT/dist/cli/zanshin.js"
  if [ "$(readlink "$link" 2>/dev/null)" != "$target" ]; then
    ln -sfn "$target" "$link" || fail "cannot link $link to $target"
    say "  zanshin -> $target"
  fi
}
