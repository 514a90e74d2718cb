// payonce benchmark: size shipped, overhead per call against raw fetch, cold
// start against ky, and exactly-once under randomized chaos against two
// baselines. Prints figures and writes bench/results.json and bench/RESULTS.md.
// It measures; it does not pass or fail. All traffic stays on 127.0.0.1.
//
// payonce ships one file, the module inside it (scripts/inline-module.mjs). Size and cold
// start also measure the other way, two files: split() takes the module back out of the
// shipped build into bench/.tmp/split/ (payonce.js without it, and payonce_bg.wasm).
//
//   node bench/run.mjs [size] [overhead] [cold] [chaos] [edges]   (default: all)
//   CHAOS_N=500 OVERHEAD_N=2000 COLD_N=20 SEED=1 to change the counts.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants as zlib, gzipSync, inflateSync } from 'node:zlib';
import { startGateway } from '../www/gateway.mjs';
import { launchChromium } from '../tests/e2e/harness.mjs';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const tmp = join(root, 'bench/.tmp');
const env = (name, fallback) => Number(process.env[name] ?? fallback);
const CHAOS_N = env('CHAOS_N', 500);
const OVERHEAD_N = env('OVERHEAD_N', 2000);
const COLD_N = env('COLD_N', 20);
const SEED = env('SEED', 20261127);
const wanted = process.argv.slice(2);
const want = (name) => wanted.length === 0 || wanted.includes(name);

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const gz = (buf) => gzipSync(buf, { level: 9 }).length;
// What most CDNs serve: brotli at its highest quality.
const br = (buf) => brotliCompressSync(buf, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: buf.length } }).length;
/** gzip -9 and brotli sizes of one or more files, summed. */
const sizes = (...bufs) => ({ gzip: bufs.reduce((n, b) => n + gz(b), 0), brotli: bufs.reduce((n, b) => n + br(b), 0) });
const both = (x) => `${kb(x.gzip)} gzip, ${kb(x.brotli)} brotli`;
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const median = (xs) => quantile(xs, 0.5);
const ms = (x) => `${x.toFixed(2)} ms`;

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function bundle(entry, outfile) {
  await build({
    entryPoints: [join(root, entry)],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    minify: true,
    outfile,
    absWorkingDir: root,
    logLevel: 'error',
  });
  return readFile(outfile);
}

/**
 * The shipped build as two files, as it was before the module went inside: bench/.tmp/split/
 * payonce.js (the shipped file with the module's text emptied) and payonce_bg.wasm (the
 * module), and bench/.tmp/module.js (the module's base64 text, for cold.js's steps).
 */
async function split() {
  const js = await readFile(join(root, 'pkg/payonce.js'), 'utf8');
  const found = [...js.matchAll(/"([A-Za-z0-9+/]{10000,}={0,2})"/g)];
  if (found.length !== 1) throw new Error(`pkg/payonce.js holds ${found.length} module texts, not one: build it with scripts/build.sh`);
  const text = found[0][1];
  const wasm = inflateSync(Buffer.from(text, 'base64'));
  const out = join(tmp, 'split');
  await mkdir(out, { recursive: true });
  const jsAlone = js.replace(`"${text}"`, '""');
  await writeFile(join(out, 'payonce.js'), jsAlone);
  await writeFile(join(out, 'payonce_bg.wasm'), wasm);
  await writeFile(join(tmp, 'module.js'), `export default "${text}";\n`);
  return { js: Buffer.from(js), jsAlone: Buffer.from(jsAlone), wasm, packedBytes: Buffer.from(text, 'base64').length };
}

