// payonce's core contract written by hand in plain JS, as a frontend team would weigh it:
// one key per endpoint + details, kept in sessionStorage (under a SHA-256 of them, so no
// details are stored) before the request leaves; one request in flight per payment;
// retries with backoff on network errors, timeouts, 408, 409, 429 and 5xx, with the same
// key on every attempt; a timeout per attempt, response body included.
const inFlight = new Map();
const sorted = (_, v) => (v && typeof v === 'object' && !Array.isArray(v)
  ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v);
const fail = (message, status, retryable) => Object.assign(new Error(message), { status, retryable });

export function pay(endpoint, details, options = {}) {
  const url = new URL(endpoint, location.href).href;
  const body = JSON.stringify(details, sorted);
  const id = `${url} ${body}`;
  if (!inFlight.has(id)) inFlight.set(id, send(url, body, id, options).finally(() => inFlight.delete(id)));
  return inFlight.get(id);
}

async function send(url, body, id, { headers = {}, timeoutMs = 10000, maxRetries = 2, retryDelayMs = 500,
  maxRetryDelayMs = 5000, maxRetryAfterMs = 10000, keyTtlMs = 864e5 } = {}) {
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(id)));
  const name = `pay:${Array.from(hash, (b) => b.toString(16).padStart(2, '0')).join('')}`;
  let saved = null;
  try { saved = JSON.parse(sessionStorage.getItem(name)); } catch {}
  if (!saved?.key || !(Date.now() - saved.at < keyTtlMs)) saved = { key: crypto.randomUUID(), at: Date.now() };
  sessionStorage.setItem(name, JSON.stringify(saved)); // before the request leaves: a reload reuses the key
  const init = { method: 'POST', body, redirect: 'manual',
    headers: { ...headers, 'Content-Type': 'application/json', 'Idempotency-Key': saved.key } };
  for (let attempt = 0; ; attempt++) {
    let res = null;
    let text = null;
    let error = null;
    try {
      res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
      text = await res.text();
    } catch (e) {
      [res, error] = [null, e.name === 'TimeoutError' ? 'timed out' : 'network error'];
    }
    if (res?.ok) return { status: res.status, body: text, key: saved.key };
    const status = res ? res.status : null; // 0 for a redirect (not followed): outcome unknown
    const transient = !res || status >= 500 || [408, 409, 429].includes(status);
    if (!transient || attempt >= maxRetries) {
      if (status >= 400 && !transient) sessionStorage.removeItem(name); // final: the next try is a new payment
      throw fail(error ?? `payment failed with status ${status}`, status, transient);
    }
    const after = Number(res?.headers.get('Retry-After')) * 1000 || 0;
    const backoff = Math.min(maxRetryDelayMs, retryDelayMs * 2 ** attempt) * (0.5 + Math.random() / 2);
    await new Promise((resolve) => setTimeout(resolve, Math.min(Math.max(after, backoff), maxRetryAfterMs)));
  }
}
