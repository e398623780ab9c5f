#!/usr/bin/env bash
# The main job: set up, build the sample guest (cached) and show what leapp tells about it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/install-debian-tools.sh --sample
sample=$(node scripts/build-sample.mjs)
exec node scripts/show-sample.mjs "$sample"
