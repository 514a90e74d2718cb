// The driver interface of harness.mjs does what it promises in the engine PAYONCE_ENGINE
// names, so that the other e2e tests mean the same thing in Chromium, Firefox and WebKit:
// init scripts run before the page's own, evaluate runs in the page's realm and returns
// JSON values, contexts and pages keep storage apart as browsers do, two pages can be
// driven at once, and problems() sees what goes wrong in a page. And the harness never
// hangs: an engine that cannot start fails within a minute, naming the engine and the step,
// with the driver's and the browser's last lines; a wait gives up and names what it waited
// for; closing ends every process the engine started, even when the driver stopped answering.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm, chmod } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setup, launchBrowser, ENGINE } from './harness.mjs';

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
  for (const [name, text] of Object.entries(FAKE_BROWSERS)) {
    await writeFile(join(dir, name), text);
    await chmod(join(dir, name), 0o755);
  }
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

// --- Engines that cannot start, waits that cannot end --------------------------------------

// Stand-ins for the browser binary: one that dies at once, one that never answers.
const FAKE_BROWSERS = {
  'exits-at-start': '#!/bin/sh\necho "fake browser: exits at start" >&2\nexit 1\n',
  'never-answers': '#!/bin/sh\necho "fake browser: started, never answers" >&2\nexec sleep 600\n',
};
// The environment variable that names each engine's driver binary and browser binary (the
// harness reads them at every start). Chromium's driver is playwright-core, in this process.
const DRIVER_VAR = { chromium: 'CHROMIUM_PATH', firefox: 'GECKODRIVER', webkit: 'WEBKIT_DRIVER' }[ENGINE];
const BROWSER_VAR = { chromium: 'CHROMIUM_PATH', firefox: 'FIREFOX_PATH', webkit: 'WEBKIT_BROWSER' }[ENGINE];
// Where a start fails when the driver, or else the browser, does not come up.
const DRIVER_STEP = ENGINE === 'chromium' ? 'browser launched' : 'driver listening';
const BROWSER_STEP = ENGINE === 'chromium' ? 'browser launched' : 'session created';
// A failure must arrive within a minute (two attempts at the start's deadline); the bound
// here only leaves room for a loaded machine.
const BOUND_MS = 90000;

/** The live processes whose environment carries `mark`: all that a start spawned, however deep. */
function marked(mark) {
  const found = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z') continue;
      if (readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`PAYONCE_E2E_MARK=${mark}`)) {
        found.push({ pid: Number(pid), ppid: Number(ppid), command: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim() });
      }
    } catch {} // gone meanwhile
  }
  return found;
}

