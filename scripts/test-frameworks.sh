#!/usr/bin/env bash
# Framework apps that are too heavy for `npm test` (Next.js installs ~340 MB): each is
# built from the packed package and pays once in headless Chromium against the gateway.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/setup.sh
payonce_setup
bash scripts/build.sh

echo "== Next.js app (npm ci in tests/frameworks/next, about 20 seconds)"
(cd tests/frameworks/next && npm ci --no-audit --no-fund --loglevel=error)
node --test --test-concurrency=1 tests/frameworks/
