#!/usr/bin/env bash
# Every test: set-up, the Debian tools the tiers need, build, typecheck, lint, publint, then the
# unit, integration and slow tiers in one vitest run. Ends with one line "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

bash scripts/setup.sh || exit 1
bash scripts/install-debian-tools.sh || exit 1

echo "== typecheck, lint, publint" >&2
pnpm turbo run typecheck lint publint --output-logs=errors-only || { echo "0 passed, 1 failed (typecheck/lint/publint)"; exit 1; }
pnpm exec tsc --noEmit -p tsconfig.json || { echo "0 passed, 1 failed (root typecheck)"; exit 1; }
pnpm exec eslint scripts tests bench vitest.config.ts eslint.config.js || { echo "0 passed, 1 failed (root lint)"; exit 1; }

echo "== tests: unit, integration, slow" >&2
mkdir -p test-results
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json
status=$?
node scripts/test-summary.mjs test-results/vitest.json "$status" "$started"
