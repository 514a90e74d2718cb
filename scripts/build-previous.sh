#!/usr/bin/env bash
# Builds the previous release of payonce into tests/e2e/previous/, the fixture the
# cross-deploy contract test (tests/e2e/compat.test.mjs) runs beside the new build: a tab
# left open on the previous release and a tab on the new one, on one origin, must share
# lock names, the record format and the message envelope.
#
#   bash scripts/build-previous.sh [commit]     (default: the commit in tests/e2e/previous/VERSION)
#
# The commit is exported with `git archive` into a temporary directory (the clone's
# work tree, branches and worktree list are not touched), built there with that
# commit's own scripts/build.sh, and its pkg/payonce.js (with pkg/payonce_bg.wasm beside
# it, for releases before the one-file package) and pkg/payonce.d.ts are copied to
# tests/e2e/previous/, with that commit's demo page (www/index.html, app.js, style.css,
# favicon.svg; app.js importing ./payonce.js instead of /pkg/payonce.js), so the previous
# tab runs the previous release's own page code. VERSION names the commit. The built files are committed: the e2e tests
# never build them.
#
# When a release changes the protocol, rebuild this fixture from the release before it.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
out="$root/tests/e2e/previous"

commit="${1:-}"
if [ -z "$commit" ]; then
  commit="$(awk '/^commit / { print $2; exit }' "$out/VERSION" 2>/dev/null || true)"
fi
if [ -z "$commit" ]; then
  echo "build-previous: FAILED: no commit given and none in $out/VERSION" >&2
  echo "build-previous: to fix: bash scripts/build-previous.sh <commit of the previous release>" >&2
  exit 1
fi
full="$(git rev-parse --verify "$commit^{commit}")"
subject="$(git log -1 --format=%s "$full" | cut -c1-120)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/payonce-previous-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
echo "build-previous: exporting ${full:0:12} into $tmp"
git archive --format=tar "$full" | tar -x -C "$tmp"

echo "build-previous: building ${full:0:12} with its own scripts/build.sh (a full cargo build: a few minutes on 2 cores)"
(cd "$tmp" && bash scripts/build.sh)

for f in payonce.js payonce.d.ts; do
  if [ ! -f "$tmp/pkg/$f" ]; then
    echo "build-previous: FAILED: ${full:0:12}'s build left no pkg/$f" >&2
    exit 1
  fi
done

# Releases from the one-file package on carry their module inside payonce.js; older ones
# ship it beside it as payonce_bg.wasm.
files="payonce.js"
[ -f "$tmp/pkg/payonce_bg.wasm" ] && files="$files payonce_bg.wasm"
mkdir -p "$out"
rm -f "$out/payonce.js" "$out/payonce_bg.wasm" "$out/payonce.d.ts"
for f in $files payonce.d.ts; do cp "$tmp/pkg/$f" "$out/"; done
cp "$tmp/www/index.html" "$tmp/www/style.css" "$tmp/www/favicon.svg" "$out/"
# The demo imports the package from /pkg/ (the gateway's root for the new build): the
# previous page imports the previous build beside it.
if ! grep -q "from '/pkg/payonce.js'" "$tmp/www/app.js"; then
  echo "build-previous: FAILED: ${full:0:12}'s www/app.js does not import '/pkg/payonce.js'; adapt the rewrite below" >&2
  exit 1
fi
sed "s#from '/pkg/payonce.js'#from './payonce.js'#" "$tmp/www/app.js" > "$out/app.js"

{
  echo "commit $full"
  echo "subject $subject"
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) by scripts/build-previous.sh"
  for f in $files; do
    echo "$f $(wc -c < "$out/$f") bytes, sha256 $(sha256sum "$out/$f" | cut -d' ' -f1)"
  done
} > "$out/VERSION"
echo "build-previous: tests/e2e/previous/ now holds ${full:0:12}:"
cat "$out/VERSION"
