// The rules floor's glue (bench/rules-floor): instantiates the module with
// sessionStorage, the clock and the random sources as raw imports, and returns
// step(message) -> answer, one JSON text each way. Everything else the module
// asks for comes back as effects in the answer, for a driver to perform
// (bench/rules-floor/run.mjs under Node). Measured with the module by bench/run.mjs.
export async function init(bytes, storage = globalThis.sessionStorage) {
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  let x;
  let stash;
  const view = (p, n) => new Uint8Array(x.memory.buffer, p, n);
  const str = (p, n) => dec.decode(view(p, n));
  const found = (v) => (v == null ? -1 : (stash = enc.encode(v)).length);
  const tried = (f, failed) => { try { return f(); } catch { return failed; } };
  const { instance } = await WebAssembly.instantiate(bytes, {
    s: {
      get: (p, n) => tried(() => found(storage.getItem(str(p, n))), -2),
      key: (i) => tried(() => found(storage.key(i)), -2),
      length: () => tried(() => storage.length, -1),
      set: (p, n, q, m) => tried(() => storage.setItem(str(p, n), str(q, m)) ?? 0, 1),
      remove: (p, n) => tried(() => storage.removeItem(str(p, n)) ?? 0, 1),
      fill: (p) => view(p, stash.length).set(stash),
      now: Date.now,
      unit: Math.random,
      draw: (p) => tried(() => (crypto.getRandomValues(view(p, 16)), 1), 0),
    },
  });
  x = instance.exports;
  return (message) => {
    const b = enc.encode(JSON.stringify(message));
    view(x.buf(b.length), b.length).set(b);
    const n = x.step(b.length);
    return JSON.parse(dec.decode(view(x.out(), n)));
  };
}
