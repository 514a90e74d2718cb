// The same checkout call with ky, for the size and cold-start comparisons:
// one key per call, ky's own retry (POST included) and timeout.
import ky from 'ky';

export async function processPayment(endpoint, paymentDetails, idempotencyKey = crypto.randomUUID()) {
  return ky
    .post(endpoint, {
      json: paymentDetails,
      headers: { 'Idempotency-Key': idempotencyKey },
      timeout: 10000,
      retry: { limit: 2, methods: ['post'], statusCodes: [408, 409, 429, 500, 502, 503, 504] },
    })
    .json();
}
