// Attributes the gap between payonce and the rules floor by part, measured. Run after
// `npm run bench -- size`, which leaves in bench/.tmp/ the shipped module taken back
// out of payonce.js (split/), it rebuilt with names (named/) and the rules floor with
// and without names.
//
// - Each part of the shipped module: its functions' bodies replaced by `unreachable`
//   (binaryen's JS API), what only they reached removed, names stripped, gzip -9; the
//   drop is the part's marginal weight. Parts every call passes through (the exports'
//   shims, Job::step, checkout::pay) would take the rules with them: not stubbed, they
//   are the remainder.
// - The data sections (message text, names) zeroed: their weight in each module.
// - The JS: each file minified alone, then gzip -9 (bundled, they share one window).
//
//   node bench/rules-floor/attribute.mjs
import binaryen from 'binaryen';
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const tmp = join(root, 'bench/.tmp');
const gz = (b) => gzipSync(b, { level: 9 }).length;

/** gzip -9 of `bytes` with the functions whose names match `res` stubbed out. */
function stubbed(bytes, res) {
  const mod = binaryen.readBinary(bytes);
  mod.setFeatures(binaryen.Features.All);
  const hit = [];
  for (let i = 0; i < mod.getNumFunctions(); i++) {
    const f = binaryen.getFunctionInfo(mod.getFunctionByIndex(i));
    if (!f.base && res.some((r) => r.test(f.name))) hit.push(f);
  }
  for (const f of hit) {
    mod.removeFunction(f.name);
    mod.addFunction(f.name, f.params, f.results, [], mod.unreachable());
  }
  binaryen.setDebugInfo(false);
  mod.runPasses(['remove-unused-module-elements', 'strip-debug', 'strip-producers']);
  const out = mod.emitBinary();
  mod.dispose();
  return { functions: hit.length, gzip: gz(out) };
}

/** The gzip weight of a module's data section: the drop when its bytes are zeroed. */
function dataWeight(bytes) {
  const b = Buffer.from(bytes);
  let p = 8;
  const leb = () => { let r = 0; let s = 0; let x; do { x = b[p++]; r |= (x & 0x7f) << s; s += 7; } while (x & 0x80); return r; };
  while (p < b.length) {
    const id = b[p++];
    const len = leb();
    if (id === 11) {
      const z = Buffer.from(b);
      z.fill(0, p, p + len);
      return { raw: len, gzip: gz(b) - gz(z) };
    }
    p += len;
  }
  return { raw: 0, gzip: 0 };
}

async function minified(file) {
  const r = await build({ entryPoints: [file], minify: true, format: 'esm', write: false, logLevel: 'error' });
  return gz(Buffer.from(r.outputFiles[0].contents));
}

const named = readFileSync(join(tmp, 'named/payonce_bg.wasm'));
const shipped = readFileSync(join(tmp, 'split/payonce_bg.wasm'));
const floor = readFileSync(join(tmp, 'rules-floor.wasm'));
const floorNamed = readFileSync(join(tmp, 'rules-floor.named.wasm'));

const fn = (...names) => names.map((n) => new RegExp(`^<?payonce::${n}`));
const parts = [
  ['checkout.rs: performing the page\'s outs, feeding the tabs (put_back, perform, feed_tabs, PayonceTabs, woken)',
    [...fn('checkout::(put_back|perform|feed_tabs|PayonceTabs|woken|Flight::perform)'), /^payoncetabs_/], 'one drain loop writing each out as text (the floor: drain, in its step)'],
  ['browser/options.rs, headers.rs, endpoint.rs, details.rs, read.rs: the input read and worded', fn('browser::(options|headers|endpoint|details|read)::'),
    'one flat JSON record of own properties checked by the rules (the floor: options(), headers(), whole(), statuses())'],
  ['button.rs: the PayButton (DOM, attributes, states)', [...fn('button::'), /^paybutton_/, /^__wbg_paybutton/], 'DOM in JS; rules::button::shows_paid stays (the floor: one loop over buttons)'],
  ['browser/fetch.rs, storage.rs, tabs.rs, js.rs, clock.rs: the I/O wrappers', fn('browser::(fetch|storage|tabs|js|clock)::'), 'raw imports for storage, clock, random; every other effect as text'],
  ['lib.rs exports other than processPayment', [...fn('exports::(new_idempotency_key|pending_payments|forget_payment|forget_in_flight)'), /^(newIdempotencyKey|pendingPayments|forgetPayment)/], 'ops of the one step function'],
  ['web-sys and js-sys bindings', [/^<?(js_sys|web_sys)::/], 'none'],
  ['browser/objects.rs: results, errors, events, records as text', fn('browser::objects::'), 'the same texts (the floor: Writer)'],
];
const base = stubbed(named, []).gzip;
const rows = [];
for (const [part, res, instead] of parts) rows.push([part, base - stubbed(named, res).gzip, instead]);
const together = base - stubbed(named, parts.flatMap((p) => p[1])).gzip;

