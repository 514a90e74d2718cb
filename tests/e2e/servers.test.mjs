// Paying through third-party idempotency middlewares from npm (issue #26), started by this
// file, each guarding the same payment handler (servers/shop.mjs), whose ledger counts the
// charges the handler performed per order. For each middleware: a lost answer, a reload
// mid-payment, a double click, and a key reused with other details; a paid order has
// exactly one charge, an order the shopper is told failed has none or one, never two.
// Then, for each, a handler that answers 503 once (does the retry pay, or is the 503 kept
// and replayed?), and a probe that asks each middleware directly (no browser) what it
// answers to a repeat of a finished key, to a mismatch and to a repeat while the first
// runs, asserts it and prints it as a table.
//
// Layout: the checkout page is on the gateway (setup() serves it, with the prelude
// Firefox and WebKit need for init scripts and problems()); each middleware server is a
// cross-origin endpoint behind a small proxy (servers/front.mjs) that answers CORS and can
// drop an answer. Cross-origin, because a shop's API is often on another origin than its
// page, and because then neither the gateway nor the middleware servers need to know of
// the harness: the page, its CSP and the prelude stay where every other e2e test has them.
// Runs in the engine PAYONCE_ENGINE names (harness.mjs).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_ROOTS } from '../../www/gateway.mjs';
import { ENGINE, setup, until } from './harness.mjs';
import { startFront } from './servers/front.mjs';
import { packageVersion } from './servers/shop.mjs';
import * as expressIdempotency from './servers/express-idempotency.mjs';
import * as nodeIdempotencyNestjs from './servers/node-idempotency-nestjs.mjs';

// What payonce needs told about each middleware (the `dialect` option), and what it does.
// `scenarios`: the four scenarios run against it; every entry has the 5xx test and the probe.
const MIDDLEWARES = [
  // 417 Expectation Failed for a key reused with other details; no replay header; keeps 2xx only.
  { module: expressIdempotency, dialect: { mismatch: [417] }, marksReplays: false, mismatchStatus: 417, scenarios: true, afterServerError: 'paid' },
  // 422, 409 with Retry-After: 1, Idempotent-Replayed: true: payonce's defaults. Keeps every answer, 5xx too.
  { module: nodeIdempotencyNestjs, marksReplays: true, mismatchStatus: 422, scenarios: true, afterServerError: 'stuck' },
  // The same with a storage adapter that does not keep 5xx answers.
  { module: nodeIdempotencyNestjs, options: { keepServerErrors: false }, label: '@node-idempotency/nestjs, 5xx not kept', afterServerError: 'paid' },
];
for (const mw of MIDDLEWARES) mw.name = mw.label ?? mw.module.name;

let env;
const page = mkdtempSync(join(tmpdir(), 'payonce-servers-'));
const running = [];

before(async () => {
  for (const mw of MIDDLEWARES) {
    mw.server = await mw.module.start(mw.options);
    mw.front = await startFront(mw.server.url);
    mw.endpoint = `${mw.front.url}/api/charges`;
    running.push(mw.server, mw.front);
  }
  writePage(MIDDLEWARES.map((mw) => mw.front.url));
  env = await setup({ roots: { ...DEFAULT_ROOTS, '/servers/': page } });
});
after(async () => {
  await env?.close();
  for (const s of running.reverse()) await s.close();
  rmSync(page, { recursive: true, force: true });
});
beforeEach(() => {
  for (const mw of MIDDLEWARES) {
    mw.server.shop.reset();
    mw.front.reset();
  }
});

/** The checkout page: payonce from /pkg/, the API origins in its CSP, and a small driver in window.servers. */
function writePage(origins) {
  writeFileSync(join(page, 'index.html'), `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self' ${origins.join(' ')}">
<title>checkout against idempotency middlewares</title>
<script type="module" src="page.js"></script>
</head><body><p>checkout</p></body></html>
`);
  writeFileSync(join(page, 'page.js'), `import init, { processPayment, pendingPayments } from '/pkg/payonce.js';
await init();
const runs = {};
const settle = (p) => p.then(
  (r) => ({ ok: true, key: r.key, status: r.status, replayed: r.replayed, attempts: r.attempts, body: r.body }),
  (e) => ({ ok: false, code: e.code, status: e.status, retryable: e.retryable, key: e.key, attempts: e.attempts, body: e.body, message: e.message }));
window.servers = {
  pay: (details, key, options) => settle(processPayment(details, key, options)),
  start(id, details, key, options) {
    runs[id] = null;
    settle(processPayment(details, key, options)).then((r) => { runs[id] = r; });
  },
  result: (id) => runs[id] ?? null,
  pending: (endpoint) => pendingPayments(endpoint).map((p) => ({ key: p.key, state: p.state, attempts: p.attempts })),
};
document.documentElement.dataset.ready = 'true';
`);
}

