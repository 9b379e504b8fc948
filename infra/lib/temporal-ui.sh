# The Temporal Web UI beside the full server (issue 32): Temporal's ui-server module (its assets are embedded) in a
# small main module of our own (infra/temporal-ui/, pinned by its go.sum). Cached per version and source hash.

TEMPORAL_UI_SRC="$ZANSHIN_ROOT/infra/temporal-ui"
TEMPORAL_UI_LINK="$ZANSHIN_CACHE_DIR/temporal-ui"

provision_temporal_ui() {
  local version hash dir
  version=$(sed -n 's#^\(require\)\{0,1\}[[:space:]]*github\.com/temporalio/ui-server/v2 \(v[^ ]*\).*#\2#p' "$TEMPORAL_UI_SRC/go.mod" | head -1)
  [ -n "$version" ] || fail "no github.com/temporalio/ui-server/v2 version in $TEMPORAL_UI_SRC/go.mod"
  hash=$(cat "$TEMPORAL_UI_SRC"/go.mod "$TEMPORAL_UI_SRC"/go.sum "$TEMPORAL_UI_SRC"/*.go | sha256sum | cut -c1-12)
  dir="$ZANSHIN_CACHE_DIR/temporal-ui-$version-$hash"
  if [ -x "$dir/zanshin-temporal-ui" ]; then
    ln -sfn "$dir" "$TEMPORAL_UI_LINK"
    say "  cached: $dir"
    return
  fi
  local go_bin tmp t0=$SECONDS
  go_bin=$(command -v go || echo /usr/local/go/bin/go)
  [ -x "$go_bin" ] || fail "Go >= 1.26.5 is needed to build the Temporal Web UI and none was found (install Go, or set PATH)."
  say "  building the Temporal Web UI ($version) from $TEMPORAL_UI_SRC"
  tmp=$(mktemp -d)
  (cd "$TEMPORAL_UI_SRC" && "$go_bin" build -mod=readonly -trimpath -ldflags "-s -w" -o "$tmp/zanshin-temporal-ui" .) \
    || { rm -rf "$tmp"; fail "building the Temporal Web UI failed (see the Go output above)."; }
  rm -rf "$dir"
  mv "$tmp" "$dir"
  chmod 755 "$dir"
  ln -sfn "$dir" "$TEMPORAL_UI_LINK"
  say "  built in $((SECONDS - t0)) s: $dir"
  find "$ZANSHIN_CACHE_DIR" -maxdepth 1 -name 'temporal-ui-*' ! -path "$dir" -exec rm -rf {} +
}
