// Type tests for the published declarations: this file must compile under
// --strict, and every @ts-expect-error line must really be an error.
import init, {
  initSync,
  forgetPayment,
  isPaymentError,
  newIdempotencyKey,
  pendingPayments,
  processPayment,
  PayButton,
  type InitOutput,
  type PaymentDetails,
  type PaymentError,
  type PaymentResult,
  type StoredPayment,
} from '../../pkg/payonce.js';

// Carts as apps declare them: an interface (no index signature), readonly arrays,
// optional members, a Date (sent as its toJSON()), nested interfaces.
interface LineItem {
  readonly sku: string;
  qty: number;
  note?: string;
}
interface Cart {
  amount: number;
  currency: 'usd' | 'eur';
  items: readonly LineItem[];
  placedAt: Date;
  coupon?: string | null;
}
interface CartWithMethod {
  amount: number;
  total(): number;
}
type Receipt = { id: string; paid: boolean };
class Checkout {
  total(): number {
    return 1;
  }
}

export async function usage(button: HTMLButtonElement): Promise<void> {
  await init();
  const r: PaymentResult<{ id: string }> = await processPayment<{ id: string }>(
    { amount: 5000, currency: 'usd', items: [{ sku: 'a', qty: 2 }], coupon: undefined, gift: null },
    undefined,
    {
      endpoint: '/api/charges',
      headers: { Authorization: 'Bearer x' },
      timeoutMs: 10_000,
      credentials: 'include',
      signal: new AbortController().signal,
      onEvent: (e) => {
        if (e.type === 'backoff') console.log(e.delayMs, e.reason);
        if (e.type === 'response') console.log(e.status, e.replayed);
      },
    },
  );
  const id: string = r.body.id;
  const replayed: boolean = r.replayed;
  console.log(id, replayed, r.key, r.attempts, r.status);

  const pending: StoredPayment[] = pendingPayments('/api/charges');
  const state: 'pending' | 'succeeded' | 'failed' | undefined = pending[0]?.state;
  console.log(state, forgetPayment(newIdempotencyKey()));

  const guard = new PayButton(button, { endpoint: '/api/charges', labels: { paying: 'Paying…' } });
  try {
    await guard.pay({ amount: 1, currency: 'eur' }, 'order-1', { endpoint: '/api/charges' });
  } catch (e: unknown) {
    if (isPaymentError(e)) {
      const err: PaymentError = e;
      const retry: boolean = err.retryable;
      console.log(err.code, err.status, err.key, err.attempts, err.retryAfterMs, retry);
    }
  }
  console.log(guard.state);
  new PayButton(button, { labels: false });

  const cart: Cart = { amount: 5000, currency: 'usd', items: [{ sku: 'a', qty: 1 }], placedAt: new Date() };
  await processPayment(cart, undefined, { endpoint: '/api/charges' });
  // The response type given, the cart still checked against JSON data.
  const receipt: PaymentResult<Receipt> = await processPayment<Receipt, Cart>(cart, null, { endpoint: '/x' });
  console.log(receipt.body.paid);
  // ... or the response type alone: any object details are taken.
  const r2 = await processPayment<Receipt>(cart, null, { endpoint: '/x' });
  console.log(r2.body.id);
  const frozen = { amount: 5000, currency: 'eur', items: [{ sku: 'a', qty: 2 }] } as const;
  await processPayment(frozen, undefined, { endpoint: new URL('https://shop.example/api/charges') });
  const loose: Record<string, unknown> = JSON.parse('{"amount":1}');
  await processPayment(loose, undefined, { endpoint: '/x' });
  const typed: PaymentDetails = { amount: 1, tags: ['a', 'b'] as const };
  await processPayment(typed, undefined, { endpoint: '/x' });
  await guard.pay(cart, undefined, { endpoint: '/x' });

  // headers in every form fetch takes (and a Map).
  await processPayment(cart, undefined, { endpoint: '/x', headers: new Headers({ Authorization: 'Bearer x' }) });
  await processPayment(cart, undefined, { endpoint: '/x', headers: [['Authorization', 'Bearer x']] });
  const pairs = [['X-A', '1']] as const;
  await processPayment(cart, undefined, { endpoint: '/x', headers: pairs });
  await processPayment(cart, undefined, { endpoint: '/x', headers: new Map([['X-A', '1']]) });

  // Errors: every field present, `null` when there is nothing.
  const e0 = new Error() as unknown;
  if (isPaymentError(e0)) {
    const body: unknown = e0.body;
    const status: number | null = e0.status;
    const key: string | null = e0.key;
    const after: number | null = e0.retryAfterMs;
    console.log(body, status, key, after);
  }

  // init: optional, takes a URL or bytes; its output holds nothing typed `any`.
  const out: InitOutput = await init({ module_or_path: '/assets/payonce_bg.wasm' });
  await init(new URL('https://cdn.example/payonce_bg.wasm'));
  await init(fetch('/assets/payonce_bg.wasm'));
  const sync: InitOutput = initSync({ module: new Uint8Array(8) });
  console.log(out.memory.buffer.byteLength, sync.memory);
  // @ts-expect-error the module's raw exports are not part of the API
  console.log(out.processPayment);

  // @ts-expect-error an endpoint is required
  await processPayment({ amount: 1 }, undefined, {});
  // @ts-expect-error the key is a string
  await processPayment({ amount: 1 }, 42, { endpoint: '/x' });
  // @ts-expect-error details are JSON data, not functions
  await processPayment({ amount: () => 1 }, undefined, { endpoint: '/x' });
  // A server's dialect and key rules are plain data.
  const statuses = [417, 422] as const;
  await processPayment({ amount: 1 }, undefined, {
    endpoint: '/x',
    dialect: { mismatch: statuses, inProgress: [409], finished: [], replayHeader: 'Idempotency-Replayed' },
    keys: { maxLength: 64, uuid: true },
  });
  // @ts-expect-error a dialect's statuses are numbers
  await processPayment({ amount: 1 }, undefined, { endpoint: '/x', dialect: { mismatch: ['417'] } });
  // @ts-expect-error credentials take fetch's values
  await processPayment({ amount: 1 }, undefined, { endpoint: '/x', credentials: 'all' });
  // @ts-expect-error a function deep in the details
  await processPayment({ amount: 1, items: [{ sku: 'a', price: () => 1 }] }, undefined, { endpoint: '/x' });
  const withMethod: CartWithMethod = { amount: 1, total: () => 1 };
  // @ts-expect-error an interface-typed cart with a method
  await processPayment(withMethod, undefined, { endpoint: '/x' });
  // @ts-expect-error an object with methods (a class instance) is not JSON data
  await processPayment({ amount: 1, checkout: new Checkout() }, undefined, { endpoint: '/x' });
  // @ts-expect-error a Map is not JSON data
  await processPayment({ amount: 1, lines: new Map<string, number>() }, undefined, { endpoint: '/x' });
  // @ts-expect-error a bigint is not JSON data
  await processPayment({ amount: 1n }, undefined, { endpoint: '/x' });
  // @ts-expect-error a symbol is not JSON data
  await processPayment({ amount: Symbol('a') }, undefined, { endpoint: '/x' });
  // @ts-expect-error details are an object, not an array
  await processPayment([1, 2], undefined, { endpoint: '/x' });
  // @ts-expect-error details are an object, not a string
  await processPayment('amount=1', undefined, { endpoint: '/x' });
  // @ts-expect-error PayButton.pay checks details the same way
  await guard.pay({ amount: () => 1 }, undefined, { endpoint: '/x' });
  // @ts-expect-error header values are strings
  await processPayment(cart, undefined, { endpoint: '/x', headers: { 'X-Retry': 1 } });
  // @ts-expect-error headers are pairs, not lists of any length
  await processPayment(cart, undefined, { endpoint: '/x', headers: [['X-A', '1', '2']] });
  // @ts-expect-error an endpoint is a string or a URL
  await processPayment(cart, undefined, { endpoint: 42 });
  // @ts-expect-error codes are a closed set
  const code: PaymentError['code'] = 'oops';
  console.log(code);
}
