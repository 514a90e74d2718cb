// The module exports exactly what pkg/payonce.d.ts declares as values (nothing
// undeclared, such as the glue's internal classes, and nothing declared but missing),
// and importing it where there is no DOM (server rendering) does not throw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const pkg = (file) => fileURLToPath(new URL(`../../pkg/${file}`, import.meta.url));

function declaredValues() {
  const program = ts.createProgram([pkg('payonce.d.ts')], { strict: true, noEmit: true, lib: ['lib.es2022.d.ts'] });
  const checker = program.getTypeChecker();
  const module = checker.getSymbolAtLocation(program.getSourceFile(pkg('payonce.d.ts')));
  return checker
    .getExportsOfModule(module)
    .filter((s) => s.flags & ts.SymbolFlags.Value)
    .map((s) => s.escapedName)
    .sort();
}

test('the module exports exactly the values its declarations declare', async () => {
  const runtime = Object.keys(await import(pkg('payonce.js'))).sort();
  assert.deepEqual(runtime, declaredValues());
});

test('importing the module without a DOM (as server rendering does) runs no browser code', async () => {
  assert.equal(typeof globalThis.window, 'undefined');
  const m = await import(pkg('payonce.js'));
  assert.equal(typeof m.processPayment, 'function');
});

test('init() left unawaited where it cannot load reports no unhandled rejection; awaited, it rejects with a PaymentError; then it loads from payonce.js alone', async () => {
  const unhandled = [];
  const record = (reason) => unhandled.push(reason);
  process.on('unhandledRejection', record);
  const real = globalThis.DecompressionStream;
  try {
    const m = await import(pkg('payonce.js'));
    // A runtime without DecompressionStream (an older browser) cannot load the module.
    delete globalThis.DecompressionStream;
    m.default();
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(unhandled, []);
    await assert.rejects(m.default(), (e) => m.isPaymentError(e) && e.code === 'network' && e.attempts === 0 && /DecompressionStream/.test(e.message));
    // With it (Node 20 has it, as server rendering does): the module is inside payonce.js, nothing to fetch.
    globalThis.DecompressionStream = real;
    const output = await m.default({ module_or_path: 'https://example.invalid/payonce_bg.wasm' });
    assert.ok(output.memory instanceof WebAssembly.Memory);
    assert.deepEqual(unhandled, []);
  } finally {
    globalThis.DecompressionStream = real;
    process.off('unhandledRejection', record);
  }
});
