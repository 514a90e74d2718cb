#!/usr/bin/env bash
# Sets up what is missing, builds the release package and serves the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
exec node www/gateway.mjs "${PORT:-8080}"
