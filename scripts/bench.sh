#!/usr/bin/env bash
# Builds the release package and runs the benchmark (figures, not pass/fail).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
source scripts/setup.sh
payonce_setup
if ! command -v twiggy >/dev/null 2>&1; then
  echo "bench: installing twiggy (about 2 minutes), to show what takes the space"
  cargo install twiggy --version 0.8.0 --locked
fi
node bench/run.mjs "$@"
