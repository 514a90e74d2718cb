// scripts/shorten-imports.mjs on a small module and glue written here: the renamed
// module still instantiates with the renamed glue's imports object, and a glue that does
// not look as expected stops the build and leaves both files as they were.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../../scripts/shorten-imports.mjs', import.meta.url));
const name = (s) => [s.length, ...Buffer.from(s)];
const IMPORTS = [
  ['./demo_bg.js', '__wbg_status_cb85b6c8d1769fa1'],
  ['./demo_bg.js', '__wbindgen_init_externref_table'],
  ['./snippets/demo-aa14c2019dafe3db/src/driver.js', 'drive'],
];
// A module with one function type and three function imports (no code).
function module() {
  const imports = IMPORTS.flatMap(([m, f]) => [...name(m), ...name(f), 0x00, 0x00]);
  const section = [IMPORTS.length, ...imports];
  const size = [0x80 | (section.length & 0x7f), section.length >> 7]; // LEB128, two bytes
  return Buffer.from([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 2, ...size, ...section]);
}
const GLUE = `const driver_exports = { drive() {} };
function __wbg_get_imports() {
  const import0 = {
    __proto__: null,
    __wbg_status_cb85b6c8d1769fa1: function(arg0) { return arg0.status; },
    __wbindgen_init_externref_table: function() {},
  };
  return { __proto__: null, "./demo_bg.js": import0, "./snippets/demo-aa14c2019dafe3db/src/driver.js": driver_exports };
}
`;

function files(glue) {
  const dir = mkdtempSync(join(tmpdir(), 'shorten-imports-'));
  const wasm = join(dir, 'demo_bg.wasm');
  const js = join(dir, 'demo.js');
  writeFileSync(wasm, module());
  writeFileSync(js, glue);
  return { wasm, js };
}

test('imports and modules get short names in both files, and the module instantiates with the glue', async () => {
  const { wasm, js } = files(GLUE);
  execFileSync('node', [script, wasm, js]);
  const bytes = readFileSync(wasm);
  assert.ok(bytes.length < module().length);
  const imports = WebAssembly.Module.imports(new WebAssembly.Module(bytes));
  assert.deepEqual(imports.map((i) => `${i.module}.${i.name}`), ['a.a', 'a.b', 'b.drive']);
  const glue = readFileSync(js, 'utf8');
  assert.doesNotMatch(glue, /cb85b6c8d1769fa1|demo_bg\.js|snippets/);
  const object = new Function(`${glue}; return __wbg_get_imports();`)();
  await WebAssembly.instantiate(bytes, object);
});

test('a glue where an import name is not exactly one key stops the build, and nothing is written', () => {
  for (const glue of [
    GLUE.replace('__wbg_status_cb85b6c8d1769fa1: function', 'status: function'),
    GLUE + '// __wbg_status_cb85b6c8d1769fa1 mentioned again\n',
    GLUE.replace('"./demo_bg.js": import0', 'wbg: import0'),
    GLUE + 'const url = new URL("./demo_bg.js", import.meta.url);\n',
  ]) {
    const { wasm, js } = files(glue);
    const run = spawnSync('node', [script, wasm, js], { encoding: 'utf8' });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /shorten-imports: FAILED/);
    assert.deepEqual(readFileSync(wasm), module());
    assert.equal(readFileSync(js, 'utf8'), glue);
  }
});
