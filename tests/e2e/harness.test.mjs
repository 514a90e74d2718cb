// The driver interface of harness.mjs does what it promises in the engine PAYONCE_ENGINE
// names, so that the other e2e tests mean the same thing in Chromium, Firefox and WebKit:
// init scripts run before the page's own, evaluate runs in the page's realm and returns
// JSON values, contexts and pages keep storage apart as browsers do, two pages can be
// driven at once, and problems() sees what goes wrong in a page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setup, ENGINE } from './harness.mjs';

let env;
let dir;

const PAGE = `<!doctype html><meta charset="utf-8"><title>harness</title>
<script src="page.js"></script>
<button id="later" type="button" disabled>later</button>
<select id="choice"><option value="a">A</option><option value="b">B</option></select>
<script src="after.js"></script>`;

// Runs first among the page's own scripts: records what it found.
const PAGE_JS = `window.sawAtStart = {
  init: window.initRan === true,
  storage: (() => { try { sessionStorage.getItem('x'); return 'works'; } catch (e) { return e.name; } })(),
};
window.pageObject = { made: 'by the page' };`;

const AFTER_JS = `setTimeout(() => {
  const b = document.getElementById('later');
  b.disabled = false;
  b.addEventListener('click', () => { document.body.dataset.clicked = 'yes'; });
}, 300);
document.getElementById('choice').addEventListener('change', (e) => { document.body.dataset.changed = e.target.value; });`;