/** A fresh browser profile (its own sessionStorage) on the checkout page; closed after the test. */
async function open(t) {
  const context = await env.browser.newContext();
  t.after(() => context.close());
  const tab = await context.newPage();
  await tab.goto(`${env.gateway.url}/servers/`);
  await ready(tab);
  return tab;
}
const ready = (tab) => tab.waitForSelector('html[data-ready="true"]', { timeout: 10000 });

const cart = (order, amount = 5450) => ({
  order,
  amount,
  currency: 'usd',
  items: [{ sku: 'mug-ceramic', qty: 2, cents: 1800 }, { sku: 'beans-250', qty: 1, cents: amount - 3600 }],
  payment_method_id: 'pm_card_visa',
});
let orders = 0;
const newOrder = (mw, what) => `order-${mw.name.replace(/[^a-z0-9]+/gi, '-')}-${what}-${++orders}`;
const optionsFor = (mw, more = {}) => ({ endpoint: mw.endpoint, timeoutMs: 3000, maxRetries: 2, ...more });

const pay = (tab, details, key, options) =>
  tab.evaluate(({ details, key, options }) => window.servers.pay(details, key ?? undefined, options), { details, key, options });
const start = (tab, id, details, key, options) =>
  tab.evaluate(({ id, details, key, options }) => { window.servers.start(id, details, key ?? undefined, options); }, { id, details, key, options });
const outcome = (tab, id, what) =>
  tab.waitForFunction((id) => window.servers.result(id), id, { timeout: 20000 }).catch((e) => {
    throw new Error(`${what}: ${e.message}`);
  });

/** The page's problems, less the refusals these tests provoke on purpose (409, 417, 422 from the endpoint). */
async function problemsBut(tab, mw) {
  const expected = new RegExp(`^(409|417|422) ${mw.endpoint.replace(/[.:/]/g, '\\$&')}$`);
  return (await tab.problems()).filter((p) => !expected.test(p));
}

const summary = (mw, order) => {
  const { shop } = mw.server;
  return `charges ${JSON.stringify(shop.chargesFor(order).map((c) => c.id))}, handler calls ${shop.callsFor(order).length}, `
    + `requests ${JSON.stringify(mw.front.requests.map((r) => [r.status, r.headers['idempotent-replayed'] ?? '-', r.dropped ? 'dropped' : r.delivered ? 'answered' : 'client gone']))}`;
};

