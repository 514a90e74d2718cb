/// <reference lib="dom" />
// payonce's declarations. They name DOM types (Element, AbortSignal, HeadersInit,
// Response): the reference above brings in TypeScript's "dom" lib, which a project
// whose tsconfig sets "lib" without it would otherwise lack.

/** JSON data, as payment details may hold it. `undefined` members are left out, as JSON does. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [name: string]: JsonValue | undefined };

/** Payment details written as a JSON object type. {@link processPayment} takes more than this (interfaces, `as const` data, `Record<string, unknown>`): see {@link DetailsOf}. */
export type PaymentDetails = { readonly [name: string]: JsonValue | undefined };

/**
 * A value's type when payonce can send it as JSON data, member by member; `never` where it
 * cannot (a function, a symbol, a bigint, an object with methods such as a Map), so the
 * compiler points at the member. `unknown` members pass: payonce checks them at run time
 * and rejects with `invalid_input`. A member with a `toJSON()` (a Date) is sent as what it returns.
 */
export type JsonData<T> = unknown extends T
  ? T
  : T extends JsonValue | undefined
    ? T
    : T extends { toJSON(...args: never[]): infer R }
      ? [JsonData<R>] extends [never]
        ? never
        : T
      : T extends bigint | symbol | ((...args: never[]) => unknown)
        ? never
        : T extends object
          ? { [K in keyof T]: JsonData<T[K]> }
          : never;

/**
 * What {@link processPayment} takes as details: any object type (an interface, a type,
 * readonly arrays, `as const` data, `Record<string, unknown>`) whose members are JSON data.
 * Not an array and not a primitive: the request body is a JSON object.
 */
export type DetailsOf<D> = unknown extends D
  ? D
  : D extends readonly unknown[] | ((...args: never[]) => unknown)
    ? never
    : JsonData<D>;

/** Why a payment failed. */
export type PaymentErrorCode =
  /** Bad details, key or options; nothing was sent. */
  | 'invalid_input'
  /** The key is bound to other details (checked before sending, or the server's 422). */
  | 'key_reused'
  /** No HTTP answer (offline, DNS, reset, CORS) after every retry; or payonce's WebAssembly module could not be loaded (nothing was sent). */
  | 'network'
  /** No answer within `timeoutMs` (or a 408) after every retry. */
  | 'timeout'
  /** A status that is not a success: a 5xx after every retry, or a final 4xx. */
  | 'http'
  /** The server was still processing this key (409) after every retry; or another tab may be paying the same details and gave no evidence in time that it is not (nothing was sent, `attempts` 0). */
  | 'conflict'
  /** The server kept answering 429, or asked to wait longer than `maxRetryAfterMs`. */
  | 'rate_limited'
  /** The caller's `signal` aborted. */
  | 'aborted'
  /** The server redirected; payonce does not follow redirects for payments. */
  | 'redirect';

/** What payonce is doing, for logs and progress UIs. */
export type PaymentEvent =
  | { type: 'attempt'; key: string; attempt: number }
  | { type: 'response'; attempt: number; status: number; replayed: boolean }
  | { type: 'no-response'; attempt: number; code: 'network' | 'timeout' | 'aborted' }
  | { type: 'backoff'; retry: number; delayMs: number; reason: PaymentErrorCode }
  /** sessionStorage could not hold the pending record: the payment is safe against repeats while the page stays open, not across a reload. */
  | { type: 'not-saved'; key: string };

/** How to send a payment. Only `endpoint` is required. */
export interface PaymentOptions {
  /** The URL the payment is POSTed to, as `fetch` takes it (relative to the page, or absolute). */
  endpoint: string | URL;
  /**
   * Extra request headers, such as `Authorization`, in any form `fetch` takes: a record,
   * a `Headers`, or `[name, value]` pairs (a `Map` too). Sent on every attempt, never stored.
   */
  headers?: HeadersInit | ReadonlyMap<string, string> | ReadonlyArray<readonly [string, string]>;
  /** How long one attempt may take, response body included, in ms. @default 10000 */
  timeoutMs?: number;
  /** Retries after the first attempt, on network errors, timeouts, 408, 409, 429 and 5xx. @default 2 */
  maxRetries?: number;
  /** Backoff before the first retry, doubled each time, with jitter, in ms. @default 500 */
  retryDelayMs?: number;
  /** The longest backoff between attempts, in ms. @default 5000 */
  maxRetryDelayMs?: number;
  /** The longest `Retry-After` honoured, in ms; a longer one ends the retries. @default 10000 */
  maxRetryAfterMs?: number;
  /**
   * How long a settled payment's key is reused for the same details, in ms from when it
   * settled; a pending payment (outcome unknown) keeps its key until a final answer or
   * `forgetPayment`. Must cover one call's attempts and waits. @default 86400000 (24 h)
   */
  keyTtlMs?: number;
  /** Count a 2xx whose body is an HTML page as the server's answer (by default it is an unknown outcome: a captive portal, a fallback route). @default false */
  acceptHtml?: boolean;
  /** The header that carries the key. @default 'Idempotency-Key' */
  idempotencyHeader?: string;
  /** Send the key as the IETF draft's quoted structured-field string (`"…"`). @default false */
  quotedKey?: boolean;
  /** fetch's `credentials`. @default 'same-origin' (fetch's own default) */
  credentials?: 'omit' | 'same-origin' | 'include';
  /** Cancels the payment (waiting, not the charge: the key is kept). */
  signal?: AbortSignal;
  /** Called for each attempt, response and backoff. Whatever it throws is ignored. */
  onEvent?: (event: PaymentEvent) => void;
  /** What this server's statuses mean, where it differs from the IETF draft (README, "Servers"). */
  dialect?: PaymentDialect;
  /** What this server accepts as an idempotency key; your own keys are checked before sending. */
  keys?: KeyRules;
}

