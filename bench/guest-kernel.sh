#!/usr/bin/env bash
# The paper's measurements of the kernel path (differential checkpoints with soft-dirty), in guest PCs: RUNS guests
# (default 3) each run infra/guest/paper-measurements.sh; prints every run and the median of each figure.
# TCG guests are ~30x slower than the host: read the ratios, not the seconds. Run: npm run bench:guest (as root).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
runs=${RUNS:-3}
lines=()
for i in $(seq "$runs"); do
  echo "[bench:guest] run $i of $runs (a guest boots, ~3 min)" >&2
  line=$(bash "$here/../infra/guest/run.sh" "$here/../infra/guest/paper-measurements.sh" 900 | grep '^paper-measurements:' | tr -d '\r')
  echo "$line"
  lines+=("$line")
done
printf '%s\n' "${lines[@]}" | node -e '
  const runs = require("fs").readFileSync(0, "utf8").trim().split("\n").map((l) =>
    Object.fromEntries([...l.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1], Number(m[2])])));
  const med = (k) => { const v = runs.map((r) => r[k]).sort((a, b) => a - b); return v[Math.floor(v.length / 2)]; };
  const s = (k) => (med(k) / 1000).toFixed(2);
  console.log(`medians of ${runs.length} runs (TCG guest, 2 vCPUs; MIB=${process.env.MIB ?? 64} counter, 20 dirty pages/s):`);
  console.log(`| | plain | with tracking | ratio |`);
  console.log(`|---|---|---|---|`);
  console.log(`| checkpoint (full dump) | ${s("plain_dump_ms")} s | ${s("tracked_dump_ms")} s | ${(med("tracked_dump_ms") / med("plain_dump_ms")).toFixed(2)} |`);
  console.log(`| differential checkpoint (10 s after restore) | | ${s("differential_dump_ms")} s | ${(med("differential_dump_ms") / med("plain_dump_ms")).toFixed(2)} of a plain one |`);
  console.log(`| restore | ${s("restore_ms")} s | ${s("restore_tracked_ms")} s (+ inventory rewrite ${s("inventory_rewrite_ms")} s in a fresh node) | ${(med("restore_tracked_ms") / med("restore_ms")).toFixed(2)} |`);
  console.log(`pages sent for the same interval: kernel ${med("kernel_pages")}, content hashing ${med("content_pages")} (of ${med("full_pages")})`);
'
