// A local payment gateway for the demo, the end-to-end tests and the benchmark.
//
// Zero dependencies. It serves www/ and the built package (pkg/), and
// implements the server side of the IETF "Idempotency-Key HTTP Header Field"
// draft faithfully, so that what the page and the tests see is what a real
// gateway would do:
//   - no key: 400; a key reused with another body (by fingerprint): 422;
//   - a repeat while the first is still being processed: 409;
//   - a repeat after completion: the stored status and body, with
//     `Idempotent-Replayed: true`; keys expire after 24 h;
//   - a bad body (not JSON, no positive whole amount, no currency): 400 JSON;
//   - payment_method_id 'pm_card_declined': a stored 402 decline (replayed on repeats).
// Faults can be queued for the next requests (POST /api/faults) to show the
// client surviving them, and the ledger of charges is at GET /api/ledger.
//
// A real payment server does the same, with its store in a database: the key is
// inserted with the body's fingerprint and "in progress" before the provider is
// called (atomically: two requests must not both find the key absent), and the
// final status and body are stored before the answer is sent. Keys scoped to the
// shopper, and kept at least as long as the page's keyTtlMs (24 h by default, up to
// 7 days) after their last request. A provider answer whose outcome is unknown
// (timeout, 5xx) is stored as nothing final: answer 503, and let the next request
// with the key call the provider again with the same provider key.
//
// Where `complete()` below charges, a real server forwards the browser's key to
// its provider. Derive the provider's key from it, so that it fits every
// provider's limit and cannot reach another shopper's payment (a page may choose
// its own key, up to 255 printable ASCII characters):
//
//   const providerKey = createHash('sha256').update(`${shopper.id}\n${key}`).digest('base64url'); // 43 chars
//
//   Stripe (stripe-node; keys up to 255 chars; src/utils.ts sends the option as Idempotency-Key):
//     await stripe.paymentIntents.create(params, { idempotencyKey: providerKey });
//   Adyen (@adyen/api-library; at most 64 chars; src/typings/requestOptions.ts):
//     await checkout.PaymentsApi.payments(paymentRequest, { idempotencyKey: providerKey });
//   PayPal (@paypal/paypal-server-sdk; PayPal-Request-Id, 1 to 108 chars, kept 6 h by default):
//     await new OrdersController(client).captureOrder({ id: orderId, paypalRequestId: providerKey });
//   Square (square; idempotency_key in the JSON body, at most 45 chars):
//     await square.payments.create({ sourceId, amountMoney, idempotencyKey: providerKey });
//   Mollie (@mollie/api-client; Idempotency-Key header; re-attempts within an hour):
//     await mollie.payments.create({ amount, description, redirectUrl, idempotencyKey: providerKey });
//   Braintree (braintree >= 3.37.0; apiRequestKey, duplicates within 30 days):
//     await gateway.transaction.sale({ amount, paymentMethodNonce, apiRequestKey: providerKey });
//
// The provider's "in progress" answer maps to 409 here, its "key reused with other
// parameters" to 422. Sources for each rule: README.md, "Server side".

