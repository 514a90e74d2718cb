// Shared setup for the end-to-end tests: the local gateway serving the release build,
// and a browser engine behind one small driver interface, so that every test makes the
// same assertions in Chromium, Firefox and WebKit. PAYONCE_ENGINE picks the engine
// (chromium, the default, firefox or webkit; WebKit needs a display: run it under
// `xvfb-run -a`). scripts/test.sh runs the suite once per engine.
//
// A test file starts with `env = await setup(gatewayOptions)`: env.gateway (its url),
// env.browser, and the gateway's API (env.ledger(), env.faults(spec), env.reset(), ...).
// The driver interface (every method returns a promise):
//
//   const browser = env.browser
//   browser.engine, browser.version                     // 'firefox', '153.8.0' (the version once a context exists)
//   const context = await browser.newContext({ initScript })
//       // a fresh profile: its own cookies, localStorage and cache; each of its pages has
//       // its own sessionStorage. initScript (a function, or source text) runs in every
//       // page of the context before the page's own scripts, after every navigation.
//   const page = await context.newPage()                // another tab/window of the same context
//   await page.goto(url); await page.reload()           // both wait for the load event
//   await page.back()                                   // the history's previous page (it may come from the back/forward cache)
//   await page.evaluate(fn, arg)                        // fn(arg) in the page, promises awaited;
//       // the result comes back as JSON (JSON.stringify's view of it, undefined stays undefined);
//       // fn must be self-contained (its source is sent, not its closure)
//   await page.click(selector)                          // waits until it is visible and enabled, then a real click
//   await page.select(selector, value)                  // picks an <option> of a <select>
//   await page.text(selector)                           // textContent, or null
//   await page.waitForSelector(selector, { timeout })   // present in the DOM (visible or not)
//   await page.waitForFunction(fn, arg, { timeout })    // until fn(arg) is truthy; returns it
//   await page.problems()                               // errors the page met so far (see below)
//   await page.close(); await context.close(); await browser.close()
//
// Porting a Playwright test: page.textContent(s) -> page.text(s); page.$eval(s, f) ->
// page.evaluate(...); page.selectOption -> page.select; waitForSelector(s, { state:
// 'attached' }) -> waitForSelector(s); browser.newPage() -> (await browser.newContext()).newPage();
// page.on('pageerror' | 'console' | 'response') -> await page.problems();
// context.addInitScript(f) -> browser.newContext({ initScript: f }).
// In Firefox and WebKit the init script and problems() rely on the page being served by
// the gateway (setup()'s roots); a page from another server (a Vite dev server, say) must
// insert env.prelude.html(req) after its doctype and serve env.prelude.dir at /__e2e/,
// or problems() throws (and goto throws when the context has an init script).
//
// Pages of one context may be driven concurrently (Promise.all over two tabs): WebDriver
// runs one command at a time per session, so an evaluate whose promise takes a while is
// started by one command and then polled, and the other tab's commands run between polls.
//
// How each engine is driven:
// - chromium: Debian's Chromium through playwright-core; a context is a Playwright
//   BrowserContext, initScript is addInitScript, problems are page errors, console errors
//   (except "Failed to load resource"), CSP violations and responses with status >= 400.
// - firefox, webkit: selenium-webdriver over W3C WebDriver Classic, against geckodriver
//   (Firefox ESR, headless) or WebKitGTK's WebKitWebDriver (MiniBrowser, under Xvfb).
//   A context is a WebDriver session with its own driver process and browser profile.
//   Classic WebDriver has no init scripts and no page events, so the gateway does it:
//   setup() passes it a prelude that, for a page requested with this context's cookie,
//   loads /__e2e/<context>.js as the first script of every HTML page. That script
//   records problems (uncaught errors, unhandled rejections, console.error, CSP violations,
//   resources answered with status >= 400) and then runs initScript. Each context's
//   first visit to an origin goes through /__e2e/blank.html to set the cookie.
import { chromium } from 'playwright-core';
import { Builder, By } from 'selenium-webdriver';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, delimiter } from 'node:path';
import { DEFAULT_ROOTS, startGateway } from '../../www/gateway.mjs';

export const ENGINES = ['chromium', 'firefox', 'webkit'];
export const ENGINE = process.env.PAYONCE_ENGINE || 'chromium';
if (!ENGINES.includes(ENGINE)) throw new Error(`PAYONCE_ENGINE=${ENGINE}: expected one of ${ENGINES.join(', ')}`);

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

