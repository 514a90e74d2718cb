// Page values in and out of the wasm, moved with builtins taken at load. In:
// own-property reads, brand checks that work across realms, iterables read as
// WebIDL reads a sequence, the options object as one JSON text, an endpoint made
// absolute, the details' JSON text. Out: results, PaymentErrors, records and
// events, each made from the one text Rust writes. Nothing is decided here.
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

/**
 * Whether `v` is an AbortSignal, URL or Element (`kind`) of any realm. A primitive
 * is none of them (the getter would throw), and is answered without the throw: an
 * exception thrown from inside a payonce call costs tens of microseconds.
 */
export function is(kind, v) {
  if ((typeof v !== 'object' || v === null) && typeof v !== 'function') return false;
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

// processPayment's options object, read in one go: its own properties (never
// what page code put on Object.prototype), in the order Rust checks them, into
// one JSON text for Rust to check (src/browser/options.rs): one string per
// option, beside the values that cannot be text (the AbortSignal, the onEvent
// function, the headers, what a getter threw). Nothing is decided here; each
// value is only moved, or, where text cannot carry it, described the way Rust
// words it.
const isArrayNoThrow = (v) => {
  try {
    return isArray(v);
  } catch {
    return false;
  }
};

// Read in this order, so the first bad option Rust meets is the first written. A
// group (dialect, keys) is its name, then the names read from the object it holds;
// the dialect's first three are lists of statuses.
const OPTIONS = ['endpoint', 'maxRetries', 'retryDelayMs', 'maxRetryDelayMs', 'maxRetryAfterMs', 'timeoutMs', 'keyTtlMs', 'acceptHtml', ['dialect', 'mismatch', 'inProgress', 'finished', 'replayHeader'], ['keys', 'maxLength', 'uuid'], 'idempotencyHeader', 'quotedKey', 'credentials', 'signal', 'onEvent', 'headers'];

/** What kind of value `v` is, for error messages. */
export function describe(v) {
  if (v === undefined || v === null || typeof v === 'number') return String(v);
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'boolean') return 'a boolean';
  if (typeof v === 'bigint') return 'a BigInt';
  if (typeof v === 'symbol') return 'a symbol';
  if (typeof v === 'function') return 'a function';
  return isArrayNoThrow(v) ? 'an array' : 'an object';
}

const ErrorClass = Error;
const MAX_SHOWN = 300;
const short = (v) => (typeof v === 'string' ? (v.length > MAX_SHOWN ? `${v.slice(0, MAX_SHOWN)}…` : v) : undefined);
const shown = (e, name) => {
  try {
    return short(Reflect.get(e, name)) ?? '';
  } catch {
    return '';
  }
};

/**
 * A short description of whatever JS threw, for error messages: an Error's name
 * and message (read through Reflect: a subclass may have throwing getters; at most
 * a few hundred characters of each), a thrown string, or 'a non-Error value'.
 */
export function describeThrown(e) {
  let error = false;
  try {
    error = e instanceof ErrorClass;
  } catch {
    // A proxy whose getPrototypeOf trap throws: not an Error.
  }
  if (!error) return short(e) ?? 'a non-Error value';
  const name = shown(e, 'name');
  const message = shown(e, 'message');
  return message ? `${name}: ${message}` : name;
}

/** A fresh object or array with no prototype, so that no toJSON page code planted is ever called. */
const bare = (v) => Object.setPrototypeOf(v, null);

/**
 * `v` as one string: '' for undefined; `s` and a string of at most `max` units, `L`
 * and the length of a longer one, `U` for one holding a lone surrogate; `n` and a
 * non-negative safe integer; `t`, `f`; `z` for null; `x` and how describe() words
 * anything else (`xan object` for an object that is not an array).
 */
function data(v, max) {
  switch (typeof v) {
    case 'string':
      return v.length > max ? 'L' + v.length : wellFormed(v) ? 's' + v : 'U';
    case 'number':
      return (Number.isSafeInteger(v) && v >= 0 ? 'n' : 'x') + v;
    case 'boolean':
      return v ? 't' : 'f';
    case 'undefined':
      return '';
  }
  return v === null ? 'z' : 'x' + describe(v);
}

// The last call's values that cannot be text, until Rust takes them.
let handles = [];

