#!/usr/bin/env bash
# Installs what payonce needs to build, test and demo, skipping what is there.
# Safe to run again and again; CI and every fresh machine run it first.
#
# Sourced by the other scripts, which run under `set -euo pipefail`, so nothing here
# may fail as a side effect of asking whether a tool exists: every probe of a tool
# that may be missing goes through `payonce_version`, which always succeeds. Every
# install is announced before it starts (with how long it takes on 2 cores), and every
# failure prints `setup: FAILED:` and `setup: to fix:` lines and returns non-zero.
# tests/setup/setup.test.mjs runs this file as a fresh machine would.

# The version a tool prints (its first x.y.z), or nothing when it is missing or broken.
payonce_version() {
  command -v "$1" >/dev/null 2>&1 || return 0
  "$1" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true
}

payonce_fail() { # what failed, what to do
  echo "setup: FAILED: $1" >&2
  echo "setup: to fix: $2" >&2
  return 1
}

# Tools built from crates.io share one target directory, so the crates they have in
# common (clap, serde, ureq, rustls, ...) compile once.
payonce_cargo_install() { # crate version minutes [extra cargo flags...]
  local crate="$1" version="$2" minutes="$3"
  shift 3
  echo "setup: installing $crate $version with cargo install (about $minutes minutes on 2 cores, once per machine)"
  CARGO_TARGET_DIR="${PAYONCE_TOOLS_TARGET:-$HOME/.cache/payonce/cargo-install}" \
    cargo install "$crate" --version "$version" "$@" \
    || payonce_fail "cargo install $crate --version $version $*" \
      "check that crates.io is reachable and that the output above shows no compile error, then run the command again"
}

# Installs the Debian packages whose commands are missing (apt-get update first, once
# per run: a fresh machine has no package lists). Uses the caller's `sudo` and `updated`.
payonce_apt_install() { # duration command:package...
  local duration="$1" missing="" pair
  shift
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
  done
  [ -n "$missing" ] || return 0
  echo "setup: installing$missing from Debian (about $duration)"
  if [ -z "$updated" ]; then
    $sudo apt-get update -qq \
      || payonce_fail "apt-get update" "run 'apt-get update' as root and read its error" || return 1
    updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null \
    || payonce_fail "apt-get install$missing" \
      "run 'apt-get update && apt-get install -y$missing' as root and read its error"
}

payonce_setup() {
  local root cargo_bin sudo=""
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
  # Tools installed by an earlier run are found before anything else on PATH.
  export PATH="$root/node_modules/.bin:$cargo_bin:$PATH"
  [ "$(id -u)" -eq 0 ] || sudo="sudo"

  # 1. The three browser engines from Debian, for the browser tests, the e2e tests and
  #    the benchmark: Chromium and its driver; Firefox ESR (geckodriver is step 5);
  #    WebKitGTK's WebDriver, which drives its MiniBrowser, and Xvfb, since WebKitGTK has
  #    no headless mode here. One apt-get per engine, so each is announced with its own time.
  #    PAYONCE_ENGINES limits them (default: all three).
  local engines=" ${PAYONCE_ENGINES:-chromium firefox webkit} " updated=""
  if [[ "$engines" == *" chromium "* ]]; then
    payonce_apt_install "30 seconds" chromium:chromium chromedriver:chromium-driver || return 1
  fi
  if [[ "$engines" == *" firefox "* ]]; then
    payonce_apt_install "25 seconds" firefox-esr:firefox-esr || return 1
  fi
  if [[ "$engines" == *" webkit "* ]]; then
    payonce_apt_install "1 minute" WebKitWebDriver:webkit2gtk-driver xvfb-run:xvfb || return 1
  fi

  # 2. The wasm target and the lints the test command runs. (grep without -q: -q would
  #    close the pipe early, and under pipefail rustup's SIGPIPE would read as "missing".)
  if ! rustup target list --installed 2>/dev/null | grep -x wasm32-unknown-unknown >/dev/null; then
    echo "setup: adding the wasm32-unknown-unknown target (a few seconds)"
    rustup target add wasm32-unknown-unknown \
      || payonce_fail "rustup target add wasm32-unknown-unknown" "run it by hand and read its error" || return 1
  fi
  local component
  for component in rustfmt clippy; do
    if ! cargo "${component#rust}" --version >/dev/null 2>&1; then
      echo "setup: adding the $component component (a few seconds)"
      rustup component add "$component" \
        || payonce_fail "rustup component add $component" "run it by hand and read its error" || return 1
    fi
  done

  # 3. wasm-pack.
  if [ -z "$(payonce_version wasm-pack)" ]; then
    payonce_cargo_install wasm-pack 0.15.1 4 --locked || return 1
  fi

  # 4. The wasm-bindgen CLI of exactly the version in Cargo.lock (wasm-pack would
  #    otherwise try to download one, which fails on this network).
  local want have
  want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' "$root/Cargo.lock")"
  [ -n "$want" ] || payonce_fail "no wasm-bindgen version in Cargo.lock" "run 'cargo generate-lockfile' in $root" || return 1
  have="$(payonce_version wasm-bindgen)"
  if [ "$have" != "$want" ]; then
    [ -z "$have" ] || echo "setup: wasm-bindgen-cli $have does not match wasm-bindgen $want in Cargo.lock; replacing it"
    # No --locked: its lock file pins crates that no longer build with this toolchain.
    payonce_cargo_install wasm-bindgen-cli "$want" 5 --force || return 1
  fi

  # 5. geckodriver, the WebDriver server for Firefox, from crates.io (npm's geckodriver
  #    package downloads it from GitHub, which this network does not reach).
  if [[ "$engines" == *" firefox "* ]] && [ -z "$(payonce_version geckodriver)" ]; then
    payonce_cargo_install geckodriver 0.37.1 4 --locked || return 1
  fi

  # 6. npm packages: binaryen's wasm-opt (never Debian's: it breaks the module),
  #    playwright-core and selenium-webdriver for the e2e tests, esbuild, TypeScript and
  #    the benchmark's baselines.
  if [ ! -f "$root/node_modules/.package-lock.json" ] \
    || [ "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]; then
    echo "setup: installing npm packages with npm ci (about 20 seconds)"
    (cd "$root" && npm ci --no-audit --no-fund --loglevel=error) \
      || payonce_fail "npm ci in $root" "check that the npm registry is reachable (and NODE_EXTRA_CA_CERTS is set if this network needs it), then run 'npm ci' by hand" || return 1
  fi

  export CHROMIUM_PATH="${CHROMIUM_PATH:-$(command -v chromium)}"
}
