#!/usr/bin/env bash
# The README's main command (npm run demo): provisions what is missing, brings the local cluster up
# (or keeps the running one), and runs the main job on it, then shows how to look and how to stop.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/lib/common.sh"

bash "$here/provision.sh"
cd "$ZANSHIN_ROOT"
step "local cluster" node dist/infra/cluster/cli.js start
say "every PC answers through Temporal (workflow probeNode on zanshin-control, activity on node-<pc>)"
node dist/infra/cluster/cli.js probe
say "main job: redis (Debian) with a client on the LAN holding one connection; a lecture on pc1 moves it away (rebalancing); its new PC powers off and evacuation brings it back to pc1's remnant"
node dist/infra/cluster/cli.js demo
cat <<TXT

The cluster keeps running. Next:
  npm run cluster -- status     each part up or down
  npm run cluster -- stop       stop everything this cluster started
  Temporal Web UI               http://127.0.0.1:${ZANSHIN_TEMPORAL_UI_PORT:-8233}
  Zanshin's web view            http://127.0.0.1:${ZANSHIN_API_PORT:-8787}/ (log in with ${ZANSHIN_DATA_DIR:-.zanshin}/secrets/admin-token)
TXT