/** Builds bench/floor the way payonce is built and measures it; null if it cannot. */
async function sizeFloor() {
  try {
    const target = join(tmp, 'floor-target');
    const out = join(tmp, 'floor-pkg');
    execFileSync('cargo', ['build', '--release', '--locked', '--target', 'wasm32-unknown-unknown', '--target-dir', target,
      '--manifest-path', join(root, 'bench/floor/Cargo.toml')], { stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('wasm-bindgen', ['--target', 'web', '--out-dir', out, join(target, 'wasm32-unknown-unknown/release/payonce_size_floor.wasm')]);
    const wasmFile = join(out, 'payonce_size_floor_bg.wasm');
    // The same wasm-opt passes and import renaming as scripts/build.sh.
    execFileSync(join(root, 'node_modules/.bin/wasm-opt'), ['-Oz', '--flatten', '--rereloop', '-Oz', '--converge', '-ocimfs', '15', '--strip-debug',
      '--strip-producers', '--strip-target-features', '--enable-bulk-memory',
      '--enable-nontrapping-float-to-int', '--enable-sign-ext', '--enable-mutable-globals', '--enable-reference-types',
      '--enable-multivalue', wasmFile, '-o', wasmFile]);
    execFileSync('node', [join(root, 'scripts/shorten-imports.mjs'), wasmFile, join(out, 'payonce_size_floor.js')]);
    const wasm = await readFile(wasmFile);
    const glue = await bundle('bench/baselines/floor.js', join(tmp, 'floor.bundle.js'));
    return { wasmBytes: wasm.length, wasmGzip: gz(wasm), glueMinifiedGzip: gz(glue), totalGzip: gz(wasm) + gz(glue),
      wasmBrotli: br(wasm), glueMinifiedBrotli: br(glue), totalBrotli: br(wasm) + br(glue) };
  } catch (e) {
    console.log(`size floor unavailable: ${e.message.split('\n')[0]}`);
    return null;
  }
}

/** The wasm-opt passes of scripts/build.sh, with the features the bench's modules use. */
const WASM_OPT = ['-Oz', '--flatten', '--rereloop', '-Oz', '--converge', '-ocimfs', '15', '--enable-bulk-memory',
  '--enable-nontrapping-float-to-int', '--enable-sign-ext', '--enable-mutable-globals', '--enable-reference-types', '--enable-multivalue'];
/** The rules' main functions, each of which must be in the rules floor's module by name. */
const RULES_MAIN = ['rules::page::Page<B>::choose', 'rules::page::Page<B>::finish', 'rules::tabs::Tabs::handle',
  'rules::payment::Payment<B>::handle', 'rules::store::Mirrored<B>::load', 'rules::record::Record::decode',
  'rules::retry::classify', 'rules::retry::parse_retry_after', 'rules::key::uuid_v4', 'rules::key::validate',
  'rules::json::Reader::value', 'rules::json::write_string', 'rules::header::refused_header', 'rules::header::check_idempotency_header'];

/**
 * Twiggy's rows of a module built with names, summed by module path (src/rules/ and
 * src/browser/ by file, the rest of the crate by top module; the crate's own name
 * dropped, so payonce's and the rules floor's rows line up).
 */
function byModule(csv, crate) {
  const sums = {};
  for (const line of csv.split('\n').slice(1)) {
    const m = line.match(/^"?(.*?)"?,(\d+),/);
    if (!m || m[1].includes('function names') || m[1].includes('data names')) continue;
    let key;
    if (m[1].startsWith('data segment')) key = '(data)';
    else if (m[1].startsWith('import ')) key = '(imports)';
    else if (m[1].startsWith('export ')) key = '(exports)';
    else {
      // The first path in the name: `<a::B<T> as c::D>::f` counts for a::B's module.
      const path = m[1].replace(/^[<&]+(mut |dyn )?/, '').replace(/<[^<>]*>/g, '').replace(/<[^<>]*>/g, '').split(' ')[0];
      const parts = path.split('::').filter((p) => /^[a-z_][a-z0-9_]*$/.test(p) && !/^h[0-9a-f]{16}$/.test(p));
      const own = parts[0] === crate;
      // src/rules/ and src/browser/ by file, the rest of the crate by top module.
      const depth = ['rules', 'browser'].includes(parts[1]) ? 3 : 2;
      // A name that is the crate and a type only: the impls of a trait of another module
      // (for the rules floor, its Port, Store and Backend, with the store's code inlined).
      key = own ? parts.slice(1, depth).join('::') || '(trait impls of the crate root)' : parts.slice(0, 2).join('::') || '(other)';
      // The rules floor's own code (its lib.rs): the step function, options reader, JSON writer.
      const driver = /^(run|step|buf|out|found|pay|call|head|drain|options|headers|whole|statuses|flag|event|tabs_input|tabs_effect|record|error|body|field|string|number|flag_of)$/;
      if (crate === 'payonce_rules_floor' && (own ? driver.test(parts[1] ?? '') : parts.length === 1 && driver.test(parts[0]))) key = '(driver)';
    }
    sums[key] = (sums[key] ?? 0) + Number(m[2]);
  }
  return Object.fromEntries(Object.entries(sums).sort((a, b) => b[1] - a[1]));
}

/** The rows of two byModule sums side by side, the largest first; the small ones summed. */
function moduleRows(a, b, min = 400) {
  const rows = [...new Set([...Object.keys(a), ...Object.keys(b)])].map((m) => [m, [a[m] ?? 0, b[m] ?? 0]]);
  rows.sort((x, y) => Math.max(...y[1]) - Math.max(...x[1]));
  const big = rows.filter(([, n]) => Math.max(...n) >= min);
  const rest = rows.filter(([, n]) => Math.max(...n) < min).reduce((s, [, n]) => [s[0] + n[0], s[1] + n[1]], [0, 0]);
  const total = rows.reduce((s, [, n]) => [s[0] + n[0], s[1] + n[1]], [0, 0]);
  return [...big, [`(${rows.length - big.length} smaller)`, rest], ['total', total]];
}

/**
 * Builds bench/rules-floor (payonce's own src/rules/ behind one JSON step function,
 * storage as raw imports) the way payonce is built, runs it once under Node through a
 * 503, a backoff and a 200 (bench/rules-floor/run.mjs), checks with twiggy that the
 * rules' main functions are in it, and measures it; null if it cannot be built.
 */
async function sizeRulesFloor() {
  try {
    const target = join(tmp, 'rules-floor-target');
    execFileSync('cargo', ['build', '--release', '--locked', '--target', 'wasm32-unknown-unknown', '--target-dir', target,
      '--manifest-path', join(root, 'bench/rules-floor/Cargo.toml')], { stdio: ['ignore', 'ignore', 'inherit'] });
    const built = join(target, 'wasm32-unknown-unknown/release/payonce_rules_floor.wasm');
    const wasmFile = join(tmp, 'rules-floor.wasm');
    const named = join(tmp, 'rules-floor.named.wasm');
    const wasmOpt = join(root, 'node_modules/.bin/wasm-opt');
    execFileSync(wasmOpt, [...WASM_OPT, '--strip-debug', '--strip-producers', '--strip-target-features', built, '-o', wasmFile]);
    execFileSync(wasmOpt, [...WASM_OPT, '-g', built, '-o', named]);
    const ran = execFileSync('node', [join(root, 'bench/rules-floor/run.mjs'), wasmFile], { encoding: 'utf8' }).trim();
    const csv = execFileSync('twiggy', ['top', '-n', '5000', '-f', 'csv', named], { encoding: 'utf8' });
    const missing = RULES_MAIN.filter((f) => !csv.includes(`payonce_rules_floor::${f}`));
    if (missing.length) throw new Error(`the rules floor lacks ${missing.join(', ')}`);
    const wasm = await readFile(wasmFile);
    const glue = await bundle('bench/rules-floor/glue.js', join(tmp, 'rules-floor-glue.bundle.js'));
    return { wasmBytes: wasm.length, wasmGzip: gz(wasm), glueMinifiedGzip: gz(glue), totalGzip: gz(wasm) + gz(glue),
      wasmBrotli: br(wasm), glueMinifiedBrotli: br(glue), totalBrotli: br(wasm) + br(glue), ran, mainFunctions: RULES_MAIN,
      byModule: byModule(csv, 'payonce_rules_floor') };
  } catch (e) {
    console.log(`rules floor unavailable: ${e.message.split('\n')[0]}`);
    return null;
  }
}

async function size() {
  const parts = await split();
  const { wasm } = parts;
  const glue = parts.jsAlone;
  // An app's bundle of payonce, with the module's text taken out (it is measured in the wasm).
  const glueMin = Buffer.from((await bundle('bench/baselines/payonce.js', join(tmp, 'payonce.bundle.js')))
    .toString('utf8').replace(/"[A-Za-z0-9+/]{10000,}={0,2}"/, '""'));
  const axios = await bundle('bench/baselines/axios-uuid.js', join(tmp, 'axios-uuid.bundle.js'));
  const ky = await bundle('bench/baselines/ky.js', join(tmp, 'ky.bundle.js'));
  const hand = await bundle('bench/baselines/handwritten.js', join(tmp, 'handwritten.bundle.js'));
  const floor = await sizeFloor();
  const rulesFloor = await sizeRulesFloor();
  const out = {
    payonce: {
      wasmBytes: wasm.length,
      wasmGzip: gz(wasm),
      glueBytes: glue.length,
      glueGzip: gz(glue),
      glueMinifiedGzip: gz(glueMin),
      totalGzip: gz(wasm) + gz(glueMin),
      wasmBrotli: br(wasm),
      glueBrotli: br(glue),
      glueMinifiedBrotli: br(glueMin),
      totalBrotli: br(wasm) + br(glueMin),
    },
    axiosUuid: { minifiedBytes: axios.length, ...sizes(axios) },
    ky: { minifiedBytes: ky.length, ...sizes(ky) },
    handwritten: { minifiedBytes: hand.length, ...sizes(hand) },
    floor,
    rulesFloor,
    targetGzip: 36 * 1024,
    // A run of some sections keeps the others' date at the top: this one's is here.
    date: new Date().toISOString(),
  };
  // What a page downloads, the two ways: one file (as shipped), or the JS and the .wasm.
  const plainBytes = (...bufs) => bufs.reduce((n, b) => n + b.length, 0);
  out.shapes = {
    oneFile: { ...sizes(parts.js), bytes: plainBytes(parts.js), gzip6: gzipSync(parts.js, { level: 6 }).length, moduleCompressedBytes: parts.packedBytes },
    twoFiles: { ...sizes(parts.jsAlone, wasm), bytes: plainBytes(parts.jsAlone, wasm),
      gzip6: gzipSync(parts.jsAlone, { level: 6 }).length + gzipSync(wasm, { level: 6 }).length },
  };
  for (const f of ['gzip', 'brotli', 'bytes', 'gzip6']) out.shapes[`${f}Ratio`] = out.shapes.oneFile[f] / out.shapes.twoFiles[f];
  out.payonce.vsAxiosUuid = out.payonce.totalGzip / out.axiosUuid.gzip;
  out.payonce.vsKy = out.payonce.totalGzip / out.ky.gzip;
  out.payonce.vsHandwritten = out.payonce.totalGzip / out.handwritten.gzip;
  if (rulesFloor) {
    out.payonce.vsRulesFloor = out.payonce.totalGzip / rulesFloor.totalGzip;
    out.shapes.oneFile.vsRulesFloor = out.shapes.oneFile.gzip / rulesFloor.totalGzip;
  }
  try {
    // The shipped module has no names: build it again with them (wasm-bindgen --keep-debug,
    // then the same wasm-opt passes as scripts/build.sh, keeping names with -g, and the
    // same import renaming), so twiggy sees what ships.
    const named = join(tmp, 'named');
    execFileSync('wasm-bindgen', ['--target', 'web', '--keep-debug', '--out-dir', named,
      join(root, 'target/wasm32-unknown-unknown/release/payonce.wasm')]);
    execFileSync(join(root, 'node_modules/.bin/wasm-opt'), ['-Oz', '--flatten', '--rereloop', '-Oz', '--converge', '-ocimfs', '15', '-g',
      '--enable-bulk-memory', '--enable-nontrapping-float-to-int',
      '--enable-sign-ext', '--enable-mutable-globals', '--enable-reference-types', '--enable-multivalue',
      join(named, 'payonce_bg.wasm'), '-o', join(named, 'payonce_bg.wasm')]);
    execFileSync('node', [join(root, 'scripts/shorten-imports.mjs'), join(named, 'payonce_bg.wasm'), join(named, 'payonce.js')]);
    out.twiggyTop = execFileSync('twiggy', ['top', '-n', '30', join(named, 'payonce_bg.wasm')], { encoding: 'utf8' });
    const csv = execFileSync('twiggy', ['top', '-n', '5000', '-f', 'csv', join(named, 'payonce_bg.wasm')], { encoding: 'utf8' });
    const byCrate = {};
    for (const line of csv.split('\n').slice(1)) {
      const m = line.match(/^"?(.*?)"?,(\d+),/);
      if (!m || m[1].includes('function names')) continue;
      const crate = m[1].startsWith('data segment') ? '(data)' : m[1].startsWith('import ') ? '(imports)'
        : (m[1].match(/^<?(?:&?mut )?<?([a-z_0-9]+)/)?.[1] ?? '(other)');
      byCrate[crate] = (byCrate[crate] ?? 0) + Number(m[2]);
    }
    out.byCrate = Object.fromEntries(Object.entries(byCrate).sort((a, b) => b[1] - a[1]).slice(0, 12));
    out.byModule = byModule(csv, 'payonce');
  } catch (e) {
    out.twiggyTop = `twiggy unavailable: ${e.message.split('\n')[0]}`;
  }
  const p = out.payonce;
  console.log('\n== size shipped to the shopper (gzip -9 | brotli -q 11), each bundled and minified by esbuild');
  console.log(`payonce      ${kb(p.totalGzip)} | ${kb(p.totalBrotli)}   wasm ${kb(p.wasmGzip)} | ${kb(p.wasmBrotli)} + glue ${kb(p.glueMinifiedGzip)} | ${kb(p.glueMinifiedBrotli)} (as shipped: ${kb(p.glueGzip)} | ${kb(p.glueBrotli)})   target ${kb(out.targetGzip)} gzip`);
  const sh = out.shapes;
  const shape = (x) => `${x.gzip} gzip -9, ${x.gzip6} gzip -6, ${x.brotli} brotli, ${x.bytes} uncompressed`;
  console.log(`payonce as shipped, one file (the module inside, ${sh.oneFile.moduleCompressedBytes} bytes compressed, base64): ${shape(sh.oneFile)} bytes`);
  console.log(`payonce as two files (payonce.js + payonce_bg.wasm):                 ${shape(sh.twoFiles)} bytes`);
  console.log(`one file / two files: gzip -9 ${sh.gzipRatio.toFixed(3)}, gzip -6 ${sh.gzip6Ratio.toFixed(3)}, brotli ${sh.brotliRatio.toFixed(3)}, uncompressed ${sh.bytesRatio.toFixed(3)}`);
  console.log(`handwritten  ${kb(out.handwritten.gzip)} | ${kb(out.handwritten.brotli)}   payonce's core contract by hand in plain JS (bench/baselines/handwritten.js; payonce is ${p.vsHandwritten.toFixed(1)}x)`);
  console.log(`axios + uuid ${kb(out.axiosUuid.gzip)} | ${kb(out.axiosUuid.brotli)}   (payonce is ${p.vsAxiosUuid.toFixed(2)}x)`);
  console.log(`ky           ${kb(out.ky.gzip)} | ${kb(out.ky.brotli)}   (payonce is ${p.vsKy.toFixed(2)}x)`);
  if (floor) console.log(`floor        ${kb(floor.totalGzip)} | ${kb(floor.totalBrotli)}   wasm ${kb(floor.wasmGzip)} + glue ${kb(floor.glueMinifiedGzip)} (gzip): a wasm-bindgen module that only writes a key, sends one fetch and writes the outcome (bench/floor), built as payonce is`);
  if (rulesFloor) {
    console.log(`rules floor  ${kb(rulesFloor.totalGzip)} | ${kb(rulesFloor.totalBrotli)}   wasm ${kb(rulesFloor.wasmGzip)} + glue ${kb(rulesFloor.glueMinifiedGzip)} (gzip): payonce's src/rules/ alone (both machines, every decision, the record codec, the checks, messages) behind one JSON step function, storage as raw imports (bench/rules-floor), built as payonce is`);
    console.log(`             payonce ÷ rules floor ${p.vsRulesFloor.toFixed(2)} (wasm + glue, ${p.totalGzip} ÷ ${rulesFloor.totalGzip} bytes); payonce.js as shipped ÷ rules floor ${sh.oneFile.vsRulesFloor.toFixed(2)} (${sh.oneFile.gzip} ÷ ${rulesFloor.totalGzip})`);
    console.log(`             run under Node (bench/rules-floor/run.mjs): ${rulesFloor.ran}`);
  }
  console.log(out.twiggyTop);
  if (out.byCrate) console.log('by crate, bytes after wasm-opt:', JSON.stringify(out.byCrate));
  if (out.byModule && rulesFloor) {
    console.log('by module path, bytes after wasm-opt (twiggy, names kept): payonce | rules floor');
    for (const [m, n] of moduleRows(out.byModule, rulesFloor.byModule)) console.log(`  ${m.padEnd(34)} ${String(n[0]).padStart(6)} | ${String(n[1]).padStart(6)}`);
  }
  return out;
}

async function withBench(fn, { gzip = false } = {}) {
  const gateway = await startGateway({
    gzip,
    roots: { '/pkg/': join(root, 'pkg'), '/bench/': join(root, 'bench'), '/': join(root, 'www') },
    // Cross-origin isolation gives performance.now() 5 us resolution instead of 100 us.
    headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
    quiet: true,
  });
  const browser = await launchChromium();
  try {
    return await fn(gateway, browser);
  } finally {
    await browser.close();
    await gateway.close();
  }
}

async function openBench(context, gateway) {
  const page = await context.newPage();
  await page.goto(`${gateway.url}/bench/page.html`);
  await page.waitForSelector('html[data-ready="true"]', { state: 'attached', timeout: 15000 });
  return page;
}

async function overhead() {
  return withBench(async (gateway, browser) => {
    const context = await browser.newContext();
    const page = await openBench(context, gateway);
    await page.evaluate(() => window.bench.overhead(50, 'warmup'));
    await page.evaluate(() => sessionStorage.clear());
    const { lib, raw, floor, floorTabs, hand, stored } = await page.evaluate((n) => window.bench.overhead(n, 'run'), OVERHEAD_N);
    await context.close();
    const out = {
      calls: OVERHEAD_N,
      payonce: { median: median(lib), p99: quantile(lib, 0.99) },
      rawFetch: { median: median(raw), p99: quantile(raw, 0.99) },
      floor: { median: median(floor), p99: quantile(floor, 0.99) },
      floorTabs: { median: median(floorTabs), p99: quantile(floorTabs, 0.99) },
      handwritten: { median: median(hand), p99: quantile(hand, 0.99) },
      recordsInStorageAtEnd: stored,
    };
    out.medianRatio = out.payonce.median / out.rawFetch.median;
    out.p99Ratio = out.payonce.p99 / out.rawFetch.p99;
    out.floorMedianRatio = out.floor.median / out.rawFetch.median;
    out.payonceOverFloorMedianRatio = out.payonce.median / out.floor.median;
    out.floorTabsOverFloorMedianRatio = out.floorTabs.median / out.floor.median;
    out.payonceOverFloorTabsMedianRatio = out.payonce.median / out.floorTabs.median;
    out.handwrittenMedianRatio = out.handwritten.median / out.rawFetch.median;
    out.handwrittenOverFloorMedianRatio = out.handwritten.median / out.floor.median;
    // The same figures over the first and last 200 calls: does a growing store cost?
    out.first200MedianRatio = median(lib.slice(0, 200)) / median(raw.slice(0, 200));
    out.last200MedianRatio = median(lib.slice(-200)) / median(raw.slice(-200));
    const row = (name, x, note = '') => console.log(`${name.padEnd(11)} median ${ms(x.median)}  p99 ${ms(x.p99)}  ÷ floor ${(x.median / out.floor.median).toFixed(3)}  ÷ raw fetch ${(x.median / out.rawFetch.median).toFixed(3)}${note}`);
    console.log(`\n== overhead per call: ${OVERHEAD_N} sequential payments each way, interleaved, headless Chromium, local gateway (ratios of medians)`);
    row('payonce', out.payonce, '   target ÷ floor <= 1.03, and <= handwritten');
    row('handwritten', out.handwritten, '   (bench/baselines/handwritten.js)');
    row('floor', out.floor, '   (raw fetch + 2 sessionStorage writes + a timeout, in plain JS)');
    row('floor+tabs', out.floorTabs, `   (the floor + a Web Lock held over the request + 2 channel posts; payonce ÷ it ${out.payonceOverFloorTabsMedianRatio.toFixed(3)})`);
    row('raw fetch', out.rawFetch);
    console.log(`median ratio over the first 200 calls ${out.first200MedianRatio.toFixed(3)}, the last 200 ${out.last200MedianRatio.toFixed(3)} (${stored} records in storage at the end)`);
    return out;
  });
}

// The networks cold start is measured on: the local gateway as it is, and the same with
// Chromium's network emulation adding latency to every request and limiting throughput
// (a mobile connection). The gateway sends files gzip -9 encoded, as a server would.
const NETWORKS = [
  { name: 'local', label: 'local gateway, no emulation' },
  { name: 'mobile', label: '60 ms latency, 9 Mbit/s down, 1.5 Mbit/s up (emulated)', latency: 60, downloadThroughput: 9e6 / 8, uploadThroughput: 1.5e6 / 8 },
];

async function coldStart() {
  await split();
  const plain = ['payonce', 'payonce-split', 'handwritten', 'ky'];
  const variants = [...plain, ...plain.map((l) => `${l}&preload=1`), 'payonce-steps'];
  const out = { loads: COLD_N, networks: {} };
  const failed = [];
  await withBench(async (gateway, browser) => {
    for (const net of NETWORKS) {
      const loads = Object.fromEntries(variants.map((v) => [v, []]));
      for (let i = 0; i < COLD_N; i++) {
        // A rotating order, so that no library always loads right after the same other one.
        for (let j = 0; j < variants.length; j++) {
          const v = variants[(i + j) % variants.length];
          const context = await browser.newContext();
          const page = await context.newPage();
          if (net.latency !== undefined) {
            const cdp = await context.newCDPSession(page);
            await cdp.send('Network.enable');
            await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: net.latency,
              downloadThroughput: net.downloadThroughput, uploadThroughput: net.uploadThroughput });
          }
          try {
            await page.goto(`${gateway.url}/bench/cold.html?lib=${v}`);
            await page.waitForSelector('html[data-ms]', { state: 'attached', timeout: 30000 });
            loads[v].push(JSON.parse(await page.$eval('html', (h) => h.dataset.result)));
          } catch (e) {
            // A load that did not finish (a machine too busy): counted, not measured.
            failed.push(`${net.name} ${v}: ${e.message.split('\n')[0]}`);
          }
          await context.close();
        }
      }
      const med = (v, field) => median(loads[v].map((r) => r[field]));
      const pick = (v) => ({ median: med(v, 'ms'), sinceNavigationMedian: med(v, 'sinceNavigation') });
      const o = { label: net.label };
      for (const l of plain) o[l] = { ...pick(l), withPreload: pick(`${l}&preload=1`) };
      o.payonce.fetchMedians = { js: med('payonce', 'fetch payonce.js') };
      o['payonce-split'].fetchMedians = { js: med('payonce-split', 'fetch payonce.js'), wasm: med('payonce-split', 'fetch payonce_bg.wasm') };
      o.steps = Object.fromEntries(['glue', 'decode', 'inflate', 'compile', 'instantiate', 'storageOpen', 'firstStorageRead', 'ms'].map((f) => [f, med('payonce-steps', f)]));
      for (const l of ['payonce', 'payonce-split', 'handwritten']) {
        o[l].vsKy = o[l].median / o.ky.median;
        o[l].withPreload.vsKy = o[l].withPreload.median / o.ky.withPreload.median;
      }
      out.networks[net.name] = o;
    }
  }, { gzip: true });
  // The figures the README quotes: the shipped build on the local gateway.
  const local = out.networks.local;
  for (const l of ['payonce', 'handwritten', 'ky']) out[l] = local[l];
  out.steps = local.steps;
  out.ratio = local.payonce.vsKy;
  out.handwrittenRatio = local.handwritten.vsKy;
  console.log(`\n== cold start: import to first call possible, median of ${COLD_N} fresh page loads per network (from the import | from navigation start)`);
  for (const net of NETWORKS) {
    const o = out.networks[net.name];
    console.log(`-- ${o.label}`);
    for (const l of plain) {
      const x = o[l];
      const ratios = x.vsKy === undefined ? '' : `   ÷ ky ${x.vsKy.toFixed(2)}x, with preload ${x.withPreload.vsKy.toFixed(2)}x`;
      console.log(`${l.padEnd(13)} ${ms(x.median)} | ${ms(x.sinceNavigationMedian)}   with preload links: ${ms(x.withPreload.median)} | ${ms(x.withPreload.sinceNavigationMedian)}${ratios}`);
    }
    console.log(`one file ÷ two files: ${(o.payonce.median / o['payonce-split'].median).toFixed(2)}x, with preload ${(o.payonce.withPreload.median / o['payonce-split'].withPreload.median).toFixed(2)}x`);
    const st = o.steps;
    console.log(`payonce step by step (each step awaited alone): import ${ms(st.glue)}, base64 decode ${ms(st.decode)}, DecompressionStream ${ms(st.inflate)}, compile ${ms(st.compile)}, instantiate ${ms(st.instantiate)}, the browser opening sessionStorage ${ms(st.storageOpen)}, payonce's first storage read ${ms(st.firstStorageRead)}; total ${ms(st.ms)}`);
    console.log(`on the network (request to last byte): one file: payonce.js ${ms(o.payonce.fetchMedians.js)}; two files: payonce.js ${ms(o['payonce-split'].fetchMedians.js)}, payonce_bg.wasm ${ms(o['payonce-split'].fetchMedians.wasm)}`);
  }
  out.failedLoads = failed;
  if (failed.length) console.log(`${failed.length} loads did not finish and are not counted: ${failed.join('; ')}`);
  console.log('payonce-split: the same build as two files, the .wasm fetched after the JS (compileStreaming), as before the module went inside payonce.js');
  console.log('preload links: <link rel="modulepreload"> for the module; for payonce-split also <link rel="preload" as="fetch" crossorigin> for the .wasm');
  return out;
}

