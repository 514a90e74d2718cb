// Issue #24: keys minted or retired on silence. A payment must not mint and send a new
// key for a cart without evidence that no other tab of the origin has that cart on the
// wire, and a record of a payment on the wire must not be lost because page code wiped
// sessionStorage. Each case is one the issue says breaks:
//   #24.2 a tab that cannot answer (its main thread blocked) while its payment is on the wire;
//   #24.3 sessionStorage.clear() by page code during a payment, before a reload or a timeout;
//   #24.4 a peer that holds a payonce tab lock but speaks another protocol version.
// The expected behaviour is the fix's: the new tab either joins the key on the wire or
// ends with a retryable PaymentError having sent nothing (attempts 0); the wiped record
// is written again. Runs in the engine PAYONCE_ENGINE names (harness.mjs).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_ROOTS } from '../../www/gateway.mjs';
import { ENGINE, setup, until, chargeRequests } from './harness.mjs';
import { openTab, navigateReady, startPay, autoPay, outcome, payNow, describe, sleep } from './paying.mjs';

let env;
// A same-origin page that is not a checkout, for the fake peer.
const away = mkdtempSync(join(tmpdir(), 'payonce-evidence-'));
writeFileSync(join(away, 'peer.html'), '<!doctype html><meta charset="utf-8"><title>peer</title><p>peer');

before(async () => {
  env = await setup({ roots: { ...DEFAULT_ROOTS, '/away/': away } });
});
after(async () => {
  await env?.close();
  rmSync(away, { recursive: true, force: true });
});
beforeEach(async () => {
  await env.reset();
});

const ledger = () => env.ledger();
const orderCharges = async (order) => (await env.api(`/api/ledger?order=order-${order}`)).charges;

/**
 * What #24.2 accepts from the new tab: it joined the key on the wire (its outcome, or a
 * retryable error under that key), or it ended with a retryable error having sent nothing.
 */
function joinedOrRefused(r, keyOnTheWire) {
  if (r.ok) {
    assert.equal(r.key, keyOnTheWire, `the new tab's payment succeeded, so it must have joined the key on the wire: ${JSON.stringify(r)}`);
    return;
  }
  assert.equal(r.name, 'PaymentError', JSON.stringify(r));
  assert.equal(r.retryable, true, `the new tab's error is retryable: ${JSON.stringify(r)}`);
  if (r.key !== keyOnTheWire) assert.equal(r.attempts, 0, `the new tab sent nothing under a key of its own: ${JSON.stringify(r)}`);
}

