// Shortens the wasm module's import names, in the .wasm and in the glue together.
//
// wasm-bindgen names every import after its Rust binding plus a 16-digit hash
// (`__wbg_status_cb85b6c8d1769fa1`), under module names such as `./payonce_bg.js`
// and `./snippets/payonce-<hash>/src/js/job.js`. The names appear twice, in the
// .wasm's import section and as keys of the glue's imports object, and the hashes
// do not compress. This renames each module, and each import wasm-bindgen made, to
// a short name in both files (a JS snippet's own exports keep their names). Nothing else changes: the import section keeps its order and types,
// and each old name must occur in the glue exactly where the rename expects it,
// or the build stops (a new wasm-bindgen release that writes the glue
// differently fails here instead of shipping a module that cannot load).
//
//   node scripts/shorten-imports.mjs pkg/payonce_bg.wasm pkg/payonce.js
import { readFileSync, writeFileSync } from 'node:fs';

const [wasmPath, gluePath] = process.argv.slice(2);
const fail = (what) => {
  console.error(`shorten-imports: FAILED: ${what}`);
  console.error('shorten-imports: to fix: build without this step (scripts/build.sh) and compare the glue wasm-bindgen wrote');
  process.exit(1);
};

const wasm = readFileSync(wasmPath);
let glue = readFileSync(gluePath, 'utf8');

function leb(buf, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = buf[at++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) return [value, at];
  }
}
function encodeLeb(n) {
  const out = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}
const encodeName = (s) => Buffer.concat([encodeLeb(Buffer.byteLength(s)), Buffer.from(s)]);

// Short names: a..z, A..Z, then two letters, and so on.
const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
function shortName(i) {
  let s = '';
  do {
    s = ALPHABET[i % ALPHABET.length] + s;
    i = Math.floor(i / ALPHABET.length) - 1;
  } while (i >= 0);
  return s;
}

if (wasm.readUInt32LE(0) !== 0x6d736100) fail(`${wasmPath} is not a wasm module`);
let at = 8;
let importSection = null;
while (at < wasm.length) {
  const id = wasm[at];
  const [size, body] = leb(wasm, at + 1);
  if (id === 2) importSection = { start: at, body, end: body + size };
  at = body + size;
}
if (!importSection) fail(`${wasmPath} has no import section`);

let [count, p] = leb(wasm, importSection.body);
const modules = new Map();
const entries = [];
for (let i = 0; i < count; i++) {
  const [mlen, m0] = leb(wasm, p);
  const module = wasm.toString('utf8', m0, m0 + mlen);
  const [flen, f0] = leb(wasm, m0 + mlen);
  const field = wasm.toString('utf8', f0, f0 + flen);
  const descStart = f0 + flen;
  if (wasm[descStart] !== 0x00) fail(`import ${module}.${field} is not a function (kind ${wasm[descStart]}); only functions are renamed`);
  const [, descEnd] = leb(wasm, descStart + 1);
  if (!modules.has(module)) modules.set(module, { short: shortName(modules.size), fields: new Map() });
  const mod = modules.get(module);
  // wasm-bindgen's own shims are renamed; a snippet's exports (job.js's `drive`) keep their names.
  if (/^__wb(g|indgen)_/.test(field) && !mod.fields.has(field)) mod.fields.set(field, shortName(mod.fields.size));
  entries.push(Buffer.concat([encodeName(mod.short), encodeName(mod.fields.get(field) ?? field), wasm.subarray(descStart, descEnd)]));
  p = descEnd;
}
if (p !== importSection.end) fail('the import section has bytes after its entries');

// The glue: each import is a key `name: function(` (or `name(`) in one object literal,
// and each module a quoted key of the object __wbg_get_imports returns (bundled or not).
for (const [module, { short, fields }] of modules) {
  for (const [field, to] of fields) {
    const key = new RegExp(`(?<![\\w$])${field}(?=\\s*(?::|\\())`, 'g');
    const found = glue.match(key)?.length ?? 0;
    if (found !== 1) fail(`import ${field} occurs ${found} times as a key in ${gluePath}, expected once`);
    if (glue.split(field).length - 1 !== 1) fail(`import ${field} occurs in ${gluePath} outside its key`);
    glue = glue.replace(key, to);
  }
  const quoted = JSON.stringify(module);
  if (!glue.includes(`${quoted}:`)) fail(`module ${quoted} is not a key in ${gluePath}`);
  glue = glue.split(`${quoted}:`).join(`${JSON.stringify(short)}:`);
  // An unbundled glue still loads the snippet by its path (`import * as import1 from "..."`).
  if (glue.split(`from ${quoted}`).join('').includes(quoted)) fail(`module ${quoted} occurs in ${gluePath} outside the imports object`);
}

const section = Buffer.concat([encodeLeb(count), ...entries]);
const out = Buffer.concat([
  wasm.subarray(0, importSection.start),
  Buffer.from([2]), encodeLeb(section.length), section,
  wasm.subarray(importSection.end),
]);
writeFileSync(wasmPath, out);
writeFileSync(gluePath, glue);
const n = [...modules.values()].reduce((k, m) => k + m.fields.size, 0);
console.log(`shorten-imports: ${n} of ${count} imports and ${modules.size} module names shortened; ${wasmPath} ${wasm.length} -> ${out.length} bytes`);
