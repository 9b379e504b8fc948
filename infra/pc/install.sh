#!/usr/bin/env bash
# Installs Zanshin on a Debian 12 classroom PC, as root, from a PC bundle (infra/pc/bundle.sh on the control-plane
# host makes it). The first time it also enrolls the PC with the join token an administrator issued (`zanshin
# credential join-token <pc>`): the PC makes its own key, gets its certificate and credential over HTTPS.
#
#   first install:  install.sh --bundle zanshin-pc-<id>.tar.gz --node-id pc7 --address 10.1.2.37 \
#                     --temporal control.campus:7233 --api https://control.campus:8443 --ca ca.crt \
#                     --join-token-file token [--pool 10.77.7.0/24] [--set NAME=VALUE]...
#   upgrade:        install.sh --bundle zanshin-pc-<newer id>.tar.gz     (settings and enrollment are kept)
#
# Debian conventions: the program in /opt/zanshin (releases/<id>, `current` the one in use, the previous one kept
# for a rollback), settings and keys in /etc/zanshin (root only), data in /var/lib/zanshin, systemd units in
# /etc/systemd/system (zanshin-node, zanshin-fence, zanshin-evacuate), logs in the journal (journalctl -u 'zanshin-*').
# Debian's own packages come from apt: runc, iptables, iproute2, openssl, skopeo, umoci, busybox.
set -euo pipefail

PREFIX=/opt/zanshin
ETC=/etc/zanshin
DATA=/var/lib/zanshin
UNITS=(zanshin-fence zanshin-node zanshin-evacuate)
# busybox: its arping announces a container's address where it lands (gratuitous ARP).
DEBIAN_PACKAGES=(runc iptables iproute2 openssl skopeo umoci busybox)

say() { printf '[zanshin-install] %s\n' "$*"; }
fail() { printf '[zanshin-install] error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

bundle="" sha="" node_id="" address="" temporal="" api="" ca="" join_token_file="" pool="" start=1
extra=()
opts=$(getopt -o h --long help,bundle:,sha256:,node-id:,address:,temporal:,api:,ca:,join-token-file:,pool:,set:,no-start \
  -n install.sh -- "$@") || usage 2
eval set -- "$opts"
while true; do
  case "$1" in
    --bundle) bundle=$2; shift 2 ;;
    --sha256) sha=$2; shift 2 ;;
    --node-id) node_id=$2; shift 2 ;;
    --address) address=$2; shift 2 ;;
    --temporal) temporal=$2; shift 2 ;;
    --api) api=$2; shift 2 ;;
    --ca) ca=$2; shift 2 ;;
    --join-token-file) join_token_file=$2; shift 2 ;;
    --pool) pool=$2; shift 2 ;;
    --set) extra+=("$2"); shift 2 ;;
    --no-start) start=0; shift ;;
    -h | --help) usage 0 ;;
    --) shift; break ;;
  esac
