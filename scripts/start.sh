#!/usr/bin/env bash
# Sets up what is missing, builds the release package and serves the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
# Serving the demo drives no browser: set-up skips Firefox, WebKit and geckodriver (minutes
# to install), which npm test installs.
export PAYONCE_ENGINES="${PAYONCE_ENGINES:-chromium}"
bash scripts/build.sh
exec node www/gateway.mjs "${PORT:-8080}"
