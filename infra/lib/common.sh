# Shared helpers for Zanshin's shell scripts. Sourced, never run.
# Paths and pinned versions live here so every script agrees on them.

ZANSHIN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Tools built or downloaded once per machine; survives fresh clones, so a second set-up costs nothing.
ZANSHIN_CACHE_DIR="${ZANSHIN_CACHE_DIR:-/var/cache/zanshin}"
ZANSHIN_BIN_DIR="$ZANSHIN_CACHE_DIR/bin"
TEMPORAL_CLI_MODULE="github.com/temporalio/cli/cmd/temporal"
# Newest CLI release whose go.mod has no replace directive (go install refuses those); needs Go >= 1.25.
TEMPORAL_CLI_VERSION="${ZANSHIN_TEMPORAL_CLI_VERSION:-v1.5.1}"
# rsync and podman: the baselines of npm run bench:migration.
# skopeo, umoci, docker-registry: containers from OCI images (node/images.ts; the tests run a local registry).
# chromium: the web view is tested in a real headless browser (test/integration/web-browser.test.ts).
APT_PACKAGES=(runc iptables socat openssl postgresql iproute2 util-linux busybox-static gcc libc6-dev tar rsync podman skopeo umoci docker-registry chromium)

say() { printf '\033[1m[zanshin]\033[0m %s\n' "$*"; }
fail() { printf '\033[31m[zanshin] error:\033[0m %s\n' "$*" >&2; exit 1; }

# Runs a step, printing its name and how long it took.
step() {
  local name="$1"; shift
  local t0=$SECONDS
  say "$name ..."
  "$@"
  say "$name: done in $((SECONDS - t0)) s"
}

require_root() {
  [ "$(id -u)" = 0 ] || fail "Zanshin manages network namespaces and runc containers and must run as root (try: sudo $0)."
}
