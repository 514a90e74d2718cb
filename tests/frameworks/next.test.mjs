// A Next.js 16 app (app router) built from the packed package, once with Turbopack and
// once with webpack, with no payonce configuration: a server component renders a client
// component that imports payonce (so the import runs during the build's server
// rendering), and the static export pays once in the browser against the gateway.
// Run by `npm run test:frameworks` (scripts/test-frameworks.sh installs the app first).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, rename, readdir } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { setup } from '../e2e/harness.mjs';

const run = promisify(execFile);
const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const appDir = join(root, 'tests/frameworks/next');
const work = join(root, 'tests/e2e/.tmp/next');
const BUILDS = [
  ['Turbopack', '/next-turbopack', []],
  ['webpack', '/next-webpack', ['--webpack']],
];
let env;
const buildLogs = {};

before(async () => {
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const [{ filename }] = JSON.parse(
    (await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root })).stdout,
  );
  const installed = join(appDir, 'node_modules/payonce');
  await rm(installed, { recursive: true, force: true });
  await mkdir(installed, { recursive: true });
  await run('tar', ['-xzf', join(work, filename), '-C', installed, '--strip-components=1']);

  const roots = {};
  for (const [, basePath, flags] of BUILDS) {
    await rm(join(appDir, 'out'), { recursive: true, force: true });
    const { stdout, stderr } = await run(process.execPath, [join(appDir, 'node_modules/next/dist/bin/next'), 'build', ...flags], {
      cwd: appDir,
      env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', NEXT_BASE_PATH: basePath },
      maxBuffer: 16 * 1024 * 1024,
    });
    buildLogs[basePath] = stdout + stderr;
    const out = join(work, basePath.slice(1));
    await rename(join(appDir, 'out'), out);
    roots[`${basePath}/`] = out;
  }
  env = await setup({ roots });
});

after(async () => {
  await env?.close();
  await rm(work, { recursive: true, force: true });
});

beforeEach(async () => { await env.reset(); });

for (const [bundler, basePath] of BUILDS) {
  test(`a Next.js app built with ${bundler} pays once: double-click, then again after a reload`, async () => {
    assert.doesNotMatch(buildLogs[basePath], /PaymentError|Error/, 'the prerender ran payonce without an error');
    // payonce is one JS file, its module inside: Next.js emits no .wasm asset for it.
    const out = await readdir(join(work, basePath.slice(1)), { recursive: true });
    assert.deepEqual(out.filter((f) => f.endsWith('.wasm')), [], 'no .wasm among the static assets');

    const context = await env.browser.newContext();
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(m.text()); });
    page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(`${r.status()} ${r.url()}`); });
    const ready = () => page.waitForSelector('#pay[data-state="ready"]', { timeout: 20000 });
    const paid = async () => {
      await page.waitForSelector('#pay[data-state="paid"], #pay[data-state="failed"], #pay[data-state="unknown"]', { timeout: 20000 });
      return JSON.parse(await page.$eval('#pay', (b) => b.dataset.result));
    };

    await page.goto(`${env.gateway.url}${basePath}/`);
    await ready();
    await page.dblclick('#pay');
    const first = await paid();
    assert.equal(first.error, undefined, first.error);

    await page.reload();
    await ready();
    await page.click('#pay');
    const second = await paid();
    assert.equal(second.key, first.key, 'the same payment after a reload keeps its key');
    assert.equal(second.replayed, true);

    const ledger = await env.ledger();
    assert.equal(ledger.charges.length, 1);
    assert.deepEqual(problems, []);
    await context.close();
  });
}