/**
 * The options as a JSON array of strings, after a `1` if values that cannot be text
 * are held, `0` if not. The first describes the options value itself (see data());
 * when it is an object, one string follows per option in OPTIONS' order (a group's
 * members are '' unless it holds an object): the option as data() writes it, or `h`
 * for a value held (an AbortSignal, a function for onEvent), or for a list of
 * statuses `a` and each item as data() writes it followed by a comma (`xan array` for
 * an array longer than `items`), or `T` where a getter threw (reading stops there).
 * Headers that are an object are read as fetch reads them (see readHeaders()).
 * `takeHandles()` gives `[signal, onEvent, thrown]`.
 */
export function readOptions(o, max, items, headerMax, headerCount) {
  // Published only at the end: a getter may call processPayment again, which reads
  // (and takes) its own.
  const held = [undefined, undefined, undefined];
  const out = bare([data(o, max)]);
  // `f(a, b)`; where it throws, reading ends.
  const guard = (f, a, b) => {
    try {
      return f(a, b);
    } catch (e) {
      held[2] = e;
      throw held;
    }
  };
  if (out[0] === 'xan object') {
    try {
      for (let i = 0; i < OPTIONS.length; i++) {
        const name = OPTIONS[i];
        if (typeof name !== 'string') {
          const v = guard(own, o, name[0]);
          const group = (out[out.length] = data(v, max));
          for (let n = 1; n < name.length; n++) {
            out[out.length] = group !== 'xan object' ? '' : n < 4 && name[0] === 'dialect' ? statuses(guard(own, v, name[n]), items, guard) : data(guard(own, v, name[n]), max);
          }
          continue;
        }
        let v = guard(own, o, name);
        if (name === 'endpoint' && is('url', v)) {
          try {
            v = v.href;
          } catch (e) {
            // A URL whose href getter throws: reported as a getter that threw (`T`), and reading stops.
            held[2] = e;
            out[out.length] = 'T';
            break;
          }
        }
        if (name === 'headers' && typeof v === 'object' && v !== null) {
          readHeaders(v, out, headerMax, headerCount, guard);
          break;
        }
        out[out.length] =
          name === 'signal' && is('signal', v) ? ((held[0] = v), 'h')
          : name === 'onEvent' && typeof v === 'function' ? ((held[1] = v), 'h')
          : data(v, max);
      }
    } catch (e) {
      if (e !== held) throw e;
      out[out.length] = 'T';
    }
  }
  handles = held;
  return (held[0] || held[1] || held[2] !== undefined ? '1' : '0') + stringify(out);
}

/**
 * Headers that are an object, read into `out` as fetch reads them (HeadersInit), at
 * most `count + 1` of them: `p` and the count of a sequence of pairs (any iterable),
 * then per pair `l` and its count of items (at most 3) and, for two, the name and the
 * value; or, when not iterable, `r` and the count of the object's own enumerable keys,
 * then, for at most `count`, each name and its value. Strings are written as data()
 * writes them (at most what is left of `max`, see below), with `U` followed by the
 * length. Where reading throws, `T` follows
 * (see readOptions()), and the count is still `P` if the iteration threw, `K` if
 * reading the keys did.
 */
function readHeaders(v, out, max, count, guard) {
  // Strings are copied only while they fit what is left of the budget Rust counts
  // (src/browser/headers.rs: a name's bytes, a value's characters). Each copied
  // string takes half its length off here, never more than Rust counts, so a string
  // Rust could accept is always copied, and all of them together stay near twice
  // the budget, whatever the page passes.
  let left = max;
  const text = (s) => {
    const d = data(s, left);
    if (d[0] === 's') left -= (s.length / 2) | 0;
    return d === 'U' ? d + s.length : d;
  };
  const at = out.length;
  out[at] = 'P';
  const pairs = guard(take, v, count);
  if (pairs) {
    out[at] = 'p' + pairs.length;
    for (let i = 0; i < pairs.length && pairs.length <= count; i++) {
      const pair = pairs[i];
      const list = typeof pair === 'object' && pair !== null ? guard(take, pair, 2) : null;
      out[out.length] = list ? 'l' + list.length : data(pair, max);
      if (list && list.length === 2) {
        out[out.length] = text(list[0]);
        out[out.length] = text(list[1]);
      }
    }
    return;
  }
  out[at] = 'K';
  const keys = guard(Object.keys, v);
  out[at] = 'r' + keys.length;
  for (let i = 0; i < keys.length && keys.length <= count; i++) {
    out[out.length] = text(keys[i]);
    out[out.length] = text(guard(Reflect.get, v, keys[i]));
  }
}

