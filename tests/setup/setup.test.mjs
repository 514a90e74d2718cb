// The set-up as a fresh machine meets it: scripts/setup.sh is sourced and run by a
// caller under `set -euo pipefail` (as scripts/test.sh does), with a PATH that holds
// only basic system tools and stand-ins for the installers. The stand-ins record what
// they are asked to install and put a stub of the installed tool on PATH, so a whole
// first run takes a second instead of minutes of compiling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const repo = path.resolve(import.meta.dirname, '../..');
const lockedBindgen = /name = "wasm-bindgen"\nversion = "([^"]+)"/.exec(
  fs.readFileSync(path.join(repo, 'Cargo.lock'), 'utf8'))[1];

// System tools the script may use; everything else must come from the sandbox.
const SYSTEM = ['bash', 'sh', 'awk', 'grep', 'dirname', 'id', 'cat', 'mkdir', 'chmod', 'cp',
  'ln', 'rm', 'touch', 'date', 'basename', 'head', 'tail', 'sed', 'tr', 'env', 'uname', 'sort'];

function stub(file, body) {
  fs.writeFileSync(file, `#!/bin/bash\n${body}\n`);
  fs.chmodSync(file, 0o755);
}

// A machine: a copy of the repo's scripts and lock files, a HOME, a bin of system
// tools, and installers that log to `log` and create the tools they install.
function machine({ fail = '' } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payonce-setup-'));
  const root = path.join(dir, 'repo');
  const sys = path.join(dir, 'sys');
  const installers = path.join(dir, 'installers');
  const home = path.join(dir, 'home');
  const installed = path.join(dir, 'usr-bin'); // where the stand-in apt-get "installs"
  for (const d of [root, path.join(root, 'scripts'), sys, installers, home, installed]) fs.mkdirSync(d, { recursive: true });
  fs.copyFileSync(path.join(repo, 'scripts/setup.sh'), path.join(root, 'scripts/setup.sh'));
  for (const f of ['Cargo.lock', 'Cargo.toml', 'package.json', 'package-lock.json']) {
    fs.copyFileSync(path.join(repo, f), path.join(root, f));
  }
  for (const t of SYSTEM) {
    const real = execFileSync('bash', ['-c', `command -v ${t}`], { encoding: 'utf8' }).trim();
    fs.symlinkSync(real, path.join(sys, t));
  }
  const log = path.join(dir, 'log');
  fs.writeFileSync(log, '');
  const record = `echo "$(basename "$0") $*" >> ${log}`;
  const failIf = (name) => (fail === name ? `echo "${name}: simulated failure" >&2; exit 1` : '');
  // apt-get install A B ... puts a stub for each package's command into usr-bin.
  stub(path.join(installers, 'apt-get'), `${record}
[ "$1" = install ] || exit 0
${failIf('apt-get')}
for p in "$@"; do case "$p" in
  chromium) t=chromium;; chromium-driver) t=chromedriver;; firefox-esr) t=firefox-esr;;
  webkit2gtk-driver) t=WebKitWebDriver;; xvfb) t=xvfb-run;; *) continue;; esac
  printf '#!/bin/bash\\necho "%s 1.0"\\n' "$t" > ${installed}/$t; chmod +x ${installed}/$t
done`);
  stub(path.join(installers, 'sudo'), 'exec "$@"');
  stub(path.join(installers, 'rustup'), `case "$1 $2" in
  "target list") [ -f ${dir}/wasm-target ] && echo wasm32-unknown-unknown; echo x86_64-unknown-linux-gnu;;
  "target add") ${record}; touch ${dir}/wasm-target;;
  "component add") ${record};;
  *) ${record};;
esac`);
  // cargo install NAME [--version V] puts NAME's binaries into $CARGO_HOME/bin (or ~/.cargo/bin).
  stub(path.join(installers, 'cargo'), `case "$1" in
  fmt|clippy) [ "$2" = --version ] && echo "$1 1.0"; exit 0;;
  install) ${record}; ${failIf('cargo')}
    name="$2"; v=1.0; while [ $# -gt 0 ]; do [ "$1" = --version ] && v="$2"; shift; done
    bin="\${CARGO_HOME:-$HOME/.cargo}/bin"; mkdir -p "$bin"
    case "$name" in wasm-bindgen-cli) tools="wasm-bindgen wasm-bindgen-test-runner";; *) tools="$name";; esac
    for t in $tools; do printf '#!/bin/bash\\necho "%s %s"\\n' "$t" "$v" > "$bin/$t"; chmod +x "$bin/$t"; done;;
  *) ${record};;
esac`);
  // npm ci creates node_modules with binaryen's wasm-opt and the other tools.
  stub(path.join(installers, 'npm'), `${record}
[ "$1" = ci ] || exit 0
${failIf('npm')}
mkdir -p node_modules/.bin; cp package-lock.json node_modules/.package-lock.json
for t in wasm-opt esbuild tsc; do printf '#!/bin/bash\\necho "%s version 132"\\n' "$t" > node_modules/.bin/$t; chmod +x node_modules/.bin/$t; done`);
  stub(path.join(installers, 'node'), 'echo v20.0.0');

  const caller = path.join(dir, 'caller.sh');
  fs.writeFileSync(caller, `set -euo pipefail\ncd ${root}\nsource scripts/setup.sh\npayonce_setup\necho "caller: setup returned"\n`);
  const run = (env = {}) => {
    fs.writeFileSync(log, '');
    const r = spawnSync(path.join(sys, 'bash'), [caller], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { HOME: home, PATH: [installers, installed, sys].join(':'), ...env },
    });
    return { status: r.status, out: r.stdout + r.stderr, installs: fs.readFileSync(log, 'utf8').trim().split('\n').filter(Boolean) };
  };
  return { dir, home, run, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

const has = (installs, re) => installs.some((l) => re.test(l));

test('a fresh machine: every missing tool is installed, each announced, and the caller goes on', (t) => {
  const m = machine();
  t.after(m.cleanup);
  const r = m.run();
  assert.equal(r.status, 0, `setup failed on a fresh machine:\n${r.out}`);
  assert.match(r.out, /caller: setup returned/);
  assert.ok(has(r.installs, /^apt-get install .*chromium chromium-driver/), r.installs.join('\n'));
  assert.ok(has(r.installs, /^apt-get install .*firefox-esr/), r.installs.join('\n'));
  assert.ok(has(r.installs, /^apt-get install .*webkit2gtk-driver xvfb/), r.installs.join('\n'));
  assert.equal(r.installs.filter((l) => /^apt-get update/.test(l)).length, 1, `apt-get update once:\n${r.installs.join('\n')}`);
  assert.ok(has(r.installs, /^cargo install geckodriver /), r.installs.join('\n'));
  assert.ok(has(r.installs, /^rustup target add wasm32-unknown-unknown/), r.installs.join('\n'));
  assert.ok(has(r.installs, /^cargo install wasm-pack/), r.installs.join('\n'));
  assert.ok(has(r.installs, new RegExp(`^cargo install wasm-bindgen-cli .*--version ${lockedBindgen.replace(/\./g, '\\.')}`)), r.installs.join('\n'));
  assert.ok(has(r.installs, /^npm ci/), r.installs.join('\n'));
  // Each install is announced before it starts, with how long it takes.
  for (const what of ['wasm-pack', 'wasm-bindgen-cli', 'geckodriver', 'npm packages', 'chromium', 'firefox-esr', 'webkit2gtk-driver']) {
    assert.match(r.out, new RegExp(`setup: installing ${what}[^\\n]*\\(`), `no announcement for ${what}:\n${r.out}`);
  }
});

test('a second run installs nothing', (t) => {
  const m = machine();
  t.after(m.cleanup);
  assert.equal(m.run().status, 0);
  const again = m.run();
  assert.equal(again.status, 0, again.out);
  assert.deepEqual(again.installs, [], `a second run installed:\n${again.installs.join('\n')}`);
});

test('PAYONCE_ENGINES=chromium installs neither Firefox nor WebKit', (t) => {
  const m = machine();
  t.after(m.cleanup);
  const r = m.run({ PAYONCE_ENGINES: 'chromium' });
  assert.equal(r.status, 0, r.out);
  assert.ok(has(r.installs, /^apt-get install .*chromium/), r.installs.join('\n'));
  assert.ok(!has(r.installs, /firefox|webkit|xvfb|geckodriver/), r.installs.join('\n'));
  // The other engines come with the next run that asks for them.
  const all = m.run();
  assert.ok(has(all.installs, /^apt-get install .*firefox-esr/), all.installs.join('\n'));
  assert.ok(!has(all.installs, /chromium/), all.installs.join('\n'));
});

test('a wasm-bindgen-cli of another version is replaced by the locked one', (t) => {
  const m = machine();
  t.after(m.cleanup);
  const bin = path.join(m.home, '.cargo/bin');
  fs.mkdirSync(bin, { recursive: true });
  stub(path.join(bin, 'wasm-bindgen'), 'echo "wasm-bindgen 0.2.1"');
  const r = m.run();
  assert.equal(r.status, 0, r.out);
  assert.ok(has(r.installs, new RegExp(`^cargo install wasm-bindgen-cli .*--version ${lockedBindgen.replace(/\./g, '\\.')}.*--force`)), r.installs.join('\n'));
  assert.equal(m.run().installs.filter((l) => /wasm-bindgen/.test(l)).length, 0, 'replaced again on the next run');
});

for (const installer of ['cargo', 'npm', 'apt-get']) {
  test(`a failing ${installer} stops the set-up with a message that says what failed and what to do`, (t) => {
    const m = machine({ fail: installer });
    t.after(m.cleanup);
    const r = m.run();
    assert.notEqual(r.status, 0, r.out);
    assert.doesNotMatch(r.out, /caller: setup returned/);
    assert.match(r.out, /setup: FAILED: [^\n]+/, r.out);
    assert.match(r.out, /setup: to fix: [^\n]+/, r.out);
  });
}