const COOKIE = 'payonce_e2e';
const WEBKIT_BROWSER = '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';

/** Starts a gateway and a browser; returns helpers, and `close()`. */
export async function setup(gatewayOptions = {}) {
  const prelude = ENGINE === 'chromium' ? null : newPrelude();
  const gateway = await startGateway(prelude ? {
    ...gatewayOptions,
    roots: { ...(gatewayOptions.roots ?? DEFAULT_ROOTS), '/__e2e/': prelude.dir },
    prelude: prelude.html,
  } : gatewayOptions);
  const browser = await launchBrowser({ prelude });
  const api = async (path, body) => {
    const res = await fetch(gateway.url + path, body === undefined ? {} : {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    return res.json();
  };
  return {
    gateway,
    browser,
    prelude, // for WebDriver engines: html(req) to insert into pages another server serves, and dir to serve at /__e2e/
    api,
    ledger: () => api('/api/ledger'),
    reset: () => api('/api/reset', {}),
    faults: (spec) => api('/api/faults', spec),
    release: () => api('/api/release', {}),
    close: async () => {
      await browser.close();
      await gateway.close();
      prelude?.remove();
    },
  };
}

/** A fresh context (its own sessionStorage) on the demo page, ready to pay. */
export async function openDemo(env, { initScript } = {}) {
  const context = await env.browser.newContext({ initScript });
  const page = await context.newPage();
  await page.goto(`${env.gateway.url}/#order=1`);
  await page.waitForSelector('html[data-ready="true"]', { timeout: 10000 });
  return { context, page };
}

/** Polls `fn` until it returns something truthy, or fails after `ms`. */
export async function until(fn, ms = 15000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Clicks Pay and waits until the page reports a final state. */
export async function payAndWait(page) {
  await page.click('#pay');
  return settled(page);
}

export async function settled(page) {
  return page.waitForFunction(() => {
    const s = document.getElementById('pay').dataset.payonceState;
    return (s === 'succeeded' || s === 'failed' || s === 'unknown') && s;
  }, undefined, { timeout: 20000 });
}

/** The Pay button's state as the page shows it. */
export const payState = (page) => page.evaluate(() => document.getElementById('pay').dataset.payonceState);

export const chargeRequests = (ledger) => ledger.requests.filter((r) => r.key !== null);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------
// The engines.

/** Launches the engine PAYONCE_ENGINE names (or `engine`). */
export async function launchBrowser({ engine = ENGINE, prelude = null } = {}) {
  if (engine === 'chromium') return chromiumBrowser();
  if (!prelude) throw new Error(`${engine} needs the gateway prelude: start it through setup()`);
  return launchWebDriver(engine, prelude);
}

/** Debian's Chromium through playwright-core, with Playwright's own API (the benchmark uses it). */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    // The back/forward cache on, as in a shopper's browser (playwright turns it off).
    args: [...CHROMIUM_ARGS, '--enable-features=BackForwardCache'],
    ignoreDefaultArgs: ['--disable-back-forward-cache'],
    headless: true,
  });
}

async function chromiumBrowser() {
  const browser = await launchChromium();
  return {
    engine: 'chromium',
    version: browser.version(),
    async newContext({ initScript } = {}) {
      const context = await browser.newContext();
      // Chromium does not report a CSP violation that the page catches (a refused eval,
      // a refused wasm compile) as a console message or a page error: log it.
      await context.addInitScript(() => addEventListener('securitypolicyviolation', (e) =>
        console.error(`csp: ${e.violatedDirective} blocked ${e.blockedURI}`)));
      if (initScript) await context.addInitScript(initScript);
      return {
        newPage: async () => chromiumPage(await context.newPage()),
        close: () => context.close(),
      };
    },
    close: () => browser.close(),
  };
}

function chromiumPage(page) {
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(`${r.status()} ${r.url()}`);
  });
  // Results cross as JSON text, as they do from WebDriver (which would turn undefined into null).
  const evaluate = async (fn, arg) => {
    const text = await page.evaluate(
      // eslint-disable-next-line no-new-func
      new Function('arg', `return Promise.resolve((${fn})(arg)).then((v) => v === undefined ? undefined : JSON.stringify(v));`),
      arg);
    return text === undefined ? undefined : JSON.parse(text);
  };
  return withWaits({
    goto: async (url) => { await page.goto(url); },
    reload: async () => { await page.reload(); },
    // A page restored from the back/forward cache fires no load event: wait for the commit.
    back: async () => { await page.goBack({ waitUntil: 'commit' }); },
    evaluate,
    click: (selector) => page.click(selector),
    select: async (selector, value) => { await page.selectOption(selector, value); },
    problems: async () => [...problems],
    close: () => page.close(),
  });
}

