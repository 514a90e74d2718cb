#!/usr/bin/env bash
# Every test payonce has: lints, native core tests, browser tests in headless
# Chromium, then the release build end to end against the local gateway.
# Installs whatever is missing first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

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

step "browser tests (wasm-pack test --headless --chrome)"
wasm-pack test --headless --chrome -- --features std

step "release build"
bash scripts/build.sh

step "TypeScript declarations (tsc --strict on tests/types; exports against declarations)"
tsc -p tests/types
tsc -p tests/types/tsconfig.nodom.json
node --test tests/types/

step "package metadata (publint --strict on the packed files)"
publint --strict

step "end-to-end tests (release build, local gateway, headless Chromium)"
node --test --test-concurrency=1 tests/e2e/
