#!/usr/bin/env bash
# Installs what payonce needs to build, test and demo, skipping what is there.
# Safe to run again and again; CI and every fresh machine run it first.
# Sourced by the other scripts, so it must not change the caller's shell options.

payonce_setup() {
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  local say="echo setup:"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"

  # 1. Debian's Chromium and its driver (wasm-pack test, the e2e tests and the benchmark drive it).
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    $say "installing chromium and chromium-driver from Debian"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
  fi

  # 2. The wasm target.
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    $say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi

  # 2b. Lints used by the test command.
  if ! cargo fmt --version >/dev/null 2>&1; then rustup component add rustfmt; fi
  if ! cargo clippy --version >/dev/null 2>&1; then rustup component add clippy; fi

  # 3. wasm-pack.
  if ! command -v wasm-pack >/dev/null 2>&1; then
    $say "installing wasm-pack (about 2 minutes)"
    cargo install wasm-pack --version 0.15.1 --locked
  fi

  # 4. The wasm-bindgen CLI of exactly the version in Cargo.lock (else wasm-pack
  #    would try to download one, which fails on this network).
  local want have
  want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' "$root/Cargo.lock")"
  have="$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }')"
  if [ -z "$want" ]; then
    $say "no wasm-bindgen in Cargo.lock; run cargo generate-lockfile" >&2
    return 1
  fi
  if [ "$have" != "$want" ]; then
    $say "installing wasm-bindgen-cli $want (about 2 minutes)"
    cargo install wasm-bindgen-cli --version "$want" --force
  fi

  # 5. npm packages: binaryen's wasm-opt (never Debian's: it breaks the module),
  #    playwright-core for the e2e tests, esbuild and the baselines for the benchmark.
  if [ ! -f "$root/node_modules/.package-lock.json" ] \
    || [ "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]; then
    $say "installing npm packages"
    (cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
  fi

  export PATH="$root/node_modules/.bin:$HOME/.cargo/bin:$PATH"
  export CHROMIUM_PATH="${CHROMIUM_PATH:-$(command -v chromium)}"
}