for (const mw of MIDDLEWARES.filter((m) => m.scenarios)) {
  const label = mw.name;

  for (const keepAlive of [false, true]) {
    const how = keepAlive
      ? 'on a kept-alive connection (a browser may resend it by itself)'
      : 'on a connection of its own (payonce resends it)';
    test(`${label}: a lost answer (charged, the response dropped) ${how}: the same key again, one charge`, async (t) => {
      const order = newOrder(mw, 'lost');
      const tab = await open(t);
      mw.front.dropFirstAnswer(1);
      mw.front.keepAlive = keepAlive;
      const r = await pay(tab, cart(order), undefined, optionsFor(mw));
      const charges = mw.server.shop.chargesFor(order);
      t.diagnostic(`${label}: ${JSON.stringify(r)}; ${summary(mw, order)}`);
      assert.ok(charges.length <= 1, `charged twice: ${summary(mw, order)}`);
      assert.equal(r.ok, true, `the shopper is told: ${JSON.stringify(r)}`);
      assert.equal(charges.length, 1);
      const requests = mw.front.requestsFor(r.key);
      assert.equal(requests[0].dropped, true, 'the first answer was lost');
      assert.equal(requests[0].status, 201, 'the server had charged and answered 201');
      assert.equal(requests.length, 2, 'sent twice');
      // On a fresh connection no engine resends a POST by itself: the second request is payonce's.
      if (!keepAlive) assert.equal(r.attempts, 2, 'payonce sent it again');
      else t.diagnostic(`${ENGINE}: payonce counted ${r.attempts} attempt(s) for the ${requests.length} requests the server saw`);
      assert.equal(mw.front.requests.length, requests.length, 'every request carried the one key');
      assert.equal(r.body.id, charges[0].id, 'the shopper is shown the charge that was made');
      assert.equal(mw.server.shop.callsFor(order).length, 1, 'the middleware kept the repeat from the handler');
      // Whether payonce can tell the shopper "no new charge": only with a replay header.
      assert.equal(r.replayed, mw.marksReplays);
      assert.deepEqual(await problemsBut(tab, mw), []);
    });
  }

  test(`${label}: reload while the handler is still charging, then Pay again: same key, one charge`, async (t) => {
    const order = newOrder(mw, 'reload');
    const tab = await open(t);
    const { shop } = mw.server;
    shop.hold();
    await start(tab, 'first', cart(order), undefined, optionsFor(mw));
    await until(() => shop.held.length === 1, 10000, `the handler behind ${label} to hold the first request`);
    const [first] = mw.front.requests;
    await tab.reload();
    await ready(tab);
    const pending = await tab.evaluate((endpoint) => window.servers.pending(endpoint), mw.endpoint);
    assert.deepEqual(pending.map((p) => [p.key, p.state]), [[first.key, 'pending']], 'the reloaded page finds the payment pending');
    await start(tab, 'again', cart(order), undefined, optionsFor(mw));
    await until(() => mw.front.requests.some((r) => r.status === 409), 10000, `${label} to answer the repeat while the first runs`);
    assert.equal(shop.held.length, 1, 'the repeat did not reach the handler');
    shop.release();
    const r = await outcome(tab, 'again', 'the payment after the reload');
    const charges = shop.chargesFor(order);
    t.diagnostic(`${label}: ${JSON.stringify(r)}; ${summary(mw, order)}`);
    assert.ok(charges.length <= 1, `charged twice: ${summary(mw, order)}`);
    assert.equal(r.ok, true, `the shopper is told: ${JSON.stringify(r)}`);
    assert.equal(r.key, first.key, 'the page paid again with the key of the payment before the reload');
    assert.equal(charges.length, 1);
    assert.equal(r.body.id, charges[0].id);
    assert.deepEqual([...new Set(mw.front.requests.map((x) => x.key))], [first.key]);
    assert.equal(shop.callsFor(order).length, 1);
    assert.equal(r.replayed, mw.marksReplays);
    assert.deepEqual(await problemsBut(tab, mw), []);
  });

  test(`${label}: a double click (two processPayment calls at once, same details): one request, one charge`, async (t) => {
    const order = newOrder(mw, 'double');
    const tab = await open(t);
    mw.server.shop.delayMs = 300; // the first request is still on the wire when the second call starts
    const [a, b] = await tab.evaluate(({ details, options }) =>
      Promise.all([window.servers.pay(details, undefined, options), window.servers.pay(details, undefined, options)]),
    { details: cart(order), options: optionsFor(mw) });
    const charges = mw.server.shop.chargesFor(order);
    t.diagnostic(`${label}: ${JSON.stringify([a, b])}; ${summary(mw, order)}`);
    assert.ok(charges.length <= 1, `charged twice: ${summary(mw, order)}`);
    assert.equal(a.ok && b.ok, true, `the shopper is told: ${JSON.stringify([a, b])}`);
    assert.equal(a.key, b.key);
    assert.equal(charges.length, 1);
    assert.equal(a.body.id, charges[0].id);
    assert.equal(b.body.id, charges[0].id);
    assert.equal(mw.front.requests.length, 1, 'the two calls shared one request');
    assert.deepEqual(await problemsBut(tab, mw), []);
  });

  test(`${label}: a key reused with other details: refused (key_reused), never a second charge`, async (t) => {
    const order = newOrder(mw, 'reused');
    const key = `${order}-key`; // the shop issues one key per order, and the cart changed meanwhile
    const options = optionsFor(mw, mw.dialect ? { dialect: mw.dialect } : {});
    const tab = await open(t);
    const paid = await pay(tab, cart(order, 5450), key, options);
    assert.equal(paid.ok, true, `the first payment: ${JSON.stringify(paid)}`);
    // The same page: payonce knows the key is bound to the first cart and sends nothing.
    const here = await pay(tab, cart(order, 9900), key, options);
    assert.equal(here.code, 'key_reused', `the same page: ${JSON.stringify(here)}`);
    assert.equal(mw.front.requests.length, 1, 'nothing was sent for the other cart from the page that knows the key');
    // Another browser (no record of the key): only the middleware can refuse it.
    const elsewhere = await pay(await open(t), cart(order, 9900), key, options);
    const charges = mw.server.shop.chargesFor(order);
    t.diagnostic(`${label}: ${JSON.stringify(elsewhere)}; ${summary(mw, order)}`);
    assert.ok(charges.length <= 1, `charged twice: ${summary(mw, order)}`);
    assert.deepEqual(charges.map((c) => c.amount), [5450], 'the one charge is the first cart\'s');
    assert.equal(mw.server.shop.callsFor(order).length, 1, 'the other cart never reached the handler');
    assert.equal(mw.front.requests.at(-1).status, mw.mismatchStatus);
    assert.equal(elsewhere.ok, false, `the shopper is told: ${JSON.stringify(elsewhere)}`);
    assert.equal(elsewhere.status, mw.mismatchStatus);
    // Needs the `dialect` option for a middleware whose mismatch status is not 422.
    assert.equal(elsewhere.code, 'key_reused',
      `the other browser is told ${elsewhere.code} (${elsewhere.status})${mw.dialect ? `, with dialect ${JSON.stringify(mw.dialect)}` : ''}`);
    assert.equal(elsewhere.retryable, false);
    assert.deepEqual(await problemsBut(tab, mw), []);
  });
}