/** The methods every engine builds the same way, from evaluate. */
function withWaits(page) {
  async function waitForFunction(fn, arg, { timeout = 10000 } = {}) {
    const end = Date.now() + timeout;
    for (;;) {
      const v = await page.evaluate(fn, arg);
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${String(fn).slice(0, 200)}`);
      await sleep(25);
    }
  }
  return {
    ...page,
    waitForFunction,
    waitForSelector: async (selector, options) => {
      await waitForFunction((s) => document.querySelector(s) !== null, selector, options);
    },
    text: (selector) => page.evaluate((s) => document.querySelector(s)?.textContent ?? null, selector),
  };
}

// --- WebDriver (Firefox, WebKit) -------------------------------------------------------

/** The per-context scripts the gateway loads for WebDriver engines (see the top of this file). */
function newPrelude() {
  const dir = mkdtempSync(join(tmpdir(), 'payonce-e2e-'));
  writeFileSync(join(dir, 'blank.html'), '<!doctype html><meta charset="utf-8"><title>blank</title>');
  return {
    dir,
    html(req) {
      const id = /(?:^|;\s*)payonce_e2e=([0-9a-z]+)/.exec(req.headers.cookie ?? '')?.[1];
      return id && existsSync(join(dir, `${id}.js`)) ? `<script src="/__e2e/${id}.js"></script>` : '';
    },
    add(id, initScript) {
      const init = initScript === undefined ? '' : typeof initScript === 'function' ? `(${initScript})();` : String(initScript);
      writeFileSync(join(dir, `${id}.js`), `${PROBLEM_RECORDER}\n${init}\n`);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

// Runs first in every page of a WebDriver context; the harness reads what it records.
const PROBLEM_RECORDER = `(() => {
  const seen = [];
  Object.defineProperty(window, '__payonceE2EProblems', { value: seen });
  addEventListener('error', (e) => {
    const t = e.target;
    seen.push(t && t !== window ? 'failed to load: ' + (t.src || t.href || t.tagName) : 'pageerror: ' + (e.error?.message ?? e.message));
  }, true);
  addEventListener('unhandledrejection', (e) => seen.push('pageerror: ' + (e.reason?.message ?? String(e.reason))));
  addEventListener('securitypolicyviolation', (e) => seen.push('csp: ' + e.violatedDirective + ' blocked ' + e.blockedURI));
  const error = console.error;
  console.error = function (...args) { seen.push('console: ' + args.map(String).join(' ')); return error.apply(this, args); };
  const failed = (list) => {
    // /favicon.ico is the browser's own guess (Firefox lists it), not a request of the page.
    for (const r of list.getEntries()) if (r.responseStatus >= 400 && !r.name.endsWith('/favicon.ico')) seen.push(r.responseStatus + ' ' + r.name);
  };
  try {
    new PerformanceObserver(failed).observe({ type: 'resource', buffered: true });
    new PerformanceObserver(failed).observe({ type: 'navigation', buffered: true });
  } catch {}
})();`;

function findOnPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

async function freePort() {
  const server = createServer();
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  await new Promise((ok) => server.close(ok));
  return port;
}

/** The driver command and the session's capabilities for an engine. */
function driverFor(engine, port) {
  if (engine === 'firefox') {
    const geckodriver = process.env.GECKODRIVER || findOnPath('geckodriver');
    if (!geckodriver) throw new Error('geckodriver not found on PATH: run `source scripts/setup.sh; payonce_setup` first');
    return {
      command: geckodriver,
      // --websocket-port 0: each Firefox picks its own BiDi port, so sessions can overlap.
      args: ['--host', '127.0.0.1', '--port', String(port), '--websocket-port', '0'],
      capabilities: {
        browserName: 'firefox',
        webSocketUrl: true, // BiDi, for scripts in the page's own realm (see pageScripts)
        'moz:firefoxOptions': {
          binary: process.env.FIREFOX_PATH || '/usr/bin/firefox-esr',
          args: ['-headless'],
        },
      },
    };
  }
  if (!process.env.DISPLAY) throw new Error('WebKitGTK has no headless mode: run the WebKit tests under `xvfb-run -a`');
  return {
    command: process.env.WEBKIT_DRIVER || '/usr/bin/WebKitWebDriver',
    args: [`--port=${port}`],
    capabilities: {
      browserName: 'MiniBrowser',
      'webkitgtk:browserOptions': { binary: process.env.WEBKIT_BROWSER || WEBKIT_BROWSER, args: ['--automation'] },
    },
  };
}

async function launchWebDriver(engine, prelude) {
  const contexts = new Set();
  let count = 0;
  const browser = {
    engine,
    version: null,
    async newContext({ initScript } = {}) {
      const id = `${process.pid}x${++count}`;
      prelude.add(id, initScript);
      const context = await webDriverContext(engine, id, initScript !== undefined);
      browser.version ??= context.version;
      contexts.add(context);
      return {
        newPage: () => context.newPage(),
        close: async () => { contexts.delete(context); await context.close(); },
      };
    },
    async close() {
      await Promise.all([...contexts].map((c) => c.close()));
      contexts.clear();
    },
  };
  return browser;
}

async function webDriverContext(engine, id, hasInitScript) {
  const port = await freePort();
  const { command, args, capabilities } = driverFor(engine, port);
  const log = [];
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const orphan = () => child.kill(); // a test process that ends without closing its contexts
  process.once('exit', orphan);
  for (const s of [child.stdout, child.stderr]) s.on('data', (d) => { log.push(String(d)); if (log.length > 50) log.shift(); });
  const exited = new Promise((ok) => child.once('exit', ok));
  const server = `http://127.0.0.1:${port}`;
  let driver;
  try {
    await until(async () => child.exitCode === null
      ? fetch(`${server}/status`).then((r) => r.ok, () => false)
      : Promise.reject(new Error(`${command} exited with ${child.exitCode}`)), 10000, `${command} to listen`);
    driver = await new Builder().usingServer(server).withCapabilities(capabilities).build();
  } catch (e) {
    child.kill();
    process.off('exit', orphan);
    throw new Error(`${engine}: could not start a WebDriver session: ${e.message}\n${log.join('')}`);
  }
  await driver.manage().setTimeouts({ script: 120000, pageLoad: 30000 });
  const version = (await driver.getCapabilities()).get('browserVersion');
  const exec = await pageScripts(engine, driver);

  // One WebDriver command at a time per session; each runs in its page's window.
  let queue = Promise.resolve();
  let current = await driver.getWindowHandle();
  let unused = current; // the window the session opened with, for the first page
  const inWindow = (handle, action) => {
    const run = queue.then(async () => {
      if (current !== handle) {
        await driver.switchTo().window(handle);
        current = handle;
      }
      return action();
    });
    queue = run.catch(() => {});
    return run;
  };
  const cookied = new Set(); // origins this context's cookie is set for

  const context = {
    version,
    async newPage() {
      let handle = unused;
      unused = null;
      if (!handle) {
        handle = await inWindow(current, async () => {
          await driver.switchTo().newWindow('window'); // a window, not a tab: a background tab is hidden and throttled
          current = await driver.getWindowHandle();
          return current;
        });
      }
      return webDriverPage({ engine, driver, exec, handle, inWindow, cookied, id, hasInitScript });
    },
    async close() {
      try { await driver.quit(); } catch {}
      child.kill();
      await exited;
      process.off('exit', orphan);
    },
  };
  return context;
}

/**
 * How a script body runs in a page: `exec(handle, body, args)` runs `body` as a function
 * of `args` in the window `handle` and returns its JSON-able result. It must run in the
 * page's own realm, as the page's scripts do: payonce takes only plain objects of its
 * realm as details, and so would any check of `Object.getPrototypeOf(v) === Object.prototype`.
 * WebKitWebDriver's Execute Script runs there. geckodriver's runs in a sandbox whose
 * object literals are of another realm (payonce answers invalid_input "details is a
 * Object"), so Firefox runs scripts through BiDi's script.callFunction, which uses the
 * window's realm.
 */
async function pageScripts(engine, driver) {
  if (engine !== 'firefox') return (handle, body, args) => driver.executeScript(body, ...args);
  const bidi = await driver.getBidi();
  return async (handle, body, args) => {
    const answer = await bidi.send({
      method: 'script.callFunction',
      params: {
        functionDeclaration: `function (json) { return JSON.stringify((function () { ${body}\n }).apply(this, JSON.parse(json))); }`,
        arguments: [{ type: 'string', value: JSON.stringify(args) }],
        target: { context: handle },
        awaitPromise: false,
        resultOwnership: 'none',
      },
    });
    const r = answer.result;
    if (answer.type === 'error' || !r) throw new Error(`script.callFunction: ${answer.error}: ${answer.message}`);
    if (r.type === 'exception') throw new Error(`script.callFunction: ${r.exceptionDetails?.text}`);
    return r.result.type === 'string' ? JSON.parse(r.result.value) : null;
  };
}

function webDriverPage({ engine, driver, exec, handle, inWindow, cookied, id, hasInitScript }) {
  const problems = [];
  const unwatched = []; // pages loaded without the recorder: their problems are unknown
  let calls = 0;
  const run = (action) => inWindow(handle, action);
  // Moves what the recorder in the page holds into `problems` (before the page goes away).
  const collect = () => run(async () => {
    const seen = await exec(handle, 'const p = window.__payonceE2EProblems; return p ? p.splice(0) : null;', []);
    if (seen) problems.push(...seen);
  }).catch(() => {});
  // A page served without the prelude (not through the gateway) has neither the recorder
  // nor the init script: say so rather than report no problems.
  const checkWatched = async () => {
    const watched = await run(() => exec(handle, 'return Array.isArray(window.__payonceE2EProblems);', []));
    if (watched) return;
    const url = await run(() => driver.getCurrentUrl());
    if (hasInitScript) throw new Error(`${engine}: the init script did not run in ${url}: serve the page through setup()'s gateway, or insert env.prelude.html(req) into its HTML`);
    unwatched.push(url);
  };

  // Starts fn(arg); a value comes back at once, a promise is polled so that other pages
  // of the session can be driven meanwhile.
  async function evaluate(fn, arg) {
    const call = `e${++calls}`;
    const started = await run(() => exec(handle, `
      const [[arg], call] = arguments;
      const box = window.__payonceE2ECalls || Object.defineProperty(window, '__payonceE2ECalls', { value: {} }).__payonceE2ECalls;
      const json = (v) => (v === undefined ? { value: null, undefined: true } : { value: JSON.stringify(v) });
      const fail = (e) => ({ error: String(e && e.stack ? e.message + '\\n' + e.stack : e) });
      let v;
      try { v = (${fn})(arg); } catch (e) { return fail(e); }
      if (!v || typeof v.then !== 'function') return json(v);
      box[call] = { pending: true };
      v.then((r) => { box[call] = json(r); }, (e) => { box[call] = fail(e); });
      return { pending: true };`, [arg === undefined ? [] : [arg], call]));
    let result = started;
    while (result && result.pending) {
      await sleep(20);
      result = await run(() => exec(handle, `
        const box = window.__payonceE2ECalls, r = box && box[arguments[0]];
        if (!r) return { lost: true };
        if (!r.pending) delete box[arguments[0]];
        return r;`, [call]));
    }
    if (result.lost) throw new Error('evaluate: the page navigated away before the promise settled');
    if (result.error !== undefined) throw new Error(`evaluate: ${result.error}`);
    return result.undefined ? undefined : JSON.parse(result.value);
  }

  const page = withWaits({
    async goto(url) {
      const { origin } = new URL(url);
      await collect();
      await run(async () => {
        if (!cookied.has(origin)) {
          await driver.get(`${origin}/__e2e/blank.html`);
          await driver.manage().addCookie({ name: COOKIE, value: id, path: '/' });
          cookied.add(origin);
        }
        await driver.get(url);
      });
      await checkWatched();
    },
    async reload() {
      await collect();
      await run(() => driver.navigate().refresh());
      await checkWatched();
    },
    async back() {
      await collect();
      await run(() => driver.navigate().back());
      await checkWatched();
    },
    evaluate,
    async click(selector) {
      await page.waitForFunction((s) => {
        const el = document.querySelector(s);
        return !!el && !el.disabled && el.getClientRects().length > 0;
      }, selector, { timeout: 10000 });
      await run(async () => (await driver.findElement(By.css(selector))).click());
    },
    async select(selector, value) {
      await run(async () => {
        const options = await driver.findElements(By.css(`${selector} option`));
        for (const option of options) {
          if ((await option.getAttribute('value')) === value) return option.click();
        }
        throw new Error(`select: no option with value ${value} in ${selector}`);
      });
    },
    async problems() {
      if (unwatched.length) {
        throw new Error(`${engine}: problems() cannot see into ${unwatched.join(', ')}: serve the page through setup()'s gateway, or insert env.prelude.html(req) into its HTML`);
      }
      await collect();
      return [...problems];
    },
    close: () => run(() => driver.close()),
  });
  return page;
}
