// The package's entry module: what `import … from 'payonce'` gives. scripts/build.sh
// bundles it with wasm-bindgen's glue (../pkg/payonce.js as wasm-pack writes it) and
// the JS files under js/ into the one shipped pkg/payonce.js, and writes the WebAssembly
// module into it (see MODULE): a page makes one request for payonce, not two.
//
// It holds no payment rules (those are all in the wasm). It does three things the glue
// cannot:
// - Every export works before `init()` has finished. Payments wait for the module
//   (the first one starts loading it), so `await init()` is optional; the synchronous
//   exports answer without it as payonce.d.ts documents, and start no load (so an
//   init(module) made after them is the first). No export throws synchronously for want
//   of the module.
// - It loads the module from the bytes inside this file, within a deadline, and turns
//   every way that can fail into a PaymentError.
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

// The module's bytes, compressed (zlib format, by zopfli) and base64-encoded; build.sh
// (scripts/inline-module.mjs) puts them in place of this placeholder.
const MODULE = '__PAYONCE_MODULE__';
// How long decompressing and instantiating the module may take. Both are local work of
// a few milliseconds; the deadline is for a page whose DecompressionStream, Response or
// WebAssembly was replaced by something that never settles.
const LOAD_MS = 10000;
const setTimer = globalThis.setTimeout;
const clearTimer = globalThis.clearTimeout;

function loadError(cause) {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return entryError(
    'network',
    `payonce could not load its WebAssembly module (${reason}); nothing was sent. ` +
      'It needs WebAssembly and DecompressionStream (Chrome 96, Firefox 113, Safari 16.4 or later), ' +
      "and a Content-Security-Policy that allows 'wasm-unsafe-eval' in script-src",
    cause,
  );
}

/** The module's bytes: MODULE decoded, and decompressed by the browser. */
function inflate() {
  let packed;
  if (typeof Uint8Array.fromBase64 === 'function') {
    packed = Uint8Array.fromBase64(MODULE);
  } else {
    const text = atob(MODULE);
    packed = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) packed[i] = text.charCodeAt(i);
  }
  const stream = new Blob([packed]).stream().pipeThrough(new DecompressionStream('deflate'));
  return new Response(stream).arrayBuffer();
}

/** `promise`, or a rejection once LOAD_MS have passed without it settling. */
function withinDeadline(promise) {
  let timer;
  const late = new Promise((resolve, reject) => {
    timer = setTimer(() => reject(new Error(`it did not finish within ${LOAD_MS / 1000} s`)), LOAD_MS);
  });
  return Promise.race([promise, late]).finally(() => clearTimer(timer));
}

function load(input) {
  const work = new Promise((resolve) => resolve(input ?? inflate())).then((bytes) => initGlue({ module_or_path: bytes }));
  return withinDeadline(work).then(
    (output) => {
      whenReady();
      return output;
    },
    (cause) => {
      throw loadError(cause);
    },
  );
}

/** A compiled module or the module's bytes (what init() uses as given), else undefined. */
function moduleGiven(input) {
  if (typeof WebAssembly === 'object' && WebAssembly !== null && input instanceof WebAssembly.Module) return input;
  return input instanceof ArrayBuffer || ArrayBuffer.isView(input) ? input : undefined;
}

/**
 * Instantiates the module once per page. Optional: the first payment starts it.
 * A compiled module or bytes given are used instead of the module inside this file; any
 * other argument (a URL, a Request, a Response, a promise: where the .wasm was served
 * before it was inlined) is ignored. Calls after the first share its promise, except
 * that a module given while a load of the inlined one is under way (a payment made
 * before `init(module)`) is tried if that load fails: one load at a time, never two
 * instances. After a failure, the next call tries again.
 */
export default function init(options) {
  let input = options;
  if (input !== undefined && input !== null && Object.getPrototypeOf(input) === Object.prototype) {
    input = input.module_or_path;
  }
  input = moduleGiven(input);
  const given = input !== undefined;
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

/** The module, loaded: the load under way, or the one an init(module) started after it failed. */
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
