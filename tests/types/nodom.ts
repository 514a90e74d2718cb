// A project whose tsconfig "lib" leaves out "dom" (a server-rendering app's shared
// code, say) still compiles against payonce's declarations: they reference the dom
// lib themselves. This file must compile with tests/types/tsconfig.nodom.json.
import init, { processPayment } from '../../pkg/payonce.js';

export async function pay(): Promise<string> {
  await init();
  const r = await processPayment({ amount: 1 }, undefined, { endpoint: '/api/charges' });
  return r.key;
}
