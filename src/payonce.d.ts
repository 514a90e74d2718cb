/** JSON data, as payment details may hold it. `undefined` members are left out, as JSON does. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [name: string]: JsonValue | undefined };

/** The payment, sent as the request body in canonical JSON (RFC 8785): same data, same bytes. */
export type PaymentDetails = { [name: string]: JsonValue | undefined };

/** Why a payment failed. */
export type PaymentErrorCode =
  /** Bad details, key or options; nothing was sent. */
  | 'invalid_input'
  /** The key is bound to other details (checked before sending, or the server's 422). */
  | 'key_reused'
  /** No HTTP answer (offline, DNS, reset, CORS) after every retry. */
  | 'network'
  /** No answer within `timeoutMs` (or a 408) after every retry. */
  | 'timeout'
  /** A status that is not a success: a 5xx after every retry, or a final 4xx. */
  | 'http'
  /** The server was still processing this key (409) after every retry. */
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
  | { type: 'backoff'; retry: number; delayMs: number; reason: PaymentErrorCode };

/** How to send a payment. Only `endpoint` is required. */
export interface PaymentOptions {
  /** The URL the payment is POSTed to. */
  endpoint: string;
  /** Extra request headers, such as `Authorization`. Sent on every attempt, never stored. */
  headers?: Record<string, string>;
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
  /** How long a key is reused for the same details, in ms. @default 86400000 (24 h) */
  keyTtlMs?: number;
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
}

/** A payment that went through (or that the server replayed). */
export interface PaymentResult<T = unknown> {
  /** The server's response body: parsed JSON, or text when it is not JSON, or null when empty. */
  body: T;
  /** The idempotency key that was sent. */
  key: string;
  /** The HTTP status (2xx). */
  status: number;
  /** Requests sent by this call. */
  attempts: number;
  /** The server said `Idempotent-Replayed: true`: this is an earlier answer, not a new charge. */
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
  /** The last response body, when there was one. */
  body?: unknown;
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
  expiresAt: number;
  /** Requests sent with this key, across reloads. */
  attempts: number;
}

/**
 * Sends a payment so that it takes effect at most once, retrying safely.
 *
 * With no `key`, payonce reuses the key of an unexpired pending or succeeded
 * payment with the same endpoint and details (after a double-click or a
 * reload), or mints a UUID v4 and records it in sessionStorage before sending.
 * Concurrent calls for the same payment share one request.
 *
 * @param details the payment, as JSON data
 * @param key your own idempotency key, or undefined/null to let payonce manage keys
 * @param options where and how to send it
 * @throws never synchronously; the promise rejects with a {@link PaymentError}
 */
export function processPayment<T = unknown>(
  details: PaymentDetails,
  key: string | null | undefined,
  options: PaymentOptions,
): Promise<PaymentResult<T>>;

/** Payments whose outcome is unknown (sent, no final answer yet), oldest first, optionally for one endpoint. Call on page load. */
export function pendingPayments(endpoint?: string): StoredPayment[];

/** Forgets a payment's key (when the shopper starts a new order). Returns whether there was one. */
export function forgetPayment(key: string): boolean;

/** A fresh UUID v4 from the browser's crypto RNG. */
export function newIdempotencyKey(): string;

/** Whether `value` is an error from payonce. */
export function isPaymentError(value: unknown): value is PaymentError;

/** Where a {@link PayButton} stands; also set as the element's `data-payonce-state`. */
export type PayButtonState = 'idle' | 'pending' | 'paying' | 'succeeded' | 'failed' | 'unknown';

export interface PayButtonOptions {
  /** Only payments to this endpoint count when looking for one left pending by a reload. */
  endpoint?: string;
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
 * sent again). On construction it shows a payment left pending by a reload.
 */
export class PayButton {
  constructor(element: Element, options?: PayButtonOptions);
  /** Calls {@link processPayment} and keeps the element in step; a second call while paying returns the same promise. */
  pay<T = unknown>(details: PaymentDetails, key: string | null | undefined, options: PaymentOptions): Promise<PaymentResult<T>>;
  /** The current state. */
  readonly state: PayButtonState;
  /** Back to idle, for a new order (pair it with {@link forgetPayment}). */
  reset(): void;
  /** Releases the binding's wasm memory. */
  free(): void;
}
