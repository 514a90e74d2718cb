// The benchmark page: the three clients, a shopper's clicks, and the overhead loop.
import { CLIENTS, ready } from './clients.js';
import { processPayment } from '/pkg/payonce.js';
import { pay } from './baselines/handwritten.js';

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
  /**
   * Sequential payments, per-call times in ms: payonce, raw fetch, the floor (raw
   * fetch plus the browser calls any client that keeps its key across a reload must
   * make: a sessionStorage write before the request and one after, and a timeout), the
   * floor with tabs (the floor plus a Web Lock and two channel posts), and payonce's
   * core contract written by hand in plain JS, interleaved in rotating order.
   */
  async overhead(n, tag) {
    const lib = [];
    const raw = [];
    const floor = [];
    const hand = [];
    const floorTabs = [];
    const channel = new BroadcastChannel('floor:v1');
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
    // The floor; with `tabs`, also what a client that keeps two tabs of one profile from
    // paying one cart twice must do besides: a Web Lock named for the payment, requested
    // before the request leaves and held until the outcome is written, and the pending
    // record and the outcome posted on a BroadcastChannel.
    const floorCall = (tabs, times) => async (i) => {
      const details = { order: `ovh-${tag}-${i}-floor${tabs ? 'tabs' : ''}`, amount: 100 + i, currency: 'usd' };
      const t = performance.now();
      const key = crypto.randomUUID();
      const record = (state) => `1,${state},${'0'.repeat(64)},${Date.now()},${Date.now()},0,1,1,${location.origin}${ENDPOINT}`;
      let release;
      const held = new Promise((resolve) => (release = resolve));
      if (tabs) navigator.locks.request(`floor:pay:${key}`, () => held);
      sessionStorage.setItem(`floor:${key}`, record('p'));
      if (tabs) channel.postMessage(record('p'));
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 10000);
      const res = await fetch(ENDPOINT, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': key },
        body: JSON.stringify(details),
        signal: controller.signal,
      });
      JSON.parse(await res.text());
      clearTimeout(timer);
      sessionStorage.setItem(`floor:${key}`, record('s'));
      if (tabs) channel.postMessage(record('s'));
      release();
      times.push(performance.now() - t);
    };
    const runFloor = floorCall(false, floor);
    const runFloorTabs = floorCall(true, floorTabs);
    const runHand = async (i) => {
      const details = { order: `ovh-${tag}-${i}-hand`, amount: 100 + i, currency: 'usd' };
      const t = performance.now();
      JSON.parse((await pay(ENDPOINT, details)).body);
      hand.push(performance.now() - t);
    };
    const order = [runLib, runRaw, runFloor, runFloorTabs, runHand];
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < order.length; j++) await order[(i + j) % order.length](i);
    }
    channel.close();
    return { lib, raw, floor, floorTabs, hand, stored: Object.keys(sessionStorage).filter((k) => k.startsWith('payonce:')).length };
  },
};
document.documentElement.dataset.ready = 'true';
