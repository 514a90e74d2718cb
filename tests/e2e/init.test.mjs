// Using payonce without waiting for init(): every export answers at once (none
// throws for want of the module), payments wait for the module and pay once; payonce.js
// alone is the whole package (its module is inside it); and a module that cannot be
// loaded (no DecompressionStream, a WebAssembly that never answers) is a PaymentError
// that says what to do, within the load's deadline, never a hang.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, copyFile, readFile, rm } from 'node:fs/promises';
import { inflateSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { setup, chargeRequests, until } from './harness.mjs';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const work = join(root, 'tests/e2e/.tmp/init-pages');
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
let env;

// The page imports the package and calls nothing: the test drives it.
const PAGE = (src) => `<!doctype html><meta charset="utf-8"><title>before init</title>
<button id="pay" type="button">Pay</button>
<script type="module">
  import * as payonce from '${src}';
  window.payonce = payonce;
  document.documentElement.dataset.loaded = 'true';
</script>`;

before(async () => {
  await rm(work, { recursive: true, force: true });
  await mkdir(join(work, 'pages'), { recursive: true });
  await writeFile(join(work, 'pages/index.html'), PAGE('/pkg/payonce.js'));
  // payonce.js alone in a folder: nothing else is served beside it.
  await mkdir(join(work, 'alone'), { recursive: true });
  await copyFile(join(root, 'pkg/payonce.js'), join(work, 'alone/payonce.js'));
  await writeFile(join(work, 'alone/index.html'), PAGE('/alone/payonce.js'));
  // The module itself, taken out of payonce.js, for the tests that hand init() a module.
  const text = /"([A-Za-z0-9+/]{10000,}={0,2})"/.exec(await readFile(join(root, 'pkg/payonce.js'), 'utf8'))?.[1];
  assert.ok(text, 'pkg/payonce.js holds its module as base64 text');
  await mkdir(join(work, 'module'), { recursive: true });
  await writeFile(join(work, 'module/payonce_bg.wasm'), inflateSync(Buffer.from(text, 'base64')));
  env = await setup({
    roots: { '/pkg/': join(root, 'pkg'), '/pages/': join(work, 'pages'), '/alone/': join(work, 'alone'), '/module/': join(work, 'module') },
  });
});

after(async () => {
  await env?.close();
  await rm(work, { recursive: true, force: true });
});

beforeEach(async () => { await env.reset(); });

/** A fresh tab on `path`, the package imported and nothing called yet. */
async function open(path, context) {
  context ??= await env.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${env.gateway.url}${path}`);
  await page.waitForSelector('html[data-loaded="true"]', { timeout: 10000 });
  return { context, page };
}

test('every export answers synchronously before init() without throwing, and a payment made then pays once', async () => {
  const { context, page } = await open('/pages/');
  const sync = await page.evaluate(() => {
    const p = window.payonce;
    const out = {};
    const attempt = (name, fn) => {
      try {
        out[name] = fn();
      } catch (e) {
        out[name] = `threw ${e?.name}: ${e?.message}`;
      }
    };
    attempt('key', () => p.newIdempotencyKey());
    attempt('pending', () => p.pendingPayments());
    attempt('forgot', () => p.forgetPayment('no-such-key'));
    attempt('isError', () => p.isPaymentError(new Error('plain')));
    attempt('button', () => {
      window.button = new p.PayButton(document.getElementById('pay'), { endpoint: '/api/charges' });
      return window.button.state;
    });
    attempt('payment', () => {
      window.paid = p.processPayment({ amount: 700, currency: 'eur', order: 'early' }, undefined, { endpoint: '/api/charges' })
        .then((r) => ({ key: r.key, status: r.status }), (e) => ({ error: e.message }));
      return 'promise';
    });
    return out;
  });
  assert.match(sync.key, UUID_V4);
  assert.deepEqual(sync.pending, []);
  assert.equal(sync.forgot, false);
  assert.equal(sync.isError, false);
  assert.equal(sync.button, 'idle');
  assert.equal(sync.payment, 'promise');

  const paid = await page.evaluate(() => window.paid);
  assert.match(paid.key ?? paid.error, UUID_V4);
  assert.equal(paid.status, 201);
  assert.equal((await env.ledger()).charges.length, 1);
  assert.deepEqual(await page.problems(), []);
  await context.close();
});

test('before init(), newIdempotencyKey() refuses a random source without randomness as the module does', async () => {
  const { context, page } = await open('/alone/');
  const seen = await page.evaluate(() => {
    const p = window.payonce;
    const real = crypto.getRandomValues;
    const tries = [];
    crypto.getRandomValues = (a) => a.fill(0);
    for (let i = 0; i < 2; i++) {
      try {
        tries.push(p.newIdempotencyKey());
      } catch (e) {
        tries.push(`${e.name} ${e.code}: ${e.message}`);
      }
    }
    crypto.getRandomValues = real;
    tries.push(p.newIdempotencyKey());
    return tries;
  });
  assert.match(seen[0], /^PaymentError invalid_input: .*getRandomValues is broken/);
  assert.match(seen[1], /^PaymentError invalid_input: /);
  assert.match(seen[2], UUID_V4);
  await context.close();
});

test('a double-click before the module is there sends one request; a PayButton made before init pays through it', async () => {
  const { context, page } = await open('/pages/');
  const result = await page.evaluate(async () => {
    const p = window.payonce;
    const details = { amount: 1200, currency: 'usd', order: 'double-before-init' };
    const opts = { endpoint: '/api/charges' };
    const both = await Promise.all([p.processPayment(details, undefined, opts), p.processPayment(details, undefined, opts)]);
    const button = new p.PayButton(document.getElementById('pay'), { endpoint: '/api/charges' });
    const viaButton = await button.pay({ amount: 300, currency: 'usd', order: 'button-before-init' }, undefined, opts);
    return { keys: both.map((r) => r.key), button: button.state, shown: document.getElementById('pay').dataset.payonceState, viaButton: viaButton.status };
  });
  assert.equal(result.keys[0], result.keys[1]);
  assert.equal(result.button, 'succeeded');
  assert.equal(result.shown, 'succeeded');
  assert.equal(result.viaButton, 201);
  const ledger = await env.ledger();
  assert.equal(ledger.charges.length, 2, 'one charge per order');
  assert.equal(chargeRequests(ledger).length, 2, 'one request per order');
  await context.close();
});

test('forgetPayment() before init() is applied before the next payment is sent', async () => {
  const details = { amount: 990, currency: 'eur', order: 'forget-before-init' };
  const pay = (page) =>
    page.evaluate((d) => window.payonce.processPayment(d, undefined, { endpoint: '/api/charges' }).then((r) => r.key), details);
  const { context, page } = await open('/pages/');
  const first = await pay(page);

  // After a reload the same details reuse the key (the server replays) ...
  await page.reload();
  await page.waitForSelector('html[data-loaded="true"]');
  assert.equal(await pay(page), first);

  // ... unless the key was forgotten, even before the module was there.
  await page.reload();
  await page.waitForSelector('html[data-loaded="true"]');
  const forgot = await page.evaluate((k) => window.payonce.forgetPayment(k), first);
  assert.equal(forgot, false, 'before init it cannot know whether there was one');
  const third = await pay(page);
  assert.notEqual(third, first);
  assert.equal((await env.ledger()).charges.length, 2);
  await context.close();
});

test('pendingPayments() before init() is [] and the real list after; a PayButton made before init shows the pending payment', async () => {
  await env.faults({ kind: 'hold' });
  const { context, page } = await open('/pages/');
  await page.evaluate(() => {
    window.payonce.processPayment({ amount: 4100, currency: 'usd', order: 'held' }, undefined, { endpoint: '/api/charges' }).catch(() => {});
  });
  await until(async () => (await env.ledger()).held === 1, 10000, 'the held request');
  await page.reload();
  await page.waitForSelector('html[data-loaded="true"]');
  const seen = await page.evaluate(async () => {
    const p = window.payonce;
    const before = p.pendingPayments('/api/charges');
    const button = new p.PayButton(document.getElementById('pay'), { endpoint: '/api/charges' });
    const stateBefore = button.state;
    await p.default();
    return { before, stateBefore, after: p.pendingPayments('/api/charges').length, stateAfter: button.state };
  });
  assert.deepEqual(seen.before, []);
  assert.equal(seen.stateBefore, 'idle');
  assert.equal(seen.after, 1);
  assert.equal(seen.stateAfter, 'pending');
  await env.release();
  await context.close();
});

// Page code that takes DecompressionStream away (an older browser has none), keeping it
// where the test can give it back.
const noDecompressionStream = () => {
  window.realDecompressionStream = window.DecompressionStream;
  delete window.DecompressionStream;
};

async function failedPayment(page, order) {
  return page.evaluate(async (order) => {
    const p = window.payonce;
    try {
      await p.processPayment({ amount: 1, currency: 'usd', order }, undefined, { endpoint: '/api/charges' });
      return { paid: true };
    } catch (e) {
      return {
        isPaymentError: p.isPaymentError(e),
        name: e.name,
        message: e.message,
        fields: { code: e.code, status: e.status, retryable: e.retryable, key: e.key, attempts: e.attempts, body: e.body, retryAfterMs: e.retryAfterMs },
      };
    }
  }, order);
}

const LOAD_FAILED = { code: 'network', status: null, retryable: true, key: null, attempts: 0, body: null, retryAfterMs: null };

test('payonce.js alone pays once: it fetches no .wasm, and init() given a URL (as before the module was inside) ignores it', async () => {
  const { context, page } = await open('/alone/');
  const seen = await page.evaluate(async () => {
    const p = window.payonce;
    await p.default({ module_or_path: '/no/such/payonce_bg.wasm' });
    await p.default(new URL('/no/such/payonce_bg.wasm', location.href));
    const r = await p.processPayment({ amount: 1, currency: 'usd', order: 'alone' }, undefined, { endpoint: '/api/charges' });
    const fetched = performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname).filter((n) => n.endsWith('.wasm'));
    return { status: r.status, fetched };
  });
  assert.equal(seen.status, 201);
  assert.deepEqual(seen.fetched, [], 'no .wasm was fetched');
  assert.equal((await env.ledger()).charges.length, 1);
  assert.deepEqual(await page.problems(), []);
  await context.close();
});

test('without DecompressionStream the payment rejects with a PaymentError saying what is needed; with it back, the next payment pays', async () => {
  const context = await env.browser.newContext({ initScript: noDecompressionStream });
  const { page } = await open('/alone/', context);
  const failed = await failedPayment(page, 'no-decompression');
  assert.equal(failed.isPaymentError, true, JSON.stringify(failed));
  assert.equal(failed.name, 'PaymentError');
  assert.deepEqual(failed.fields, LOAD_FAILED);
  assert.match(failed.message, /could not load its WebAssembly module \(.*DecompressionStream.*\); nothing was sent/);
  assert.match(failed.message, /Chrome 96, Firefox 113, Safari 16\.4/);
  assert.equal((await env.ledger()).requests.length, 0, 'nothing was sent');

  const paid = await page.evaluate(async () => {
    window.DecompressionStream = window.realDecompressionStream;
    const r = await window.payonce.processPayment({ amount: 1, currency: 'usd', order: 'no-decompression' }, undefined, { endpoint: '/api/charges' });
    return r.status;
  });
  assert.equal(paid, 201);
  assert.equal((await env.ledger()).charges.length, 1);
  await context.close();
});

test('a WebAssembly.instantiate that never settles ends in a PaymentError at the load deadline, not a hang', async () => {
  const context = await env.browser.newContext({
    initScript: () => {
      WebAssembly.instantiate = () => new Promise(() => {});
      WebAssembly.instantiateStreaming = () => new Promise(() => {});
    },
  });
  const { page } = await open('/alone/', context);
  const failed = await failedPayment(page, 'never-instantiated');
  assert.equal(failed.isPaymentError, true, JSON.stringify(failed));
  assert.deepEqual(failed.fields, LOAD_FAILED);
  assert.match(failed.message, /could not load its WebAssembly module \(it did not finish within 10 s\)/);
  assert.equal((await env.ledger()).requests.length, 0, 'nothing was sent');
  await context.close();
});

test('the synchronous exports start no load, so an init() made after them is the first', async () => {
  const { context, page } = await open('/alone/');
  const seen = await page.evaluate(async () => {
    const p = window.payonce;
    let instantiated = 0;
    const instantiate = WebAssembly.instantiate;
    WebAssembly.instantiate = (...args) => {
      instantiated += 1;
      return instantiate.apply(WebAssembly, args);
    };
    const element = document.getElementById('pay');
    const button = new p.PayButton(element, { endpoint: '/api/charges' });
    p.pendingPayments();
    p.forgetPayment('k');
    p.newIdempotencyKey();
    await new Promise((r) => setTimeout(r, 200));
    const before = { instantiated, bound: element.dataset.payonceState ?? null };
    await p.default();
    return { before, after: { instantiated, bound: element.dataset.payonceState ?? null, state: button.state } };
  });
  assert.deepEqual(seen.before, { instantiated: 0, bound: null });
  assert.deepEqual(seen.after, { instantiated: 1, bound: 'idle', state: 'idle' });
  await context.close();
});

test('a payment made before init(module) waits for that module when the inlined one cannot load', async () => {
  const context = await env.browser.newContext({ initScript: noDecompressionStream });
  const { page } = await open('/alone/', context);
  const outcome = await page.evaluate(async () => {
    const p = window.payonce;
    const module = await WebAssembly.compileStreaming(fetch('/module/payonce_bg.wasm'));
    const paying = p.processPayment({ amount: 5, currency: 'usd', order: 'pay-then-init-module' }, undefined, { endpoint: '/api/charges' });
    const loading = p.default({ module_or_path: module });
    try {
      await loading;
      const r = await paying;
      return { status: r.status };
    } catch (e) {
      return { error: e.message };
    }
  });
  assert.equal(outcome.status, 201, outcome.error);
  assert.equal((await env.ledger()).charges.length, 1);
  await context.close();
});

test('a freed PayButton refuses to pay with a PaymentError, and sends nothing', async () => {
  const { context, page } = await open('/pages/');
  const seen = await page.evaluate(async () => {
    const p = window.payonce;
    await p.default();
    const button = new p.PayButton(document.getElementById('pay'), { endpoint: '/api/charges' });
    button.free();
    try {
      await button.pay({ amount: 5, currency: 'usd', order: 'freed' });
      return { paid: true };
    } catch (e) {
      return { isPaymentError: p.isPaymentError(e), name: e.name, code: e.code, attempts: e.attempts, message: e.message };
    }
  });
  assert.equal(seen.isPaymentError, true, JSON.stringify(seen));
  assert.deepEqual([seen.name, seen.code, seen.attempts], ['PaymentError', 'invalid_input', 0]);
  assert.match(seen.message, /freed/);
  assert.equal((await env.ledger()).charges.length, 0);
  await context.close();
});
