// A payment job's loop and what it waits on: payonce's own timers (captured at
// load), a cancellable sleep, and an attempt's end. The job (Rust) decides what to
// wait for and for how long; this only awaits and calls builtins.

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

// payonce's own timers, as they were when payonce loaded: every wait payonce
// makes ends by one of these, whatever page code later does to the globals.
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

/**
 * fetch's init for one attempt, in one call: the members Rust gives, named as fetch
 * names them, on an object that inherits nothing (fetch reads its init through the
 * prototype chain, where page code may have put `mode: 'no-cors'` or `integrity`).
 */
export function requestInit(method, headers, body, signal, mode, credentials, redirect, cache, integrity, keepalive, referrerPolicy) {
  return { __proto__: null, method, headers, body, signal, mode, credentials, redirect, cache, integrity, keepalive, referrerPolicy };
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
