// The ways a checkout page can send a payment, as the chaos benchmark runs them
// in the page: payonce; payonce's core contract written by hand
// (baselines/handwritten.js); and two naive baselines, plain JS written here.
import init, { processPayment } from '/pkg/payonce.js';
import { pay } from './baselines/handwritten.js';

export const TIMING = { timeoutMs: 400, maxRetries: 2, retryDelayMs: 50, maxRetryDelayMs: 200, maxRetryAfterMs: 1500 };
const ENDPOINT = '/api/charges';

class Failed extends Error {}

async function post(details, key, timeoutMs) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const res = await fetch(ENDPOINT, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': key },
      body: JSON.stringify(details),
      signal: controller.signal,
    });
    const body = await res.text();
    return { status: res.status, body, retryAfter: res.headers.get('Retry-After') };
  } finally {
    clearTimeout(timer);
  }
}

// The seed snippet's approach: one key made at page load, kept in memory, no retries.
const PAGE_KEY = crypto.randomUUID();
async function snippet(details) {
  const r = await post(details, PAGE_KEY, TIMING.timeoutMs);
  if (r.status >= 200 && r.status < 300) return r;
  throw new Failed(`status ${r.status}`);
}

// A typical fetch-retry wrapper: a new key per click, reused across that click's retries.
async function retrying(details) {
  const key = crypto.randomUUID();
  for (let attempt = 0; ; attempt++) {
    let r = null;
    try {
      r = await post(details, key, TIMING.timeoutMs);
      if (r.status >= 200 && r.status < 300) return r;
      if (![408, 409, 429].includes(r.status) && r.status < 500) throw new Failed(`status ${r.status}`);
    } catch (e) {
      if (e instanceof Failed || attempt >= TIMING.maxRetries) throw e;
    }
    if (attempt >= TIMING.maxRetries) throw new Failed(`status ${r && r.status}`);
    const wait = r && r.retryAfter ? Number(r.retryAfter) * 1000 : TIMING.retryDelayMs * 2 ** attempt;
    await new Promise((ok) => setTimeout(ok, Math.min(wait, TIMING.maxRetryAfterMs)));
  }
}

async function payonce(details) {
  return processPayment(details, undefined, { endpoint: ENDPOINT, ...TIMING });
}

async function handwritten(details) {
  return pay(ENDPOINT, details, TIMING);
}

export const CLIENTS = { payonce, handwritten, snippet, retrying };
export const ready = init();
