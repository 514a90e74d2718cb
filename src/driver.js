// The only hand-written JS in payonce: the loop that awaits what the Rust
// code asks it to, so that the wasm module carries no future executor.
// Every decision (what to send, whether to retry, how long to wait) is
// made in Rust; this file only awaits.

/** Runs a payonce job: `step` returns a promise to await, or nothing when done. */
export async function drive(job) {
  let value;
  let ok = true;
  try {
    // One microtask first, so callbacks the job makes (onEvent, fetch) never
    // run inside the caller's processPayment() call.
    await null;
    for (let wait; (wait = job.step(value, ok)); ) {
      try {
        value = await wait;
        ok = true;
      } catch (e) {
        value = e;
        ok = false;
      }
    }
    return job.finish();
  } finally {
    job.free();
  }
}

/** Resolves after `ms`; rejects at once if `signal` aborts first. */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const stop = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', stop);
      resolve();
    }, ms);
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop);
  });
}

/** The page's global object (`globalThis`), for the few globals payonce reads. */
export function page() {
  return globalThis;
}

/** Whether `s` holds no lone UTF-16 surrogate (which JSON text cannot carry). */
export function wellFormed(s) {
  if (typeof s.isWellFormed === 'function') return s.isWellFormed();
  try {
    encodeURIComponent(s);
    return true;
  } catch {
    return false;
  }
}

/**
 * The first `max + 1` items of an iterable (so a caller can tell "more than max"),
 * or null when `v` is not iterable. Reads it as WebIDL reads a sequence: a
 * Symbol.iterator that is present but not a function is an error.
 */
export function take(v, max) {
  const iterator = v[Symbol.iterator];
  if (iterator === undefined || iterator === null) return null;
  if (typeof iterator !== 'function') throw new TypeError('its Symbol.iterator is not a function');
  const it = iterator.call(v);
  const out = [];
  while (out.length <= max) {
    const step = it.next();
    if (step.done) break;
    out.push(step.value);
  }
  return out;
}

// Records what other documents of this tab write to sessionStorage (same-origin
// frames running their own copy of payonce): the browser tells us with `storage`
// events, so payonce reads exactly those items instead of scanning storage. The
// listener goes on at the first lookup, right after payonce has read storage
// (anything written before that, that read saw): registered at import, it made the
// cold-start benchmark about 15 ms slower in Chromium.
const written = [];
let listening = false;

function listen() {
  listening = true;
  try {
    globalThis.addEventListener('storage', (e) => {
      if (written.length < 1000 && e.key?.startsWith('payonce:v1:') && e.storageArea === globalThis.sessionStorage) {
        written.push(e.key);
      }
    });
  } catch {
    // No events here (a worker, a sandbox): nothing to learn from.
  }
}

/** The payonce items other documents wrote since the last call, one name per line. */
export function takeWritten() {
  if (!listening) listen();
  return written.splice(0).join('\n');
}