// A handler that answers 503 (its provider's outcome unknown, nothing charged) is not one of
// the four scenarios, but it decides whether the retry can pay: a middleware that keeps the
// 503 replays it to every later request with the key, for the key's lifetime.
for (const mw of MIDDLEWARES) {
  const paid = mw.afterServerError === 'paid';
  test(`${mw.name}: the handler answers 503 once, nothing charged: ${paid
    ? 'the retry runs the handler again and pays, one charge'
    : 'the kept 503, replayed, ends the call at once: no charge, the shopper told retrying this key cannot help, the key kept'}`, async (t) => {
    const order = newOrder(mw, '503');
    const tab = await open(t);
    const { shop } = mw.server;
    shop.failNext();
    const r = await pay(tab, cart(order), undefined, optionsFor(mw, { retryDelayMs: 100 }));
    const charges = shop.chargesFor(order);
    t.diagnostic(`${mw.name}: ${JSON.stringify(r)}; ${summary(mw, order)}`);
    assert.ok(charges.length <= 1, `charged twice: ${summary(mw, order)}`);
    const statuses = mw.front.requests.map((x) => [x.status, x.headers['idempotent-replayed'] ?? '-']);
    if (paid) {
      assert.equal(r.ok, true, `the shopper is told: ${JSON.stringify(r)}`);
      assert.equal(charges.length, 1);
      assert.equal(r.body.id, charges[0].id);
      assert.deepEqual(statuses, [[503, '-'], [201, '-']]);
      assert.equal(shop.callsFor(order).length, 2, 'the retry reached the handler');
      return;
    }
    assert.equal(r.ok, false);
    // A stored failure the server replays ends the call: every retry would get it again.
    assert.deepEqual([r.code, r.status, r.retryable], ['http', 503, false], `the shopper is told: ${JSON.stringify(r)}`);
    assert.match(r.message, /replays an error it stored/);
    assert.equal(charges.length, 0);
    assert.deepEqual(statuses, [[503, '-'], [503, 'true']], 'the retry got the kept 503, and no retry followed');
    assert.equal(shop.callsFor(order).length, 1, 'no retry reached the handler');
    // The shopper pays again, as told: the same key, the same kept 503.
    const again = await pay(tab, cart(order), undefined, optionsFor(mw, { retryDelayMs: 100, maxRetries: 0 }));
    assert.deepEqual([again.ok, again.key, again.status], [false, r.key, 503]);
    assert.equal(shop.chargesFor(order).length, 0);
    assert.equal(shop.callsFor(order).length, 1);
  });
}

