#!/usr/bin/env bash
# `npm test`: lint (with Nx module boundaries), typecheck, unit tests of every project, then the
# local-cluster integration tier. Ends with one "N passed, N failed" line over all test runs.
set -uo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
export NODE_OPTIONS="--experimental-vm-modules --no-warnings=ExperimentalWarning"
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
status=0

echo "== lint and typecheck (nx)"
nx run-many -t lint typecheck --outputStyle=static || status=1

echo "== unit tests"
jest --ci --json --outputFile="$results/unit.json" || status=1

echo "== Go unit tests of the Linkerd stand-ins"
(cd e2e/cluster/standins && CGO_ENABLED=0 go test -json ./...) | node scripts/go-test-summary.mjs "$results/go-standins.json" || status=1

if [ -f e2e/jest.integration.js ]; then
  echo "== local-cluster integration tests"
  jest --ci -c e2e/jest.integration.js --json --outputFile="$results/integration.json" || status=1
fi

echo "== kind tier (skipped without a Docker engine)"
jest --ci -c e2e/kind/jest.kind.js --json --outputFile="$results/kind.json" || status=1

node scripts/summarize-jest.mjs "$results"/*.json || status=1
exit $status