/** One randomized checkout scenario; the same list is run for every client. */
function scenario(rand) {
  const r = rand();
  const clicks = r < 0.65 ? 1 : r < 0.85 ? 2 : 3;
  const f = rand();
  let faults = [];
  let reload = false;
  if (f < 0.30) faults = [];
  else if (f < 0.45) faults = [{ kind: 'drop' }];
  else if (f < 0.60) faults = [{ kind: 'slow', slowMs: 700 }];
  else if (f < 0.75) faults = [{ kind: 'unavailable', times: 1 + Math.floor(rand() * 3) }];
  else if (f < 0.80) faults = [{ kind: 'rateLimit', retryAfter: 1 }];
  else if (f < 0.95) { faults = [{ kind: 'hold' }]; reload = true; }
  else faults = [{ kind: 'drop' }, { kind: 'unavailable', times: 2 }];
  return { clicks, faults, reload };
}

// What the randomized chaos run does not exercise: the same checkout, paid by payonce and
// by the same contract written by hand, at the edges a page meets. Each case reports what
// the shopper was told and what the gateway charged.
const EDGES = [
  {
    name: 'storage refuses every write (quota full, or storage disabled)',
    initScript: () => { Storage.prototype.setItem = () => { throw new DOMException('quota exceeded', 'QuotaExceededError'); }; },
    details: (order) => ({ order, amount: 1200, currency: 'usd' }),
  },
  {
    name: 'a NaN in the details (a bug in the page)',
    details: (order) => ({ order, amount: 'NaN', currency: 'usd' }),
    nan: true,
  },
  {
    name: 'the gateway answers 429 with Retry-After: 3600',
    faults: [{ kind: 'rateLimit', retryAfter: 3600 }, { kind: 'rateLimit', retryAfter: 3600 }, { kind: 'rateLimit', retryAfter: 3600 }],
    details: (order) => ({ order, amount: 1300, currency: 'usd' }),
  },
  {
    name: 'the same cart paid in two tabs at once',
    tabs: 2,
    details: (order) => ({ order, amount: 1400, currency: 'usd' }),
  },
];

