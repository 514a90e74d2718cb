// The package as an app would consume it: imported by name, bundled by
// esbuild, served under a strict CSP header, paying through the gateway.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, copyFile, rm, symlink } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { setup } from './harness.mjs';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const work = join(root, 'tests/e2e/.tmp/bundled-app');
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'";
let env;

before(async () => {
  await rm(work, { recursive: true, force: true });
  await mkdir(join(work, 'node_modules'), { recursive: true });
  await symlink(root, join(work, 'node_modules/payonce'), 'dir');
  await writeFile(join(work, 'main.js'), `
    import init, { processPayment, pendingPayments } from 'payonce';
    await init();
    const details = { amount: 1999, currency: 'eur', order: 'bundled-1' };
    const opts = { endpoint: '/api/charges' };
    const a = await processPayment(details, undefined, opts);
    const b = await processPayment({ order: 'bundled-1', currency: 'eur', amount: 1999 }, undefined, opts);
    document.body.dataset.result = JSON.stringify({ a: a.key, b: b.key, replayed: b.replayed, pending: pendingPayments().length });
  `);
  await writeFile(join(work, 'index.html'), '<!doctype html><meta charset="utf-8"><title>bundled</title><script type="module" src="bundle.js"></script>');
  await build({
    entryPoints: [join(work, 'main.js')],
    bundle: true,
    format: 'esm',
    minify: true,
    outfile: join(work, 'bundle.js'),
    absWorkingDir: work,
    logLevel: 'error',
  });
  // esbuild leaves new URL('payonce_bg.wasm', import.meta.url) alone: ship the wasm beside the bundle.
  await copyFile(join(root, 'pkg/payonce_bg.wasm'), join(work, 'payonce_bg.wasm'));
  env = await setup({
    roots: { '/': work },
    headers: { 'Content-Security-Policy': CSP },
  });
});

after(async () => {
  await env?.close();
  await rm(work, { recursive: true, force: true });
});

test('an esbuild bundle importing payonce by name pays once under a strict CSP header', async () => {
  const page = await env.browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(m.text()); });
  page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(`${r.status()} ${r.url()}`); });
  await page.goto(`${env.gateway.url}/index.html`);
  await page.waitForSelector('body[data-result]', { state: 'attached', timeout: 10000 });
  const result = JSON.parse(await page.$eval('body', (b) => b.dataset.result));
  assert.equal(result.a, result.b, 'same details in another order: same key');
  assert.equal(result.replayed, true);
  assert.equal(result.pending, 0);
  const ledger = await env.ledger();
  assert.equal(ledger.charges.length, 1);
  assert.deepEqual(problems, []);
  await page.close();
});
