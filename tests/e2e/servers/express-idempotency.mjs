// express-idempotency (npm; Ville de Montréal) on Express, wired as its README says:
// the middleware on the POST route, then the handler, which must return at once when
// `isHit(req)`: on a repeat the middleware sends the stored answer itself and still
// calls next(). What its README leaves to the app, done here as an app would:
//   - a JSON body parser before it: its intent check compares req.body, and without a
//     parser both bodies are undefined, so a key reused with other details would be
//     answered with the first payment's stored answer;
//   - an error handler: it answers a repeat while the first is running with next(err)
//     after res.status(409), and a key reused with other details (another url, method,
//     query or body) with 417 Expectation Failed; the handler below keeps that status
//     and answers JSON.
// It stores only 2xx answers (a 402 or a 5xx deletes the key: the next request runs the
// handler again), replays the status, the body and Content-Type with no replay header,
// and echoes the Idempotency-Key. Keys live in memory here (its default adapter).
// Its service is one per process (getSharedIdempotencyService): start one such server.
import { createServer } from 'node:http';
import express from 'express';
import { idempotency, getSharedIdempotencyService } from 'express-idempotency';
import { newShop, listen } from './shop.mjs';

export const name = 'express-idempotency';
export const packages = ['express-idempotency', 'express'];

/** Starts the shop's API at `${url}/api/charges`. */
export async function start() {
  const shop = newShop();
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json());
  app.post('/api/charges', idempotency());
  app.post('/api/charges', async (req, res, next) => {
    try {
      if (getSharedIdempotencyService().isHit(req)) return;
      const { status, body } = await shop.pay(req.body, req.get('Idempotency-Key'));
      res.status(status).json(body);
    } catch (err) {
      next(err);
    }
  });
  // The middleware's 409 and 417 come here with the status already set.
  app.use((err, req, res, next) => { // eslint-disable-line no-unused-vars
    const status = res.statusCode >= 400 ? res.statusCode : (err.status ?? 500);
    res.status(status).json({ error: 'idempotency', message: err.message });
  });
  return listen(createServer(app), shop);
}
