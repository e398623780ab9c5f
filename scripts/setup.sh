#!/usr/bin/env bash
# Brings a machine with only Node and npm to a built workspace: pnpm at the version pinned in
# package.json's packageManager field, the locked dependencies, and every package built.
# Quick when all is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(node -p "require('./package.json').packageManager.replace(/^pnpm@/, '')")
if [ "$(pnpm --version 2>/dev/null || true)" != "$want" ]; then
  echo "setup: installing pnpm $want" >&2
  if ! npm install -g "pnpm@$want" --no-fund --no-audit --loglevel=error >&2; then
    # No write access to npm's global prefix: install under the user's cache instead.
    prefix="${HOME}/.cache/leapp/pnpm-$want"
    npm install --prefix "$prefix" "pnpm@$want" --no-fund --no-audit --loglevel=error >&2
    export PATH="$prefix/node_modules/.bin:$PATH"
  fi
fi

echo "setup: installing dependencies (pnpm install --frozen-lockfile)" >&2
pnpm install --frozen-lockfile --reporter=append-only >&2
echo "setup: building packages" >&2
pnpm turbo run build --output-logs=errors-only >&2
