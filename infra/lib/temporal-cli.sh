# The Temporal CLI (dev server with SQLite persistence and the Web UI), built from its Go module at a pinned
# version, because no server binary can be downloaded here.

TEMPORAL_DIR="$ZANSHIN_CACHE_DIR/temporal-cli-$TEMPORAL_CLI_VERSION"
TEMPORAL_LINK="$ZANSHIN_BIN_DIR/temporal"

provision_temporal_cli() {
  mkdir -p "$ZANSHIN_BIN_DIR"
  if [ -x "$TEMPORAL_DIR/temporal" ] && "$TEMPORAL_DIR/temporal" --version >/dev/null 2>&1; then
    ln -sfn "$TEMPORAL_DIR/temporal" "$TEMPORAL_LINK"
    say "  cached: $("$TEMPORAL_LINK" --version)"
    return
  fi
  local go_bin
  go_bin=$(command -v go || echo /usr/local/go/bin/go)
  [ -x "$go_bin" ] || fail "Go >= 1.25 is needed to build the Temporal CLI and none was found (install Go, or set PATH)."
  local gov
  gov=$("$go_bin" env GOVERSION | sed 's/^go//')
  case "$gov" in 1.2[5-9]*|1.[3-9]*) ;; *) fail "Go >= 1.25 is needed to build the Temporal CLI $TEMPORAL_CLI_VERSION; found $gov." ;; esac
  say "  building $TEMPORAL_CLI_MODULE@$TEMPORAL_CLI_VERSION with Go $gov (about 2-3 minutes the first time)"
  local tmp
  tmp=$(mktemp -d)
  GOBIN="$tmp" GOFLAGS=-mod=mod "$go_bin" install -ldflags "-s -w" "$TEMPORAL_CLI_MODULE@$TEMPORAL_CLI_VERSION" \
    || { rm -rf "$tmp"; fail "building the Temporal CLI failed (see the Go output above)."; }
  mkdir -p "$TEMPORAL_DIR"
  mv "$tmp/temporal" "$TEMPORAL_DIR/temporal"
  rm -rf "$tmp"
  ln -sfn "$TEMPORAL_DIR/temporal" "$TEMPORAL_LINK"
  say "  built: $("$TEMPORAL_LINK" --version)"
}
