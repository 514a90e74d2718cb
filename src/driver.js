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
