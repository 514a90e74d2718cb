// Two tabs of one browser profile paying the same cart (issue #12): the demo
// checkout open twice in one browser context (shared BroadcastChannel and Web
// Locks, a sessionStorage each), against the local gateway, whose ledger
// counts the charges. Every case: one charge for the one payment. Runs in the
// engine PAYONCE_ENGINE names (harness.mjs).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_ROOTS } from '../../www/gateway.mjs';
import { ENGINE, setup, settled, until, chargeRequests, payState } from './harness.mjs';

let env;
// A page to navigate to, away from the checkout (a receipt, a 3-D Secure page).
const away = mkdtempSync(join(tmpdir(), 'payonce-away-'));
writeFileSync(join(away, 'receipt.html'), '<!doctype html><meta charset="utf-8"><title>receipt</title><p>receipt');

before(async () => {
  // Pages served with `Cache-Control: no-store` never enter the back/forward cache.
  env = await setup({ roots: { ...DEFAULT_ROOTS, '/away/': away }, headers: { 'Cache-Control': 'no-cache' } });
});
after(async () => {
  await env?.close();
  rmSync(away, { recursive: true, force: true });
});
beforeEach(async () => {
  await env.reset();
});

const ledger = () => env.ledger();
const keysOf = (l) => [...new Set(chargeRequests(l).map((r) => r.key))];

// Counts pageshow events from the back/forward cache, before the page's own scripts run.
const WATCH_BFCACHE = `window.__restored = 0;
  addEventListener('pageshow', (e) => { if (e.persisted) window.__restored += 1; });`;

/** A browser context (one profile) and `open()` for its tabs, each on the demo's order 1. */
async function profile({ initScript } = {}) {
  const context = await env.browser.newContext({
    initScript: initScript ? `${WATCH_BFCACHE}\n(${initScript})();` : WATCH_BFCACHE,
  });
  const pages = [];
  const open = async () => {
    const page = await context.newPage();
    pages.push(page);
    await page.goto(`${env.gateway.url}/#order=1`);
    await ready(page);
    return page;
  };
  const problems = async () => (await Promise.all(pages.filter((p) => !p.closed).map((p) => p.problems()))).flat();
  return { context, open, problems };
}

const ready = (page) => page.waitForSelector('html[data-ready="true"]', { timeout: 10000 });
const disabled = (page) => page.evaluate(() => document.getElementById('pay').disabled);
// The button settles before the promise the page awaits does, so the page's status line
// is read once it no longer says it is paying.
const chargeShown = async (page) => {
  const status = await until(async () => {
    const text = await page.text('#status');
    return text && text !== 'Paying…' && text;
  }, 5000, 'the page to show how its payment ended');
  return status.match(/Charge (ch_\w+)/)?.[1];
};
/** processPayment with the demo's details, as the page would call it. */
const pay = (page) => page.evaluate(async () => {
  const { processPayment, details, PAY_OPTIONS } = window.payonceDemo;
  const r = await processPayment(details(), undefined, PAY_OPTIONS);
  return { key: r.key, id: r.body.id, replayed: r.replayed };
});
const closeTab = async (page) => { await page.close(); page.closed = true; };

test('two tabs click Pay at once: one charge, both tabs show it', async () => {
  await env.faults({ kind: 'slow', slowMs: 300 });
  const { context, open, problems } = await profile();
  const [a, b] = [await open(), await open()];
  await Promise.all([a.click('#pay'), b.click('#pay')]);
  assert.deepEqual([await settled(a), await settled(b)], ['succeeded', 'succeeded']);
  const l = await ledger();
  assert.equal(l.charges.length, 1);
  assert.equal(keysOf(l).length, 1, 'both tabs sent the one key');
  const shown = [await chargeShown(a), await chargeShown(b)];
  assert.equal(shown[0], l.charges[0].id);
  assert.equal(shown[1], l.charges[0].id, 'both promises settled with the one charge');
  assert.deepEqual(await problems(), []);
  await context.close();
});

test('the second tab clicks while the first waits for its answer: it sends nothing until that answer, then shares it', async () => {
  await env.faults({ kind: 'hold' });
  const { context, open, problems } = await profile();
  const [a, b] = [await open(), await open()];
  await a.click('#pay');
  await until(async () => (await ledger()).held === 1, 10000, 'the held request');
  await b.click('#pay');
  assert.equal(await payState(b), 'paying');
  // Well within the demo's 3 s attempt timeout: B waits for A's answer and sends no request into a 409.
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(chargeRequests(await ledger()).length, 1, 'only the first tab\'s request reached the gateway');
  await env.release();
  assert.deepEqual([await settled(a), await settled(b)], ['succeeded', 'succeeded']);
  const l = await ledger();
  assert.equal(l.charges.length, 1);
  assert.equal(keysOf(l).length, 1);
  assert.ok(!chargeRequests(l).some((r) => r.status === 409), `no request hit a 409: ${JSON.stringify(chargeRequests(l))}`);
  assert.equal(await chargeShown(b), l.charges[0].id);
  assert.deepEqual(await problems(), []);
  await context.close();
});