test('#24.2 a tab whose main thread is blocked while its payment is on the wire: a tab opened meanwhile does not charge the cart again', async (t) => {
  // B pays from its own task as soon as it is ready (`autopay`), with the demo's options
  // (timeoutMs 3000): no WebDriver command has to reach it while A is blocked.
  const context = await env.browser.newContext({ initScript: autoPay() });
  const a = await openTab(env, context, { order: 2 });
  await env.faults({ kind: 'hold' });
  // A long attempt timeout: A's request outlives the block (its timer cannot fire while blocked).
  const pa = await startPay(a, { timeoutMs: 30000 });
  await until(async () => (await ledger()).held === 1, 10000, 'tab A\'s request held at the gateway');
  const [first] = chargeRequests(await ledger());
  // Blocked for 6 s, from a task after this evaluate has returned: 300 ms after, since
  // WebKitWebDriver answers an evaluate only after a setTimeout(…, 0) it scheduled has run.
  await a.evaluate(() => {
    setTimeout(() => {
      window.__blockedFrom = Date.now();
      const end = Date.now() + 6000;
      while (Date.now() < end) { /* a long task: this tab answers nothing */ }
      window.__blockedUntil = Date.now();
    }, 300);
  });
  await sleep(500); // for A's block to begin
  const blockedAt = Date.now();
  // No command goes to A until its block is over: WebDriver would wait on it.
  const b = await openTab(env, context, { order: 2, fragment: '&autopay' });
  const openedAfterMs = Date.now() - blockedAt;
  const pb = 0;
  // B's call ends (a refusal) or goes on waiting (to join A's key); either way A's block ends.
  const bEnded = await until(async () => {
    if (Date.now() - blockedAt > 7000) return 'blocked-over';
    return (await b.evaluate((n) => window.__e2ePays?.[n]?.outcome != null, pb)) && 'b-ended';
  }, 12000, 'tab B\'s payment to end, or tab A\'s 6 s block to be over');
  const beforeRelease = await ledger();
  await env.release();
  const [ra, rb] = [await outcome(a, pa, { ms: 30000 }), await outcome(b, pb, { ms: 30000 })];
  const times = await a.evaluate(() => ({ from: window.__blockedFrom, until: window.__blockedUntil }));
  const rel = (ms) => (ms === undefined ? '?' : `+${ms - times.from} ms`);
  t.diagnostic(`${ENGINE}: A blocked ${rel(times.from)}..${rel(times.until)}; B ready ${openedAfterMs} ms after the test saw the block begin, `
    + `paid ${rel(rb.startedAt)}..${rel(rb.outcome.endedAt)} (${bEnded}): ${JSON.stringify(rb.outcome)}`);
  assert.ok(times.from < rb.startedAt && rb.startedAt < times.until,
    `the case happened: B started paying while A was blocked (A ${rel(times.from)}..${rel(times.until)}, B from ${rel(rb.startedAt)})`);
  const charges = await orderCharges(2);
  assert.ok(charges.length <= 1, `at most one charge for the cart: ${describe(await ledger())} (before the release: ${describe(beforeRelease)})`);
  assert.equal(ra.outcome.ok, true, `tab A's payment succeeded once released: ${JSON.stringify(ra.outcome)}`);
  assert.equal(charges.length, 1);
  assert.equal(charges[0].key, first.key);
  joinedOrRefused(rb.outcome, first.key);
  // The shopper retries in B (safe: the error said so): A's key, replayed, still one charge.
  const again = await payNow(b);
  assert.equal(again.ok, true, JSON.stringify(again));
  assert.equal(again.key, first.key, 'B\'s retry takes A\'s key');
  assert.equal(again.replayed, true);
  assert.equal((await orderCharges(2)).length, 1);
  await context.close();
});

test('#24.3 sessionStorage.clear() by the page mid-payment, then a reload: the payment is still pending and paying again sends its key', async () => {
  const context = await env.browser.newContext();
  const page = await openTab(env, context, { order: 3 });
  await env.faults({ kind: 'hold' });
  await startPay(page, { timeoutMs: 30000 });
  await until(async () => (await ledger()).held === 1, 10000, 'the request held at the gateway');
  const [first] = chargeRequests(await ledger());
  const cleared = await page.evaluate(() => { sessionStorage.clear(); return sessionStorage.length; });
  assert.equal(cleared, 0);
  await navigateReady(page, () => page.reload());
  await env.release();
  await until(async () => (await orderCharges(3)).length === 1, 10000, 'the held request charged once released');
  const pending = await page.evaluate(async () => (await import('/pkg/payonce.js')).pendingPayments('/api/charges').map((p) => p.key));
  assert.deepEqual(pending, [first.key], `after the reload the payment is pending under its key (sessionStorage: ${JSON.stringify(await page.evaluate(() => Object.keys(sessionStorage)))})`);
  const again = await payNow(page);
  const l = await ledger();
  assert.equal(again.key, first.key, `paying again sends the same key: ${JSON.stringify(again)}; ${describe(l)}`);
  assert.equal(again.replayed, true);
  assert.equal((await orderCharges(3)).length, 1, `one charge: ${describe(l)}`);
  assert.equal(chargeRequests(l).at(-1).replayed, true, 'the second request was replayed');
  await context.close();
});