import { createServer } from 'node:http';
import { createHash, randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const KEY_TTL_MS = 24 * 60 * 60 * 1000;
const MAX_BODY = 1 << 20;
/** What the gateway serves when no roots are given: the demo and the built package. */
export const DEFAULT_ROOTS = Object.freeze({ '/pkg/': resolve(here, '../pkg'), '/': here });
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.ts': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The kinds of fault the gateway can inject, and what each does to one request. */
export const FAULTS = {
  drop: 'charge, then drop the connection without an answer (the response is lost)',
  slow: 'charge at once, answer only after slowMs (longer than the client timeout)',
  unavailable: 'answer 503 without charging',
  rateLimit: 'answer 429 with Retry-After: retryAfter seconds, without charging',
  hold: 'hold the request in progress until POST /api/release, then charge and answer',
  // Hostile answers, for the hardening tests. Each charges unless it says otherwise.
  notJson: 'charge, answer 201 with a body that is not JSON',
  empty: 'charge, answer 201 with an empty body',
  huge: 'charge, answer 201 with a 5 MB JSON body',
  wrongType: 'charge, answer 201 with JSON labelled text/html',
  redirect: 'answer 302 to another page without charging',
  garbageRetryAfter: 'answer 429 with Retry-After: soon, without charging',
  resetMidBody: 'charge, send the headers and half the body, then reset the connection',
  stallBody: 'charge, send the headers and half the body, then nothing for a minute',
};

/**
 * Starts the gateway.
 * @param {{ port?: number, host?: string, roots?: Record<string, string>, headers?: Record<string, string>,
 *   prelude?: (req: import('node:http').IncomingMessage) => string, quiet?: boolean, gzip?: boolean }} [opts]
 *   roots maps URL prefixes to folders; by default (DEFAULT_ROOTS) '/' is www/ and '/pkg/' is the built package.
 *   prelude returns HTML put right after the doctype of every HTML file served: the e2e
 *   harness loads its init script there for browsers whose driver cannot add one.
 *   gzip: files are sent gzip -9 encoded to browsers that accept it, as a web server or
 *   CDN would (the bench measures loads that way; the tests see the bytes as they are).
 */
export async function startGateway(opts = {}) {
  const roots = opts.roots ?? DEFAULT_ROOTS;
  const extraHeaders = opts.headers ?? {};
  const state = newState();
  const gzipped = new Map();

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) json(res, 500, { error: 'internal', message: String(err && err.message) });
      else res.destroy();
    });
  });

  async function handle(req, res) {
    const url = new URL(req.url, 'http://gateway.local');
    if (url.pathname === '/api/charges' && req.method === 'POST') return charge(req, res);
    if (url.pathname === '/api/ledger' && req.method === 'GET') {
      const order = url.searchParams.get('order');
      if (order === null) return json(res, 200, ledger());
      // One order's charges only: cheap to poll when the ledger is long.
      return json(res, 200, { charges: state.charges.filter((c) => c.order === order), held: state.held.length });
    }
    if (url.pathname === '/api/faults/clear' && req.method === 'POST') {
      state.faults.length = 0;
      return json(res, 200, { queued: [] });
    }
    if (url.pathname === '/api/faults' && req.method === 'POST') {
      const body = await readJson(req);
      if (!body.ok) return json(res, 400, { error: 'bad_request', message: body.error });
      const queued = queueFaults(body.value);
      return json(res, queued.error ? 400 : 200, queued);
    }
    if (url.pathname === '/api/faults' && req.method === 'GET') return json(res, 200, { queued: state.faults, kinds: FAULTS });
    if (url.pathname === '/api/release' && req.method === 'POST') {
      const released = state.held.splice(0);
      for (const go of released) go();
      return json(res, 200, { released: released.length });
    }
    if (url.pathname === '/api/reset' && req.method === 'POST') {
      for (const go of state.held.splice(0)) go();
      Object.assign(state, newState());
      return json(res, 200, { reset: true });
    }
    if (req.method === 'GET' || req.method === 'HEAD') return serveFile(url.pathname, req, res);
    return json(res, 405, { error: 'method_not_allowed' });
  }

  async function charge(req, res) {
    const raw = await readBody(req);
    const rawKey = req.headers['idempotency-key'];
    // authorization: whether the caller's own header arrived (the tests send made-up tokens).
    const entry = { at: Date.now(), key: rawKey ?? null, authorization: req.headers.authorization ?? null, status: 0, replayed: false, fault: null };
    state.requests.push(entry);
    const answer = (status, body, headers = {}) => {
      entry.status = status;
      entry.replayed = headers['Idempotent-Replayed'] === 'true';
      json(res, status, body, headers);
    };
    if (raw === null) return answer(413, { error: 'too_large', message: `the body is over ${MAX_BODY} bytes` });

    if (!rawKey) return answer(400, { error: 'missing_idempotency_key', message: 'send an Idempotency-Key header' });
    const key = parseKey(rawKey);
    if (!key) return answer(400, { error: 'bad_idempotency_key', message: 'the Idempotency-Key header is malformed' });
    entry.key = key;

    const fingerprint = createHash('sha256').update(raw).digest('hex');
    purgeExpired();
    const known = state.keys.get(key);
    if (known) {
      if (known.fingerprint !== fingerprint) {
        return answer(422, { error: 'idempotency_key_reused', message: 'this key was used with a different request body' });
      }
      if (!known.done) {
        return answer(409, { error: 'request_in_progress', message: 'a request with this key is still being processed' });
      }
      return answer(known.status, known.body, { 'Idempotent-Replayed': 'true' });
    }

    // Faults that stop the request before it is processed: nothing is stored.
    const fault = takeFault();
    entry.fault = fault?.kind ?? null;
    if (fault?.kind === 'unavailable') {
      return answer(503, { error: 'unavailable', message: 'the gateway is briefly unavailable' });
    }
    if (fault?.kind === 'redirect') {
      return answer(302, { error: 'moved' }, { Location: '/elsewhere' });
    }
    if (fault?.kind === 'garbageRetryAfter') {
      return answer(429, { error: 'rate_limited' }, { 'Retry-After': 'soon' });
    }
    if (fault?.kind === 'rateLimit') {
      return answer(429, { error: 'rate_limited', message: 'slow down' }, { 'Retry-After': String(fault.retryAfter ?? 1) });
    }

    let details;
    try {
      details = JSON.parse(raw.toString('utf8'));
    } catch {
      return answer(400, { error: 'bad_request', message: 'the body is not JSON' });
    }
    const problem = validate(details);
    if (problem) return answer(400, { error: 'bad_request', message: problem });

    const record = { fingerprint, done: false, status: 0, body: null, expires: Date.now() + KEY_TTL_MS };
    state.keys.set(key, record);

    const complete = () => {
      if (details.payment_method_id === 'pm_card_declined') {
        // A final answer, stored like any other: a repeat replays the decline.
        record.done = true;
        record.status = 402;
        record.body = { error: 'card_declined', message: 'the card was declined' };
        return record;
      }
      const id = `ch_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
      state.charges.push({ id, key, amount: details.amount, currency: details.currency, order: details.order ?? null, at: Date.now() });
      record.done = true;
      record.status = 201;
      record.body = { id, status: 'succeeded', amount: details.amount, currency: details.currency };
      return record;
    };

    if (fault?.kind === 'hold') {
      state.held.push(() => {
        complete();
        if (!res.destroyed) answer(record.status, record.body);
      });
      return;
    }
    complete();
    if (fault && hostile(fault.kind, res, record, entry)) return;
    if (fault?.kind === 'drop') {
      entry.status = -1;
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'slow') {
      setTimeout(() => {
        if (!res.destroyed) answer(record.status, record.body);
      }, fault.slowMs ?? 3000);
      return;
    }
    answer(record.status, record.body);
  }

  /** Answers a charged request in a hostile way; true when it did. */
  function hostile(kind, res, record, entry) {
    const send = (status, type, body) => {
      entry.status = status;
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(body);
    };
    switch (kind) {
      case 'notJson': send(201, 'application/json', 'charged <b>OK</b>'); return true;
      case 'empty': send(201, 'application/json', ''); return true;
      case 'huge': send(201, 'application/json', JSON.stringify({ ...record.body, padding: 'x'.repeat(5 << 20) })); return true;
      case 'wrongType': send(201, 'text/html', JSON.stringify(record.body)); return true;
      case 'resetMidBody':
      case 'stallBody': {
        const body = JSON.stringify(record.body);
        entry.status = -1;
        res.writeHead(201, { 'Content-Type': 'application/json', 'Content-Length': String(body.length * 2) });
        res.write(body.slice(0, body.length >> 1));
        const timer = setTimeout(() => res.socket?.destroy(), kind === 'stallBody' ? 60000 : 50);
        res.on('close', () => clearTimeout(timer));
        return true;
      }
      default: return false;
    }
  }

  function validate(d) {
    if (d === null || typeof d !== 'object' || Array.isArray(d)) return 'the body must be a JSON object';
    if (!Number.isSafeInteger(d.amount) || d.amount <= 0) return 'amount must be a positive whole number of the smallest currency unit';
    if (typeof d.currency !== 'string' || !/^[a-z]{3}$/i.test(d.currency)) return 'currency must be a three-letter ISO code';
    return null;
  }

  function queueFaults(spec) {
    const list = Array.isArray(spec) ? spec : [spec];
    if (list.some((f) => !f || !(f.kind in FAULTS))) {
      return { error: 'bad_fault', message: `each fault needs a kind: ${Object.keys(FAULTS).join(', ')}` };
    }
    for (const f of list) {
      const times = Math.max(1, Math.min(100, Number(f.times ?? 1) | 0));
      for (let i = 0; i < times; i++) state.faults.push({ ...f, times: undefined });
    }
    return { queued: state.faults };
  }

  function takeFault() {
    return state.faults.shift() ?? null;
  }

  function purgeExpired() {
    const now = Date.now();
    for (const [key, rec] of state.keys) if (rec.expires < now) state.keys.delete(key);
  }

  function ledger() {
    return { charges: state.charges, requests: state.requests, held: state.held.length, queuedFaults: state.faults.length };
  }

  async function serveFile(pathname, req, res) {
    const prefix = Object.keys(roots).sort((a, b) => b.length - a.length).find((p) => pathname.startsWith(p));
    if (!prefix) return json(res, 404, { error: 'not_found' });
    const root = resolve(roots[prefix]);
    let rel = decodeURIComponent(pathname.slice(prefix.length));
    if (rel === '' || rel.endsWith('/')) rel += 'index.html';
    const file = normalize(join(root, rel));
    if (file !== root && !file.startsWith(root + sep)) return json(res, 403, { error: 'forbidden' });
    try {
      let data = await readFile(file);
      const prelude = extname(file) === '.html' && opts.prelude ? opts.prelude(req) : '';
      if (prelude) {
        const html = data.toString('utf8');
        const at = /^\s*<!doctype[^>]*>/i.exec(html)?.[0].length ?? 0;
        data = Buffer.from(html.slice(0, at) + prelude + html.slice(at));
      }
      const encode = opts.gzip && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
      if (encode) {
        // Compressed once per file content, as a server with precompressed files would.
        let cached = gzipped.get(file);
        if (!cached || !cached.raw.equals(data)) gzipped.set(file, (cached = { raw: data, gzip: gzipSync(data, { level: 9 }) }));
        data = cached.gzip;
      }
      res.writeHead(200, {
        'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
        'Cache-Control': 'no-store',
        ...(encode ? { 'Content-Encoding': 'gzip', Vary: 'Accept-Encoding' } : {}),
        ...extraHeaders,
      });
      res.end(data);
    } catch {
      json(res, 404, { error: 'not_found', path: pathname });
    }
  }

  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', ok);
  });
  const { port } = server.address();
  const url = `http://${opts.host ?? '127.0.0.1'}:${port}`;
  return {
    url,
    port,
    state,
    close: () =>
      new Promise((ok) => {
        for (const go of state.held.splice(0)) go();
        server.closeAllConnections?.();
        server.close(() => ok());
      }),
  };
}

function newState() {
  return { keys: new Map(), charges: [], requests: [], faults: [], held: [] };
}

/** The key, bare or in the draft's quoted structured-field form. */
function parseKey(value) {
  let v = String(value).trim();
  if (v.startsWith('"')) {
    if (v.length < 3 || !v.endsWith('"')) return null;
    v = v.slice(1, -1);
  }
  return /^[\x21-\x7e]{1,255}$/.test(v) ? v : null;
}

function readBody(req) {
  return new Promise((ok, fail) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => ok(size > MAX_BODY ? null : Buffer.concat(chunks)));
    req.on('error', fail);
  });
}

async function readJson(req) {
  const raw = await readBody(req);
  try {
    return { ok: true, value: JSON.parse(raw?.toString('utf8') ?? '') };
  } catch {
    return { ok: false, error: 'the body is not JSON' };
  }
}

function json(res, status, body, headers = {}) {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

// `node www/gateway.mjs [port]` serves the demo.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] ?? process.env.PORT ?? 8080);
  const gw = await startGateway({ port, host: process.env.HOST ?? '127.0.0.1' });
  console.log(`payonce demo: open ${gw.url.replace('127.0.0.1', 'localhost')}/ (Ctrl-C to stop)`);
}
