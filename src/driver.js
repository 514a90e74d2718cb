// The JS functions the Rust code imports: `drive`, the loop that awaits what a
// payment job asks for, so that the wasm module carries no future executor, and
// thin wrappers over builtins (timers, storage events, BroadcastChannel, Web
// Locks). Every decision (what to send, whether to retry, how long to wait) is
// made in Rust; this file only awaits and calls builtins.

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

// The timers as they were when payonce loaded: every wait payonce makes ends by
// one of these, whatever page code later does to the globals.
const setTimer = globalThis.setTimeout;
const clearTimer = globalThis.clearTimeout;

/** `setTimeout(f, ms)`, payonce's own. */
export function startTimer(f, ms) {
  return setTimer(f, ms);
}

/** `clearTimeout(id)`, payonce's own. */
export function stopTimer(id) {
  clearTimer(id);
}

/**
 * One attempt's end, of payonce's own: `[controller, stopped, stop]`. fetch gets
 * `controller.signal`; the attempt awaits the race of its promise and `stopped`,
 * which rejects once `stop()` aborts the controller (its timer or the caller's
 * signal), so the attempt ends then whatever fetch or the body do with the signal.
 */
export function attempt() {
  const controller = new AbortController();
  let reject;
  const stopped = new Promise((_, r) => {
    reject = r;
  });
  stopped.catch(() => {});
  const stop = () => {
    controller.abort();
    reject(new Error('payonce ended the attempt'));
  };
  return [controller, stopped, stop];
}

/** Resolves after `ms`; rejects at once if `signal` aborts first. */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const stop = () => {
      clearTimer(timer);
      reject(signal.reason);
    };
    const timer = setTimer(() => {
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

// Tabs of one origin (see src/browser/tabs.rs): thin wrappers over the
// builtins that take callbacks. Every decision is made in Rust; `tabs` is the
// Rust object that hears what these callbacks report.

/**
 * Opens the channel, if this page has BroadcastChannel and Web Locks (a secure
 * context); null otherwise. Every message goes to `tabs.message` as it is (Rust
 * reads only short strings); `pagehide` and a `pageshow` from the back/forward
 * cache go to `tabs.page`.
 */
export function tabsOpen(name, tabs, listen) {
  try {
    if (!globalThis.isSecureContext || !globalThis.navigator?.locks?.request || typeof BroadcastChannel !== 'function') return null;
    const channel = new BroadcastChannel(name);
    channel.onmessage = (e) => tabs.message(e.data);
    if (listen) {
      addEventListener('pagehide', () => tabs.page(false));
      addEventListener('pageshow', (e) => e.persisted && tabs.page(true));
    }
    return channel;
  } catch {
    return null;
  }
}

/** Posts `text`; a closed channel drops it. */
export function tabsPost(channel, text) {
  try {
    channel.postMessage(text);
  } catch {
    // Closed (the page is being hidden): nobody to tell.
  }
}

/** Closes the channel. */
export function tabsClose(channel) {
  try {
    channel.close();
  } catch {
    // Already closed.
  }
}

/**
 * Requests the Web Lock `name` and tells `tabs.locked(id, release, held)` once
 * it is granted (`release` releases it; with `query`, `held` is the array of
 * the held locks' names, or null if the lock manager will not say), or
 * `tabs.locked(id, null, null)` if it is refused. A request that never settles
 * is ended by Rust's own timer.
 */
export function tabsLock(tabs, name, id, query) {
  const names = () => navigator.locks.query().then((s) => s.held.map((l) => l.name));
  try {
    navigator.locks
      .request(name, () => new Promise((release) => {
        if (!query) return tabs.locked(id, release, null);
        Promise.resolve().then(names).catch(() => null).then((held) => tabs.locked(id, release, held));
      }))
      .catch(() => tabs.locked(id, null, null));
  } catch {
    Promise.resolve().then(() => tabs.locked(id, null, null));
  }
}

/** Tells `tabs.fired(id)` after `ms` (payonce's own timer). */
export function tabsTimer(tabs, id, ms) {
  setTimer(() => tabs.fired(id), ms);
}

/** A promise and the function that resolves it. */
export function deferred() {
  let resolve;
  const promise = new Promise((r) => {
    resolve = r;
  });
  return [promise, resolve];
}
