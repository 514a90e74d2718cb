// The demo checkout, the release build and the local gateway, end to end in the
// engine PAYONCE_ENGINE names (harness.mjs). Each test reads the gateway's own ledger.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { setup, openDemo, payAndWait, payState, settled, until, chargeRequests } from './harness.mjs';
import { navigateReady } from './paying.mjs';

let env;
before(async () => { env = await setup(); });
after(async () => { await env?.close(); });
beforeEach(async () => { await env.reset(); });

const keysOf = (ledger) => [...new Set(chargeRequests(ledger).map((r) => r.key))];

test('the release build loads under a strict CSP and pays once', async () => {
  const { page, context } = await openDemo(env);
  assert.equal(await payAndWait(page), 'succeeded');
  const ledger = await env.ledger();
  assert.equal(ledger.charges.length, 1);
  assert.equal(chargeRequests(ledger).length, 1);
  assert.match(await page.text('#status'), /^Paid \$/);
  assert.deepEqual(await page.problems(), []);
  await context.close();
});

test('five rapid clicks give one request and one charge', async () => {
  await env.faults({ kind: 'slow', slowMs: 300 });
  const { page, context } = await openDemo(env);
  await page.evaluate(() => { const b = document.getElementById('pay'); for (let i = 0; i < 5; i++) b.click(); });
  assert.equal(await settled(page), 'succeeded');
  const ledger = await env.ledger();
  assert.equal(chargeRequests(ledger).length, 1);
  assert.equal(ledger.charges.length, 1);
  await context.close();
});

test('five concurrent processPayment calls without the button share one request', async () => {
  await env.faults({ kind: 'slow', slowMs: 300 });
  const { page, context } = await openDemo(env);
  const keys = await page.evaluate(async () => {
    const { processPayment, details, PAY_OPTIONS } = window.payonceDemo;
    const all = await Promise.all([1, 2, 3, 4, 5].map(() => processPayment(details(), undefined, PAY_OPTIONS)));
    return all.map((r) => r.key);
  });
  assert.equal(new Set(keys).size, 1);
  const ledger = await env.ledger();
  assert.equal(chargeRequests(ledger).length, 1);
  assert.equal(ledger.charges.length, 1);
  await context.close();
});

test('response held, page reloaded, Pay clicked again: same key, one charge', async () => {
  await env.faults({ kind: 'hold' });
  const { page, context } = await openDemo(env);
  await page.click('#pay');
  await until(async () => (await env.ledger()).held === 1, 10000, 'the held request');
  await navigateReady(page, () => page.reload(), 10000);
  assert.equal(await payState(page), 'pending', 'the button shows the pending payment');
  await page.click('#pay');
  await until(async () => chargeRequests(await env.ledger()).length >= 2, 10000, 'the second request');
  await env.release();
  assert.equal(await settled(page), 'succeeded');
  const ledger = await env.ledger();
  assert.equal(keysOf(ledger).length, 1, 'every request carried the same key');
  assert.equal(ledger.charges.length, 1);
  await context.close();
});

test('response dropped after the charge: retried, replayed, one charge', async () => {
  await env.faults({ kind: 'drop' });
  const { page, context } = await openDemo(env);
  assert.equal(await payAndWait(page), 'succeeded');
  const ledger = await env.ledger();
  assert.equal(ledger.charges.length, 1);
  assert.equal(keysOf(ledger).length, 1);
  assert.ok(chargeRequests(ledger).some((r) => r.replayed), 'the retry got the stored answer');
  assert.match(await page.text('#log'), /replayed by the server/);
  await context.close();
});

test('503 twice then success', async () => {
  await env.faults({ kind: 'unavailable', times: 2 });
  const { page, context } = await openDemo(env);
  assert.equal(await payAndWait(page), 'succeeded');
  const ledger = await env.ledger();
  assert.deepEqual(chargeRequests(ledger).map((r) => r.status), [503, 503, 201]);
  assert.equal(keysOf(ledger).length, 1);
  assert.equal(ledger.charges.length, 1);
  await context.close();
});

test('429 with Retry-After: 1 waits at least a second before the retry', async () => {
  await env.faults({ kind: 'rateLimit', retryAfter: 1 });
  const { page, context } = await openDemo(env);
  assert.equal(await payAndWait(page), 'succeeded');
  const [first, second] = chargeRequests(await env.ledger());
  assert.equal(first.status, 429);
  assert.equal(second.status, 201);
  assert.ok(second.at - first.at >= 1000, `retried after ${second.at - first.at} ms`);
  await context.close();
});

test('gateway slower than the timeout: timeout, retry, one charge', async () => {
  await env.faults({ kind: 'slow', slowMs: 4000 });
  const { page, context } = await openDemo(env);
  assert.equal(await payAndWait(page), 'succeeded');
  const ledger = await env.ledger();
  assert.equal(ledger.charges.length, 1);
  assert.equal(keysOf(ledger).length, 1);
  assert.match(await page.text('#log'), /no answer \(timeout\)/);
  await context.close();
});

test('details changed after a decline: a new key and a new charge', async () => {
  const { page, context } = await openDemo(env);
  await page.select('#card', 'pm_card_declined');
  assert.equal(await payAndWait(page), 'failed');
  assert.match(await page.text('#status'), /declined/);
  await page.select('#card', 'pm_card_visa');
  assert.equal(await payAndWait(page), 'succeeded');
  const ledger = await env.ledger();
  assert.equal(keysOf(ledger).length, 2, 'the shopper meant a new payment');
  assert.equal(ledger.charges.length, 1);
  await context.close();
});

test('a new order is a new payment; paying the same order again is replayed', async () => {
  const { page, context } = await openDemo(env);
  assert.equal(await payAndWait(page), 'succeeded');
  const again = await page.evaluate(async () => {
    const { processPayment, details, PAY_OPTIONS } = window.payonceDemo;
    return (await processPayment(details(), undefined, PAY_OPTIONS)).replayed;
  });
  assert.equal(again, true);
  await page.click('#new-order');
  assert.equal(await payAndWait(page), 'succeeded');
  const ledger = await env.ledger();
  assert.deepEqual(ledger.charges.map((c) => c.order), ['order-1', 'order-2']);
  await context.close();
});

test('sessionStorage throwing on every call: payments still go through, once each', async () => {
  const initScript = () => {
    for (const m of ['getItem', 'setItem', 'removeItem', 'key', 'clear']) {
      Storage.prototype[m] = () => { throw new DOMException('The operation is insecure.', 'SecurityError'); };
    }
    Object.defineProperty(Storage.prototype, 'length', { get() { throw new DOMException('no', 'SecurityError'); } });
  };
  await env.faults({ kind: 'drop' });
  const { page, context } = await openDemo(env, { initScript });
  assert.equal(await page.evaluate(() => { try { sessionStorage.getItem('x'); return 'works'; } catch (e) { return e.name; } }),
    'SecurityError', 'the page meets a storage that throws');
  assert.equal(await payAndWait(page), 'succeeded');
  const replayed = await page.evaluate(async () => {
    const { processPayment, details, PAY_OPTIONS } = window.payonceDemo;
    return (await processPayment(details(), undefined, PAY_OPTIONS)).replayed;
  });
  assert.equal(replayed, true, 'the key lives in memory for the page');
  const ledger = await env.ledger();
  assert.equal(ledger.charges.length, 1);
  assert.equal(keysOf(ledger).length, 1);
  assert.deepEqual(await page.problems(), []);
  await context.close();
});