/**
 * What a server's statuses mean for idempotency, as plain data. Each list replaces the
 * default; a status in a list means that whatever its class. At most 16 statuses a list.
 */
export interface PaymentDialect {
  /** "This key was already used with other details". @default [422] (express-idempotency: [417]) */
  mismatch?: readonly number[];
  /** "An earlier request with this key is still being processed": retried. @default [409] */
  inProgress?: readonly number[];
  /** "A request with this key already finished", answered without its own status (django-idempotency-key's 409): the outcome is unknown. @default [] */
  finished?: readonly number[];
  /** A header besides `Idempotent-Replayed` and `Idempotency-Replayed` whose value `true` marks a replayed answer. */
  replayHeader?: string;
}

/** What a server accepts as a key (payonce's own keys are 36-character UUIDs). */
export interface KeyRules {
  /** The longest key the server takes, from 36 to 255. @default 255 */
  maxLength?: number;
  /** The server takes only UUIDs. @default false */
  uuid?: boolean;
}

/** A payment that went through (or that the server replayed). */
export interface PaymentResult<T = unknown> {
  /** The server's response body: parsed JSON, or text when it is not JSON, or null when empty. */
  body: T;
  /** The idempotency key that was sent. */
  key: string;
  /** The HTTP status: 2xx, or, for a payment payonce recorded as paid, whatever the server answered the repeat (then `replayed` is true). */
  status: number;
  /** Requests sent by this call. */
  attempts: number;
  /** This is an earlier payment, not a new charge: the server said so (`Idempotent-Replayed: true`), or payonce had recorded it as paid. */
  replayed: boolean;
}

/** What payonce rejects with: a real `Error`. */
export interface PaymentError extends Error {
  name: 'PaymentError';
  code: PaymentErrorCode;
  /** The last HTTP status, or null when there was no answer. */
  status: number | null;
  /** Whether paying again with the same details may succeed (it is always safe: the key is kept unless the failure was final). */
  retryable: boolean;
  /** The key used, or null when none was chosen yet. */
  key: string | null;
  /** Requests sent by this call. */
  attempts: number;
  /** The last response body (parsed JSON, or text), or null when there was none. */
  body: unknown;
  /** The server's Retry-After in ms, when it sent one. */
  retryAfterMs: number | null;
}

/** What payonce remembers of a payment (never its details). */
export interface StoredPayment {
  key: string;
  endpoint: string;
  state: 'pending' | 'succeeded' | 'failed';
  /** ms since the epoch */
  createdAt: number;
  updatedAt: number;
  /** When a settled payment's key stops being reused; a pending payment's key never expires. */
  expiresAt: number;
  /** Requests sent with this key, across reloads. */
  attempts: number;
}

/**
 * Sends a payment so that it takes effect at most once, retrying safely.
 *
 * With no `key`, payonce reuses the key of a pending or unexpired succeeded
 * payment with the same endpoint and details (after a double-click or a
 * reload), or mints a UUID v4 and records it in sessionStorage before sending.
 * Concurrent calls for the same payment share one request. Other tabs of the
 * origin paying the same details share the key too: a payment waits for one
 * still on the wire in another tab, then settles with its outcome (see the
 * README, "Across tabs"; needs BroadcastChannel and Web Locks, else per tab).
 *
 * Called before {@link init} has finished, it starts loading the module (if nothing
 * has) and reads the details once the module is there.
 *
 * @typeParam T the response body's type, as your server sends it
 * @param details the payment, as JSON data: any object type (see {@link DetailsOf})
 * @param key your own idempotency key, or undefined/null to let payonce manage keys
 * @param options where and how to send it
 * @throws never synchronously; the promise rejects with a {@link PaymentError}
 */