done
[ $# -eq 0 ] || fail "unexpected argument: $1 (see --help)"

[ "$(id -u)" = 0 ] || fail "run as root: it installs systemd units and Zanshin manages runc containers (sudo $0 ...)"
[ "$(uname -m)" = x86_64 ] || fail "this bundle is for x86_64 PCs; this one is $(uname -m)"
[ -r /etc/debian_version ] || fail "not a Debian system (no /etc/debian_version): the script follows Debian's layout"
[ -d /run/systemd/system ] || fail "systemd is not running here: the node worker, fence and power-off run as its units"
[ -n "$bundle" ] || fail "give the bundle: --bundle zanshin-pc-<id>.tar.gz (infra/pc/bundle.sh makes it)"
[ -r "$bundle" ] || fail "cannot read the bundle $bundle"

# 1. The bundle, checked before anything of it runs: its sha256 from --sha256 or the .sha256 file beside it.
if [ -z "$sha" ]; then
  [ -r "$bundle.sha256" ] || fail "no $bundle.sha256 beside the bundle: give --sha256 <hex> (from the control host)"
  sha=$(cut -d' ' -f1 "$bundle.sha256")
fi
[[ "$sha" =~ ^[0-9a-f]{64}$ ]] || fail "--sha256 must be 64 hex digits, got '$sha'"
got=$(sha256sum "$bundle" | cut -d' ' -f1)
[ "$got" = "$sha" ] || fail "the bundle's sha256 is $got, expected $sha: copy it again"
name=$(basename "$bundle" .tar.gz)
[[ "$name" =~ ^zanshin-pc-[0-9a-f]{12}$ ]] || fail "$bundle is not named zanshin-pc-<id>.tar.gz"
id=${name#zanshin-pc-}

# 2. What Debian has: installed from apt when missing (nothing is fetched when all are there).
missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing from Debian: ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || fail "apt-get could not install ${missing[*]}"
fi

# 3. The release, unpacked beside the others; `current` switches to it only once it is complete.
release="$PREFIX/releases/$id"
if [ ! -f "$release/VERSION" ]; then
  say "unpacking release $id into $release"
  mkdir -p "$PREFIX/releases"
  rm -rf "$release.part" && mkdir "$release.part"
  tar -xzf "$bundle" -C "$release.part" --strip-components=1 --no-same-owner || fail "unpacking $bundle failed"
  [ -f "$release.part/VERSION" ] || fail "$bundle holds no VERSION: not a Zanshin PC bundle"
  mv "$release.part" "$release"
fi
"$release/node/bin/node" --version >/dev/null || fail "the bundle's Node does not run on this PC"
"$release/bin/criu" --version >/dev/null || fail "the bundle's CRIU does not run on this PC"
node="$release/node/bin/node"
install -d -m 0700 "$ETC" "$DATA"

# 4. Enrollment, the first time: the PC's key stays here; the token is single use.
if [ ! -f "$ETC/node-token" ]; then
  for opt in node_id address temporal api ca join_token_file; do
    [ -n "${!opt}" ] || fail "this PC is not enrolled yet: give --${opt//_/-} (and --node-id, --address, --temporal, --api, --ca, --join-token-file)"
  done
  [ -r "$join_token_file" ] || fail "cannot read the join token file $join_token_file"
  [ -r "$ca" ] || fail "cannot read the cluster CA $ca"
  say "enrolling $node_id with migration-api at $api"
  ZANSHIN_JOIN_TOKEN=$(tr -d ' \n' <"$join_token_file") "$node" "$release/app/dist/cli/enroll.js" \
    --api "$api" --node "$node_id" --ca "$ca" --dir "$ETC" || fail "enrollment failed (see above); ask for a new join token if it was used or expired"
fi

# 5. Settings: written the first time (or when given again); an upgrade keeps them.
if [ ! -f "$ETC/node.env" ] || [ -n "$node_id" ]; then
  for opt in node_id address temporal api; do
    [ -n "${!opt}" ] || fail "no $ETC/node.env yet: give --${opt//_/-}"
  done
  umask 077
  {
    echo "# Zanshin node settings (written by install.sh $(date -u +%FT%TZ)); see the README's configuration table."
    echo "ZANSHIN_NODE_ID=$node_id"
    echo "ZANSHIN_NODE_ADDRESS=$address"
    echo "ZANSHIN_NODE_DATA_DIR=$DATA"
    echo "TEMPORAL_ADDRESS=$temporal"
    echo "TEMPORAL_NAMESPACE=default"
    echo "TEMPORAL_TLS_CA=$ETC/ca.crt"
    echo "TEMPORAL_TLS_CERT=$ETC/node.crt"
    echo "TEMPORAL_TLS_KEY=$ETC/node.key"
    echo "ZANSHIN_API_URL=$api"
    echo "ZANSHIN_NODE_TOKEN_FILE=$ETC/node-token"
    [ -f "$ETC/payload-key" ] && echo "ZANSHIN_PAYLOAD_KEY_FILE=$ETC/payload-key"
    echo "ZANSHIN_CRIU=$PREFIX/current/bin/criu"
    echo "ZANSHIN_HELPERS_DIR=$PREFIX/current/libexec"
    # migration-api's certificate is of the cluster CA.
    echo "NODE_EXTRA_CA_CERTS=$ETC/ca.crt"
    [ -n "$pool" ] && echo "ZANSHIN_CONTAINER_POOL=$pool"
    for kv in "${extra[@]}"; do
      [[ "$kv" =~ ^[A-Z][A-Z0-9_]*=.*$ ]] || fail "--set takes NAME=VALUE, got '$kv'"
      echo "$kv"
    done
  } >"$ETC/node.env.part"
  mv "$ETC/node.env.part" "$ETC/node.env"
fi

# 6. Units, then the switch to the new release, then the services (restarted on an upgrade: containers stay).
for u in "${UNITS[@]}"; do install -m 0644 "$release/systemd/$u.service" "/etc/systemd/system/$u.service"; done
previous=$(readlink "$PREFIX/current" 2>/dev/null || true)
ln -sfn "releases/$id" "$PREFIX/current.part" && mv -T "$PREFIX/current.part" "$PREFIX/current"
# (enable reloads systemd's configuration itself: one reload, not two, on a slow PC.)
if [ "$start" = 1 ] && [ -n "$previous" ] && [ "$previous" != "releases/$id" ]; then
  say "upgrading from ${previous#releases/} to $id: restarting the worker and the fence"
  systemctl daemon-reload # the units may have changed; enable reloads only when it links something
  systemctl enable "${UNITS[@]/%/.service}" 2>/dev/null || fail "systemctl enable failed"
  systemctl restart zanshin-fence zanshin-node
  systemctl start zanshin-evacuate
elif [ "$start" = 1 ]; then
  systemctl enable --now "${UNITS[@]/%/.service}" 2>/dev/null || fail "systemctl enable --now failed: journalctl -u 'zanshin-*'"
else
  systemctl enable "${UNITS[@]/%/.service}" 2>/dev/null || fail "systemctl enable failed"
fi
if [ "$start" = 1 ]; then
  systemctl is-active --quiet zanshin-node || fail "zanshin-node did not start: journalctl -u zanshin-node"
fi
# Releases older than the current and the previous one go.
for old in "$PREFIX"/releases/*; do
  r="releases/$(basename "$old")"
  [ "$r" = "releases/$id" ] || [ "$r" = "$previous" ] || rm -rf "$old"
done
say "Zanshin $id installed on ${node_id:-this PC}: systemctl status zanshin-node; journalctl -u 'zanshin-*'"