test('after the first tab paid, the other tab\'s button shows it, and paying there is replayed', async () => {
  const { context, open, problems } = await profile();
  const [a, b] = [await open(), await open()];
  await a.click('#pay');
  assert.equal(await settled(a), 'succeeded');
  await until(async () => (await payState(b)) === 'succeeded', 5000, 'the other tab\'s button to show the payment');
  assert.equal(await disabled(b), true);
  const again = await pay(b);
  const l = await ledger();
  assert.equal(l.charges.length, 1);
  assert.equal(again.replayed, true);
  assert.equal(again.id, l.charges[0].id);
  // A tab opened after the payment learns of it too.
  const c = await open();
  assert.equal((await pay(c)).id, l.charges[0].id);
  assert.equal((await ledger()).charges.length, 1);
  assert.deepEqual(await problems(), []);
  await context.close();
});

test('the first tab is closed mid-payment: the other tab pays with its key at once, one charge', async () => {
  await env.faults({ kind: 'hold' });
  const { context, open } = await profile();
  const [a, b] = [await open(), await open()];
  await a.click('#pay');
  await until(async () => (await ledger()).held === 1, 10000, 'the held request');
  const [first] = chargeRequests(await ledger());
  await closeTab(a);
  await b.click('#pay');
  // Not held up by the closed tab: B's request leaves while A's is still held at the gateway.
  await until(async () => chargeRequests(await ledger()).length >= 2, 5000, 'the second tab\'s request');
  assert.equal((await ledger()).held, 1);
  await env.release();
  assert.equal(await settled(b), 'succeeded');
  const l = await ledger();
  assert.equal(l.charges.length, 1);
  assert.deepEqual(keysOf(l), [first.key], 'the second tab used the closed tab\'s key');
  await context.close();
});

test('without Web Locks each tab pays as it does alone: no error, one charge per tab\'s payment', async () => {
  const { context, open, problems } = await profile({ initScript: () => { delete Navigator.prototype.locks; } });
  const [a, b] = [await open(), await open()];
  assert.equal(await a.evaluate(() => 'locks' in navigator), false);
  await a.evaluate(() => { const el = document.getElementById('pay'); for (let i = 0; i < 3; i++) el.click(); });
  assert.equal(await settled(a), 'succeeded');
  assert.equal(await payState(b), 'idle', 'nothing reaches the other tab');
  await b.click('#pay');
  assert.equal(await settled(b), 'succeeded');
  const l = await ledger();
  // Per tab, as before: each tab's payment once (three clicks in A, one request), and
  // the tabs do not know of each other, so the same cart is charged once per tab.
  assert.equal(chargeRequests(l).length, 2);
  assert.equal(keysOf(l).length, 2);
  assert.equal(l.charges.length, 2);
  assert.deepEqual(await problems(), []);
  await context.close();
});

test('back from the receipt, the checkout shows the payment and cannot pay again (restored from the back/forward cache in Chromium)', async (t) => {
  const { context, open, problems } = await profile();
  const [a, b] = [await open(), await open()];
  await a.click('#pay');
  assert.equal(await settled(a), 'succeeded');
  await a.goto(`${env.gateway.url}/away/receipt.html`);
  await a.back();
  await until(() => a.evaluate(() => document.documentElement.dataset.ready === 'true').catch(() => false), 10000, 'the checkout back');
  const restored = await a.evaluate(() => window.__restored === 1);
  t.diagnostic(`${ENGINE}: ${restored ? 'restored from the back/forward cache' : 'loaded again (not from the back/forward cache)'}`);
  // Chromium's headless back/forward cache is on (harness.mjs): the proof it was used.
  if (ENGINE === 'chromium') assert.equal(restored, true, 'the page came back from the back/forward cache');
  if (restored) {
    // The page as it was, with the payment's real state: paid, the button disabled.
    await until(async () => (await payState(a)) === 'succeeded', 5000, 'the button to show the payment');
    assert.equal(await disabled(a), true);
  }
  // Restored or loaded again, paying again charges nothing: the key is replayed.
  const again = await pay(a);
  assert.equal(again.replayed, true);
  // The page back talks to the other tab again.
  assert.equal((await pay(b)).replayed, true);
  const l = await ledger();
  assert.equal(l.charges.length, 1);
  assert.equal(keysOf(l).length, 1);
  assert.deepEqual(await problems(), []);
  await context.close();
});

