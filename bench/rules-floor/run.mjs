// Drives the rules floor (bench/rules-floor) under Node through real payments,
// performing every effect it returns with Node's fetch and timers, against a
// local server (127.0.0.1) that answers the first request 503 and later ones
// 200: a full pay, a 503, a backoff, a 200; then a repeat of the same details
// (the same key), a caller key, a refused option, pending payments, a fresh
// key and forgetting one. Fails (exit 1) if anything is not as payonce does it.
//
//   node bench/rules-floor/run.mjs path/to/payonce_rules_floor.wasm
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { init } from './glue.js';

/** sessionStorage, as a page has it. */
class MemoryStorage {
  #m = new Map();
  get length() { return this.#m.size; }
  key(i) { return [...this.#m.keys()][i] ?? null; }
  getItem(k) { return this.#m.has(k) ? this.#m.get(k) : null; }
  setItem(k, v) { this.#m.set(String(k), String(v)); }
  removeItem(k) { this.#m.delete(k); }
}

const storage = new MemoryStorage();
const step = await init(readFileSync(process.argv[2]), storage);

const requests = [];
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    requests.push({ key: req.headers['idempotency-key'], body, extra: req.headers['x-shop'] });
    const status = requests.length === 1 ? 503 : 200;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(status === 200 ? JSON.stringify({ id: `ch_${requests.length}`, amount: JSON.parse(body).amount }) : '{"error":"busy"}');
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const endpoint = `http://127.0.0.1:${server.address().port}/api/charges`;

const log = [];
const payments = new Map();
const payment = (id) => {
  if (!payments.has(id)) {
    const p = { events: [] };
    p.promise = new Promise((resolve, reject) => Object.assign(p, { resolve, reject }));
    payments.set(id, p);
  }
  return payments.get(id);
};
const later = (f, ms = 0) => setTimeout(f, ms);

/** Sends one message and performs every effect of the answer; returns its result. */
function feed(message) {
  const { r, fx } = step(message);
  for (const e of fx) {
    if (!e) continue;
    log.push(e[0]);
    const [kind, a, b, c, d, h, read, timeout] = e;
    if (kind === 'wake') later(() => feed({ op: 'start', id: a }));
    else if (kind === 'send') {
      const p = payment(a);
      const ac = new AbortController();
      p.timer = setTimeout(() => ac.abort(), timeout);
      fetch(b, { method: 'POST', headers: h, body: d, credentials: c, signal: ac.signal, redirect: 'manual', cache: 'no-store' }).then(
        (res) => { p.res = res; feed({ op: 'answered', id: a, status: res.status, h: read.map((n) => res.headers.get(n)) }); },
        (err) => { clearTimeout(p.timer); feed({ op: 'noanswer', id: a, why: ac.signal.aborted ? 'timeout' : 'network', message: String(err) }); });
    } else if (kind === 'read') {
      const p = payment(a);
      p.res.text().then((text) => {
        clearTimeout(p.timer);
        let json = text !== '';
        try { JSON.parse(text); } catch { json = false; }
        feed({ op: 'body', id: a, text, json });
      }, (err) => feed({ op: 'noanswer', id: a, why: 'network', message: String(err) }));
    } else if (kind === 'sleep') later(() => feed({ op: 'slept', id: a }), b);
    else if (kind === 'event') payment(a).events.push(b);
    else if (kind === 'done') {
      const p = payment(a);
      p.settled = c;
      (b[0] === 'result' ? p.resolve : p.reject)(b);
    } else if (kind === 'listen') later(() => feed({ op: 'tabs', in: 'listening' }));
    else if (kind === 'lock') later(() => feed({ op: 'tabs', in: 'granted', lock: a, held: '' }));
    else if (kind === 'query') later(() => feed({ op: 'tabs', in: 'listed', held: '' }));
    else if (kind === 'timer') later(() => feed({ op: 'tabs', in: 'fired', timer: a }), b).unref();
    // post (no other tab here), release, close, adopted, restored: nothing to do.
  }
  return r;
}

function pay(details, key, options) {
  const r = feed({ op: 'pay', details, key, options });
  if (r[0] === 'error') return Promise.reject(r);
  const p = payment(r[1]);
  if (r[0] === 'new') later(() => feed({ op: 'start', id: r[1] }));
  return p.promise;
}

const options = { endpoint, retryDelayMs: 10, headers: [['X-Shop', 'floor']] };
const details = { amount: 5000, currency: 'usd', items: [{ sku: 'a', n: 2 }] };

// A full pay: 503, backoff, 200.
const first = await pay(details, null, options);
const p0 = payments.get(0);
assert.equal(first[0], 'result');
assert.equal(first[2], 200);
assert.equal(first[3], 2, 'two attempts');
assert.deepEqual(first[5], { id: 'ch_2', amount: 5000 });
assert.equal(p0.settled, 'succeeded');
assert.deepEqual(p0.events.map((e) => e[0]), ['attempt', 'response', 'backoff', 'attempt', 'response']);
assert.equal(p0.events[2][3], 'http');
assert.equal(requests.length, 2);
assert.equal(requests[0].key, first[1]);
assert.equal(requests[1].key, first[1], 'the same key on the retry');
assert.equal(requests[0].extra, 'floor');
assert.equal(requests[0].body, '{"amount":5000,"currency":"usd","items":[{"n":2,"sku":"a"}]}', 'canonical JSON');
const saved = storage.getItem(`payonce:v1:${first[1]}`);
assert.ok(saved, 'the record is in storage');

// The same details again: the same key (the server's replay decides).
const again = await pay({ currency: 'usd', amount: 5000, items: [{ n: 2, sku: 'a' }] }, null, options);
assert.equal(again[1], first[1]);
assert.equal(requests[2].key, first[1]);

// A caller key, a refused option, pending payments, a fresh key, forgetting.
const own = await pay({ amount: 1 }, 'order-42', options);
assert.equal(own[1], 'order-42');
await assert.rejects(pay({ amount: 1 }, null, { ...options, maxRetries: 99 }), (e) => e[1] === 'invalid_input' && /maxRetries/.test(e[2]));
await assert.rejects(pay({ amount: 1 }, null, { ...options, headers: [['Cookie', 'x']] }), (e) => e[1] === 'invalid_input');
assert.deepEqual(feed({ op: 'pending', endpoint }), ['records']);
assert.match(feed({ op: 'newkey' }), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
assert.equal(feed({ op: 'forget', key: 'order-42' }), true);
assert.equal(storage.getItem('payonce:v1:order-42'), null);

server.close();
console.log(`paid (503, backoff, 200; key ${first[1]}), paid again with the same key, a caller key, refusals; ${requests.length} requests; effects seen: ${[...new Set(log)].join(' ')}`);
process.exit(0);
