// The package as apps consume it: imported by name, bundled by esbuild and by
// Vite, served under a strict CSP header, paying through the gateway.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, copyFile, rm, symlink } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { build as esbuild } from 'esbuild';
import { build as vite } from 'vite';
import { setup } from './harness.mjs';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const work = join(root, 'tests/e2e/.tmp/bundled-apps');
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'";
let env;

// The same tiny checkout for every bundler: pay, then pay the same details in another order.
const APP = `
  import init, { processPayment, pendingPayments } from 'payonce';
  await init();
  const details = { amount: 1999, currency: 'eur', order: 'bundled-' + location.pathname };
  const opts = { endpoint: '/api/charges' };
  const a = await processPayment(details, undefined, opts);
  const b = await processPayment({ order: details.order, currency: 'eur', amount: 1999 }, undefined, opts);
  document.body.dataset.result = JSON.stringify({ a: a.key, b: b.key, replayed: b.replayed, pending: pendingPayments().length });
`;

before(async () => {
  await rm(work, { recursive: true, force: true });
  await mkdir(join(work, 'node_modules'), { recursive: true });
  await symlink(root, join(work, 'node_modules/payonce'), 'dir');
  await writeFile(join(work, 'main.js'), APP);

  // esbuild leaves new URL('payonce_bg.wasm', import.meta.url) alone: ship the wasm beside the bundle.
  await mkdir(join(work, 'esbuild'), { recursive: true });
  await esbuild({
    entryPoints: [join(work, 'main.js')],
    bundle: true,
    format: 'esm',
    minify: true,
    outfile: join(work, 'esbuild/bundle.js'),
    absWorkingDir: work,
    logLevel: 'error',
  });
  await copyFile(join(root, 'pkg/payonce_bg.wasm'), join(work, 'esbuild/payonce_bg.wasm'));
  await writeFile(join(work, 'esbuild/index.html'), '<!doctype html><meta charset="utf-8"><title>esbuild</title><script type="module" src="bundle.js"></script>');

  // Vite turns the same new URL(...) into a hashed asset on its own.
  await mkdir(join(work, 'vite-src'), { recursive: true });
  await writeFile(join(work, 'vite-src/index.html'), '<!doctype html><meta charset="utf-8"><title>vite</title><script type="module" src="../main.js"></script>');
  await vite({
    root: join(work, 'vite-src'),
    base: '/vite/',
    logLevel: 'error',
    configFile: false,
    build: { outDir: join(work, 'vite'), emptyOutDir: true, target: 'es2022' },
    server: { fs: { allow: [work, root] } },
  });

  env = await setup({
    roots: { '/esbuild/': join(work, 'esbuild'), '/vite/': join(work, 'vite') },
    headers: { 'Content-Security-Policy': CSP },
  });
});

after(async () => {
  await env?.close();
  await rm(work, { recursive: true, force: true });
});

beforeEach(async () => { await env.reset(); });

async function payIn(path) {
  const page = await env.browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(m.text()); });
  page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(`${r.status()} ${r.url()}`); });
  await page.goto(`${env.gateway.url}${path}`);
  await page.waitForSelector('body[data-result]', { state: 'attached', timeout: 10000 });
  const result = JSON.parse(await page.$eval('body', (b) => b.dataset.result));
  await page.close();
  return { result, problems, ledger: await env.ledger() };
}

for (const [bundler, path] of [['an esbuild', '/esbuild/index.html'], ['a Vite', '/vite/index.html']]) {
  test(`${bundler} bundle importing payonce by name pays once under a strict CSP header`, async () => {
    const { result, problems, ledger } = await payIn(path);
    assert.equal(result.a, result.b, 'same details in another order: same key');
    assert.equal(result.replayed, true);
    assert.equal(result.pending, 0);
    assert.equal(ledger.charges.length, 1);
    assert.deepEqual(problems, []);
  });
}
