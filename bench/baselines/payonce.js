// payonce as an app imports it, for the size comparison.
export { default as init, processPayment } from 'payonce';
