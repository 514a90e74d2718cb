// Time from import to the first call possible, for one library per page load.
// `ms` is measured from the import; `sinceNavigation` from the page's navigation start
// (it also counts what a preload fetched before the import began).
//   ?lib=payonce | ky | handwritten      import (and for payonce, init()) as an app does
//   ?lib=payonce-split                   payonce as two files, the module fetched after the JS
//                                        (bench/.tmp/split/, made by run.mjs from the shipped build)
//   ?lib=payonce-steps                   the shipped build's work done step by step, each step timed
//                                        (with the browser's opening of sessionStorage timed apart from
//                                        payonce's first read)
const lib = new URLSearchParams(location.search).get('lib');
const out = {};
// The module's base64 text, for the steps: loaded before the clock starts.
const steps = lib === 'payonce-steps' ? await import('/bench/.tmp/module.js') : null;
const t0 = performance.now();
if (lib === 'payonce') {
  const m = await import('/pkg/payonce.js');
  await m.default();
} else if (lib === 'payonce-split') {
  const m = await import('/bench/.tmp/split/payonce.js');
  await m.default(await WebAssembly.compileStreaming(fetch('/bench/.tmp/split/payonce_bg.wasm')));
} else if (lib === 'payonce-steps') {
  const m = await import('/pkg/payonce.js');
  const t1 = performance.now();
  // As src/entry.js decodes it.
  let packed;
  if (typeof Uint8Array.fromBase64 === 'function') {
    packed = Uint8Array.fromBase64(steps.default);
  } else {
    const text = atob(steps.default);
    packed = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) packed[i] = text.charCodeAt(i);
  }
  const t2 = performance.now();
  const bytes = await new Response(new Blob([packed]).stream().pipeThrough(new DecompressionStream('deflate'))).arrayBuffer();
  const t3 = performance.now();
  const module = await WebAssembly.compile(bytes);
  const t4 = performance.now();
  await m.default(module);
  const t5 = performance.now();
  void sessionStorage.length; // the page's first touch of sessionStorage: the browser opens it
  const t6 = performance.now();
  m.pendingPayments(); // payonce's first call: reads sessionStorage into its memory
  const t7 = performance.now();
  Object.assign(out, { glue: t1 - t0, decode: t2 - t1, inflate: t3 - t2, compile: t4 - t3, instantiate: t5 - t4, storageOpen: t6 - t5, firstStorageRead: t7 - t6 });
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
    out[`bytes ${name}`] = e.transferSize;
  }
}
document.documentElement.dataset.result = JSON.stringify(out);
document.documentElement.dataset.ms = String(out.ms);
