#!/usr/bin/env bash
# The README's test command (npm test): provisions what is missing, then lint, type check, and every jest test
# (unit, and integration against real PostgreSQL, Temporal, runc/CRIU and network namespaces).
# Extra arguments go to jest, e.g. `npm test -- test/unit`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/lib/common.sh"

bash "$here/provision.sh"
cd "$ZANSHIN_ROOT"
step "format (prettier --check)" npx --no-install prettier --check --log-level warn "**/*.{ts,js}"
step "lint (eslint, layers included)" npx --no-install eslint .
step "type check (tsc --noEmit)" npx --no-install tsc -p tsconfig.json --noEmit
# Our Go code (infra/temporal-server/: the authorizer; infra/temporal-ui/): gofmt, then the authorizer's Go tests.
go_bin=$(command -v go || echo /usr/local/go/bin/go)
unformatted=$(cd infra && "$(dirname "$go_bin")/gofmt" -l temporal-server temporal-ui)
[ -z "$unformatted" ] || fail "Go files not gofmt-formatted in infra/: $unformatted (run gofmt -w)"
step "go test (Temporal server authorizer)" bash -c "cd infra/temporal-server && '$go_bin' test -mod=readonly ./..."

results="$(mktemp --suffix=.json)"
trap 'rm -f "$results"' EXIT
say "jest (integration tests start their own servers, namespaces and processes and remove them)"
set +e
npx --no-install jest --runInBand --json --outputFile="$results" "$@"
status=$?
set -e
if [ -s "$results" ]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = r.numPendingTests + r.numTodoTests;
    // A suite that cannot even run has no failed test of its own: count it as a failure.
    const failed = r.numFailedTests + r.numRuntimeErrorTestSuites;
    // Where the time goes (CI budget: 45 minutes in all), slowest suites first.
    const root = process.cwd() + "/";
    for (const t of [...r.testResults].sort((a, b) => (b.endTime - b.startTime) - (a.endTime - a.startTime)).slice(0, 12))
      console.log(`  ${((t.endTime - t.startTime) / 1000).toFixed(0).padStart(5)} s  ${t.name.replace(root, "")}`);
    console.log(`tests: ${r.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
    if (r.numTotalTests === 0) { console.error("no test ran"); process.exit(1); }
  ' "$results" || status=1
fi
exit $status
