// Time from import to the first call being possible.
const lib = new URLSearchParams(location.search).get('lib');
const t0 = performance.now();
if (lib === 'payonce') {
  const m = await import('/pkg/payonce.js');
  await m.default();
} else {
  await import('/bench/.tmp/ky.bundle.js');
}
document.documentElement.dataset.ms = String(performance.now() - t0);
