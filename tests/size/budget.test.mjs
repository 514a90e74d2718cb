// The size budget: what a browser downloads from the packed package (the files
// `npm pack` ships that a page loads: the one JS module, its WebAssembly module inside
// it), gzip -9.
// The budget is written in tests/size/budget.json; a build past it fails here. A
// change that makes the package smaller lowers the budget in the same commit.
// Sizes are exact, so this is a test, not a timed measure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const budget = JSON.parse(readFileSync(join(root, 'tests/size/budget.json'), 'utf8'));

/** The files npm would pack, as `npm pack --dry-run` lists them. */
function packed() {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
  return JSON.parse(out)[0].files.map((f) => f.path);
}

test('the shipped files fit the size budget (gzip -9)', () => {
  const shipped = packed().filter((p) => p.endsWith('.js') || p.endsWith('.wasm'));
  assert.deepEqual(shipped.sort(), ['pkg/payonce.js'], 'the files a page loads: one, the module inside it');
  const sizes = shipped.map((p) => [p, gzipSync(readFileSync(join(root, p)), { level: 9 }).length]);
  const total = sizes.reduce((n, [, s]) => n + s, 0);
  const detail = sizes.map(([p, s]) => `${p} ${s}`).join(', ');
  console.log(`size: ${total} bytes gzip (${detail}); budget ${budget.gzipBytes}`);
  assert.ok(
    total <= budget.gzipBytes,
    `the package grew past its budget: ${total} bytes gzip > ${budget.gzipBytes} (${detail}); ` +
      'make it smaller, or raise tests/size/budget.json in a commit that says why',
  );
});
