// Helpers shared by compat.test.mjs and evidence.test.mjs: tabs of one context on the
// demo checkout (the new build at /, or the previous release at /previous/), and
// payments started in a tab without an evaluate left waiting on it (a tab whose main
// thread is blocked would stall every WebDriver command of its session: a payment's
// outcome is read afterwards, with its own deadline).
import { chargeRequests } from './harness.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A tab of `context` on the demo checkout's order `order`, ready to pay. */
export async function openTab(env, context, { release = 'new', order = 1, fragment = '' } = {}) {
  const page = await context.newPage();
  const path = release === 'previous' ? '/previous/' : '/';
  await page.goto(`${env.gateway.url}${path}#order=${order}${fragment}`);
  await page.waitForSelector('html[data-ready="true"]', { timeout: 15000 });
  page.release = release;
  return page;
}

/**
 * Runs `go` (a reload or a navigation of `page`) and waits, up to `timeout` ms, for the
 * document it loads to be ready (the demo sets data-ready after init()). The document
 * being left is marked first: it is ready too, and a driver's navigation can return
 * while it is still the one scripts run in (seen with geckodriver).
 */
export async function navigateReady(page, go, timeout = 15000) {
  await page.evaluate(() => {
    window.__e2eLeft = true;
  });
  await go();
  await page.waitForFunction(() => !window.__e2eLeft && document.documentElement.dataset.ready === 'true', undefined, { timeout });
}

/**
 * The payonce files the tab loaded (which release it runs), from resource timing: each
 * release is one file, payonce.js with its module inside, at /pkg/ (the new build) or
 * /previous/ (the previous release). Waits up to 5 s for them (Firefox adds the entries a
 * moment after the page has used them).
 */
export const releaseLoaded = (page) => page.waitForFunction(() => {
  const files = performance.getEntriesByType('resource').map((r) => new URL(r.name).pathname).filter((p) => /\/payonce(_bg\.wasm|\.js)$/.test(p)).sort();
  return files.some((p) => p.endsWith('.js')) && files;
}, undefined, { timeout: 5000 });

/**
 * Starts processPayment(details(), undefined, { ...PAY_OPTIONS, ...options }) in the tab,
 * as the page's own demo code calls it, and returns its number at once. `options.clearOnAttempt`
 * (an attempt number) calls sessionStorage.clear() `clearAfterMs` after that attempt starts.
 * Its outcome: `outcome(page, n)`. Self-contained: its source is sent to the page.
 */
export function payInPage(options) {
  const { processPayment, details, PAY_OPTIONS } = window.payonceDemo;
  const { clearOnAttempt, clearAfterMs = 200, ...rest } = options;
  const runs = (window.__e2ePays ??= []);
  const run = { startedAt: Date.now(), events: [], outcome: null };
  runs.push(run);
  const onEvent = (e) => {
    run.events.push({ ...e, at: Date.now() });
    if (e.type === 'attempt' && e.attempt === clearOnAttempt) {
      setTimeout(() => {
        sessionStorage.clear();
        run.clearedAt = Date.now();
        run.itemsAfterClear = sessionStorage.length;
      }, clearAfterMs);
    }
  };
  const itemsWithKey = (key) => Object.keys(sessionStorage)
    .filter((name) => name.includes(key) || String(sessionStorage.getItem(name)).includes(key));
  processPayment(details(), undefined, { ...PAY_OPTIONS, ...rest, onEvent }).then(
    (r) => { run.outcome = { ok: true, key: r.key, id: r.body?.id ?? null, replayed: r.replayed, attempts: r.attempts, endedAt: Date.now() }; },
    (e) => {
      run.outcome = {
        ok: false, name: e?.name, code: e?.code, message: e?.message, retryable: e?.retryable,
        attempts: e?.attempts, key: e?.key ?? null, status: e?.status ?? null, endedAt: Date.now(),
      };
      // The storage as it is one second after the call ended (#24.3).
      if (e?.key) setTimeout(() => { run.outcome.itemsWithKeyAfter1s = itemsWithKey(e.key); run.checked = true; }, 1000);
      else run.checked = true;
    });
  return runs.length - 1;
}

export const startPay = (page, options = {}) => page.evaluate(payInPage, options);

/**
 * An init script: a page whose URL fragment has `autopay` starts payInPage(options) as soon
 * as the demo is ready (payment 0), from its own task, with no WebDriver command (a command
 * may wait on another tab of the session whose main thread is blocked, in WebKit).
 */
export const autoPay = (options = {}) => `if (new URLSearchParams(location.hash.slice(1)).has('autopay')) {
  const until = Date.now() + 15000; // the demo is ready within this, or there is no payment
  const go = () => { if (window.payonceDemo) (${payInPage})(${JSON.stringify(options)}); else if (Date.now() < until) setTimeout(go, 5); };
  setTimeout(go, 0);
}`;

/** The outcome of the tab's payment number `n` (startPay's answer), waiting up to `ms`. */
export async function outcome(page, n, { ms = 20000, what = `the payment ${n} in the ${page.release ?? 'new'} tab to end` } = {}) {
  try {
    return await page.waitForFunction((n) => window.__e2ePays?.[n]?.outcome && window.__e2ePays[n], n, { timeout: ms });
  } catch (e) {
    throw new Error(`timed out after ${ms} ms waiting for ${what}: ${e.message}`);
  }
}

/** The demo's own processPayment with its options, awaited in the tab (for a tab nothing blocks). */
export const payNow = (page, options = {}) => page.evaluate(async (options) => {
  const { processPayment, details, PAY_OPTIONS } = window.payonceDemo;
  try {
    const r = await processPayment(details(), undefined, { ...PAY_OPTIONS, ...options });
    return { ok: true, key: r.key, id: r.body?.id ?? null, replayed: r.replayed, attempts: r.attempts };
  } catch (e) {
    return { ok: false, name: e?.name, code: e?.code, message: e?.message, retryable: e?.retryable, attempts: e?.attempts, key: e?.key ?? null };
  }
}, options);

/** The keys that reached the gateway, in order, once each. */
export const keysOf = (ledger) => [...new Set(chargeRequests(ledger).map((r) => r.key))];

/** A short account of the ledger for assertion messages. */
export const describe = (ledger) => JSON.stringify({
  charges: ledger.charges.map(({ id, key, order }) => ({ id, key, order })),
  requests: chargeRequests(ledger).map(({ key, status, replayed, fault }) => ({ key, status, replayed, fault })),
});
