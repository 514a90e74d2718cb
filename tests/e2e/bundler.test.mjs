// The package as apps consume it: the packed tarball installed in an app's
// node_modules, imported by name, built with esbuild, Vite 8 and webpack 5 (served
// under a strict CSP header) and run by the Vite 7 and Vite 8 dev servers, paying
// through the gateway, in the engine PAYONCE_ENGINE names (harness.mjs). Each app uses
// its bundler's defaults: no configuration for payonce anywhere (webpack runs with no
// config file at all), no file copied by hand. payonce is one JS file with its
// WebAssembly module inside: every app's output and every page's requests hold no .wasm.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, rm, readdir, readFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { build as esbuild } from 'esbuild';
import { build as vite8Build, createServer as vite8Server } from 'vite';
import { createServer as vite7Server } from 'vite7';
import { setup } from './harness.mjs';

const run = promisify(execFile);
const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const work = join(root, 'tests/e2e/.tmp/bundled-apps');
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'";
let env;
const devServers = [];

// The same tiny checkout for every bundler, written as the README shows it (no
// top-level await, init() started early): pay, then pay the same details in another order.
const APP = `
  import init, { processPayment, pendingPayments } from 'payonce';
  init();
  async function checkout() {
    const details = { amount: 1999, currency: 'eur', order: 'bundled-' + location.pathname };
    const opts = { endpoint: '/api/charges' };
    const a = await processPayment(details, undefined, opts);
    const b = await processPayment({ order: details.order, currency: 'eur', amount: 1999 }, undefined, opts);
    return { a: a.key, b: b.key, replayed: b.replayed, pending: pendingPayments().length };
  }
  checkout().then(
    (result) => { document.body.dataset.result = JSON.stringify(result); },
    (e) => { document.body.dataset.result = JSON.stringify({ error: String(e && e.message) }); },
  );
`;
const PAGE = (title, script) =>
  `<!doctype html><meta charset="utf-8"><title>${title}</title><body><script ${script}></script></body>`;

/**
 * For the WebDriver engines, a dev server must load the harness's per-context script
 * first, as the gateway does (harness.mjs): this Vite plugin serves env.prelude.dir at
 * /__e2e/ and puts env.prelude.html(req) after the doctype of the page. Test plumbing only;
 * the app itself has no configuration.
 */
function e2ePrelude() {
  const prelude = env.prelude;
  if (!prelude) return [];
  let request;
  return [{
    name: 'payonce-e2e-prelude',
    configureServer(server) {
      server.middlewares.use(async (req, res, next) => {
        request = req;
        const name = /^\/__e2e\/([\w.-]+)$/.exec(req.url.split('?')[0])?.[1];
        if (!name) return next();
        try {
          const body = await readFile(join(prelude.dir, name));
          res.setHeader('Content-Type', name.endsWith('.html') ? 'text/html' : 'text/javascript');
          res.end(body);
        } catch {
          res.statusCode = 404;
          res.end();
        }
      });
    },
    transformIndexHtml: {
      order: 'pre',
      handler: (html) => html.replace(/^<!doctype html>/i, (d) => d + (request ? prelude.html(request) : '')),
    },
  }];
}

/** An app folder with the packed package installed in node_modules/payonce, as npm would. */
async function app(name, tarball) {
  const dir = join(work, name);
  await mkdir(join(dir, 'node_modules/payonce'), { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', join(dir, 'node_modules/payonce'), '--strip-components=1']);
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: `app-${name}`, private: true, type: 'module' }));
  return dir;
}

