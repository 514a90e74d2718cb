#!/usr/bin/env bash
# Builds the release package and runs the benchmark (figures, not pass/fail).
set -euo pipefail
cd "$(dirname "$0")/.."
# The benchmark runs in Chromium only: set-up skips Firefox, WebKit and geckodriver, which
# npm test installs.
export PAYONCE_ENGINES="${PAYONCE_ENGINES:-chromium}"
bash scripts/build.sh
source scripts/setup.sh
payonce_setup
# twiggy shows what takes the space in the module.
[ -n "$(payonce_version twiggy)" ] || payonce_cargo_install twiggy 0.8.0 2 --locked
node bench/run.mjs "$@"
