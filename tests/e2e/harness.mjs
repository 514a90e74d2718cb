// Shared setup for the end-to-end tests: the local gateway serving the
// release build, and Debian's Chromium driven headless by playwright-core.
import { chromium } from 'playwright-core';
import { startGateway } from '../../www/gateway.mjs';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    headless: true,
  });
}

/** Starts a gateway and a browser; returns helpers, and `close()`. */
export async function setup(gatewayOptions = {}) {
  const gateway = await startGateway(gatewayOptions);
  const browser = await launchBrowser();
  const api = async (path, body) => {
    const res = await fetch(gateway.url + path, body === undefined ? {} : {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    return res.json();
  };
  return {
    gateway,
    browser,
    api,
    ledger: () => api('/api/ledger'),
    reset: () => api('/api/reset', {}),
    faults: (spec) => api('/api/faults', spec),
    release: () => api('/api/release', {}),
    close: async () => {
      await browser.close();
      await gateway.close();
    },
  };
}

/** A fresh tab (its own sessionStorage) on the demo page, with console errors collected. */
export async function openDemo(env, { initScript } = {}) {
  const context = await env.browser.newContext();
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  await page.goto(`${env.gateway.url}/#order=1`);
  await page.waitForSelector('html[data-ready="true"]', { state: 'attached', timeout: 10000 });
  return { context, page, problems };
}

/** Polls `fn` until it returns something truthy, or fails after `ms`. */
export async function until(fn, ms = 15000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Clicks Pay and waits until the page reports a final state. */
export async function payAndWait(page) {
  await page.click('#pay');
  return settled(page);
}

export async function settled(page) {
  await page.waitForFunction(() => {
    const s = document.getElementById('pay').dataset.payonceState;
    return s === 'succeeded' || s === 'failed' || s === 'unknown';
  }, null, { timeout: 20000 });
  return page.$eval('#pay', (b) => b.dataset.payonceState);
}

export const chargeRequests = (ledger) => ledger.requests.filter((r) => r.key !== null);
