#!/usr/bin/env bash
# Held traffic vs dropped traffic (issue 29): why a TCP client waits longer than a move's downtime, and what holding
# its packets instead of dropping them changes. Two namespaces on a veth pair: a line echo server and a client that
# sends a line every 10 ms and records its longest wait for the answer. The server's INPUT is cut for DOWN seconds,
# once with DROP (what a move did) and once with NFQUEUE into zanshin-hold (packets wait, then pass at once).
#   infra/experiments/held-traffic/run.sh [DOWN-SECONDS] [ZANSHIN-HOLD-BINARY]
set -euo pipefail
down=${1:-4}
hold=${2:-/var/cache/zanshin/bin/zanshin-hold}
here=$(cd "$(dirname "$0")" && pwd)
cs=zxh-client ss=zxh-server
cleanup() { ip netns del $cs 2>/dev/null || true; ip netns del $ss 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add $cs && ip netns add $ss
ip link add zxh-c type veth peer name zxh-s
ip link set zxh-c netns $cs && ip link set zxh-s netns $ss
ip -n $cs addr add 10.99.9.1/24 dev zxh-c && ip -n $ss addr add 10.99.9.2/24 dev zxh-s
for n in $cs $ss; do ip -n $n link set lo up; done
ip -n $cs link set zxh-c up && ip -n $ss link set zxh-s up

ip netns exec $ss python3 "$here/echo.py" server 10.99.9.2 7000 &
server=$!
sleep 0.5

measure() { # $1: how the traffic is cut
  ip netns exec $cs python3 "$here/echo.py" client 10.99.9.2 7000 $((down + 6)) > /tmp/zxh-client.out &
  local client=$!
  sleep 2
  if [ "$1" = drop ]; then
    ip netns exec $ss iptables -w -A INPUT -i zxh-s -j DROP
    sleep "$down"
    ip netns exec $ss iptables -w -F INPUT
  else
    ip netns exec $ss iptables -w -A INPUT -i zxh-s -j NFQUEUE --queue-num 7
    coproc HOLD { exec ip netns exec $ss "$hold" 7; }
    read -r ready <&"${HOLD[0]}"
    sleep "$down"
    ip netns exec $ss iptables -w -F INPUT
    kill -USR1 "$HOLD_PID"
    read -r released <&"${HOLD[0]}"
    echo "  zanshin-hold: $ready, then $released"
  fi
  wait $client
  echo "  traffic cut for ${down} s by $1: client's longest wait $(cat /tmp/zxh-client.out) ms"
}
measure drop
measure hold
kill $server
