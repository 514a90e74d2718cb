// fetch-shaped inputs: `headers` in every form fetch takes (a record, a Headers, pairs)
// and a Map reach the server; anything else is invalid_input with nothing sent; a URL
// object is taken as `endpoint`, as fetch takes it, and is the same endpoint as its string.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { writeFile, mkdir, rm } from 'node:fs/promises';
import { setup, chargeRequests } from './harness.mjs';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const work = join(root, 'tests/e2e/.tmp/inputs-page');
let env;
let page;
let context;

before(async () => {
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  await writeFile(join(work, 'index.html'), `<!doctype html><meta charset="utf-8"><title>inputs</title>
<script type="module">
  import init, * as payonce from '/pkg/payonce.js';
  window.payonce = payonce;
  init().then(() => { document.documentElement.dataset.ready = 'true'; });
</script>`);
  env = await setup({ roots: { '/pkg/': join(root, 'pkg'), '/inputs/': work } });
  context = await env.browser.newContext();
  page = await context.newPage();
  await page.goto(`${env.gateway.url}/inputs/`);
  await page.waitForSelector('html[data-ready="true"]', { timeout: 10000 });
});

after(async () => {
  await context?.close();
  await env?.close();
  await rm(work, { recursive: true, force: true });
});

beforeEach(async () => { await env.reset(); });

/** Pays `order` with the headers `make` builds in the page; the outcome, or the error's code and message. */
function pay(order, make, endpoint = (location) => '/api/charges') {
  return page.evaluate(
    async ({ order, make, endpoint }) => {
      const headers = (0, eval)(make)();
      const to = (0, eval)(endpoint)(location);
      try {
        const r = await window.payonce.processPayment({ amount: 100, currency: 'usd', order }, undefined, { endpoint: to, headers });
        return { key: r.key, status: r.status };
      } catch (e) {
        return { code: e.code, message: e.message };
      }
    },
    { order, make: make.toString(), endpoint: endpoint.toString() },
  );
}

const FORMS = [
  ['a record', () => ({ Authorization: 'Bearer t-record' }), 'Bearer t-record'],
  ['a Headers', () => new Headers({ Authorization: 'Bearer t-headers' }), 'Bearer t-headers'],
  ['a Map', () => new Map([['Authorization', 'Bearer t-map']]), 'Bearer t-map'],
  ['an array of pairs', () => [['Authorization', 'Bearer t-pairs']], 'Bearer t-pairs'],
];

for (const [form, make, sent] of FORMS) {
  test(`headers given as ${form} reach the server`, async () => {
    const outcome = await pay(`headers-${form}`, make);
    assert.equal(outcome.status, 201, JSON.stringify(outcome));
    const requests = chargeRequests(await env.ledger());
    assert.deepEqual(requests.map((r) => r.authorization), [sent]);
  });
}

test('headers in any other form are invalid_input, and nothing is sent', async () => {
  const bad = [
    () => 'Authorization: Bearer x',
    () => 42,
    () => [['Authorization']],
    () => [['Authorization', 'Bearer x', 'extra']],
    () => [['Authorization', 42]],
    () => new Map([['Authorization', 42]]),
    () => () => ({ Authorization: 'Bearer x' }),
  ];
  for (const make of bad) {
    const outcome = await pay('bad-headers', make);
    assert.equal(outcome.code, 'invalid_input', `${make}: ${JSON.stringify(outcome)}`);
    assert.match(outcome.message, /headers/);
  }
  assert.equal((await env.ledger()).requests.length, 0);
});

test('a URL object is taken as endpoint, and is the same endpoint as its string', async () => {
  const viaUrl = await pay('url-endpoint', () => undefined, (location) => new URL('/api/charges', location.href));
  assert.equal(viaUrl.status, 201, JSON.stringify(viaUrl));
  const viaString = await pay('url-endpoint', () => undefined, (location) => location.origin + '/api/charges');
  assert.equal(viaString.key, viaUrl.key, 'one payment, one key');
  assert.equal((await env.ledger()).charges.length, 1);
});

test("a polluted Object.prototype does not reach fetch: the real fetch gets an init that inherits nothing", async () => {
  for (const [member, value] of [['mode', 'no-cors'], ['integrity', 'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=']]) {
    await env.reset();
    const outcome = await page.evaluate(async ({ member, value, order }) => {
      // Page code (a library with a prototype-pollution gadget) puts a RequestInit member
      // where every plain object inherits it; fetch reads its init through the prototype chain.
      Object.defineProperty(Object.prototype, member, { value, configurable: true, writable: true });
      try {
        const r = await window.payonce.processPayment({ amount: 100, currency: 'usd', order }, undefined, { endpoint: '/api/charges', maxRetries: 0 });
        return { key: r.key, status: r.status };
      } catch (e) {
        return { code: e.code, message: e.message };
      } finally {
        delete Object.prototype[member];
      }
    }, { member, value, order: `polluted-${member}` });
    assert.equal(outcome.status, 201, `${member}: ${JSON.stringify(outcome)}`);
    const ledger = await env.ledger();
    assert.deepEqual(ledger.requests.map((r) => r.key), [outcome.key], `${member}: the key reached the server`);
    assert.equal(ledger.charges.length, 1, member);
  }
});
