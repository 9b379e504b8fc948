#!/usr/bin/env bash
# Installs everything Zanshin needs on a Debian bookworm machine. Idempotent: a second run only checks.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for lib in common apt criu temporal-cli temporal-server temporal-ui init node; do source "$here/lib/$lib.sh"; done

require_root
command -v node >/dev/null || fail "Node.js 20 is required (node not found on PATH)."
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a===20&&b>=19?0:1)' \
  || fail "Node.js >= 20.19 < 21 is required; found $(node --version)."

t0=$SECONDS
step "Debian packages (runc, iptables, socat, openssl, PostgreSQL)" provision_apt
step "CRIU >= 4.2" provision_criu
step "Temporal CLI $TEMPORAL_CLI_VERSION" provision_temporal_cli
step "Temporal server (full, on PostgreSQL, with Zanshin's authorizer)" provision_temporal_server
step "Temporal Web UI (beside the full server)" provision_temporal_ui
step "zanshin-init and zanshin-hold (static helpers)" provision_init
step "npm dependencies" provision_node_modules
step "TypeScript build" build_typescript
# Guest PCs (QEMU, Debian's stock kernel with soft-dirty tracking): the kernel path's tests run in them.
step "guest PC kernel and initramfs" bash "$here/guest/build.sh"
# A Debian 12 PC with systemd, on which the install test puts Zanshin with infra/pc/install.sh.
step "Debian 12 PC image (mmdebstrap)" bash "$here/guest/build-debian-pc.sh"
say "provisioning finished in $((SECONDS - t0)) s"