const floorBase = stubbed(floorNamed, []).gzip;
const floorOptions = floorBase - stubbed(floorNamed, [/19payonce_rules_floor\d+(options|headers|whole|statuses|flag)17h/]).gzip;
const floorRules = Object.fromEntries([['tabs', 'rules4tabs'], ['payment', 'rules7payment'], ['store', 'rules5store'], ['json', 'rules4json'], ['record', 'rules6record'], ['retry', 'rules5retry']]
  .map(([m, re]) => [m, floorBase - stubbed(floorNamed, [new RegExp(`5${re}`)]).gzip]));

const js = {};
for (const f of ['src/entry.js', 'src/js/values.js', 'src/js/job.js', 'src/js/tabs.js']) js[f] = await minified(join(root, f));
js['wasm-bindgen glue'] = await minified(join(tmp, 'named/payonce.js'));
js['rules floor glue'] = await minified(join(root, 'bench/rules-floor/glue.js'));
const results = JSON.parse(readFileSync(join(root, 'bench/results.json'), 'utf8')).size;

const p = results.payonce;
const r = results.rulesFloor;
console.log(`payonce wasm + glue ${p.totalGzip} (wasm ${p.wasmGzip}, glue ${p.glueMinifiedGzip}); rules floor ${r.totalGzip} (wasm ${r.wasmGzip}, glue ${r.glueMinifiedGzip}); gap ${p.totalGzip - r.totalGzip} (wasm ${p.wasmGzip - r.wasmGzip}, JS ${p.glueMinifiedGzip - r.glueMinifiedGzip})`);
console.log(`\nwasm, marginal gzip -9 of each part of the shipped module (stubbed alone; the module re-emitted ${base}):`);
for (const [part, n, instead] of rows) console.log(`${String(n).padStart(6)}  ${part}\n        instead: ${instead}`);
console.log(`${String(together).padStart(6)}  all of them stubbed together (the sum alone: ${rows.reduce((s, x) => s + x[1], 0)})`);
console.log(`${String(p.wasmGzip - r.wasmGzip - together).padStart(6)}  the rest of the wasm gap: checkout::read, pay, Job::step, start (the flow, the Job interpreter, the second in-flight registry, key minting), wasm-bindgen's shims and runtime, alloc/core instantiated over JS types; less the floor's own driver`);
const dp = dataWeight(shipped);
const df = dataWeight(floor);
console.log(`\ndata sections (message text, among them the rules'): payonce ${dp.raw} bytes raw, ${dp.gzip} gzip; rules floor ${df.raw} raw, ${df.gzip} gzip`);
console.log(`\nJS, each file minified alone, gzip -9 (bundled together as shipped: ${p.glueMinifiedGzip}):`);
for (const [f, n] of Object.entries(js)) console.log(`${String(n).padStart(6)}  ${f}`);
console.log(`\nin the rules floor (marginal gzip -9, stubbed alone): its options reader's out-of-line functions (whole, statuses, flag: options() itself is inlined into the step) ${floorOptions}; ${Object.entries(floorRules).map(([m, n]) => `rules::${m} ${n}`).join(', ')} (json includes the step's own input parser)`);
