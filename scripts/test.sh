#!/usr/bin/env bash
# Every test payonce has: lints, native core tests, browser tests, then the release
# build end to end against the local gateway. The browser and end-to-end tests run in
# each of three engines: Chromium (headless), Firefox ESR (headless) and WebKitGTK
# (on an Xvfb of its own, scripts/with-display.sh: it has no headless mode).
# PAYONCE_ENGINES limits them (default: all three).
# Installs whatever is missing first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

engines="${PAYONCE_ENGINES:-chromium firefox webkit}"
for engine in $engines; do
  case "$engine" in
    chromium | firefox | webkit) ;;
    *) echo "test: PAYONCE_ENGINES has '$engine'; the engines are chromium, firefox and webkit" >&2; exit 2 ;;
  esac
done
has_engine() { [[ " $engines " == *" $1 "* ]]; }
# The engine's version as its package reports it (never fails: it only labels a step).
engine_version() {
  case "$1" in
    chromium) chromium --version 2>/dev/null || true ;;
    firefox) firefox-esr --version 2>/dev/null || true ;;
    webkit) echo "WebKitGTK $(dpkg-query -W -f='${Version}' libwebkit2gtk-4.1-0 2>/dev/null || true)" ;;
  esac
}

# First, the set-up itself as a fresh machine meets it (stand-in installers, a second).
step "set-up (scripts/setup.sh on a simulated fresh machine)"
node --test tests/setup/

step "set-up (this machine: installs what is missing)"
source scripts/setup.sh
payonce_setup

step "format"
cargo fmt --check

step "clippy (host and wasm32)"
cargo clippy --all-targets --locked -- -D warnings
# The shipped no_std build, then everything (tests link std: feature "std").
cargo clippy --lib --locked --target wasm32-unknown-unknown -- -D warnings
cargo clippy --all-targets --locked --target wasm32-unknown-unknown --features std -- -D warnings

step "core tests (native)"
cargo test --locked

if has_engine chromium; then
  step "browser tests in Chromium: $(engine_version chromium) (wasm-pack test --headless --chrome)"
  wasm-pack test --headless --chrome -- --features std
fi
if has_engine firefox; then
  step "browser tests in Firefox: $(engine_version firefox) (wasm-pack test --headless --firefox, geckodriver)"
  wasm-pack test --headless --firefox -- --features std
fi
if has_engine webkit; then
  # Both --safari and --safaridriver: the runner's "Safari" driver is WebKitWebDriver here.
  # An Xvfb that never resets, not xvfb-run's (scripts/with-display.sh says why).
  step "browser tests in WebKit: $(engine_version webkit) (wasm-pack test --safari, WebKitWebDriver, on Xvfb)"
  bash scripts/with-display.sh wasm-pack test --headless --safari --safaridriver "$(command -v WebKitWebDriver)" -- --features std
fi

step "release build"
node --test tests/build/
bash scripts/build.sh

step "size budget (tests/size/budget.json: the packed JS and .wasm, gzip -9)"
node --test tests/size/

step "TypeScript declarations (tsc --strict on tests/types; exports against declarations)"
tsc -p tests/types
tsc -p tests/types/tsconfig.nodom.json
node --test tests/types/

step "package metadata (publint --strict on the packed files)"
publint --strict

# The same test files, the same assertions, once per engine (tests/e2e/harness.mjs).
# harness.test.mjs also starts this engine in ways that must fail (a missing driver, a
# browser that exits or never answers; for WebKit, a display that does not exist).
for engine in $engines; do
  step "end-to-end tests in $engine: $(engine_version "$engine") (release build, local gateway)"
  if [ "$engine" = webkit ]; then
    PAYONCE_ENGINE=webkit bash scripts/with-display.sh node --test --test-concurrency=1 tests/e2e/
  else
    PAYONCE_ENGINE="$engine" node --test --test-concurrency=1 tests/e2e/
  fi
done
