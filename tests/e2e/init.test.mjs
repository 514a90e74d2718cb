// Using payonce without waiting for init(): every export answers at once (none
// throws for want of the module), payments wait for the module and pay once, and a
// module that cannot be loaded is a PaymentError that says what to do.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, copyFile, rm } from 'node:fs/promises';
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
  // The module alone, its .wasm not beside it (a deployment that forgot the file).
  await mkdir(join(work, 'nowasm'), { recursive: true });
  await copyFile(join(root, 'pkg/payonce.js'), join(work, 'nowasm/payonce.js'));
  await writeFile(join(work, 'nowasm/index.html'), PAGE('/nowasm/payonce.js'));
  env = await setup({
    roots: { '/pkg/': join(root, 'pkg'), '/pages/': join(work, 'pages'), '/nowasm/': join(work, 'nowasm') },
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
  const { context, page } = await open('/nowasm/');
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

test('a .wasm that cannot be loaded rejects the payment with a PaymentError saying what to do; init() with its URL then works', async () => {
  const { context, page } = await open('/nowasm/');
  const failed = await page.evaluate(async () => {
    const p = window.payonce;
    try {
      await p.processPayment({ amount: 1, currency: 'usd', order: 'no-wasm' }, undefined, { endpoint: '/api/charges' });
      return { paid: true };
    } catch (e) {
      return {
        isPaymentError: p.isPaymentError(e),
        name: e.name,
        message: e.message,
        fields: { code: e.code, status: e.status, retryable: e.retryable, key: e.key, attempts: e.attempts, body: e.body, retryAfterMs: e.retryAfterMs },
      };
    }
  });
  assert.equal(failed.isPaymentError, true);
  assert.equal(failed.name, 'PaymentError');
  assert.deepEqual(failed.fields, { code: 'network', status: null, retryable: true, key: null, attempts: 0, body: null, retryAfterMs: null });
  assert.match(failed.message, /could not load its WebAssembly module from http:\/\/127\.0\.0\.1:\d+\/nowasm\/payonce_bg\.wasm/);
  assert.match(failed.message, /module_or_path/);
  assert.equal((await env.ledger()).requests.length, 0, 'nothing was sent');

  const paid = await page.evaluate(async () => {
    const p = window.payonce;
    await p.default({ module_or_path: '/pkg/payonce_bg.wasm' });
    const r = await p.processPayment({ amount: 1, currency: 'usd', order: 'no-wasm' }, undefined, { endpoint: '/api/charges' });
    return r.status;
  });
  assert.equal(paid, 201);
  assert.equal((await env.ledger()).charges.length, 1);
  await context.close();
});

test('the synchronous exports start no load, so an init() with a URL made after them is the one used', async () => {
  const { context, page } = await open('/nowasm/');
  const seen = await page.evaluate(async () => {
    const p = window.payonce;
    const wasmFetched = () => performance.getEntriesByType('resource').some((e) => e.name.endsWith('.wasm'));
    const element = document.getElementById('pay');
    const button = new p.PayButton(element, { endpoint: '/api/charges' });
    p.pendingPayments();
    p.forgetPayment('k');
    p.newIdempotencyKey();
    await new Promise((r) => setTimeout(r, 200));
    const before = { fetched: wasmFetched(), bound: element.dataset.payonceState ?? null };
    await p.default({ module_or_path: '/pkg/payonce_bg.wasm' });
    return { before, after: { bound: element.dataset.payonceState ?? null, state: button.state } };
  });
  assert.deepEqual(seen.before, { fetched: false, bound: null });
  assert.deepEqual(seen.after, { bound: 'idle', state: 'idle' });
  await context.close();
});

test('a payment made before init() with a URL waits for that URL when the default one fails', async () => {
  const { context, page } = await open('/nowasm/');
  const outcome = await page.evaluate(async () => {
    const p = window.payonce;
    const paying = p.processPayment({ amount: 5, currency: 'usd', order: 'pay-then-init-url' }, undefined, { endpoint: '/api/charges' });
    const loading = p.default({ module_or_path: '/pkg/payonce_bg.wasm' });
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
