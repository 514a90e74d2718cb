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