test('#24.3 sessionStorage.clear() during the last attempt of a call that ends in a timeout: a second after, sessionStorage holds the record again', async () => {
  const context = await env.browser.newContext();
  const page = await openTab(env, context, { order: 4 });
  await env.faults({ kind: 'hold' });
  // One attempt (the last), 1.5 s; cleared 300 ms into it, after the record was saved.
  const n = await startPay(page, { timeoutMs: 1500, maxRetries: 0, clearOnAttempt: 1, clearAfterMs: 300 });
  const run = await page.waitForFunction((n) => window.__e2ePays[n].checked && window.__e2ePays[n], n, { timeout: 15000 });
  assert.equal(run.itemsAfterClear, 0, 'the page cleared sessionStorage during the attempt');
  assert.ok(run.clearedAt < run.outcome.endedAt, 'before the call ended');
  assert.equal(run.outcome.ok, false);
  assert.equal(run.outcome.code, 'timeout', JSON.stringify(run.outcome));
  assert.equal(run.outcome.retryable, true);
  assert.equal(run.outcome.attempts, 1);
  const [sent] = chargeRequests(await ledger());
  assert.equal(run.outcome.key, sent.key);
  assert.ok(run.outcome.itemsWithKeyAfter1s.length >= 1,
    `one second after the call ended, sessionStorage holds the record of ${sent.key} again: items with the key ${JSON.stringify(run.outcome.itemsWithKeyAfter1s)}, all items ${JSON.stringify(await page.evaluate(() => Object.keys(sessionStorage)))}`);
  // And a reload finds the payment pending under its key.
  await navigateReady(page, () => page.reload());
  const pending = await page.evaluate(async () => (await import('/pkg/payonce.js')).pendingPayments('/api/charges').map((p) => p.key));
  assert.deepEqual(pending, [sent.key]);
  await context.close();
});

// The fake peer: a page of the origin that holds a payonce tab lock and answers every
// hello and ask on payonce:v1, but only in a protocol version the tab under test does
// not speak: its own version + 1 (a later payonce), or no version field at all.
for (const variant of ['a later version', 'no version field']) {
  test(`#24.4 a peer holding a payonce tab lock that answers only with ${variant}: the new tab sends nothing without evidence`, async (t) => {
    const context = await env.browser.newContext();
    const peer = await context.newPage();
    await peer.goto(`${env.gateway.url}/away/peer.html`);
    const locked = await peer.evaluate((variant) => new Promise((granted) => {
      window.__heard = [];
      navigator.locks.request('payonce:tab:fake1', () => { granted(true); return new Promise(() => {}); });
      const channel = new BroadcastChannel('payonce:v1');
      channel.onmessage = (e) => {
        const text = String(e.data);
        window.__heard.push(text);
        const [version, kind, from, ...rest] = text.split('\t');
        const other = variant === 'no version field' ? '' : `${Number(version) + 1}\t`;
        if (kind === 'hello') channel.postMessage(`${other}here\tfake1\t${from}`);
        if (kind === 'ask') channel.postMessage(`${other}answer\tfake1\t${from}\t${rest[0]}`);
      };
    }), variant);
    assert.equal(locked, true, 'the fake peer holds payonce:tab:fake1');
    const tab = await openTab(env, context, { order: 5 });
    const n = await startPay(tab);
    const run = await outcome(tab, n, { ms: 15000, what: 'the new tab\'s payment to end' });
    const heard = await peer.evaluate(() => window.__heard);
    const l = await ledger();
    t.diagnostic(`${ENGINE}: the payment ended after ${run.outcome.endedAt - run.startedAt} ms: ${JSON.stringify(run.outcome)}; the peer heard ${JSON.stringify(heard.map((m) => m.split('\t').slice(0, 2).join(' ')))}`);
    assert.ok(heard.some((m) => m.split('\t')[1] === 'hello'), 'the peer heard the new tab (the case is not vacuous)');
    assert.equal(run.outcome.ok, false, `the new tab must not mint and send a key while a tab it cannot understand holds its lock: ${JSON.stringify(run.outcome)}; ${describe(l)}`);
    assert.equal(run.outcome.name, 'PaymentError');
    assert.equal(run.outcome.retryable, true);
    assert.equal(run.outcome.attempts, 0);
    assert.equal(chargeRequests(l).length, 0, `nothing reached the gateway: ${describe(l)}`);
    // The peer gone (its lock released with its page), the retry pays: one charge.
    await peer.close();
    const again = await payNow(tab);
    assert.equal(again.ok, true, JSON.stringify(again));
    assert.equal((await orderCharges(5)).length, 1);
    await context.close();
  });
}
