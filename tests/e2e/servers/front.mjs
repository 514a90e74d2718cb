// A small reverse proxy in front of a middleware server, for the end-to-end tests: it adds
// the CORS answer a cross-origin payment endpoint needs (the checkout page is on the
// gateway's origin), records every request and its answer, and can lose an answer: for
// the first request of a key, forward it, wait for the server's whole answer (the charge
// is made and stored), then destroy the client's socket instead of answering.
//
// CORS, as the README's "Cross-origin endpoints" asks: preflights answered here (POST,
// Idempotency-Key and Content-Type allowed), every answer with Access-Control-Allow-Origin
// and Access-Control-Expose-Headers for Retry-After and both replay headers, so the
// browser shows payonce what the middleware said. Nothing else of the answer is changed.
import { createServer, request } from 'node:http';

const EXPOSE = ['Retry-After', 'Idempotent-Replayed', 'Idempotency-Replayed', 'Idempotency-Key'];
const cors = (origin) => ({
  'Access-Control-Allow-Origin': origin ?? '*',
  'Access-Control-Expose-Headers': EXPOSE.join(', '),
  Vary: 'Origin',
});
// Headers of the answer worth a line in a report (the rest is Date, ETag, Content-Length).
const KEPT = ['content-type', 'idempotent-replayed', 'idempotency-replayed', 'retry-after', 'idempotency-key'];

/** Starts the proxy in front of `upstream` (an origin: http://127.0.0.1:port). */
export async function startFront(upstream) {
  const target = new URL(upstream);
  const seen = new Set(); // keys that reached the proxy before
  const front = {
    url: '',
    /**
     * Every forwarded request: { at, method, path, key, status, headers, body, dropped, delivered }:
     * the server's answer (status 0 until it came), whether this proxy dropped it on purpose,
     * whether it was passed on (not when dropped, nor when the client had gone: a reload).
     */
    requests: [],
    preflights: 0,
    drops: 0,
    /**
     * false: every answer says Connection: close, so each request has a connection of its own.
     * A browser resends a request by itself when a connection it reused dies before any
     * answer (Chromium does); on a fresh connection it does not, and the retry is payonce's.
     */
    keepAlive: true,
    /** Loses the answer to the first request of each of the next `keys` new keys. */
    dropFirstAnswer(keys = 1) { front.drops += keys; },
    requestsFor: (key) => front.requests.filter((r) => r.key === key),
    reset() { front.requests.length = 0; front.preflights = 0; front.drops = 0; front.keepAlive = true; },
  };

  const server = createServer((req, res) => {
    if (req.method === 'OPTIONS') {
      front.preflights += 1;
      res.writeHead(204, {
        ...cors(req.headers.origin),
        'Access-Control-Allow-Methods': 'POST',
        'Access-Control-Allow-Headers': 'Idempotency-Key, Content-Type',
        'Access-Control-Max-Age': '600',
        ...(front.keepAlive ? {} : { Connection: 'close' }),
      });
      res.end();
      return;
    }
    const key = req.headers['idempotency-key'] ?? null;
    const entry = { at: Date.now(), method: req.method, path: req.url, key, status: 0, headers: {}, body: null, dropped: false, delivered: false };
    front.requests.push(entry);
    if (key !== null && !seen.has(key)) {
      seen.add(key);
      if (front.drops > 0) {
        front.drops -= 1;
        entry.dropped = true;
      }
    }
    const headers = { ...req.headers, host: target.host, connection: 'close' };
    const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent: false }, (answer) => {
      const chunks = [];
      answer.on('data', (c) => chunks.push(c));
      answer.on('end', () => {
        const body = Buffer.concat(chunks);
        entry.status = answer.statusCode;
        entry.headers = Object.fromEntries(KEPT.filter((h) => h in answer.headers).map((h) => [h, answer.headers[h]]));
        entry.body = body.toString('utf8').slice(0, 300);
        if (entry.dropped) {
          // The answer is lost: the client's connection dies with no byte of it.
          req.socket.destroy();
          return;
        }
        if (res.destroyed) return; // the page went away (a reload) while the server worked
        const out = { ...answer.headers, ...cors(req.headers.origin) };
        delete out.connection;
        delete out['keep-alive'];
        delete out['transfer-encoding'];
        out['content-length'] = String(body.length);
        if (!front.keepAlive) out.connection = 'close';
        res.writeHead(answer.statusCode, out);
        res.end(body);
        entry.delivered = true;
      });
      answer.on('error', () => req.socket.destroy());
    });
    up.on('error', (err) => {
      entry.status = -1;
      entry.body = `proxy: ${err.message}`;
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(502, { 'Content-Type': 'application/json', ...cors(req.headers.origin) });
        res.end(JSON.stringify({ error: 'bad_gateway', message: err.message }));
      }
    });
    req.pipe(up);
  });

  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  front.url = `http://127.0.0.1:${server.address().port}`;
  front.close = () => new Promise((ok) => {
    server.closeAllConnections();
    server.close(() => ok());
  });
  return front;
}
