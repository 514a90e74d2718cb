// The shop's payment handler that each third-party idempotency middleware guards in the
// end-to-end tests (servers.test.mjs), and its ledger: every charge the handler performed,
// with its order, so a test counts charges per order from the server's own record.
//
// The handler is what a merchant writes behind the middleware: validate, charge, answer
// 201 with the charge (402 for the demo's declined card). It knows nothing of keys: the
// middleware in front is the only thing between a repeated request and a second charge.
// Test controls: hold() keeps the next handler call waiting until release() (the charge
// is made, and answered, only then), delayMs slows every call, failNext() makes the next
// call answer 503 without charging (a provider whose outcome is unknown).
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export function newShop() {
  const shop = {
    /** Charges the handler made: { id, order, amount, currency, key, at }. */
    charges: [],
    /** Every time the middleware let a request through to the handler: { key, order, at }. */
    calls: [],
    /** Handler calls waiting in hold(). */
    held: [],
    delayMs: 0,
    holds: 0,
    failures: 0,
    hold(times = 1) { shop.holds += times; },
    release() {
      const waiting = shop.held.splice(0);
      for (const go of waiting) go();
      return waiting.length;
    },
    failNext(times = 1) { shop.failures += times; },
    chargesFor: (order) => shop.charges.filter((c) => c.order === order),
    callsFor: (order) => shop.calls.filter((c) => c.order === order),
    reset() {
      shop.release();
      shop.charges.length = 0;
      shop.calls.length = 0;
      shop.delayMs = 0;
      shop.holds = 0;
      shop.failures = 0;
    },
    /** The handler: `details` is the parsed JSON body. Returns { status, body }. */
    async pay(details, key) {
      shop.calls.push({ key: key ?? null, order: details?.order ?? null, at: Date.now() });
      if (shop.holds > 0) {
        shop.holds -= 1;
        await new Promise((go) => shop.held.push(go));
      }
      if (shop.delayMs > 0) await new Promise((go) => setTimeout(go, shop.delayMs));
      if (shop.failures > 0) {
        shop.failures -= 1;
        return { status: 503, body: { error: 'provider_unavailable', message: 'the provider did not answer' } };
      }
      if (details === null || typeof details !== 'object' || !Number.isSafeInteger(details.amount) || details.amount <= 0
        || typeof details.currency !== 'string') {
        return { status: 400, body: { error: 'bad_request', message: 'amount and currency are required' } };
      }
      if (details.payment_method_id === 'pm_card_declined') {
        return { status: 402, body: { error: 'card_declined', message: 'the card was declined' } };
      }
      const id = `ch_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
      shop.charges.push({ id, order: details.order ?? null, amount: details.amount, currency: details.currency, key: key ?? null, at: Date.now() });
      return { status: 201, body: { id, status: 'succeeded', amount: details.amount, currency: details.currency } };
    },
  };
  return shop;
}

/** Serves `server` (a node:http server) on a free loopback port; close() ends it and its connections. */
export async function listen(server, shop) {
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    shop,
    close: () => new Promise((ok) => {
      shop.release();
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}

/**
 * The installed version of a package, from its own package.json (found from its entry
 * point), as this folder resolves it, or as package `from` resolves it.
 */
export function packageVersion(pkg, from) {
  const require = createRequire(from ? createRequire(import.meta.url).resolve(from) : import.meta.url);
  let dir = dirname(require.resolve(pkg));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const meta = JSON.parse(readFileSync(file, 'utf8'));
      if (meta.name === pkg) return meta.version;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json found for ${pkg}`);
    dir = up;
  }
}
