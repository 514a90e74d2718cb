// scripts/inline-module.mjs on a small module and bundle written here: the module ends up
// inside the JS, compressed in the format DecompressionStream('deflate') reads, and gives
// back the same bytes; a bundle without the placeholder exactly once, or one that still
// names a file beside it, stops the build and leaves the bundle as it was.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';

const script = fileURLToPath(new URL('../../scripts/inline-module.mjs', import.meta.url));
// An empty module, and a custom section that repeats, so that compression has work to do.
const name = Buffer.from('payonce-test');
const payload = Buffer.from('abcdefgh'.repeat(200));
const body = Buffer.concat([Buffer.from([name.length]), name, payload]);
const MODULE = Buffer.concat([Buffer.from([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0, 0x80 | (body.length & 0x7f), body.length >> 7]), body]);

function run(js) {
  const dir = mkdtempSync(join(tmpdir(), 'inline-module-'));
  writeFileSync(join(dir, 'm.wasm'), MODULE);
  writeFileSync(join(dir, 'm.js'), js);
  const out = spawnSync('node', [script, join(dir, 'm.wasm'), join(dir, 'm.js')], { encoding: 'utf8' });
  return { ...out, js: readFileSync(join(dir, 'm.js'), 'utf8') };
}

test('the module is written into the bundle, compressed, and decompresses to the same bytes', async () => {
  const { status, stderr, js } = run('const M="__PAYONCE_MODULE__";export{M};');
  assert.equal(status, 0, stderr);
  const text = /^const M="([A-Za-z0-9+/=]+)";export\{M\};$/.exec(js)?.[1];
  assert.ok(text, js);
  const packed = Buffer.from(text, 'base64');
  assert.ok(packed.length < MODULE.length / 4, `compressed: ${packed.length} of ${MODULE.length} bytes`);
  assert.deepEqual(inflateSync(packed), MODULE);
  // What the browser does with it (src/entry.js).
  const stream = new Blob([packed]).stream().pipeThrough(new DecompressionStream('deflate'));
  assert.deepEqual(Buffer.from(await new Response(stream).arrayBuffer()), MODULE);
  assert.ok(new WebAssembly.Module(inflateSync(packed)));
});

for (const [what, js, message] of [
  ['no placeholder', 'const M="";', /holds the placeholder __PAYONCE_MODULE__ 0 times/],
  ['two placeholders', 'const M="__PAYONCE_MODULE__",N="__PAYONCE_MODULE__";', /2 times/],
  ['a bundle that still names a file beside it', 'const M="__PAYONCE_MODULE__",u=new URL("m.wasm",import.meta.url);', /import\.meta\.url/],
]) {
  test(`${what}: the build stops and the bundle is left as it was`, () => {
    const out = run(js);
    assert.notEqual(out.status, 0);
    assert.match(out.stderr, message);
    assert.equal(out.js, js);
  });
}
