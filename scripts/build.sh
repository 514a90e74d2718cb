#!/usr/bin/env bash
# Builds the release package into pkg/: cargo (opt-level z, LTO), wasm-bindgen
# through wasm-pack, then wasm-opt -Oz from npm's binaryen.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
payonce_setup

wasm-pack build --release --target web --out-dir pkg --out-name payonce --no-pack --no-opt 2>&1 \
  | grep -v "failed to get wasm-pack version" || true
test -f pkg/payonce_bg.wasm || { echo "build: wasm-pack produced no pkg/payonce_bg.wasm" >&2; exit 1; }

wasm_opt="$(pwd)/node_modules/.bin/wasm-opt"
"$wasm_opt" --version | grep -q "version 1[1-9][0-9]" || { echo "build: wasm-opt from npm binaryen >= 110 is required" >&2; exit 1; }
"$wasm_opt" -Oz --strip-debug --strip-producers \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
  pkg/payonce_bg.wasm -o pkg/payonce_bg.wasm
# One JS module, not two: wasm-bindgen puts driver.js in pkg/snippets/, which a page
# loading the glue as a native ES module would fetch in a second round trip.
"$(pwd)/node_modules/.bin/esbuild" pkg/payonce.js --bundle --format=esm --platform=browser \
  --outfile=pkg/payonce.js --allow-overwrite --log-level=warning --log-override:duplicate-object-key=silent
rm -rf pkg/snippets
rm -f pkg/.gitignore
printf 'build: pkg/payonce_bg.wasm %s bytes (%s gzipped), pkg/payonce.js %s bytes\n' \
  "$(wc -c < pkg/payonce_bg.wasm)" "$(gzip -9c pkg/payonce_bg.wasm | wc -c)" "$(wc -c < pkg/payonce.js)"
