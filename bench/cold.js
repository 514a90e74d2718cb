// Time from import to the first call being possible, for one library per page load.
// `ms` is measured from the import; `sinceNavigation` from the page's navigation start
// (it also counts what a preload fetched before the import began).
//   ?lib=payonce | ky | handwritten      import (and for payonce, init()) as an app does
//   ?lib=payonce-steps                   the same work done step by step, each step timed (with the
//                                        browser's opening of sessionStorage timed apart from payonce's first read)
const lib = new URLSearchParams(location.search).get('lib');
const out = {};
const t0 = performance.now();
if (lib === 'payonce') {
  const m = await import('/pkg/payonce.js');
  await m.default();
} else if (lib === 'payonce-steps') {
  const m = await import('/pkg/payonce.js');
  const t1 = performance.now();
  const bytes = await (await fetch(new URL('/pkg/payonce_bg.wasm', location.href))).arrayBuffer();
  const t2 = performance.now();
  const module = await WebAssembly.compile(bytes);
  const t3 = performance.now();
  await m.default({ module_or_path: module });
  const t4 = performance.now();
  void sessionStorage.length; // the page's first touch of sessionStorage: the browser opens it
  const t5 = performance.now();
  m.pendingPayments(); // payonce's first call: reads sessionStorage into its memory
  const t6 = performance.now();
  Object.assign(out, { glue: t1 - t0, wasmFetch: t2 - t1, compile: t3 - t2, instantiate: t4 - t3, storageOpen: t5 - t4, firstStorageRead: t6 - t5 });
} else if (lib === 'ky') {
  await import('/bench/.tmp/ky.bundle.js');
} else if (lib === 'handwritten') {
  await import('/bench/.tmp/handwritten.bundle.js');
}
out.ms = performance.now() - t0;
out.sinceNavigation = performance.now();
// Network part of each file this load fetched: from the fetch's start to its last byte,
// and the parts of that: waiting for a connection, waiting for the server, the transfer.
for (const e of performance.getEntriesByType('resource')) {
  const name = e.name.split('/').pop();
  if (/^(payonce\.js|payonce_bg\.wasm|.*\.bundle\.js)$/.test(name)) {
    out[`fetch ${name}`] = e.responseEnd - e.startTime;
    out[`connect ${name}`] = e.requestStart - e.startTime;
    out[`server ${name}`] = e.responseStart - e.requestStart;
    out[`transfer ${name}`] = e.responseEnd - e.responseStart;
    out[`start ${name}`] = e.startTime;
  }
}
document.documentElement.dataset.result = JSON.stringify(out);
document.documentElement.dataset.ms = String(out.ms);
