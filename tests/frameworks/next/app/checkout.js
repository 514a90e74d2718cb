'use client';
// The README's React recipe: load in an effect, pay in the click handler. Plus the
// README's first example's unawaited init() at module level, which server rendering
// (the build's prerender) runs too: it must not report an error there.
import { useEffect, useState } from 'react';
import init, { processPayment, pendingPayments, isPaymentError } from 'payonce';

init();

export default function Checkout({ cart }) {
  const [state, setState] = useState('idle');
  const [result, setResult] = useState(null);
  useEffect(() => {
    init().then(() => {
      if (pendingPayments('/api/charges').length) setState('pending');
      setState((s) => (s === 'idle' ? 'ready' : s));
    }, () => setState('failed'));
  }, []);
  async function pay() {
    setState('paying');
    try {
      const r = await processPayment(cart, undefined, { endpoint: '/api/charges' });
      setResult({ key: r.key, replayed: r.replayed });
      setState('paid');
    } catch (e) {
      setResult({ error: String(e.message) });
      setState(isPaymentError(e) && e.retryable ? 'unknown' : 'failed');
    }
  }
  return (
    <button
      id="pay"
      onClick={pay}
      disabled={state === 'paying' || state === 'paid'}
      data-state={state}
      data-result={result ? JSON.stringify(result) : undefined}
    >
      Pay
    </button>
  );
}
