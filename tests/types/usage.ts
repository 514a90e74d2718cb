// Type tests for the published declarations: this file must compile under
// --strict, and every @ts-expect-error line must really be an error.
import init, {
  forgetPayment,
  isPaymentError,
  newIdempotencyKey,
  pendingPayments,
  processPayment,
  PayButton,
  type PaymentError,
  type PaymentResult,
  type StoredPayment,
} from '../../pkg/payonce.js';

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

  // @ts-expect-error an endpoint is required
  await processPayment({ amount: 1 }, undefined, {});
  // @ts-expect-error the key is a string
  await processPayment({ amount: 1 }, 42, { endpoint: '/x' });
  // @ts-expect-error details are JSON data, not functions
  await processPayment({ amount: () => 1 }, undefined, { endpoint: '/x' });
  // @ts-expect-error credentials take fetch's values
  await processPayment({ amount: 1 }, undefined, { endpoint: '/x', credentials: 'all' });
  // @ts-expect-error codes are a closed set
  const code: PaymentError['code'] = 'oops';
  console.log(code);
}