test('a 3-D Secure style navigation away mid-payment: back on the checkout, Pay settles it with the same key', async () => {
  await env.faults({ kind: 'hold' });
  const { context, open } = await profile();
  const [a, b] = [await open(), await open()];
  await a.click('#pay');
  await until(async () => (await ledger()).held === 1, 10000, 'the held request');
  const [first] = chargeRequests(await ledger());
  await a.goto(`${env.gateway.url}/away/receipt.html`);
  await env.release();
  await a.back();
  await ready(a);
  // Reloaded, the checkout finds the payment pending and the shopper clicks to settle it;
  // restored from the cache, the payment in the page goes on by itself.
  const restored = await a.evaluate(() => window.__restored) === 1;
  if (!restored) {
    assert.equal(await payState(a), 'pending', 'the checkout finds the payment pending');
    await a.click('#pay');
  }
  assert.equal(await settled(a), 'succeeded');
  const l = await ledger();
  assert.equal(l.charges.length, 1);
  assert.deepEqual(keysOf(l), [first.key]);
  if (!restored) assert.ok(chargeRequests(l).at(-1).replayed, 'the server replayed the first request\'s answer');
  // The other tab pays the same cart: the same key again.
  assert.equal((await pay(b)).key, first.key);
  assert.equal((await ledger()).charges.length, 1);
  await context.close();
});

test('a tab that holds its payonce lock but never answers (hung) is no evidence: no key is made while it is there, and once it is gone the payment goes', async (t) => {
  const { context, open, problems } = await profile();
  // A same-origin page that looks like a payonce tab to the lock manager and stays silent.
  const hung = await context.newPage();
  await hung.goto(`${env.gateway.url}/away/receipt.html`);
  await hung.evaluate(() => { navigator.locks.request('payonce:tab:hung1', () => new Promise(() => {})); });
  const a = await open();
  const timed = () => a.evaluate(async () => {
    const { processPayment, details, PAY_OPTIONS } = window.payonceDemo;
    const t = performance.now();
    try {
      const r = await processPayment(details(), undefined, PAY_OPTIONS);
      return { ok: true, ms: performance.now() - t, replayed: r.replayed };
    } catch (e) {
      return { ok: false, ms: performance.now() - t, code: e.code, retryable: e.retryable, attempts: e.attempts };
    }
  });
  const first = await timed();
  t.diagnostic(`with a hung tab: the payment ended after ${first.ms.toFixed(0)} ms: ${JSON.stringify(first)}`);
  assert.deepEqual(
    [first.ok, first.code, first.retryable, first.attempts],
    [false, 'conflict', true, 0],
    `a silent tab may hold a live key for the cart: ${JSON.stringify(first)}`,
  );
  assert.equal(chargeRequests(await ledger()).length, 0, 'nothing was sent');
  // The silent tab goes (its lock with it): the lock manager says so, and the payment goes.
  await hung.close();
  const second = await timed();
  assert.equal(second.ok, true, JSON.stringify(second));
  assert.equal(second.replayed, false);
  const l = await ledger();
  assert.equal(l.charges.length, 1);
  assert.equal(keysOf(l).length, 1);
  assert.deepEqual(await problems(), []);
  await context.close();
});

test('two copies of payonce in one page (two bundles) pay one cart once: each hears the other as it hears a tab', async () => {
  await env.faults({ kind: 'hold' });
  const { context, open, problems } = await profile();
  const a = await open();
  // The first copy pays; its request is held at the gateway.
  await a.evaluate(() => {
    const { processPayment, details, PAY_OPTIONS } = window.payonceDemo;
    window.__first = processPayment(details(), undefined, PAY_OPTIONS).then((r) => r.key, (e) => `error: ${e.code}`);
  });
  await until(async () => (await ledger()).held === 1, 10000, 'the first copy\'s held request');
  // A second copy of the module (another URL: another module instance, its own wasm
  // memory, its own mirror of sessionStorage) pays the same details in the same page.
  await a.evaluate(() => {
    const { details, PAY_OPTIONS } = window.payonceDemo;
    window.__second = import('/pkg/payonce.js?copy=2')
      .then((m) => m.processPayment(details(), undefined, PAY_OPTIONS))
      .then((r) => r.key, (e) => `error: ${e.code}`);
  });
  await new Promise((r) => setTimeout(r, 1500));
  await env.release();
  const [first, second] = await a.evaluate(() => Promise.all([window.__first, window.__second]));
  assert.equal(second, first, 'the second copy sent the first copy\'s key');
  const l = await ledger();
  assert.equal(l.charges.length, 1);
  assert.equal(keysOf(l).length, 1);
  assert.deepEqual(await problems(), []);
  await context.close();
});