async function edges() {
  const rows = [];
  await withBench(async (gateway, browser) => {
    const api = async (path, body) => {
      const res = await fetch(gateway.url + path, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
      return res.json();
    };
    for (const edge of EDGES) {
      const row = { edge: edge.name };
      for (const client of ['payonce', 'handwritten']) {
        await api('/api/faults/clear', {});
        const context = await browser.newContext();
        if (edge.initScript) await context.addInitScript(edge.initScript);
        const pages = [];
        for (let i = 0; i < (edge.tabs ?? 1); i++) pages.push(await openBench(context, gateway));
        const order = `edge-${client}-${rows.length}`;
        if (edge.faults) await api('/api/faults', edge.faults);
        const started = Date.now();
        const told = await Promise.all(pages.map((page) => page.evaluate(
          ({ client, details, nan }) => window.bench.click(client, nan ? { ...details, amount: NaN } : details),
          { client, details: edge.details(order), nan: edge.nan === true })));
        const ms = Date.now() - started;
        const charges = (await api(`/api/ledger?order=${order}`)).charges;
        await context.close();
        row[client] = {
          told: told.map((t) => (t.ok ? 'paid' : `failed (${t.code})`)).join(', '),
          charges: charges.length,
          amounts: charges.map((c) => c.amount),
          ms,
        };
      }
      rows.push(row);
    }
  });
  console.log('\n== at the edges: payonce beside the same contract written by hand');
  for (const r of rows) {
    console.log(`${r.edge}`);
    for (const client of ['payonce', 'handwritten']) {
      const c = r[client];
      console.log(`  ${client.padEnd(12)} told: ${c.told}; charged ${c.charges}x${c.amounts.length ? ` (amounts ${JSON.stringify(c.amounts)})` : ''}; ${c.ms} ms`);
    }
  }
  return rows;
}

async function chaos() {
  const rand = mulberry32(SEED);
  const scenarios = Array.from({ length: CHAOS_N }, () => scenario(rand));
  const clients = ['payonce', 'handwritten', 'snippet', 'retrying'];
  const score = {};
  await withBench(async (gateway, browser) => {
    const api = async (path, body) => {
      const res = await fetch(gateway.url + path, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
      return res.json();
    };
    const context = await browser.newContext();
    for (const client of clients) {
      const s = { checkouts: 0, duplicates: 0, lost: 0, toldSuccess: 0, toldFailure: 0, charged: 0, ms: 0 };
      const started = Date.now();
      for (let i = 0; i < scenarios.length; i++) {
        const sc = scenarios[i];
        const order = `chaos-${client}-${i}`;
        const details = { order, amount: 1000 + i, currency: 'usd' };
        await api('/api/faults/clear', {});
        await api('/api/release', {});
        const page = await openBench(context, gateway);
        await api('/api/faults', sc.faults.length ? sc.faults : []);
        let told = null;
        for (let round = 0; round < 3; round++) {
          if (round === 0 && sc.reload) {
            // The shopper clicks, the response is held, the page is reloaded mid-payment.
            await page.evaluate(({ client, details }) => window.bench.start(client, details), { client, details });
            const end = Date.now() + 5000;
            while ((await api(`/api/ledger?order=${order}`)).held === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
            await page.reload();
            await page.waitForSelector('html[data-ready="true"]', { state: 'attached', timeout: 15000 });
            await api('/api/release', {});
            continue;
          }
          const n = round === 0 ? sc.clicks : 1;
          told = await page.evaluate(({ client, details, n }) => window.bench.click(client, details, n), { client, details, n });
          if (told.ok) break;
        }
        await page.close();
        const charges = (await api(`/api/ledger?order=${order}`)).charges.length;
        s.checkouts += 1;
        s.charged += charges > 0 ? 1 : 0;
        if (told.ok) s.toldSuccess += 1; else s.toldFailure += 1;
        if (charges > 1) s.duplicates += 1;
        if ((told.ok && charges === 0) || (!told.ok && charges > 0)) s.lost += 1;
      }
      s.ms = Date.now() - started;
      score[client] = s;
    }
    await context.close();
  });
  const out = { checkouts: CHAOS_N, seed: SEED, mix: summarize(scenarios), score };
  console.log(`\n== exactly-once under chaos: ${CHAOS_N} randomized checkouts per client (seed ${SEED})`);
  console.log(`scenarios: ${JSON.stringify(out.mix)}`);
  console.log('client     duplicates  lost  told success  told failure  wall time');
  for (const [name, s] of Object.entries(score)) {
    console.log(`${name.padEnd(10)} ${String(s.duplicates).padStart(10)} ${String(s.lost).padStart(5)} ${String(s.toldSuccess).padStart(13)} ${String(s.toldFailure).padStart(13)}  ${(s.ms / 1000).toFixed(0)} s`);
  }
  console.log('handwritten: payonce\'s core contract by hand in plain JS; snippet: one key made at page load, kept in memory, no retries; retrying: a new key per click, reused across its retries');
  return out;
}

function summarize(scenarios) {
  const mix = {};
  for (const sc of scenarios) {
    const name = sc.reload ? 'hold+reload' : sc.faults.map((f) => f.kind).join('+') || 'none';
    mix[name] = (mix[name] ?? 0) + 1;
  }
  mix.doubleOrTripleClick = scenarios.filter((s) => s.clicks > 1).length;
  return mix;
}

function machine() {
  let chromium = 'unknown';
  try {
    // The binary itself: Debian's /usr/bin/chromium wrapper prints shell noise with --version.
    const bin = ['/usr/lib/chromium/chromium', process.env.CHROMIUM_PATH || 'chromium'].find((b) => !b.startsWith('/') || existsSync(b));
    chromium = execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {}
  return { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, chromium };
}

function markdown(r) {
  const lines = ['# Benchmark results', '', `Run ${r.date} on ${r.machine.cpu} (${r.machine.cores} cores, ${r.machine.memoryGiB} GiB), ${r.machine.chromium}, Node ${r.machine.node}.`, ''];
  if (r.size) {
    const s = r.size;
    const brot = (x) => (x === undefined ? '' : kb(x));
    lines.push('## Size shipped (gzip -9, brotli -q 11; each bundled and minified by esbuild)', '', ...(s.date ? [`Measured ${s.date}, Node ${process.version}.`, ''] : []), '| what | gzip | brotli |', '|---|---|---|',
      `| payonce: wasm + minified glue | ${kb(s.payonce.totalGzip)} (wasm ${kb(s.payonce.wasmGzip)}, glue ${kb(s.payonce.glueMinifiedGzip)}) | ${brot(s.payonce.totalBrotli)} (wasm ${brot(s.payonce.wasmBrotli)}, glue ${brot(s.payonce.glueMinifiedBrotli)}) |`,
      ...(s.handwritten ? [`| handwritten: payonce's core contract by hand in plain JS | ${kb(s.handwritten.gzip)} | ${kb(s.handwritten.brotli)} |`] : []),
      `| axios + uuid (the seed snippet's stack) | ${kb(s.axiosUuid.gzip)} | ${brot(s.axiosUuid.brotli)} |`, `| ky | ${kb(s.ky.gzip)} | ${brot(s.ky.brotli)} |`,
      ...(s.floor ? [`| floor: a wasm-bindgen module that only writes a key, sends one fetch, writes the outcome | ${kb(s.floor.totalGzip)} (wasm ${kb(s.floor.wasmGzip)}, glue ${kb(s.floor.glueMinifiedGzip)}) | ${brot(s.floor.totalBrotli)} |`] : []),
      ...(s.rulesFloor ? [`| rules floor: payonce's src/rules/ alone behind one JSON step function, storage as raw imports (bench/rules-floor) | ${kb(s.rulesFloor.totalGzip)} (wasm ${kb(s.rulesFloor.wasmGzip)}, glue ${kb(s.rulesFloor.glueMinifiedGzip)}) | ${brot(s.rulesFloor.totalBrotli)} |`,
        `| payonce ÷ rules floor (wasm + glue; payonce.js as shipped) | ${s.payonce.vsRulesFloor.toFixed(2)} (${s.shapes.oneFile.vsRulesFloor.toFixed(2)}) | |`] : []),
      `| target for payonce | ${kb(s.targetGzip)} | |`, '',
      ...(s.shapes ? ['What a page downloads for payonce, one file (as shipped: the module inside payonce.js, zlib-compressed by zopfli, base64) or two (payonce.js and payonce_bg.wasm), in bytes:', '',
        '| | gzip -9 | gzip -6 | brotli -q 11 | uncompressed |', '|---|---|---|---|---|',
        ...[['one file', s.shapes.oneFile], ['two files', s.shapes.twoFiles]].map(([n, x]) => `| ${n} | ${x.gzip} | ${x.gzip6} | ${x.brotli} | ${x.bytes} |`),
        `| one ÷ two | ${s.shapes.gzipRatio.toFixed(3)} | ${s.shapes.gzip6Ratio.toFixed(3)} | ${s.shapes.brotliRatio.toFixed(3)} | ${s.shapes.bytesRatio.toFixed(3)} |`, ''] : []),
      'What takes the space (twiggy, on the shipped module rebuilt with names):', '', '```', s.twiggyTop.trim(), '```', '');
    if (s.rulesFloor) {
      lines.push(`The rules floor, run once under Node by bench/rules-floor/run.mjs in the same run, ${s.rulesFloor.ran}. Its module holds each of the rules' main functions by name (twiggy): ${s.rulesFloor.mainFunctions.join(', ')}.`, '');
    }
    if (s.byModule && s.rulesFloor) {
      lines.push('By module path, payonce against the rules floor (bytes after wasm-opt, names kept, before gzip; *(driver)* is the rules floor\'s own step function, options reader and JSON writer):', '',
        '| module path | payonce | rules floor |', '|---|---|---|', ...moduleRows(s.byModule, s.rulesFloor.byModule).map(([m, n]) => `| ${m} | ${n[0]} | ${n[1]} |`), '');
    }
    if (s.byCrate) {
      lines.push('Summed by crate (bytes after wasm-opt, names section left out):', '', '| crate | bytes |', '|---|---|',
        ...Object.entries(s.byCrate).map(([c, b]) => `| ${c} | ${b} |`), '');
    }
  }
  if (r.overhead) {
    const o = r.overhead;
    lines.push('## Overhead per call', '', `${o.calls} sequential payments each way, interleaved, in headless Chromium against the local gateway.`, '',
      '| | median | p99 |', '|---|---|---|',
      `| payonce | ${ms(o.payonce.median)} | ${ms(o.payonce.p99)} |`, `| raw fetch | ${ms(o.rawFetch.median)} | ${ms(o.rawFetch.p99)} |`,
      ...(o.handwritten ? [`| handwritten: payonce's core contract by hand in plain JS | ${ms(o.handwritten.median)} | ${ms(o.handwritten.p99)} |`] : []),
      ...(o.floor ? [`| floor: raw fetch + 2 sessionStorage writes + a timeout (plain JS) | ${ms(o.floor.median)} | ${ms(o.floor.p99)} |`] : []),
      ...(o.floorTabs ? [`| floor with tabs: the floor + a Web Lock held over the request + 2 BroadcastChannel posts (plain JS) | ${ms(o.floorTabs.median)} | ${ms(o.floorTabs.p99)} |`] : []),
      `| ratio payonce / raw fetch | ${o.medianRatio.toFixed(3)} | ${o.p99Ratio.toFixed(3)} |`,
      ...(o.floor ? [`| ratio floor / raw fetch | ${o.floorMedianRatio.toFixed(3)} | |`] : []),
      ...(o.handwritten ? [`| ratio handwritten / raw fetch | ${o.handwrittenMedianRatio.toFixed(3)} | |`,
        `| ratio payonce / floor | ${o.payonceOverFloorMedianRatio.toFixed(3)} | |`,
        ...(o.floorTabs ? [`| ratio floor with tabs / floor | ${o.floorTabsOverFloorMedianRatio.toFixed(3)} | |`,
          `| ratio payonce / floor with tabs | ${o.payonceOverFloorTabsMedianRatio.toFixed(3)} | |`] : []),
        `| ratio handwritten / floor | ${o.handwrittenOverFloorMedianRatio.toFixed(3)} | |`] : []), '',
      `Median ratio over the first 200 calls ${o.first200MedianRatio.toFixed(3)}, over the last 200 ${o.last200MedianRatio.toFixed(3)}.`, '');
  }
  if (r.cold) {
    const c = r.cold;
    lines.push('## Cold start', '', `Import to first call possible, median of ${c.loads} fresh page loads per network (payonce/ky ${c.ratio.toFixed(2)}x on the local gateway). Files are sent gzip -9 encoded. *payonce-split* is the same build as two files, the .wasm fetched after the JS, as before the module went inside payonce.js. Preload links: \`<link rel="modulepreload">\` for the module, and for payonce-split also \`<link rel="preload" as="fetch" crossorigin>\` for the .wasm.`, '');
    for (const o of Object.values(c.networks ?? {})) {
      lines.push(`**${o.label}**`, '', '| | from the import | from navigation start | ÷ ky | with preload links, from the import | from navigation start | ÷ ky |', '|---|---|---|---|---|---|---|',
        ...['payonce', 'payonce-split', 'handwritten', 'ky'].map((l) => `| ${l} | ${ms(o[l].median)} | ${ms(o[l].sinceNavigationMedian)} | ${o[l].vsKy === undefined ? '' : `${o[l].vsKy.toFixed(2)}x`} | ${ms(o[l].withPreload.median)} | ${ms(o[l].withPreload.sinceNavigationMedian)} | ${o[l].withPreload.vsKy === undefined ? '' : `${o[l].withPreload.vsKy.toFixed(2)}x`} |`), '',
        `One file ÷ two files: ${(o.payonce.median / o['payonce-split'].median).toFixed(2)}x, with preload links ${(o.payonce.withPreload.median / o['payonce-split'].withPreload.median).toFixed(2)}x. payonce step by step (each step awaited alone, medians): import ${ms(o.steps.glue)}, base64 decode ${ms(o.steps.decode)}, DecompressionStream ${ms(o.steps.inflate)}, compile ${ms(o.steps.compile)}, instantiate ${ms(o.steps.instantiate)}, the browser opening sessionStorage ${ms(o.steps.storageOpen)}, payonce's first storage read ${ms(o.steps.firstStorageRead)}; total ${ms(o.steps.ms)}.`, '');
    }
  }
  if (r.chaos) {
    lines.push('## Exactly-once under chaos', '', `${r.chaos.checkouts} randomized checkouts per client, seed ${r.chaos.seed}. Scenarios: ${JSON.stringify(r.chaos.mix)}.`, '',
      '| client | duplicates | lost | told success | told failure |', '|---|---|---|---|---|');
    for (const [name, s] of Object.entries(r.chaos.score)) lines.push(`| ${name} | ${s.duplicates} | ${s.lost} | ${s.toldSuccess} | ${s.toldFailure} |`);
    lines.push('', '*handwritten*: payonce\'s core contract written by hand in plain JS (bench/baselines/handwritten.js). *snippet*: one key made at page load, kept in memory, no retries. *retrying*: a new key per click, reused across that click\'s retries. A duplicate is an order charged more than once; lost is told success with no charge, or told failure while charged.', '');
  }
  if (r.edges) {
    lines.push('## At the edges', '', 'The same checkout paid by payonce and by the same contract written by hand (bench/baselines/handwritten.js), at edges the randomized chaos run does not reach, in headless Chromium against the local gateway.', '',
      '| edge | payonce | hand-written |', '|---|---|---|');
    const cell = (c) => `told ${c.told}; charged ${c.charges}x${c.amounts.length ? ` (amount ${c.amounts.map((a) => JSON.stringify(a)).join(', ')})` : ''}; ${c.ms} ms`;
    for (const e of r.edges) lines.push(`| ${e.edge} | ${cell(e.payonce)} | ${cell(e.handwritten)} |`);
    lines.push('');
  }
  return lines.join('\n');
}

await mkdir(tmp, { recursive: true });
// A run of some sections keeps the other sections of the last full results.
let previous = {};
try {
  previous = wanted.length ? JSON.parse(await readFile(join(root, 'bench/results.json'), 'utf8')) : {};
} catch {}
const results = { ...previous, date: new Date().toISOString(), machine: machine() };
if (want('size') || want('cold')) {
  await bundle('bench/baselines/ky.js', join(tmp, 'ky.bundle.js'));
  await bundle('bench/baselines/handwritten.js', join(tmp, 'handwritten.bundle.js'));
}
if (want('size')) results.size = await size();
if (want('overhead')) results.overhead = await overhead();
if (want('cold')) results.cold = await coldStart();
if (want('chaos')) results.chaos = await chaos();
if (want('edges')) results.edges = await edges();
await writeFile(join(root, 'bench/results.json'), JSON.stringify(results, null, 2) + '\n');
await writeFile(join(root, 'bench/RESULTS.md'), markdown(results));
console.log('\nwritten: bench/results.json, bench/RESULTS.md');
