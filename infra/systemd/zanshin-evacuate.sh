#!/bin/sh
# Run at power-off on a classroom PC (zanshin-evacuate.service): asks Zanshin to move this PC's containers away and
# waits until they are moved or the deadline passes. Needs ZANSHIN_NODE_ID and TEMPORAL_ADDRESS; the temporal CLI
# and node on PATH. ZANSHIN_EVACUATION_DEADLINE (seconds, default 90) should stay below the unit's TimeoutStopSec.
# Through the Temporal gate (a real PC): TEMPORAL_TLS_CA, TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY (this PC's certificate)
# and TEMPORAL_TLS_SERVER_NAME (default temporal.zanshin), as for its node worker. Payloads are encrypted with the
# cluster key: ZANSHIN_CODEC_ENDPOINT names the codec server that reads the evacuation's status.
set -eu
: "${ZANSHIN_NODE_ID:?set ZANSHIN_NODE_ID to this PC's id}"
: "${TEMPORAL_ADDRESS:?set TEMPORAL_ADDRESS to the Temporal frontend, host:port}"
deadline="${ZANSHIN_EVACUATION_DEADLINE:-90}"
if [ -n "${TEMPORAL_TLS_CERT:-}" ]; then
  set -- --tls-ca-path "${TEMPORAL_TLS_CA:?set TEMPORAL_TLS_CA with TEMPORAL_TLS_CERT}" \
    --tls-cert-path "$TEMPORAL_TLS_CERT" --tls-key-path "${TEMPORAL_TLS_KEY:?set TEMPORAL_TLS_KEY}" \
    --tls-server-name "${TEMPORAL_TLS_SERVER_NAME:-temporal.zanshin}"
fi
temporal workflow signal-with-start --address "$TEMPORAL_ADDRESS" "$@" ${ZANSHIN_CODEC_ENDPOINT:+--codec-endpoint "$ZANSHIN_CODEC_ENDPOINT"} \
  --workflow-id "node-$ZANSHIN_NODE_ID" --type nodeLifecycle --task-queue zanshin-control \
  --input "{\"nodeId\":\"$ZANSHIN_NODE_ID\"}" \
  --signal-name shutdown --signal-input "{\"deadlineSeconds\":$deadline,\"reason\":\"power-off\"}"
end=$(( $(date +%s) + deadline + 30 ))
while [ "$(date +%s)" -lt "$end" ]; do
  # Done when the newest evacuation has finished.
  if temporal workflow query --address "$TEMPORAL_ADDRESS" "$@" ${ZANSHIN_CODEC_ENDPOINT:+--codec-endpoint "$ZANSHIN_CODEC_ENDPOINT"} --workflow-id "node-$ZANSHIN_NODE_ID" --name status -o json 2>/dev/null \
    | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);const q=r.queryResult?.[0]??r;const e=q.evacuations.at(-1);process.exit(e&&e.finishedAt?0:1)})'; then
    echo "zanshin: containers of $ZANSHIN_NODE_ID evacuated"
    exit 0
  fi
  sleep 2
done
echo "zanshin: evacuation of $ZANSHIN_NODE_ID not finished before the deadline" >&2
exit 1
