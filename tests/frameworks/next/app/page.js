// A server component rendering the client component that imports payonce: the
// import runs during server rendering (here, the build's prerender).
import Checkout from './checkout';

export default function Page() {
  return (
    <main>
      <h1>Checkout</h1>
      <Checkout cart={{ amount: 2500, currency: 'usd', order: 'next-app' }} />
    </main>
  );
}
