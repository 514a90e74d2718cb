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

// The builtins payonce reads page values with, taken at import: page code that
// replaces them later changes nothing.
const hasOwn = Object.prototype.hasOwnProperty;
const getPrototypeOf = Object.getPrototypeOf;
const getter = (C, name) => {
  try {
    return Object.getOwnPropertyDescriptor(C.prototype, name).get;
  } catch {
    return undefined;
  }
};
// The platform's brand checks: each getter throws unless `this` really is one of
// its kind, made in this realm or in any other (a same-origin frame's).
const brands = {
  signal: getter(globalThis.AbortSignal, 'aborted'),
  url: getter(globalThis.URL, 'href'),
  element: getter(globalThis.Element, 'localName'),
};

/**
 * `o[name]` when `o` has its own property `name`, undefined otherwise: what
 * Object.prototype (polluted by page code) carries is never read as an option.
 */
export function own(o, name) {
  return hasOwn.call(o, name) ? o[name] : undefined;
}

/** Whether `v` is an AbortSignal, URL or Element (`kind`) of any realm. */
export function is(kind, v) {
  try {
    brands[kind].call(v);
    return true;
  } catch {
    return false;
  }
}

/** Whether `o`'s prototype is null or some realm's Object.prototype (a record). */
function plain(o) {
  const p = getPrototypeOf(o);
  return p === null || getPrototypeOf(p) === null;
}

/**
 * The first `max + 1` items of an iterable (so a caller can tell "more than max"),
 * or null when `v` is not iterable. Reads it as WebIDL reads a sequence: a
 * Symbol.iterator that is present but not a function is an error. A plain
 * object is iterable only by its own Symbol.iterator (not one page code put
 * on Object.prototype).
 */
export function take(v, max) {
  const iterator = plain(v) ? own(v, Symbol.iterator) : v[Symbol.iterator];
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
    // On even without a channel: pagehide writes back what page code removed from storage.
    if (listen) {
      addEventListener('pagehide', () => tabs.page(false));
      addEventListener('pageshow', (e) => e.persisted && tabs.page(true));
    }
    if (!globalThis.isSecureContext || !globalThis.navigator?.locks?.request || typeof BroadcastChannel !== 'function') return null;
    const channel = new BroadcastChannel(name);
    channel.onmessage = (e) => tabs.message(e.data);
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

/** Tells `tabs.listed(names)` which locks the origin holds (null when the lock manager will not say). */
export function tabsQuery(tabs) {
  try {
    navigator.locks.query().then((s) => s.held.map((l) => l.name)).catch(() => null).then((held) => tabs.listed(held));
  } catch {
    Promise.resolve().then(() => tabs.listed(null));
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

// Payment details cross into the wasm as one JSON text. JSON.stringify reads only
// own enumerable properties and calls toJSON() as a server's JSON would see it; the
// replacer stops at the first value JSON cannot hold exactly and reports where and
// what it is, for Rust to word the refusal. It also counts the text's length as it
// is written (UTF-16 units, escapes included), so an oversize text is never made,
// let alone copied into wasm memory.
const isArray = Array.isArray;
const stringify = JSON.stringify;
const ESCAPED = /["\\\u0000-\u001f]/g;
const SHORT = '"\\\b\f\n\r\t';
class Stop {
  constructor(kind, path, n, extra) {
    Object.assign(this, { kind, path, n, extra });
  }
}

/** The UTF-16 length of `s` as a JSON string, quotes and escapes included. */
function jsonUnits(s) {
  let n = s.length + 2;
  for (const [c] of s.matchAll(ESCAPED)) n += SHORT.includes(c) ? 1 : 5;
  return n;
}

/** Whether `p` is some realm's Object.prototype: the end of its chain, and its own constructor's prototype. */
function objectPrototype(p) {
  try {
    return getPrototypeOf(p) === null && p.constructor.prototype === p;
  } catch {
    return false;
  }
}

/** The name of `v`'s class for a message (at most 64 characters), or ''. */
function className(v) {
  try {
    const name = getPrototypeOf(v).constructor.name;
    return typeof name === 'string' ? name.slice(0, 64) : '';
  } catch {
    return '';
  }
}

/**
 * `details` as JSON text (a string), or, at the first value JSON cannot carry
 * exactly, `[kind, path, n, extra]`: what it is, where (`details.items[0].sku`),
 * a count where one matters, and what was thrown or the class's name.
 */
export function details(value, maxDepth, maxNodes, maxUnits) {
  // Each object or array met: its path, depth and members written so far.
  const seen = new Map();
  let nodes = 0;
  let units = 0;
  let path = 'details';
  const spend = (n, at) => {
    units += n;
    if (units > maxUnits) throw new Stop('budget', at, 0, '');
  };
  function replacer(key, v) {
    const holder = seen.get(this);
    if (holder) {
      path = holder.array ? `${holder.path}[${key}]` : `${holder.path}.${key}`;
      if (!holder.array && !wellFormed(key)) throw new Stop('lone-name', holder.path, 0, '');
    } else {
      path = 'details';
    }
    if (++nodes > maxNodes) throw new Stop('nodes', path, maxNodes, '');
    // The details, after their toJSON(), must still be an object.
    if (!holder && (v === null || typeof v !== 'object' || isArray(v))) throw new Stop('top', path, 0, '');
    if (v === undefined) {
      if (holder.array) throw new Stop('hole', path, 0, '');
      return v;
    }
    if (holder) {
      // The member's name and its colon, or the item's comma.
      if (holder.array) {
        if (key !== '0') spend(1, path);
      } else {
        const name = jsonUnits(key) + 1 + (holder.count++ > 0 ? 1 : 0);
        if (name > maxUnits) throw new Stop('long-name', holder.path, key.length, '');
        spend(name, path);
      }
    }
    switch (typeof v) {
      case 'string':
        if (v.length > maxUnits) throw new Stop('long-string', path, v.length, '');
        if (!wellFormed(v)) throw new Stop('lone', path, 0, '');
        spend(jsonUnits(v), path);
        return v;
      case 'number':
        if (!Number.isFinite(v)) throw new Stop('number', path, v, '');
        spend(String(v).length, path);
        return v;
      case 'boolean':
        spend(v ? 4 : 5, path);
        return v;
      case 'bigint':
      case 'symbol':
      case 'function':
        throw new Stop(typeof v, path, 0, '');
    }
    if (v === null) {
      spend(4, path);
      return v;
    }
    const array = isArray(v);
    if (array) {
      if (v.length > maxNodes) throw new Stop('long-array', path, maxNodes, '');
    } else {
      const p = getPrototypeOf(v);
      if (p !== null && !objectPrototype(p)) throw new Stop('class', path, 0, className(v));
    }
    const depth = holder ? holder.depth + 1 : 0;
    if (depth >= maxDepth) throw new Stop('deep', path, maxDepth, '');
    for (let h = this; h !== undefined; h = seen.get(h)?.parent) {
      if (h === v) throw new Stop('cycle', path, 0, '');
    }
    seen.set(v, { path, depth, array, count: 0, parent: holder ? this : undefined });
    spend(2, path);
    return v;
  }
  try {
    return stringify(value, replacer);
  } catch (e) {
    if (e instanceof Stop) return [e.kind, e.path, e.n, e.extra];
    return ['threw', path, 0, e];
  }
}
