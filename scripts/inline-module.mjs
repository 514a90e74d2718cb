// Writes the WebAssembly module into the bundled JS module, so that a page makes one
// request for payonce: the .wasm compressed in zlib format (by zopfli, which
// DecompressionStream('deflate') reads back), base64-encoded, in place of the one
// '__PAYONCE_MODULE__' placeholder (src/entry.js's MODULE).
//
// The build stops if the placeholder is not there exactly once, if the bundle still
// names a file beside itself (`import.meta.url`, which bundlers would try to ship as an
// asset), or if the compressed bytes do not give the module back.
//
//   node scripts/inline-module.mjs pkg/payonce_bg.wasm pkg/payonce.js
import { readFileSync, writeFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { zlibAsync } from '@gfx/zopfli';

const PLACEHOLDER = '__PAYONCE_MODULE__';
const [wasmPath, jsPath] = process.argv.slice(2);
const fail = (what) => {
  console.error(`inline-module: FAILED: ${what}`);
  process.exit(1);
};

const wasm = readFileSync(wasmPath);
const js = readFileSync(jsPath, 'utf8');
const found = js.split(PLACEHOLDER).length - 1;
if (found !== 1) fail(`${jsPath} holds the placeholder ${PLACEHOLDER} ${found} times, not once`);
if (js.includes('import.meta.url')) fail(`${jsPath} still refers to a file beside it (import.meta.url)`);
if (wasm.subarray(0, 4).toString('latin1') !== '\0asm') fail(`${wasmPath} is not a WebAssembly module`);
// 15 iterations: more gave 20 bytes less for seconds more of build time.
const packed = Buffer.from(await zlibAsync(wasm, { numiterations: 15 }));
if (!inflateSync(packed).equals(wasm)) fail('the compressed module does not decompress to the module');
const text = packed.toString('base64');
writeFileSync(jsPath, js.replace(PLACEHOLDER, () => text));
console.log(`inline-module: ${wasmPath} ${wasm.length} bytes -> ${packed.length} bytes compressed, ${text.length} base64 characters in ${jsPath}`);