before(async () => {
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const [{ filename }] = JSON.parse(
    (await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root })).stdout,
  );
  const tarball = join(work, filename);

  // esbuild bundles payonce, its module with it: nothing to copy beside the bundle.
  const esbuildApp = await app('esbuild', tarball);
  await writeFile(join(esbuildApp, 'main.js'), APP);
  await mkdir(join(esbuildApp, 'dist'));
  await esbuild({
    entryPoints: [join(esbuildApp, 'main.js')],
    bundle: true,
    format: 'esm',
    minify: true,
    outfile: join(esbuildApp, 'dist/bundle.js'),
    absWorkingDir: esbuildApp,
    logLevel: 'error',
  });
  await writeFile(join(esbuildApp, 'dist/index.html'), PAGE('esbuild', 'type="module" src="bundle.js"'));

  // The same package on a page whose CSP (a meta tag on top of the header) lacks 'wasm-unsafe-eval'.
  await writeFile(join(esbuildApp, 'init-only.js'), `
    import init from 'payonce';
    init().then(() => { document.body.dataset.init = 'loaded'; }, (e) => { document.body.dataset.init = 'rejected: ' + e.name + ' ' + e.code + ' ' + e.retryable + ': ' + e.message; });
  `);
  await esbuild({
    entryPoints: [join(esbuildApp, 'init-only.js')],
    bundle: true,
    format: 'esm',
    outfile: join(esbuildApp, 'dist/init-only.js'),
    absWorkingDir: esbuildApp,
    logLevel: 'error',
  });
  await writeFile(join(esbuildApp, 'dist/no-wasm-eval.html'), `<!doctype html><meta charset="utf-8">
    <meta http-equiv="Content-Security-Policy" content="script-src 'self'"><title>no wasm-unsafe-eval</title>
    <body><script type="module" src="init-only.js"></script></body>`);

  const viteApp = await app('vite', tarball);
  await writeFile(join(viteApp, 'main.js'), APP);
  await writeFile(join(viteApp, 'index.html'), PAGE('vite', 'type="module" src="./main.js"'));
  await vite8Build({ root: viteApp, base: '/vite/', logLevel: 'error', configFile: false });

  // webpack 5 with no config file: src/index.js in, dist/main.js out.
  const webpackApp = await app('webpack', tarball);
  await mkdir(join(webpackApp, 'src'));
  await writeFile(join(webpackApp, 'src/index.js'), APP);
  await run(process.execPath, [join(root, 'node_modules/webpack-cli/bin/cli.js'), '--mode', 'production'], {
    cwd: webpackApp,
    env: { ...process.env, NODE_PATH: join(root, 'node_modules') },
  });
  await writeFile(join(webpackApp, 'dist/index.html'), PAGE('webpack', 'src="main.js"'));

  env = await setup({
    roots: {
      '/esbuild/': join(esbuildApp, 'dist'),
      '/vite/': join(viteApp, 'dist'),
      '/webpack/': join(webpackApp, 'dist'),
    },
    headers: { 'Content-Security-Policy': CSP },
  });

  // Dev servers: each app only has index.html and main.js; the dependency optimizer
  // (pre-bundling into node_modules/.vite/deps/) runs as in any new project.
  for (const [name, createServer] of [['vite7-dev', vite7Server], ['vite8-dev', vite8Server]]) {
    const dir = await app(name, tarball);
    await writeFile(join(dir, 'main.js'), APP);
    await writeFile(join(dir, 'index.html'), PAGE(name, 'type="module" src="./main.js"'));
    const server = await createServer({
      root: dir,
      configFile: false,
      logLevel: 'error',
      // Only the test's plumbing: the app's /api/charges goes to the gateway.
      server: { host: '127.0.0.1', port: 0, strictPort: false, proxy: { '/api': env.gateway.url } },
      plugins: e2ePrelude(),
    });
    await server.listen();
    const { port } = server.httpServer.address();
    devServers.push(server);
    env[name] = `http://127.0.0.1:${port}`;
  }

  // A monorepo whose node_modules is hoisted above the app: Vite 7's dev server runs
  // payonce from its cache folder, far from the package (a separate .wasm was not found
  // from there without optimizeDeps: { exclude: ['payonce'] }).
  const mono = join(work, 'mono');
  await mkdir(join(mono, 'node_modules/payonce'), { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', join(mono, 'node_modules/payonce'), '--strip-components=1']);
  await writeFile(join(mono, 'package.json'), JSON.stringify({ name: 'mono', private: true, workspaces: ['apps/*'] }));
  for (const [name, config] of [['mono-plain', {}], ['mono-excluded', { optimizeDeps: { exclude: ['payonce'] } }]]) {
    const dir = join(mono, 'apps', name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
    await writeFile(join(dir, 'main.js'), APP);
    await writeFile(join(dir, 'index.html'), PAGE(name, 'type="module" src="./main.js"'));
    const server = await vite7Server({
      root: dir,
      configFile: false,
      logLevel: 'silent',
      ...config,
      server: { host: '127.0.0.1', port: 0, strictPort: false, proxy: { '/api': env.gateway.url } },
      plugins: e2ePrelude(),
    });
    await server.listen();
    devServers.push(server);
    env[name] = `http://127.0.0.1:${server.httpServer.address().port}`;
  }
});

after(async () => {
  for (const server of devServers) await server.close();
  await env?.close();
  await rm(work, { recursive: true, force: true });
});

beforeEach(async () => { await env.reset(); });

/** Opens the app at `url` in a fresh context and waits for what it reports. */
async function openApp(url) {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForSelector('body[data-result]', { timeout: 30000 });
  const result = JSON.parse(await page.evaluate(() => document.body.dataset.result));
  return { context, page, result };
}

async function payIn(url) {
  const { context, page, result } = await openApp(url);
  const loaded = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname));
  const problems = await page.problems();
  await context.close();
  return { result, problems, loaded, ledger: await env.ledger() };
}