// ---------------------------------------------------------------------------------------
// What each middleware answers, asked directly (no browser, no proxy): the rows of the
// README's server-compatibility table. Asserted, so that a new version that answers
// otherwise is noticed here first.

const EXPECTED = {
  'express-idempotency': {
    'repeat, finished': [201, '-'],
    'other details, finished': [417, '-'],
    'repeat, running': [409, '-'],
    'other details, running': [417, '-'],
    'repeat after a 402': [402, '-', 'ran again'],
    'repeat after a 503': [201, '-', 'ran again'],
  },
  '@node-idempotency/nestjs': {
    'repeat, finished': [201, 'true'],
    'other details, finished': [422, '-'],
    'repeat, running': [409, '-'],
    'other details, running': [409, '-'],
    'repeat after a 402': [402, 'true', 'replayed'],
    'repeat after a 503': [503, 'true', 'replayed'],
  },
  '@node-idempotency/nestjs, 5xx not kept': {
    'repeat, finished': [201, 'true'],
    'other details, finished': [422, '-'],
    'repeat, running': [409, '-'],
    'other details, running': [409, '-'],
    'repeat after a 402': [402, 'true', 'replayed'],
    'repeat after a 503': [201, '-', 'ran again'],
  },
};

test('what each middleware answers to a repeat, a mismatch and a repeat while the first runs', async (t) => {
  const rows = [];
  for (const mw of MIDDLEWARES) {
    const { shop } = mw.server;
    const versions = mw.module.packages.map((p) => [p].flat()).map(([p, from]) => `${p} ${packageVersion(p, from)}`).join(', ');
    const post = async (key, details) => {
      const res = await fetch(`${mw.server.url}/api/charges`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': key },
        body: JSON.stringify(details),
        signal: AbortSignal.timeout(10000),
      });
      const text = await res.text();
      return {
        status: res.status,
        replayed: res.headers.get('idempotent-replayed') ?? res.headers.get('idempotency-replayed') ?? '-',
        retryAfter: res.headers.get('retry-after') ?? '-',
        body: text.length > 90 ? `${text.slice(0, 90)}…` : text,
      };
    };
    const seen = {};
    const record = (name, answer, handler) => {
      seen[name] = handler ? [answer.status, answer.replayed, handler] : [answer.status, answer.replayed];
      rows.push(`| ${mw.name} | ${name} | ${answer.status} | ${answer.replayed} | ${answer.retryAfter} | ${handler ?? ''} | \`${answer.body.replace(/\|/g, '\\|')}\` |`);
    };
    const a = cart(`probe-${mw.name}`, 5450);
    const b = cart(`probe-${mw.name}`, 9900);
    const k = (n) => `probe-${mw.name}-${n}-${Date.now()}`;

    const k1 = k(1);
    record('first request', await post(k1, a));
    record('repeat, finished', await post(k1, a));
    record('other details, finished', await post(k1, b));

    const k2 = k(2);
    shop.hold();
    const first = post(k2, a);
    await until(() => shop.held.length === 1, 10000, `the handler behind ${mw.name} to hold the probe`);
    record('repeat, running', await post(k2, a));
    record('other details, running', await post(k2, b));
    shop.release();
    await first;

    const k3 = k(3);
    const declined = { ...a, payment_method_id: 'pm_card_declined' };
    await post(k3, declined);
    const calls3 = shop.calls.length;
    const again3 = await post(k3, declined);
    record('repeat after a 402', again3, shop.calls.length > calls3 ? 'ran again' : 'replayed');

    const k4 = k(4);
    shop.failNext();
    await post(k4, a);
    const calls4 = shop.calls.length;
    const again4 = await post(k4, a);
    record('repeat after a 503', again4, shop.calls.length > calls4 ? 'ran again' : 'replayed');

    t.diagnostic(`${mw.name}: ${versions}`);
    const expected = EXPECTED[mw.name];
    for (const name of Object.keys(expected)) {
      assert.deepEqual(seen[name], expected[name], `${mw.name}, ${name}`);
    }
  }
  t.diagnostic('| middleware | case | status | replay header | Retry-After | handler | body |');
  t.diagnostic('|---|---|---|---|---|---|---|');
  for (const row of rows) t.diagnostic(row);
  t.diagnostic(`engine ${ENGINE} (the probe itself uses no browser)`);
});