export function processPayment<T = unknown, D extends object = object>(
  details: D & DetailsOf<D>,
  key: string | null | undefined,
  options: PaymentOptions,
): Promise<PaymentResult<T>>;

/**
 * Payments whose outcome is unknown (sent, no final answer yet), oldest first, optionally
 * for one endpoint. Call it on page load, after {@link init}: before the module is
 * there it returns `[]`.
 */
export function pendingPayments(endpoint?: string | URL): StoredPayment[];

/**
 * Forgets a payment's key (when the shopper starts a new order). Returns whether there
 * was one. A payment still on the wire cannot be forgotten (its outcome would bring the
 * key back): that returns false and forgets nothing. Before {@link init} has finished it returns false, and the key is forgotten
 * as soon as the module is there, before any payment is sent.
 */
export function forgetPayment(key: string): boolean;

/** A fresh UUID v4 from the browser's crypto RNG. Works before {@link init}. */
export function newIdempotencyKey(): string;

/** Whether `value` is an error from payonce. Works before {@link init}. */
export function isPaymentError(value: unknown): value is PaymentError;

/** Where a {@link PayButton} stands; also set as the element's `data-payonce-state`. */
export type PayButtonState = 'idle' | 'pending' | 'paying' | 'succeeded' | 'failed' | 'unknown';

export interface PayButtonOptions {
  /**
   * Only payments to this endpoint count when looking for one left pending by a reload.
   * Checked as {@link PaymentOptions.endpoint} is: an invalid one makes the constructor throw.
   */
  endpoint?: string | URL;
  /**
   * Text per state. Defaults: paying 'Paying…', succeeded 'Paid', unknown 'Check payment',
   * pending 'Resume payment'; idle and failed show the original text. `false` leaves the text alone.
   */
  labels?: Partial<Record<PayButtonState, string>> | false;
}

/**
 * Binds a Pay button (or a `<fieldset>` around the checkout form) to payonce:
 * disabled while a payment is in flight and after it succeeded, enabled again
 * after a final failure (a new payment) or an unknown outcome (the same key is
 * sent again). On construction it shows a payment left pending by a reload (made
 * before the module is there, it binds the element once {@link init} or the first
 * payment has loaded it); it turns "paid" when the same payment (before its first:
 * any payment to its `endpoint`) succeeds in another tab, and shows the payment's
 * state again when the page comes back from the back/forward cache.
 */
export class PayButton {
  constructor(element: Element, options?: PayButtonOptions);
  /** Calls {@link processPayment} and keeps the element in step; a second call while paying returns the same promise. */
  pay<T = unknown, D extends object = object>(
    details: D & DetailsOf<D>,
    key: string | null | undefined,
    options: PaymentOptions,
  ): Promise<PaymentResult<T>>;
  /** The current state. */
  readonly state: PayButtonState;
  /** Back to idle, for a new order (pair it with {@link forgetPayment}). */
  reset(): void;
  /** Releases the binding's wasm memory. */
  free(): void;
}

/**
 * What {@link init} accepts. The module is inside payonce.js; a compiled module or its
 * bytes are used as given, and a URL, a request or a response (where the separate .wasm
 * was served before) is accepted and ignored.
 */
export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

/** What {@link initSync} takes: the module's bytes or a compiled module. */
export type SyncInitInput = BufferSource | WebAssembly.Module;

/** The instantiated module. Nothing in it is payonce's API: use the named exports. */
export interface InitOutput {
  readonly memory: WebAssembly.Memory;
}

/**
 * Decompresses and instantiates payonce's WebAssembly module, which is inside this file
 * (no request), once per page. Optional: the first payment starts it. Call it early (at
 * start-up, or in an effect) so the module is ready when the shopper clicks, and to have
 * {@link pendingPayments} answer.
 *
 * `module_or_path` is kept for code written for the two-file package: a compiled module
 * or the module's bytes are used as given; a URL, a request, a response or a promise is
 * ignored. Decompressing and instantiating have a 10 s deadline.
 * Calls after the first share its promise; after a failure, the next call tries again.
 * Left unawaited, a failed load reports no unhandled rejection (server rendering runs a
 * module-level `init()` too); the next payment rejects with the error.
 * A module given while the inlined one is loading (a payment came first) is tried if
 * that load fails, and the waiting payments use it.
 *
 * @throws never synchronously; rejects with a {@link PaymentError} (code `network`)
 *   when the module cannot be loaded (no DecompressionStream: before Chrome 80, Firefox
 *   113, Safari 16.4; a CSP without 'wasm-unsafe-eval')
 */
export default function init(
  options?: { module_or_path?: InitInput | Promise<InitInput> } | InitInput | Promise<InitInput>,
): Promise<InitOutput>;

/** Instantiates the module at once from its bytes or a compiled module (in a test, or when you hold the bytes). */
export function initSync(options: { module: SyncInitInput } | SyncInitInput): InitOutput;