const PROBLEMS = `<!doctype html><meta charset="utf-8"><title>problems</title>
<script src="problems.js"></script><img src="missing.png" alt="">`;
const PROBLEMS_JS = `console.error('logged by the page');
Promise.reject(new Error('rejected by the page'));
setTimeout(() => { throw new Error('thrown by the page'); });
try { eval('1'); } catch {}`;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'payonce-harness-'));
  for (const [name, text] of Object.entries({
    'index.html': PAGE, 'page.js': PAGE_JS, 'after.js': AFTER_JS, 'problems.html': PROBLEMS, 'problems.js': PROBLEMS_JS,
  })) await writeFile(join(dir, name), text);
  env = await setup({
    roots: { '/h/': dir },
    headers: { 'Content-Security-Policy': "default-src 'self'; script-src 'self'" },
  });
});
after(async () => {
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function open(options) {
  const context = await env.browser.newContext(options);
  const page = await context.newPage();
  await page.goto(`${env.gateway.url}/h/index.html`);
  return { context, page };
}

test(`the engine is ${ENGINE}`, async (t) => {
  assert.equal(env.browser.engine, ENGINE);
  const context = await env.browser.newContext();
  assert.match(env.browser.version, /^\d+\./, 'the version is known once a context exists');
  t.diagnostic(`${env.browser.engine} ${env.browser.version}`);
  await context.close();
});

test('initScript runs before the page scripts, again after a reload', async () => {
  const initScript = () => {
    window.initRan = true;
    Storage.prototype.getItem = () => { throw new DOMException('no', 'SecurityError'); };
  };
  const { context, page } = await open({ initScript });
  const expected = { init: true, storage: 'SecurityError' };
  assert.deepEqual(await page.evaluate(() => window.sawAtStart), expected);
  await page.reload();
  assert.deepEqual(await page.evaluate(() => window.sawAtStart), expected);
  await context.close();
  // Other contexts are untouched.
  const plain = await open();
  assert.deepEqual(await plain.page.evaluate(() => window.sawAtStart), { init: false, storage: 'works' });
  await plain.context.close();
});

test('evaluate runs in the page realm, awaits promises and returns JSON values', async () => {
  const { context, page } = await open();
  assert.equal(await page.evaluate(() => Object.getPrototypeOf({}) === Object.getPrototypeOf(window.pageObject)), true,
    'an object literal in evaluate has the page\'s Object.prototype');
  assert.equal(await page.evaluate(() => undefined), undefined);
  assert.deepEqual(await page.evaluate(() => ({ a: undefined, b: null, c: [1, undefined], d: 'x' })), { b: null, c: [1, null], d: 'x' });
  assert.equal(await page.evaluate(async ({ n }) => { await new Promise((r) => setTimeout(r, 50)); return n + 1; }, { n: 41 }), 42);
  await assert.rejects(page.evaluate(async () => { throw new Error('failed in the page'); }), /failed in the page/);
  await assert.rejects(page.evaluate(() => { throw new Error('failed at once'); }), /failed at once/);
  await context.close();
});

test('click waits until the element is enabled; select fires change', async () => {
  const { context, page } = await open();
  await page.click('#later'); // disabled for the page's first 300 ms
  assert.equal(await page.evaluate(() => document.body.dataset.clicked), 'yes');
  await page.select('#choice', 'b');
  assert.deepEqual(await page.evaluate(() => [document.getElementById('choice').value, document.body.dataset.changed]), ['b', 'b']);
  assert.equal(await page.text('title'), 'harness');
  assert.equal(await page.text('#nothing-here'), null);
  await context.close();
});

test('contexts keep storage apart; pages of one context share localStorage, not sessionStorage', async () => {
  const a = await open();
  await a.page.evaluate(() => { sessionStorage.setItem('s', 'a'); localStorage.setItem('l', 'a'); });
  const a2 = await a.context.newPage();
  await a2.goto(`${env.gateway.url}/h/index.html`);
  assert.deepEqual(await a2.evaluate(() => [sessionStorage.getItem('s'), localStorage.getItem('l')]), [null, 'a']);
  const b = await open();
  assert.deepEqual(await b.page.evaluate(() => [sessionStorage.getItem('s'), localStorage.getItem('l')]), [null, null]);
  // The first page still has its own.
  assert.deepEqual(await a.page.evaluate(() => [sessionStorage.getItem('s'), document.visibilityState]), ['a', 'visible']);
  assert.equal(await a2.evaluate(() => document.visibilityState), 'visible');
  await b.context.close();
  await a.context.close();
});

test('two pages of one context are driven at once', async () => {
  const { context, page } = await open();
  const other = await context.newPage();
  await other.goto(`${env.gateway.url}/h/index.html`);
  const order = [];
  await Promise.all([
    page.evaluate(() => new Promise((r) => setTimeout(() => r('slow'), 1500))).then((v) => order.push(v)),
    other.evaluate(() => 'quick').then((v) => order.push(v)),
  ]);
  assert.deepEqual(order, ['quick', 'slow']);
  await context.close();
});

test('problems() reports uncaught errors, rejections, console errors, CSP violations and failed loads', async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${env.gateway.url}/h/problems.html`);
  await new Promise((r) => setTimeout(r, 300));
  const problems = (await page.problems()).join('\n');
  for (const [what, re] of [
    ['an uncaught error', /thrown by the page/],
    ['an unhandled rejection', /rejected by the page/],
    ['a console error', /logged by the page/],
    ['a CSP violation', /eval/i],
    ['a failed load', /missing\.png/],
  ]) assert.match(problems, re, `${what} is missing from:\n${problems}`);
  await context.close();
});

test('a page the gateway did not serve: problems() says it cannot see into it (Firefox, WebKit)', async (t) => {
  const { createServer } = await import('node:http');
  const other = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!doctype html><title>elsewhere</title>');
  });
  await new Promise((ok) => other.listen(0, '127.0.0.1', ok));
  t.after(() => other.close());
  const url = `http://127.0.0.1:${other.address().port}/`;
  const context = await env.browser.newContext();
  const page = await context.newPage();
  await page.goto(url);
  assert.equal(await page.text('title'), 'elsewhere');
  if (ENGINE === 'chromium') assert.deepEqual(await page.problems(), []); // Playwright sees every page
  else await assert.rejects(page.problems(), /cannot see into/);
  await context.close();
  if (ENGINE === 'chromium') return;
  const withInit = await env.browser.newContext({ initScript: () => {} });
  await assert.rejects((await withInit.newPage()).goto(url), /init script did not run/);
  await withInit.close();
});
