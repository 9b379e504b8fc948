# Temporal's own server (issue 32: `cluster start --temporal server`), built once from its Go module with Zanshin's
# authorizer (infra/temporal-server/: main module of our own, pinned by its go.sum), with Temporal's SQL tool and
# the PostgreSQL schema it applies. Cached per version and per source hash: a change to our Go code builds again.

TEMPORAL_SERVER_SRC="$ZANSHIN_ROOT/infra/temporal-server"
TEMPORAL_SERVER_LINK="$ZANSHIN_CACHE_DIR/temporal-server"

temporal_server_dir() {
  local version hash
  version=$(sed -n 's#^\(require\)\{0,1\}[[:space:]]*go\.temporal\.io/server \(v[^ ]*\).*#\2#p' "$TEMPORAL_SERVER_SRC/go.mod" | head -1)
  [ -n "$version" ] || fail "no go.temporal.io/server version in $TEMPORAL_SERVER_SRC/go.mod"
  hash=$(cat "$TEMPORAL_SERVER_SRC"/go.mod "$TEMPORAL_SERVER_SRC"/go.sum "$TEMPORAL_SERVER_SRC"/*.go | sha256sum | cut -c1-12)
  echo "$ZANSHIN_CACHE_DIR/temporal-server-$version-$hash"
}

provision_temporal_server() {
  local dir
  dir=$(temporal_server_dir)
  if [ -x "$dir/zanshin-temporal" ] && [ -x "$dir/temporal-sql-tool" ] && [ -d "$dir/schema/postgresql/v12" ]; then
    ln -sfn "$dir" "$TEMPORAL_SERVER_LINK"
    say "  cached: $dir"
    return
  fi
  local go_bin
  go_bin=$(command -v go || echo /usr/local/go/bin/go)
  [ -x "$go_bin" ] || fail "Go >= 1.26.8 is needed to build the Temporal server and none was found (install Go, or set PATH)."
  say "  building the Temporal server and its SQL tool from $TEMPORAL_SERVER_SRC (about 15 minutes on 2 cores the first time)"
  local tmp t0=$SECONDS
  tmp=$(mktemp -d)
  (
    cd "$TEMPORAL_SERVER_SRC"
    "$go_bin" build -mod=readonly -trimpath -ldflags "-s -w" -o "$tmp/zanshin-temporal" . &&
      "$go_bin" build -mod=readonly -trimpath -ldflags "-s -w" -o "$tmp/temporal-sql-tool" go.temporal.io/server/cmd/tools/sql &&
      mkdir -p "$tmp/schema" &&
      cp -r "$("$go_bin" list -mod=readonly -m -f '{{.Dir}}' go.temporal.io/server)/schema/postgresql" "$tmp/schema/" &&
      chmod -R u+w "$tmp/schema"
  ) || { rm -rf "$tmp"; fail "building the Temporal server failed (see the Go output above)."; }
  rm -rf "$dir"
  mv "$tmp" "$dir"
  chmod 755 "$dir"
  ln -sfn "$dir" "$TEMPORAL_SERVER_LINK"
  say "  built in $((SECONDS - t0)) s: $dir"
  # Builds of earlier sources (140 MB each) go; a server still running from one keeps its open files.
  find "$ZANSHIN_CACHE_DIR" -maxdepth 1 -name 'temporal-server-*' ! -path "$dir" -exec rm -rf {} +
}
