// Other documents of the origin: storage events from this tab's frames, and the
// BroadcastChannel, Web Locks and timers of the tabs machine (src/browser/tabs.rs).

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

const setTimer = globalThis.setTimeout;

// Tabs of one origin (see src/browser/tabs.rs): thin wrappers over the
// builtins that take callbacks. Every decision is made in Rust; `tabs` is the
// Rust object that hears what these callbacks report, through its one method
// `on(kind, id, a, b)` (the kinds are listed at `PayonceTabs::on` in
// src/checkout.rs). `id` is always a number: a debug build's glue checks it.

/**
 * Opens the channel, if this page has BroadcastChannel and Web Locks (a secure
 * context); null otherwise. Every message goes to Rust as it is (kind 0: Rust
 * reads only short strings); `pagehide` (4) and a `pageshow` from the
 * back/forward cache (5) too.
 */
export function tabsOpen(name, tabs, listen) {
  try {
    // On even without a channel: pagehide writes back what page code removed from storage.
    if (listen) {
      addEventListener('pagehide', () => tabs.on(4, 0));
      addEventListener('pageshow', (e) => e.persisted && tabs.on(5, 0));
    }
    if (!globalThis.isSecureContext || !globalThis.navigator?.locks?.request || typeof BroadcastChannel !== 'function') return null;
    const channel = new BroadcastChannel(name);
    channel.onmessage = (e) => tabs.on(0, 0, e.data);
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
 * Requests the Web Lock `name` and tells Rust `(1, id, release, held)` once it
 * is granted (`release` releases it; with `query`, `held` is the array of the
 * held locks' names, or null if the lock manager will not say), or
 * `(1, id, null, null)` if it is refused. A request that never settles
 * is ended by Rust's own timer.
 */
export function tabsLock(tabs, name, id, query) {
  const names = () => navigator.locks.query().then((s) => s.held.map((l) => l.name));
  try {
    navigator.locks
      .request(name, () => new Promise((release) => {
        if (!query) return tabs.on(1, id, release, null);
        Promise.resolve().then(names).catch(() => null).then((held) => tabs.on(1, id, release, held));
      }))
      .catch(() => tabs.on(1, id, null, null));
  } catch {
    Promise.resolve().then(() => tabs.on(1, id, null, null));
  }
}

/** Tells Rust `(3, 0, names)` which locks the origin holds (null when the lock manager will not say). */
export function tabsQuery(tabs) {
  try {
    navigator.locks.query().then((s) => s.held.map((l) => l.name)).catch(() => null).then((held) => tabs.on(3, 0, held));
  } catch {
    Promise.resolve().then(() => tabs.on(3, 0, null));
  }
}

/** Tells Rust `(2, id)` after `ms` (payonce's own timer). */
export function tabsTimer(tabs, id, ms) {
  setTimer(() => tabs.on(2, id), ms);
}

/** A promise and the function that resolves it. */
export function deferred() {
  let resolve;
  const promise = new Promise((r) => {
    resolve = r;
  });
  return [promise, resolve];
}
