// The cross-deploy contract (issue #24): a shopper's tab left open on the previous
// release and a tab on the new one, on one origin, paying one cart, are charged once.
// What they share is the contract: the lock names (payonce:tab:<id>, payonce:pay:<fp>),
// the record format in sessionStorage and the message envelope on payonce:v1.
//
// The previous release is the committed fixture tests/e2e/previous/ (its package and
// its own demo page, built by scripts/build-previous.sh from the commit in its VERSION),
// served at /previous/; the new build is the demo at / with pkg/. While the new build
// is that same commit the test checks the release against itself; it guards the next.
// Runs in the engine PAYONCE_ENGINE names (harness.mjs).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_ROOTS } from '../../www/gateway.mjs';
import { setup, until, chargeRequests } from './harness.mjs';
import { openTab, navigateReady, releaseLoaded, startPay, outcome, payNow, keysOf, describe, sleep } from './paying.mjs';

const PREVIOUS = fileURLToPath(new URL('./previous/', import.meta.url));
const PREVIOUS_COMMIT = /^commit (\w+)/m.exec(readFileSync(new URL('./previous/VERSION', import.meta.url), 'utf8'))?.[1];

let env;
before(async () => {
  env = await setup({ roots: { ...DEFAULT_ROOTS, '/previous/': PREVIOUS } });
});
after(async () => {
  await env?.close();
});
beforeEach(async () => {
  await env.reset();
});

const ledger = () => env.ledger();
// A long attempt timeout: the held request outlives the test's waits, in every engine.
const LONG = { timeoutMs: 15000 };

/** One context (one profile, one origin) with a tab on each release, on order 1. */
async function twoReleases(t, first, second) {
  const context = await env.browser.newContext();
  const tabs = { [first]: await openTab(env, context, { release: first }), [second]: await openTab(env, context, { release: second }) };
  assert.deepEqual(await releaseLoaded(tabs.previous), ['/previous/payonce.js'], 'the previous tab runs the fixture');
  assert.deepEqual(await releaseLoaded(tabs.new), ['/pkg/payonce.js'], 'the new tab runs the new build, one file');
  t.diagnostic(`previous release: ${PREVIOUS_COMMIT?.slice(0, 12)}`);
  const problems = async () => (await Promise.all(Object.values(tabs).map((p) => p.problems()))).flat();
  return { context, tabs, problems };
}

/** `payer` pays with its request held at the gateway; then `joiner` pays the same cart. */
async function heldThenJoined(t, payer, joiner) {
  const { context, tabs, problems } = await twoReleases(t, payer, joiner);
  await env.faults({ kind: 'hold' });
  const p = await startPay(tabs[payer], LONG);
  await until(async () => (await ledger()).held === 1, 10000, `the ${payer} tab's request held at the gateway`);
  const [first] = chargeRequests(await ledger());
  const j = await startPay(tabs[joiner], LONG);
  // The joiner's payment has chosen its key by now (at most max(timeoutMs, 1 s) + 1 s for
  // today's code; less when it hears the payer at once); no other key reaches the gateway.
  await sleep(1500);
  const during = await ledger();
  assert.deepEqual(keysOf(during), [first.key], `while held, only the ${payer} tab's key reached the gateway: ${describe(during)}`);
  await env.release();
  const [rp, rj] = [await outcome(tabs[payer], p), await outcome(tabs[joiner], j)];
  const l = await ledger();
  assert.equal(l.charges.length, 1, `one charge: ${describe(l)}`);
  assert.deepEqual(keysOf(l), [first.key], `one key: ${describe(l)}`);
  // The payment lock serialises the two releases: the joiner never sends while the payer's request is in progress.
  assert.ok(!chargeRequests(l).some((r) => r.status === 409), `no request hit a 409 (in progress): ${describe(l)}`);
  for (const [who, r] of [[payer, rp], [joiner, rj]]) {
    assert.equal(r.outcome.ok, true, `the ${who} tab's payment succeeded: ${JSON.stringify(r.outcome)}`);
    assert.equal(r.outcome.id, l.charges[0].id, `the ${who} tab was told the one charge`);
    assert.equal(r.outcome.key, first.key, `the ${who} tab's payment has the one key`);
  }
  assert.deepEqual(await problems(), []);
  await context.close();
}

test('(a) the previous release pays, held at the gateway; the new release pays the same cart: one charge, both told it', async (t) => {
  await heldThenJoined(t, 'previous', 'new');
});

test('(b) the new release pays, held at the gateway; the previous release pays the same cart: one charge, both told it', async (t) => {
  await heldThenJoined(t, 'new', 'previous');
});

test('(c) the previous release paid; the new release pays the same cart, in a tab open meanwhile and in one opened after: one charge', async (t) => {
  const { context, tabs, problems } = await twoReleases(t, 'previous', 'new');
  const paid = await payNow(tabs.previous, LONG);
  assert.equal(paid.ok, true, `the previous tab paid: ${JSON.stringify(paid)}`);
  const again = await payNow(tabs.new, LONG);
  assert.equal(again.ok, true, JSON.stringify(again));
  assert.equal(again.key, paid.key, 'the new tab open meanwhile took the previous tab\'s key');
  assert.equal(again.replayed, true);
  assert.equal(again.id, paid.id);
  const later = await openTab(env, context, { release: 'new' });
  const third = await payNow(later, LONG);
  assert.equal(third.key, paid.key, 'a new tab opened after the payment took its key');
  assert.equal(third.id, paid.id);
  const l = await ledger();
  assert.equal(l.charges.length, 1, `one charge: ${describe(l)}`);
  assert.deepEqual(await problems(), []);
  assert.deepEqual(await later.problems(), []);
  await context.close();
});

test('(d) a tab on the previous release reloads into the new one mid-payment: the new release finds the pending key and sends it', async (t) => {
  const context = await env.browser.newContext();
  const tab = await openTab(env, context, { release: 'previous' });
  t.diagnostic(`previous release: ${PREVIOUS_COMMIT?.slice(0, 12)}`);
  await env.faults({ kind: 'hold' });
  await startPay(tab, LONG);
  await until(async () => (await ledger()).held === 1, 10000, 'the previous release\'s request held at the gateway');
  const [first] = chargeRequests(await ledger());
  // The deploy: the same tab (its sessionStorage) now loads the new release.
  await navigateReady(tab, () => tab.goto(`${env.gateway.url}/#order=1`));
  assert.deepEqual(await releaseLoaded(tab), ['/pkg/payonce.js']);
  // Read while the request is still held: once it is released, a browser that keeps the
  // old document running a moment (Firefox) may let it record the answer itself.
  const pending = await tab.evaluate(async () => (await import('/pkg/payonce.js')).pendingPayments('/api/charges').map((p) => p.key));
  assert.deepEqual(pending, [first.key], 'the new release reads the previous release\'s record');
  await env.release();
  await until(async () => (await ledger()).charges.length === 1, 10000, 'the held request charged once released');
  const again = await payNow(tab, LONG);
  assert.equal(again.key, first.key);
  assert.equal(again.replayed, true);
  const l = await ledger();
  assert.equal(l.charges.length, 1, `one charge: ${describe(l)}`);
  assert.deepEqual(await tab.problems(), []);
  await context.close();
});