/** The values of the last readOptions() call that cannot be text. */
export function takeHandles() {
  const taken = handles;
  handles = [];
  return taken;
}

/** A dialect's list of statuses: `a` and at most `items` of them (see readOptions()). */
function statuses(v, items, guard) {
  if (!isArrayNoThrow(v)) return data(v, 0);
  let length;
  try {
    length = own(v, 'length');
  } catch {
    return 'xan array';
  }
  if (typeof length !== 'number' || !(length <= items)) return 'xan array';
  let list = 'a';
  for (let i = 0; i < length; i++) list += data(guard(own, v, i), 0) + ',';
  return list;
}

// An endpoint made absolute by the platform's URL parser, taken at import.
const URL_ = globalThis.URL;
// The last endpoint parsed, the page address it was parsed against, and its
// absolute URL: a checkout pays one endpoint again and again, and the parser is
// one of the dearer calls of a payment. The same two strings give the same URL.
let last = ['', undefined, ''];

/**
 * `endpoint` resolved against the page's address (when it has one), its fragment
 * dropped: the absolute URL's text; throws what the parser throws. Rust decides
 * whether that URL may be an endpoint (src/browser/endpoint.rs).
 */
export function absolute(endpoint) {
  let base;
  try {
    base = globalThis.location.href;
  } catch {
    // No page address (a worker, a sandbox): absolute URLs only.
  }
  if (typeof base !== 'string') base = undefined;
  if (last[0] === endpoint && last[1] === base && endpoint !== '') return last[2];
  const url = base === undefined ? new URL_(endpoint) : new URL_(endpoint, base);
  url.hash = '';
  const href = url.href;
  last = [endpoint, base, href];
  return href;
}

// The objects callers see, made from the one text Rust writes for each (see
// src/browser/objects.rs): a payment's result, a PaymentError, the pending
// payments' records and the events handed to onEvent. Rust decides every
// value; this gives them their names.

// Taken at import: page code that replaces them later changes nothing.
const parse = JSON.parse;
const apply = Reflect.apply;
const assign = Object.assign;

/**
 * A PaymentError: a real Error named PaymentError with the members payonce.d.ts
 * declares. Every PaymentError is made here, the entry module's own (the module
 * could not load) as well as the module's.
 */
export function paymentError(code, message, cause, status = null, retryable = code === 'network', key = null, attempts = 0, body = null, retryAfterMs = null) {
  const err = cause === undefined ? new Error(message) : new Error(message, { cause });
  err.name = 'PaymentError';
  assign(err, { code, status, retryable, key, attempts, body, retryAfterMs });
  return err;
}

/** Whether `value` is an error payonce threw: an Error named PaymentError with a string code. */
export function isPaymentError(value) {
  try {
    return value instanceof Error && value.name === 'PaymentError' && typeof value.code === 'string';
  } catch {
    return false;
  }
}

// Each event's members after `type`, in the order Rust writes their values.
const EVENTS = {
  __proto__: null,
  attempt: ['key', 'attempt'],
  response: ['attempt', 'status', 'replayed'],
  'no-response': ['attempt', 'code'],
  backoff: ['retry', 'delayMs', 'reason'],
  'not-saved': ['key'],
};

/**
 * The object `text` describes: a JSON array whose first item says what it is
 * (`result`, `error`, `records` or an event's type) and whose others are its
 * values in order; `body` is the response body, where there is one.
 */
export function made(text, body) {
  const a = parse(text);
  const kind = a[0];
  if (kind === 'result') return { body, key: a[1], status: a[2], attempts: a[3], replayed: a[4] };
  if (kind === 'error') return paymentError(a[1], a[2], undefined, a[3], a[4], a[5], a[6], body, a[7]);
  if (kind === 'records') {
    const records = [];
    for (let i = 1; i < a.length; i++) {
      const r = a[i];
      records[i - 1] = { key: r[0], endpoint: r[1], state: r[2], createdAt: r[3], updatedAt: r[4], expiresAt: r[5], attempts: r[6] };
    }
    return records;
  }
  const event = { type: kind };
  const names = EVENTS[kind];
  for (let i = 0; i < names.length; i++) event[names[i]] = a[i + 1];
  return event;
}

/** Hands the event `text` describes to `callback`, ignoring whatever it throws. */
export function emit(callback, text) {
  try {
    apply(callback, null, [made(text)]);
  } catch {
    // The page's callback: nothing payonce does depends on it.
  }
}
