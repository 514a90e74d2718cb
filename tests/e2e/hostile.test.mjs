// Hostile and broken servers: each gives the shopper a clear outcome, never
// a hang past the configured deadline, never a second charge (in the engine
// PAYONCE_ENGINE names, harness.mjs).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { setup, openDemo, chargeRequests } from './harness.mjs';

let env;
let tab;
before(async () => {
  env = await setup();
  tab = await openDemo(env);
});
after(async () => { await tab?.context.close(); await env?.close(); });
beforeEach(async () => { await env.reset(); });

// Short timings so the worst case is quick; the deadline below follows from them.
const OPTIONS = { endpoint: '/api/charges', timeoutMs: 2000, maxRetries: 2, retryDelayMs: 50, maxRetryDelayMs: 200, maxRetryAfterMs: 1000 };
// Every attempt's timeout, every backoff at its cap, and a second of slack for the page.
const DEADLINE_MS = 3 * OPTIONS.timeoutMs + 2 * OPTIONS.maxRetryAfterMs + 1000;

let order = 0;
/** Pays a fresh order in the page; returns the outcome, how long it took, and the gateway's view. */
async function pay() {
  order += 1;
  const outcome = await tab.page.evaluate(async ({ options, order }) => {
    const { processPayment } = window.payonceDemo;
    const started = performance.now();
    try {
      const r = await processPayment({ order: `hostile-${order}`, amount: 700, currency: 'usd' }, undefined, options);
      return { ok: true, body: r.body, replayed: r.replayed, attempts: r.attempts, ms: performance.now() - started };
    } catch (e) {
      return { ok: false, name: e.name, code: e.code, status: e.status, retryable: e.retryable, message: e.message, attempts: e.attempts, ms: performance.now() - started };
    }
  }, { options: OPTIONS, order });
  const ledger = await env.ledger();
  assert.ok(outcome.ms < DEADLINE_MS, `settled after ${outcome.ms} ms, past the ${DEADLINE_MS} ms deadline`);
  assert.ok(ledger.charges.length <= 1, `charged ${ledger.charges.length} times`);
  return { outcome, ledger };
}

test('a 2xx body that is not JSON comes back as text', async () => {
  await env.faults({ kind: 'notJson' });
  const { outcome, ledger } = await pay();
  assert.equal(outcome.ok, true);
  assert.equal(outcome.body, 'charged <b>OK</b>');
  assert.equal(ledger.charges.length, 1);
});

test('an empty 2xx body comes back as null', async () => {
  await env.faults({ kind: 'empty' });
  const { outcome, ledger } = await pay();
  assert.equal(outcome.ok, true);
  assert.equal(outcome.body, null);
  assert.equal(ledger.charges.length, 1);
});

test('a 5 MB body is read and parsed', async () => {
  await env.faults({ kind: 'huge' });
  const { outcome, ledger } = await pay();
  assert.equal(outcome.ok, true);
  assert.equal(outcome.body.status, 'succeeded');
  assert.equal(ledger.charges.length, 1);
});

test('JSON labelled as HTML is still parsed', async () => {
  await env.faults({ kind: 'wrongType' });
  const { outcome } = await pay();
  assert.equal(outcome.ok, true);
  assert.equal(outcome.body.status, 'succeeded');
});

test('a redirect is not followed: clear error, key kept, nothing charged', async () => {
  await env.faults({ kind: 'redirect' });
  const { outcome, ledger } = await pay();
  assert.equal(outcome.ok, false);
  assert.equal(outcome.name, 'PaymentError');
  assert.equal(outcome.code, 'redirect');
  assert.equal(outcome.attempts, 1);
  assert.equal(ledger.charges.length, 0);
  assert.ok(!ledger.requests.some((r) => r.key === null), 'the redirect target was never requested with the payment');
});

test('a Retry-After of a year ends the retries at once', async () => {
  await env.faults({ kind: 'rateLimit', retryAfter: 31536000 });
  const { outcome, ledger } = await pay();
  assert.equal(outcome.code, 'rate_limited');
  assert.equal(outcome.retryable, true);
  assert.equal(outcome.attempts, 1);
  assert.equal(chargeRequests(ledger).length, 1);
});

test('a garbage Retry-After falls back to backoff, then pays', async () => {
  await env.faults({ kind: 'garbageRetryAfter' });
  const { outcome, ledger } = await pay();
  assert.equal(outcome.ok, true);
  assert.equal(outcome.attempts, 2);
  assert.equal(ledger.charges.length, 1);
});

test('a connection reset mid-body is retried and replayed: one charge', async () => {
  await env.faults({ kind: 'resetMidBody' });
  const { outcome, ledger } = await pay();
  assert.equal(outcome.ok, true, JSON.stringify(outcome));
  assert.equal(outcome.replayed, true);
  assert.equal(ledger.charges.length, 1);
});

test('an answer slower than the timeout is a timeout, then a replay', async () => {
  await env.faults({ kind: 'slow', slowMs: 60000 });
  const { outcome, ledger } = await pay();
  assert.equal(outcome.ok, true);
  assert.equal(outcome.replayed, true);
  assert.equal(outcome.attempts, 2);
  assert.equal(ledger.charges.length, 1);
});

test('a 2xx whose body stalls halfway is a timeout (the timeout covers the body), then a replay', async () => {
  await env.faults({ kind: 'stallBody' });
  const { outcome, ledger } = await pay();
  assert.equal(outcome.ok, true);
  assert.equal(outcome.replayed, true);
  assert.equal(outcome.attempts, 2);
  assert.equal(ledger.charges.length, 1);
});

test('a server that holds the first request: it times out, the retries meet 409 (conflict) within the deadline, and the held request charges once', async () => {
  await env.faults({ kind: 'hold' });
  const { outcome, ledger } = await pay();
  assert.equal(outcome.ok, false);
  assert.equal(outcome.code, 'conflict', 'the held first request keeps the key busy: 409 on the retries');
  assert.equal(ledger.charges.length, 0);
  await env.release();
  const after = await env.ledger();
  assert.equal(after.charges.length, 1, 'the held request charges once when it finishes');
});
