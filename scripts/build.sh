#!/usr/bin/env bash
# Builds the release package into pkg/: cargo (opt-level z, LTO), wasm-bindgen
# through wasm-pack, wasm-opt from npm's binaryen, the glue bundled and minified
# with esbuild, the import names shortened, and the module written into the JS
# (pkg/payonce.js and pkg/payonce.d.ts are the package).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
payonce_setup

rm -rf pkg
# The module names the source files of a few library panic paths (uuid, js-sys, alloc).
# Written machine-independently, so the same commit builds the same bytes wherever cargo
# and the clone live, and the size budget measures the code, not the paths.
export RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}/registry/src=/cargo --remap-path-prefix=$PWD=/payonce"
# wasm-pack's own version check asks the network and says so on every build; that
# line is dropped, and its exit status is kept.
status=0
wasm-pack build --release --target web --out-dir pkg --out-name payonce --no-pack --no-opt --no-typescript 2>&1 \
  | { grep -v "failed to get wasm-pack version" || true; } || status=$?
if [ "$status" -ne 0 ] || [ ! -f pkg/payonce_bg.wasm ]; then
  echo "build: FAILED: wasm-pack build exited with $status and left no pkg/payonce_bg.wasm; its output is above" >&2
  exit 1
fi

wasm_opt="$(pwd)/node_modules/.bin/wasm-opt"
wasm_opt_version="$("$wasm_opt" --version 2>/dev/null | grep -oE 'version [0-9]+' | grep -oE '[0-9]+' || true)"
if [ "${wasm_opt_version:-0}" -lt 110 ]; then
  echo "build: FAILED: wasm-opt from npm's binaryen >= 110 is required (found '${wasm_opt_version:-none}' at $wasm_opt)" >&2
  echo "build: to fix: run 'npm ci' in $(pwd)" >&2
  exit 1
fi
# -Oz, then the control flow rebuilt (--flatten --rereloop) and -Oz again until the
# size stops falling; the target-features section is for tools, not browsers. Each
# measured (bench/RESULTS.md, build experiments): 40,287 -> 39,730 bytes gzip.
# A function with one caller is inlined into it only when small (-ocimfs 15, binaryen's
# default inlines every one): the module grows (137,476 -> 139,217 bytes) but
# compresses better, as bodies kept apart repeat each other's shapes: pkg/payonce.js
# 67,148 -> 65,656 bytes gzip -9 (10: 65,733; 20: 65,665; 0 in the raw module: 57,652
# against 57,268 for 15).
"$wasm_opt" -Oz --flatten --rereloop -Oz --converge -ocimfs 15 --strip-debug --strip-producers --strip-target-features \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
  pkg/payonce_bg.wasm -o pkg/payonce_bg.wasm
# What the glue does with a module it is not handed is dropped: entry.js always hands it
# the module's bytes (from inside payonce.js) or a compiled WebAssembly.Module, never a
# URL, a Request or a Response. So go its default location (`new URL('payonce_bg.wasm',
# import.meta.url)`, which bundlers ship as an asset), its fetch of a URL or Request,
# and its Response path (instantiateStreaming and its MIME type warning); and the
# TextEncoder.encodeInto fallback, which every browser payonce loads in has (Chrome 74,
# Firefox 66, Safari 14.1). Each must be found exactly once, so a wasm-bindgen that
# writes the glue differently stops the build here.
node -e '
const fs = require("fs");
const file = "pkg/payonce.js";
let glue = fs.readFileSync(file, "utf8");
const cuts = [
  ["its default .wasm", /if \(module_or_path === undefined\) \{\s*module_or_path = new URL\(.payonce_bg\.wasm., import\.meta\.url\);\s*\}/g, ""],
  ["its fetch of a URL", /if \(typeof module_or_path === .string. \|\| \(typeof Request === .function. && module_or_path instanceof Request\) \|\| \(typeof URL === .function. && module_or_path instanceof URL\)\) \{\s*module_or_path = fetch\(module_or_path\);\s*\}/g, ""],
  ["its Response path", /\n {4}if \(typeof Response === .function. && module instanceof Response\) \{\n[\s\S]*?instantiateStreaming[\s\S]*?\n {4}\} else \{\n( {8}const instance = await WebAssembly\.instantiate\(module, imports\);[\s\S]*?)\n {4}\}\n\n {4}function expectedResponseType\(type\) \{[\s\S]*?\n {4}\}\n\}\n/g, "\n$1\n}\n"],
  ["its encodeInto fallback", /\nif \(!\(.encodeInto. in cachedTextEncoder\)\) \{\n[\s\S]*?\n\}\n/g, "\n"],
];
for (const [what, re, by] of cuts) {
  const n = (glue.match(re) || []).length;
  if (n !== 1) { console.error(`build: FAILED: the glue holds ${what} ${n} times, not once; compare ${file} with what this step expects`); process.exit(1); }
  glue = glue.replace(re, by);
}
if (/instantiateStreaming|encodeInto = function|fetch\(module_or_path\)/.test(glue)) { console.error(`build: FAILED: ${file} still holds a path this step drops`); process.exit(1); }
fs.writeFileSync(file, glue);
'
# One JS module, not many: src/entry.js (the package's entry: it exports the declared
# API and lets payments wait for init), wasm-bindgen's glue, and the files of src/js/,
# which wasm-bindgen copies to pkg/snippets/ and a page loading the glue as a native ES
# module would fetch in more round trips. Each copy is made a re-export of its source
# file, so that the entry (which imports src/js/values.js itself) and the glue share one
# copy of each. Minified: it is what a page without a bundler loads.
for snippet in pkg/snippets/*/src/js/*.js; do
  printf "export * from '%s';\n" "$PWD/src/js/$(basename "$snippet")" > "$snippet"
done
"$(pwd)/node_modules/.bin/esbuild" src/entry.js --bundle --minify --format=esm --platform=browser \
  --outfile=pkg/payonce.js --allow-overwrite --log-level=warning --log-override:duplicate-object-key=silent
rm -rf pkg/snippets
# wasm-bindgen's hashed import names, shortened in the .wasm and the glue together.
node scripts/shorten-imports.mjs pkg/payonce_bg.wasm pkg/payonce.js
# The module itself, compressed, into payonce.js: a page makes one request, not two
# (bench/RESULTS.md, cold start). The .wasm is not shipped.
node scripts/inline-module.mjs pkg/payonce_bg.wasm pkg/payonce.js
wasm_bytes="$(wc -c < pkg/payonce_bg.wasm)"
wasm_gzip="$(gzip -9c pkg/payonce_bg.wasm | wc -c)"
rm -f pkg/payonce_bg.wasm pkg/.gitignore
# The declarations are written by hand (wasm-bindgen's would declare the glue's exports
# and the raw wasm exports as `any`); tests/types checks them against the module.
cp src/payonce.d.ts pkg/payonce.d.ts
printf 'build: the module %s bytes (%s gzipped alone), pkg/payonce.js with it inside %s bytes (%s gzipped)\n' \
  "$wasm_bytes" "$wasm_gzip" "$(wc -c < pkg/payonce.js)" "$(gzip -9c pkg/payonce.js | wc -c)"