function assertPaidOnce({ result, problems, ledger }) {
  assert.equal(result.error, undefined, `the app failed: ${result.error}`);
  assert.equal(result.a, result.b, 'same details in another order: same key');
  assert.equal(result.replayed, true);
  assert.equal(result.pending, 0);
  assert.equal(ledger.charges.length, 1);
  assert.deepEqual(problems, []);
}

for (const [bundler, path] of [
  ['an esbuild', '/esbuild/index.html'],
  ['a Vite 8', '/vite/index.html'],
  ['a webpack 5 production', '/webpack/index.html'],
]) {
  test(`${bundler} bundle importing payonce by name pays once under a strict CSP header`, async () => {
    assertPaidOnce(await payIn(`${env.gateway.url}${path}`));
  });
}

test('esbuild, Vite 8 and webpack 5 write no .wasm: the module is inside the bundle', async () => {
  for (const dir of ['esbuild/dist', 'vite/dist', 'webpack/dist']) {
    const files = await readdir(join(work, dir), { recursive: true });
    assert.deepEqual(files.filter((f) => f.endsWith('.wasm')), [], `${dir}: ${files.join(', ')}`);
  }
  const packed = JSON.parse((await run('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], { cwd: root })).stdout)[0].files.map((f) => f.path);
  assert.deepEqual(packed.filter((f) => f.startsWith('pkg/')).sort(), ['pkg/payonce.d.ts', 'pkg/payonce.js'], 'the package ships one module and its declarations');
});

for (const [name, label] of [['vite7-dev', 'Vite 7'], ['vite8-dev', 'Vite 8']]) {
  test(`the ${label} dev server, with payonce pre-bundled into node_modules/.vite/deps/, pays once with no configuration`, async () => {
    const run = await payIn(`${env[name]}/`);
    assertPaidOnce(run);
    assert.ok(run.loaded.some((p) => /\/node_modules\/\.vite\/deps\/payonce\.js$/.test(p)),
      `payonce was not pre-bundled: ${run.loaded.join(', ')}`);
    assert.deepEqual(run.loaded.filter((p) => p.endsWith('.wasm')), [], 'no .wasm was fetched');
  });
}

test('in a hoisted monorepo, the Vite 7 dev server pays once with no configuration, and with payonce excluded from pre-bundling', async () => {
  const plain = await payIn(`${env['mono-plain']}/`);
  assertPaidOnce(plain);
  assert.ok(plain.loaded.some((p) => /\/node_modules\/\.vite\/deps\/payonce\.js$/.test(p)), `payonce was not pre-bundled: ${plain.loaded.join(', ')}`);
  await env.reset();
  assertPaidOnce(await payIn(`${env['mono-excluded']}/`));
});

// payonce's init() must reject in every engine, so the page can tell the shopper, rather
// than hang or leave a half-made module: with a PaymentError that names the CSP source
// to allow. Seen here: the rejection in all three; Chromium and Firefox also fire a
// securitypolicyviolation event (wasm-eval), WebKitGTK 2.50 fires none.
test('under a CSP without wasm-unsafe-eval, init() rejects with a PaymentError naming it', async (t) => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${env.gateway.url}/esbuild/no-wasm-eval.html`);
  const outcome = await page.waitForFunction(() => document.body.dataset.init, undefined, { timeout: 10000 });
  const problems = await page.problems();
  await context.close();
  assert.match(outcome, /^rejected: PaymentError network true: payonce could not load its WebAssembly module \(.+\); nothing was sent\..*'wasm-unsafe-eval'/s);
  assert.equal((await env.ledger()).requests.length, 0);
  t.diagnostic(`${outcome}; problems: ${JSON.stringify(problems)}`);
});