/** Runs `fn` with these environment variables set (a start reads them), and a fresh mark. */
async function withEnv(vars, fn) {
  const mark = randomUUID();
  const saved = {};
  for (const [k, v] of Object.entries({ ...vars, PAYONCE_E2E_MARK: mark })) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  try {
    return await fn(mark);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Starts a second browser of this engine up to its first page (a WebDriver engine starts at newContext). */
async function startAnother() {
  const browser = await launchBrowser({ prelude: env.prelude });
  try {
    const context = await browser.newContext();
    await context.newPage();
    return { browser, context };
  } catch (e) {
    await browser.close();
    throw e;
  }
}

/** Starts an engine that must fail; checks how it fails. */
async function failsToStart(t, vars, { step, lines }) {
  await withEnv(vars, async (mark) => {
    const started = Date.now();
    let error = null;
    try {
      const { browser } = await startAnother();
      await browser.close();
    } catch (e) {
      error = e;
    }
    const ms = Date.now() - started;
    assert.ok(error, 'the start succeeded');
    t.diagnostic(`failed in ${(ms / 1000).toFixed(1)} s: ${error.message.split('\n')[0]}`);
    assert.ok(error.message.startsWith(`${ENGINE}: `), `the message names the engine:\n${error.message}`);
    assert.ok(error.message.includes(`step "${step}"`), `the message names the step "${step}":\n${error.message}`);
    assert.match(error.message, lines, 'the message has the driver\'s or the browser\'s last lines');
    assert.match(error.message, /attempt 2/, `a failed start is tried once more:\n${error.message}`);
    assert.ok(ms < BOUND_MS, `the failure took ${ms} ms`);
    assert.deepEqual(marked(mark), [], 'every process of the failed start has ended');
  });
}

test(`an engine whose driver is not there fails at once, naming it (${DRIVER_VAR})`, async (t) => {
  const missing = `/nonexistent/${ENGINE}-driver`;
  await failsToStart(t, { [DRIVER_VAR]: missing }, { step: DRIVER_STEP, lines: new RegExp(missing) });
});

test(ENGINE === 'webkit'
  ? 'a browser that cannot open its display (DISPLAY=:87): a clear failure, not a wait forever'
  : `a browser that exits at start (${BROWSER_VAR}): a clear failure with its last lines`, async (t) => {
  if (ENGINE === 'webkit') {
    await failsToStart(t, { DISPLAY: ':87' }, { step: BROWSER_STEP, lines: /cannot open display: :87/ });
  } else {
    await failsToStart(t, { [BROWSER_VAR]: join(dir, 'exits-at-start') }, { step: BROWSER_STEP, lines: /fake browser: exits at start/ });
  }
});

test(`a browser that never answers (${BROWSER_VAR}): the start gives up at its deadline, twice`, async (t) => {
  // A short deadline for this test (PAYONCE_E2E_START_MS), so that it takes seconds, not a minute.
  await failsToStart(t, { [BROWSER_VAR]: join(dir, 'never-answers'), PAYONCE_E2E_START_MS: '5000' },
    { step: BROWSER_STEP, lines: /fake browser: started, never answers/ });
});

test('a promise that never settles: evaluate gives up after its timeout, naming what it waited for', async () => {
  const { context, page } = await open();
  const started = Date.now();
  await assert.rejects(page.evaluate(() => new Promise(() => {}), undefined, { timeout: 1000 }),
    (e) => e.message.startsWith(`${ENGINE}: `) && /evaluate/.test(e.message) && /new Promise/.test(e.message) && /1000 ms/.test(e.message));
  assert.ok(Date.now() - started < BOUND_MS);
  await assert.rejects(page.waitForFunction(() => false, undefined, { timeout: 500 }),
    (e) => e.message.startsWith(`${ENGINE}: `) && /waiting for \(\) => false/.test(e.message));
  // The page still answers.
  assert.equal(await page.evaluate(() => 1 + 1), 2);
  await context.close();
});

test('closing ends every process of the engine, even when its driver stopped answering', async () => {
  await withEnv({}, async (mark) => {
    // One browser closed the ordinary way.
    const { browser } = await startAnother();
    try {
      const listed = new Set(browser.processes().map((p) => p.pid));
      assert.ok(marked(mark).length > 0, 'the engine runs processes');
      assert.deepEqual(marked(mark).filter((p) => !listed.has(p.pid)), [], 'browser.processes() lists them');
    } finally {
      await browser.close();
    }
    assert.deepEqual(marked(mark), [], 'closing the browser ended them all');
    assert.deepEqual(browser.processes(), []);
  });
  await withEnv({}, async (mark) => {
    // One whose driver (for Chromium, the browser process playwright talks to) is stopped.
    const { browser } = await startAnother();
    const started = Date.now();
    try {
      const driver = marked(mark).find((p) => p.ppid === process.pid);
      assert.ok(driver, `no process of this engine is a child of this one: ${JSON.stringify(marked(mark))}`);
      process.kill(driver.pid, 'SIGSTOP');
    } finally {
      await browser.close();
    }
    assert.ok(Date.now() - started < BOUND_MS, `closing took ${Date.now() - started} ms`);
    assert.deepEqual(marked(mark), [], 'closing the browser ended them all');
  });
});
