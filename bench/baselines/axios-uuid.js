// The seed snippet's stack, for the size comparison: axios + uuid, one key per
// logical operation, a 10 s timeout, errors reported (no retries).
import axios from 'axios';
import { v4 as uuidv4 } from 'uuid';

export function generateIdempotencyKey() {
  return uuidv4();
}

export async function processPayment(endpoint, paymentDetails, idempotencyKey, authToken) {
  try {
    const response = await axios.post(endpoint, paymentDetails, {
      headers: {
        'Content-Type': 'application/json',
        'Idempotency-Key': idempotencyKey,
        Authorization: `Bearer ${authToken}`,
      },
      timeout: 10000,
    });
    return response.data;
  } catch (error) {
    if (error.response && error.response.status === 409) {
      console.warn('Payment with this idempotency key was likely already processed.');
    }
    throw new Error('Payment processing failed.');
  }
}
