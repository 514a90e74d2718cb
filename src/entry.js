// The package's entry module: what `import … from 'payonce'` gives. scripts/build.sh
// bundles it with wasm-bindgen's glue (../pkg/payonce.js as wasm-pack writes it) and
// the JS files under js/ into the one shipped pkg/payonce.js.
//
// It holds no payment rules (those are all in the wasm). It does three things the glue
// cannot:
// - Every export works before `init()` has finished. Payments wait for the module
//   (the first one starts loading it), so `await init()` is optional; the synchronous
//   exports answer without it as payonce.d.ts documents, and start no load (so an
//   init(url) made after them is the first). No export throws synchronously for want
//   of the module.
// - It finds the .wasm where Vite 5-7's dev server moves the module (see wasmUrl).
// - It exports only the declared API (not the glue's internal PayonceJob class).
import initGlue, {
  initSync as initGlueSync,
  processPayment as glueProcessPayment,
  pendingPayments as gluePendingPayments,
  forgetPayment as glueForgetPayment,
  newIdempotencyKey as glueNewIdempotencyKey,
  PayButton as GluePayButton,
} from '../pkg/payonce.js';
import { paymentError as entryError, isPaymentError } from './js/values.js';

let ready = false;
// The load under way or done (undefined after a failure: the next call tries again),
// and whether it went to the default URL because nobody had given one.
let loading;
let loadingDefault = false;
let signalReady;
const readyPromise = new Promise((resolve) => {
  signalReady = resolve;
});
// Keys forgotten before the module was there: forgotten once it is, before any
// payment that waited for it is sent.
const forgetLater = [];

function whenReady() {
  if (ready) return;
  ready = true;
  for (const key of forgetLater.splice(0)) glueForgetPayment(key);
  signalReady();
}

/**
 * Where the .wasm is when the caller gave no location. The literal
 * `new URL('payonce_bg.wasm', import.meta.url)` is what webpack 5, Vite, Parcel and
 * Next.js look for to ship the file as an asset, so it stays written out in full.
 *
 * Vite 5, 6 and 7's dev server runs a dependency from a copy in node_modules/.vite/deps/
 * (its pre-bundling) and leaves the .wasm behind, so that URL answers with the index
 * page. That copy sits two folders below node_modules, which holds payonce itself: the
 * file is at node_modules/payonce/pkg/. (Vite 8 rewrites the URL on its own; a Vite 5-7
 * app whose node_modules is not beside its cache, as in a hoisted monorepo, needs
 * `optimizeDeps: { exclude: ['payonce'] }`, which the error below says.)
 */
function wasmUrl() {
  const url = new URL('payonce_bg.wasm', import.meta.url);
  if (/\/node_modules\/\.vite\/deps[^/]*\/payonce_bg\.wasm$/.test(url.pathname)) {
    return new URL('../../payonce/pkg/payonce_bg.wasm', url);
  }
  return url;
}

function loadError(cause, where) {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return entryError(
    'network',
    `payonce could not load its WebAssembly module${where ? ` from ${where}` : ''} (${reason}); ` +
      'nothing was sent. Serve payonce_bg.wasm or pass its URL to init({ module_or_path }); ' +
      "Vite 5-7 dev in a monorepo: optimizeDeps: { exclude: ['payonce'] }",
    cause,
  );
}

function load(input) {
  const where = input === undefined || input === null ? wasmUrl() : input;
  return initGlue({ module_or_path: where }).then(
    (output) => {
      whenReady();
      return output;
    },
    (cause) => {
      throw loadError(cause, typeof where === 'string' || where instanceof URL ? String(where) : '');
    },
  );
}

/**
 * Fetches and compiles the .wasm once per page. Optional: the first payment starts it.
 * Calls after the first share its promise, except that a location given while a load of
 * the default one is under way (a payment made before `init(url)`) is tried if that load
 * fails: one load at a time, never two instances. After a failure, the next call tries again.
 */
export default function init(options) {
  let input = options;
  if (input !== undefined && input !== null && Object.getPrototypeOf(input) === Object.prototype) {
    input = input.module_or_path;
  }
  const given = input !== undefined && input !== null;
  if (!loading || (given && loadingDefault)) {
    const prior = loading;
    const current = (prior ? prior.catch(() => load(input)) : load(input)).catch((e) => {
      if (loading === current) loading = undefined;
      throw e;
    });
    // Handled here, so `init();` left unawaited (at module top level, which server
    // rendering runs too) never reports an unhandled rejection: a failed load is
    // reported to whoever awaits it, and to the next payment.
    current.catch(() => {});
    loading = current;
    loadingDefault = !given;
  }
  return loading;
}

/** Compiles the module from bytes (or a compiled `WebAssembly.Module`) at once. */
export function initSync(module) {
  const output = initGlueSync(module);
  loading = Promise.resolve(output);
  loadingDefault = false;
  whenReady();
  return output;
}

/** The module, loaded: the load under way, or the one an init(url) started after it failed. */
function loaded() {
  const current = init();
  return current.catch((e) => (loading && loading !== current ? loaded() : Promise.reject(e)));
}

export function processPayment(details, key, options) {
  if (ready) return glueProcessPayment(details, key, options);
  return loaded().then(() => glueProcessPayment(details, key, options));
}

export function pendingPayments(endpoint) {
  return ready ? gluePendingPayments(endpoint) : [];
}

export function forgetPayment(key) {
  if (ready) return glueForgetPayment(key);
  forgetLater.push(key);
  return false;
}

let lastDraw = '';

export function newIdempotencyKey() {
  if (ready) return glueNewIdempotencyKey();
  // The same UUID v4 the module makes, from the same source (crypto.getRandomValues),
  // refused by the module's rule (rules::key::check_draw) while the module is not
  // there to apply it: a draw whose random bytes are all equal, or the previous draw.
  const b = crypto.getRandomValues(new Uint8Array(16));
  const draw = b.join();
  const equal = b.every((x, i) => i === 6 || i === 8 || x === b[0]);
  if (equal || draw === lastDraw) {
    throw entryError('invalid_input', "this page's crypto.getRandomValues is broken (it gave no randomness, or the same bytes twice), so payonce cannot make a safe key; nothing was sent");
  }
  lastDraw = draw;
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export { isPaymentError };

// The module's PayButton behind each PayButton, once there is one; or why it could not be made.
const bound = new WeakMap();

export class PayButton {
  constructor(element, options) {
    if (ready) {
      bound.set(this, { button: new GluePayButton(element, options) });
      return;
    }
    const slot = { button: undefined, error: undefined, element, options };
    bound.set(this, slot);
    // Bound as soon as the module is there (loaded by init() or the first payment), so a
    // payment left pending by a reload shows then.
    readyPromise.then(() => bind(slot)).catch(() => {});
  }

  pay(details, key, options) {
    const slot = bound.get(this);
    if (slot.button) return slot.button.pay(details, key, options);
    return loaded().then(() => bind(slot).pay(details, key, options));
  }

  get state() {
    return bound.get(this).button?.state ?? 'idle';
  }

  reset() {
    bound.get(this).button?.reset();
  }

  free() {
    const slot = bound.get(this);
    slot.button?.free();
    slot.button = undefined;
    slot.freed = true;
  }
}

function bind(slot) {
  if (slot.freed) throw entryError('invalid_input', 'this PayButton was freed (free() was called); make a new PayButton to pay; nothing was sent');
  if (slot.error) throw slot.error;
  if (!slot.button) {
    try {
      slot.button = new GluePayButton(slot.element, slot.options);
    } catch (e) {
      slot.error = e;
      throw e;
    }
  }
  return slot.button;
}
