// The demo checkout: a shop's page using the built payonce package.
import init, { PayButton, pendingPayments, forgetPayment, processPayment } from './payonce.js';

const ENDPOINT = '/api/charges';
const PAY_OPTIONS = { endpoint: ENDPOINT, timeoutMs: 3000, maxRetries: 2 };
const CART = [
  { sku: 'mug-ceramic', name: 'Ceramic mug', cents: 1800, qty: 2 },
  { sku: 'filter-v60', name: 'Pour-over filter', cents: 900, qty: 1 },
  { sku: 'beans-250', name: 'Coffee beans, 250 g', cents: 1450, qty: 1 },
];

const $ = (id) => document.getElementById(id);
const money = (cents) => `$${(cents / 100).toFixed(2)}`;
const total = CART.reduce((sum, item) => sum + item.cents * item.qty, 0);

// The order number lives in the URL, so a reload keeps the order (and the cart) as it was.
function orderNumber() {
  const n = Number(new URLSearchParams(location.hash.slice(1)).get('order'));
  return Number.isSafeInteger(n) && n > 0 ? n : 1;
}

function details() {
  return {
    order: `order-${orderNumber()}`,
    amount: total,
    currency: 'usd',
    items: CART.map(({ sku, qty, cents }) => ({ sku, qty, cents })),
    payment_method_id: $('card').value,
  };
}

function log(text, kind = '') {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  if (kind) li.className = kind;
  $('log').append(li);
  li.scrollIntoView({ block: 'nearest' });
}

function onEvent(e) {
  switch (e.type) {
    case 'attempt': log(`attempt ${e.attempt}: POST ${ENDPOINT} with Idempotency-Key ${e.key}`); break;
    case 'response': log(`attempt ${e.attempt}: ${e.status}${e.replayed ? ' (replayed by the server: no new charge)' : ''}`); break;
    case 'no-response': log(`attempt ${e.attempt}: no answer (${e.code})`); break;
    case 'backoff': log(`waiting ${e.delayMs} ms before retry ${e.retry} (${e.reason})`); break;
  }
}

function renderCart() {
  $('order-id').textContent = `#${orderNumber()}`;
  $('cart').replaceChildren(...CART.map((item) => {
    const li = document.createElement('li');
    li.append(`${item.qty} × ${item.name}`);
    const price = document.createElement('span');
    price.textContent = money(item.cents * item.qty);
    li.append(price);
    return li;
  }));
  $('total').textContent = money(total);
  // The same order in a new tab (its own sessionStorage): payonce tells the tabs apart.
  $('another-tab').href = location.href;
}

async function api(path, body) {
  const res = await fetch(path, body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return res.json();
}

async function refreshLedger() {
  try {
    const { charges, held, queuedFaults } = await api('/api/ledger');
    const perOrder = {};
    for (const c of charges) perOrder[c.order] = (perOrder[c.order] ?? 0) + 1;
    $('ledger').replaceChildren(...charges.slice().reverse().map((c) => {
      const tr = document.createElement('tr');
      if (perOrder[c.order] > 1) tr.className = 'dup';
      for (const [text, cls] of [[c.id], [c.order], [money(c.amount)], [c.key, 'key']]) {
        const td = document.createElement('td');
        td.textContent = text;
        if (cls) td.className = cls;
        tr.append(td);
      }
      return tr;
    }));
    const dups = Object.values(perOrder).filter((n) => n > 1).length;
    $('ledger-summary').textContent =
      `${charges.length} charge(s) for ${Object.keys(perOrder).length} order(s); orders charged twice: ${dups}.`;
    $('queued').textContent = `${queuedFaults} fault(s) queued, ${held} response(s) held.`;
  } catch {
    $('ledger-summary').textContent = 'The gateway is not answering.';
  }
}

await init();
renderCart();
const button = new PayButton($('pay'), { endpoint: ENDPOINT });
for (const p of pendingPayments(ENDPOINT)) {
  log(`found a payment left pending by a reload: key ${p.key}, ${p.attempts} request(s) sent; Pay resends the same key`, 'err');
}
if (button.state === 'pending') {
  $('status').textContent = 'Your previous payment may have gone through. Click "Resume payment" to check: it cannot charge twice.';
}

$('pay').addEventListener('click', async () => {
  $('status').textContent = 'Paying…';
  try {
    const r = await button.pay(details(), undefined, { ...PAY_OPTIONS, onEvent });
    const how = r.replayed ? 'the server replayed its earlier answer' : 'charged now';
    log(`paid: ${r.body.id} (${how}), ${r.attempts} attempt(s), key ${r.key}`, 'ok');
    $('status').textContent = `Paid ${money(total)}. Charge ${r.body.id}.`;
  } catch (e) {
    log(`${e.code}: ${e.message}`, 'err');
    $('status').textContent = e.retryable || e.code === 'aborted' || e.code === 'redirect'
      ? 'We could not confirm your payment. Click "Check payment": it is safe, you will not be charged twice.'
      : `Payment failed: ${e.body?.message ?? e.message}`;
  }
  refreshLedger();
});

$('new-order').addEventListener('click', () => {
  for (const p of pendingPayments(ENDPOINT)) forgetPayment(p.key);
  location.hash = `order=${orderNumber() + 1}`;
  renderCart();
  button.reset();
  $('status').textContent = '';
  log(`new order #${orderNumber()}`);
});

for (const el of document.querySelectorAll('[data-fault]')) {
  el.addEventListener('click', async () => {
    await api('/api/faults', JSON.parse(el.dataset.fault));
    log(`gateway fault queued: ${el.textContent}`);
    refreshLedger();
  });
}
$('release').addEventListener('click', async () => {
  const { released } = await api('/api/release', {});
  log(`released ${released} held response(s)`);
  refreshLedger();
});

setInterval(refreshLedger, 700);
refreshLedger();

// For the end-to-end tests and the curious: the library as the page uses it.
window.payonceDemo = { processPayment, details, PAY_OPTIONS, button };
document.documentElement.dataset.ready = 'true';
