// The benchmark page: the three clients, a shopper's clicks, and the overhead loop.
import { CLIENTS, ready } from './clients.js';
import { processPayment } from '/pkg/payonce.js';

await ready;
const ENDPOINT = '/api/charges';
const outcome = (p) => p.then(() => ({ ok: true }), (e) => ({ ok: false, code: e.code ?? e.message }));

window.bench = {
  /** `n` rapid clicks; like a naive page, the shopper sees whichever settles last. */
  async click(client, details, n = 1) {
    const settled = [];
    await Promise.all(Array.from({ length: n }, () => outcome(CLIENTS[client](details)).then((o) => settled.push(o))));
    return settled[settled.length - 1];
  },
  /** A click whose outcome the shopper never sees (the page is reloaded). */
  start(client, details) {
    outcome(CLIENTS[client](details));
  },
  /** Sequential payments, payonce and raw fetch interleaved, per-call times in ms. */
  async overhead(n, tag) {
    const lib = [];
    const raw = [];
    const runLib = async (i) => {
      const details = { order: `ovh-${tag}-${i}-lib`, amount: 100 + i, currency: 'usd' };
      const t = performance.now();
      await processPayment(details, undefined, { endpoint: ENDPOINT });
      lib.push(performance.now() - t);
    };
    const runRaw = async (i) => {
      const details = { order: `ovh-${tag}-${i}-raw`, amount: 100 + i, currency: 'usd' };
      const t = performance.now();
      const res = await fetch(ENDPOINT, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': crypto.randomUUID() },
        body: JSON.stringify(details),
      });
      JSON.parse(await res.text());
      raw.push(performance.now() - t);
    };
    for (let i = 0; i < n; i++) {
      if (i % 2) { await runLib(i); await runRaw(i); } else { await runRaw(i); await runLib(i); }
    }
    return { lib, raw, stored: sessionStorage.length };
  },
};
document.documentElement.dataset.ready = 'true';
