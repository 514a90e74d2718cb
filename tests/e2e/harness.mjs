// Shared setup for the end-to-end tests: the local gateway serving the release build,
// and a browser engine behind one small driver interface, so that every test makes the
// same assertions in Chromium, Firefox and WebKit. PAYONCE_ENGINE picks the engine
// (chromium, the default, firefox or webkit; WebKit needs a display: run it under
// `bash scripts/with-display.sh`). scripts/test.sh runs the suite once per engine.
//
// A test file starts with `env = await setup(gatewayOptions)`: env.gateway (its url),
// env.browser, and the gateway's API (env.ledger(), env.faults(spec), env.reset(), ...).
// The driver interface (every method returns a promise):
//
//   const browser = env.browser
//   browser.engine, browser.version                     // 'firefox', '153.8.0' (the version once a context exists)
//   browser.processes()                                 // (not a promise) the engine's processes still running: [{ pid, pgid, command }]
//   const context = await browser.newContext({ initScript })
//       // a fresh profile: its own cookies, localStorage and cache; each of its pages has
//       // its own sessionStorage. initScript (a function, or source text) runs in every
//       // page of the context before the page's own scripts, after every navigation.
//   const page = await context.newPage()                // another tab/window of the same context
//   await page.goto(url); await page.reload()           // both wait for the load event
//   await page.back()                                   // the history's previous page (it may come from the back/forward cache)
//   await page.evaluate(fn, arg, { timeout })           // fn(arg) in the page, promises awaited (timeout: 60 s);
//       // the result comes back as JSON (JSON.stringify's view of it, undefined stays undefined);
//       // fn must be self-contained (its source is sent, not its closure)
//   await page.click(selector)                          // waits until it is visible and enabled, then a real click
//   await page.select(selector, value)                  // picks an <option> of a <select>
//   await page.text(selector)                           // textContent, or null
//   await page.waitForSelector(selector, { timeout })   // present in the DOM (visible or not); timeout 10 s
//   await page.waitForFunction(fn, arg, { timeout })    // until fn(arg) is truthy; returns it; timeout 10 s
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
// Nothing here waits without a deadline, and what fails says what it waited for, in which
// engine ("webkit: loading http://...: no answer within 35000 ms"):
// - Starting an engine (Chromium: launchBrowser, once per test file; Firefox and WebKit:
//   every newContext, which starts a driver and a browser) goes through named steps, all
//   within one deadline per attempt (PAYONCE_E2E_START_MS, default 25,000 ms). Chromium:
//   "browser launched", "first page"; Firefox and WebKit: "driver listening", "session
//   created", "first page" (the session's window runs a script). A driver or browser that
//   exits, or a WebKit browser that cannot open its display, fails the step at once. A
//   failed attempt's processes are killed and the start is tried once more; then it throws
//   "<engine>: the engine did not start (2 attempts); step "<step>" failed: ...", with each
//   attempt's step and the driver's and browser's last output lines. So within a minute.
// - Every driver command (a WebDriver request, a Playwright call): 30 s. Page loads (goto,
//   reload, back): 30 s (35 s for a WebDriver server that does not answer). evaluate: its
//   timeout. waitForFunction, waitForSelector: theirs. until(): its ms. The gateway's API: 15 s.
// - Closing: a page, a context or a browser gets 10 s; then (and after every close) the
//   processes of that engine are ended: SIGTERM to their process group, SIGKILL after 3 s.
//   An engine's processes are the process group its driver (Firefox, WebKit) or its Chromium
//   leads, and every process whose environment carries its PAYONCE_E2E_OWNER tag (Chromium's
//   crashpad handler leaves the group). A test process that exits or is signalled without
//   closing kills what is still running and says so on stderr.
// The binaries, read at every start: CHROMIUM_PATH (/usr/bin/chromium), GECKODRIVER
// (geckodriver on PATH), FIREFOX_PATH (/usr/bin/firefox-esr), WEBKIT_DRIVER
// (/usr/bin/WebKitWebDriver), WEBKIT_BROWSER (WebKitGTK's MiniBrowser); and DISPLAY for WebKit.
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
import { mkdtempSync, rmSync, writeFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
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

// Deadlines, in ms (see the top of this file).
const startMs = () => Number(process.env.PAYONCE_E2E_START_MS) || 25000; // one attempt at starting an engine
const START_ATTEMPTS = 2;
const COMMAND_MS = 30000;
const LOAD_MS = 30000;
const EVALUATE_MS = 60000;
const WAIT_MS = 10000;
const CLOSE_MS = 10000;
const KILL_MS = 3000;
const API_MS = 15000;

/** Starts a gateway and a browser; returns helpers, and `close()`. */
export async function setup(gatewayOptions = {}) {
  const prelude = ENGINE === 'chromium' ? null : newPrelude();
  const gateway = await startGateway(prelude ? {
    ...gatewayOptions,
    roots: { ...(gatewayOptions.roots ?? DEFAULT_ROOTS), '/__e2e/': prelude.dir },
    prelude: prelude.html,
  } : gatewayOptions);
  let browser;
  try {
    browser = await launchBrowser({ prelude });
  } catch (e) {
    // Nothing may keep this process alive after a failed start (a listening gateway would).
    await within(CLOSE_MS, 'closing the gateway', gateway.close()).catch(() => {});
    prelude?.remove();
    throw e;
  }
  const api = async (path, body) => {
    try {
      const res = await fetch(gateway.url + path, {
        signal: AbortSignal.timeout(API_MS),
        ...(body === undefined ? {} : {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        }),
      });
      return await res.json();
    } catch (e) {
      throw new Error(`the gateway's ${path}: ${e.name === 'TimeoutError' ? `no answer within ${API_MS} ms` : e.message}`);
    }
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
      await within(CLOSE_MS, 'closing the gateway', gateway.close());
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

/** Polls `fn` until it returns something truthy, or fails after `ms` (a call of fn that hangs included). */
export async function until(fn, ms = 15000, what = 'condition') {
  const end = Date.now() + ms;
  const gaveUp = () => new DeadlineError(`timed out after ${ms} ms waiting for ${what}`);
  for (;;) {
    let v;
    try {
      v = await within(Math.max(end - Date.now(), 1000), `waiting for ${what}`, Promise.resolve().then(fn));
    } catch (e) {
      if (e instanceof DeadlineError) throw gaveUp();
      throw e;
    }
    if (v) return v;
    if (Date.now() > end) throw gaveUp();
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
// Deadlines and processes.

/** A wait that reached its deadline. */
class DeadlineError extends Error {}

/**
 * `promise`, or a DeadlineError "<what>: no answer within <ms> ms" once `ms` have passed, or
 * the rejection of `failed` (a driver that exited, say) if that comes first.
 */
function within(ms, what, promise, failed = null) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race(failed ? [promise, deadline, failed] : [promise, deadline]).finally(() => clearTimeout(timer));
}

/** `work()` within `ms`; its errors, and the deadline's, say `<engine>: <what>: ...`. */
async function command(engine, what, ms, work) {
  try {
    return await within(ms, `${engine}: ${what}`, Promise.resolve().then(work));
  } catch (e) {
    if (e instanceof DeadlineError || e.message.startsWith(`${engine}: `)) throw e;
    e.message = `${engine}: ${what}: ${e.message}`;
    throw e;
  }
}

/** A function's source, short, for messages. */
const describe = (fn) => String(fn).replace(/\s+/g, ' ').slice(0, 160);

// Every engine this process started (a driver and what it runs; a Chromium), until its
// processes have ended: what is left at exit, or at a fatal signal, is killed. An engine's
// processes are its process group, and every process whose environment carries its tag:
// some leave the group (Chromium's crashpad handler calls setsid), and some overwrite
// what /proc shows of their environment (Chromium's children set their process title).
const owned = new Set();
let owners = 0;

/** A new owner of processes: `env` is the environment to start them with. */
function newOwner(label, base) {
  const tag = `${process.pid}.${++owners}`;
  const owner = { label, tag, pgid: null, env: { ...base, PAYONCE_E2E_OWNER: tag } };
  owned.add(owner);
  hook();
  return owner;
}

/** The running (not zombie) processes of these owners, from /proc: [{ pid, pgid, command }]. */
function liveProcesses(of) {
  const list = [...of];
  const pgids = new Set(list.map((o) => o.pgid).filter(Boolean));
  const tags = new Set(list.map((o) => `PAYONCE_E2E_OWNER=${o.tag}`));
  const found = [];
  let names = [];
  try { names = readdirSync('/proc'); } catch {}
  for (const name of names) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, , pgid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z') continue;
      if (!pgids.has(Number(pgid)) && !readFileSync(`/proc/${name}/environ`, 'utf8').split('\0').some((v) => tags.has(v))) continue;
      const command = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim();
      found.push({ pid: Number(name), pgid: Number(pgid), command });
    } catch {} // gone meanwhile, or not ours to read
  }
  return found;
}

/** This process's children that lead a process group of their own (playwright-core starts Chromium so). */
function childGroupLeaders() {
  const found = new Set();
  let names = [];
  try { names = readdirSync('/proc'); } catch {}
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, ppid, pgid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state !== 'Z' && Number(ppid) === process.pid && Number(pgid) === Number(name)) found.add(Number(name));
    } catch {}
  }
  return found;
}

let hooked = false;
function hook() {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => killAll('exit'));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      killAll(signal);
      process.kill(process.pid, signal); // this listener is gone: the signal's default action
    });
  }
}

/** Sends `signal` to the owner's process group and to each of its processes outside it. */
function signalOwned(owner, signal, live = liveProcesses([owner])) {
  if (owner.pgid) { try { process.kill(-owner.pgid, signal); } catch {} }
  for (const p of live) if (p.pgid !== owner.pgid) { try { process.kill(p.pid, signal); } catch {} }
}

function killAll(why) {
  for (const owner of owned) {
    const live = liveProcesses([owner]);
    if (live.length === 0) continue;
    signalOwned(owner, 'SIGKILL', live);
    process.stderr.write(`harness: ${owner.label}: ${live.length} process(es) still running at ${why}, killed: ${live.map((p) => `${p.pid} ${p.command.slice(0, 100)}`).join('; ')}\n`);
  }
  owned.clear();
}

/** Ends an owner's processes: SIGTERM (and SIGCONT, for a stopped one), SIGKILL after KILL_MS. Never hangs. */
async function endOwned(owner) {
  const waitNone = async (ms) => {
    const end = Date.now() + ms;
    while (liveProcesses([owner]).length > 0 && Date.now() < end) await sleep(50);
    return liveProcesses([owner]).length === 0;
  };
  signalOwned(owner, 'SIGTERM');
  signalOwned(owner, 'SIGCONT');
  if (!(await waitNone(KILL_MS))) {
    signalOwned(owner, 'SIGKILL');
    await waitNone(1000);
  }
  owned.delete(owner);
}

/**
 * Spawns a driver in a process group of its own, keeps its last output lines (a browser it
 * starts writes to the same streams), and `failed`, a promise that rejects when it cannot
 * run, when it exits, or when a line matches one of `fatal` ([regexp, reason(line)]).
 */
function startDriver(command, args, owner, fatal = []) {
  const lines = [];
  let fail;
  const failed = new Promise((_, reject) => { fail = reject; });
  failed.catch(() => {});
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: owner.env });
  owner.pgid = child.pid ?? null;
  const exited = new Promise((ok) => { child.once('exit', ok); child.once('error', ok); });
  child.once('error', (e) => fail(new Error(`could not run ${command}: ${e.message}`)));
  child.once('exit', (code, signal) => fail(new Error(`${command} exited (${signal ?? `status ${code}`})`)));
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream.on('data', (d) => {
      const parts = (partial + d).split('\n');
      partial = parts.pop();
      for (const line of parts.filter((l) => l.trim())) {
        lines.push(line.slice(0, 400));
        if (lines.length > 40) lines.shift();
        for (const [re, reason] of fatal) if (re.test(line)) fail(new Error(reason(line)));
      }
    });
  }
  return { child, owner, lines, failed, exited };
}

/** A start step that failed: which, why, and the output that came with it. */
class StartFailure extends Error {
  constructor({ step, reason, ms, lines, source }) {
    super(`step "${step}" failed: ${reason}`);
    Object.assign(this, { step, reason, ms, lines, source });
  }
}

/** Runs `attempt` (one start of the engine) up to START_ATTEMPTS times; throws a report of every attempt. */
async function startEngine(engine, attempt) {
  const failures = [];
  for (let n = 1; n <= START_ATTEMPTS; n++) {
    try {
      return await attempt();
    } catch (e) {
      if (!(e instanceof StartFailure)) throw e;
      failures.push(e);
    }
  }
  const last = failures.at(-1);
  throw new Error([
    `${engine}: the engine did not start (${failures.length} attempts); step "${last.step}" failed: ${last.reason}`,
    ...failures.map((f, i) => `  attempt ${i + 1}: step "${f.step}" failed after ${(f.ms / 1000).toFixed(1)} s: ${f.reason}`),
    `  the last lines of ${last.source}, attempt ${failures.length}:`,
    ...(last.lines.length ? last.lines.slice(-15) : ['(nothing)']).map((l) => `    ${l}`),
  ].join('\n'));
}

/**
 * One attempt's steps, all within one deadline: `run(name, what, work)` runs work(signal) until
 * the deadline, or until `failed` rejects; `signal` aborts once the attempt gave up.
 */
function startSteps(failed = null) {
  const started = Date.now();
  const end = started + startMs();
  const abort = new AbortController();
  const state = { step: null, started, end, signal: abort.signal };
  state.run = async (name, what, work) => {
    state.step = name;
    try {
      return await within(Math.max(end - Date.now(), 0), what, Promise.resolve().then(() => work(abort.signal)), failed);
    } catch (e) {
      abort.abort();
      throw e;
    }
  };
  return state;
}

// ---------------------------------------------------------------------------------------
// The engines.

/** Launches the engine PAYONCE_ENGINE names (or `engine`). */
export async function launchBrowser({ engine = ENGINE, prelude = null } = {}) {
  if (engine === 'chromium') return chromiumBrowser();
  if (!prelude) throw new Error(`${engine} needs the gateway prelude: start it through setup()`);
  return launchWebDriver(engine, prelude);
}

/** Debian's Chromium through playwright-core, with Playwright's own API (the benchmark uses it). */
export function launchChromium({ executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium', env, timeout = startMs() } = {}) {
  return chromium.launch({
    executablePath,
    // The back/forward cache on, as in a shopper's browser (playwright turns it off).
    args: [...CHROMIUM_ARGS, '--enable-features=BackForwardCache'],
    ignoreDefaultArgs: ['--disable-back-forward-cache'],
    headless: true,
    timeout,
    ...(env ? { env } : {}),
  });
}

// Playwright's messages carry terminal colours.
const plain = (text) => String(text).replace(/\x1b\[[0-9;]*m/g, '');

/** One attempt at starting Chromium: launched (playwright-core's timeout), then a first page. */
async function startChromium() {
  const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  const owner = newOwner(`chromium ${executablePath}`, process.env);
  const { env } = owner;
  const before = childGroupLeaders();
  // Chromium's process group: the child of this process that playwright-core started.
  const group = () => [...childGroupLeaders()].find((pid) => !before.has(pid)) ?? null;
  const steps = startSteps();
  let browser = null;
  try {
    // playwright-core's own timeout a second before ours: its message has the browser's output.
    browser = await steps.run('browser launched', 'chromium.launch', () =>
      launchChromium({ executablePath, env, timeout: Math.max(steps.end - Date.now() - 1000, 1) }));
    await steps.run('first page', 'a first page (about:blank)', async () => {
      const context = await browser.newContext();
      await (await context.newPage()).goto('about:blank');
      await context.close();
    });
  } catch (e) {
    // The Chromium this attempt started, whatever playwright-core did with it.
    owner.pgid = group();
    if (browser) await within(CLOSE_MS, 'closing', browser.close()).catch(() => {});
    await endOwned(owner);
    const [reason, ...rest] = plain(e.message).split('\n');
    throw new StartFailure({
      step: steps.step, reason, ms: Date.now() - steps.started,
      lines: rest.filter((l) => l.trim()).map((l) => l.slice(0, 400)),
      source: `playwright-core's log of ${executablePath} (the browser's own output is in it)`,
    });
  }
  owner.pgid = group();
  return { browser, owner };
}

async function chromiumBrowser() {
  const { browser, owner } = await startEngine('chromium', startChromium);
  const cmd = (what, ms, work) => command('chromium', what, ms, work);
  let closing = null;
  return {
    engine: 'chromium',
    version: browser.version(),
    processes: () => liveProcesses([owner]),
    async newContext({ initScript } = {}) {
      const context = await cmd('a new context', COMMAND_MS, () => browser.newContext());
      // Chromium does not report a CSP violation that the page catches (a refused eval,
      // a refused wasm compile) as a console message or a page error: log it.
      await cmd('an init script', COMMAND_MS, () => context.addInitScript(() => addEventListener('securitypolicyviolation', (e) =>
        console.error(`csp: ${e.violatedDirective} blocked ${e.blockedURI}`))));
      if (initScript) await cmd('the init script', COMMAND_MS, () => context.addInitScript(initScript));
      return {
        newPage: async () => chromiumPage(await cmd('a new page', COMMAND_MS, () => context.newPage())),
        close: () => cmd('closing a context', CLOSE_MS, () => context.close()),
      };
    },
    close() {
      closing ??= (async () => {
        try {
          await within(CLOSE_MS, 'chromium: closing the browser', browser.close());
        } catch (e) {
          process.stderr.write(`harness: ${e.message}; ending its processes\n`);
        }
        await endOwned(owner);
      })();
      return closing;
    },
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
  const cmd = (what, ms, work) => command('chromium', what, ms, work);
  // Results cross as JSON text, as they do from WebDriver (which would turn undefined into null).
  const evaluate = async (fn, arg, { timeout = EVALUATE_MS } = {}) => {
    const text = await cmd(`evaluate of ${describe(fn)}`, timeout, () => page.evaluate(
      // eslint-disable-next-line no-new-func
      new Function('arg', `return Promise.resolve((${fn})(arg)).then((v) => v === undefined ? undefined : JSON.stringify(v));`),
      arg));
    return text === undefined ? undefined : JSON.parse(text);
  };
  // Playwright's own timeouts first (their messages say more); ours in case it does not answer.
  return withWaits('chromium', {
    goto: async (url) => { await cmd(`loading ${url}`, LOAD_MS + 5000, () => page.goto(url, { timeout: LOAD_MS })); },
    reload: async () => { await cmd('reloading', LOAD_MS + 5000, () => page.reload({ timeout: LOAD_MS })); },
    // A page restored from the back/forward cache fires no load event: wait for the commit.
    back: async () => { await cmd('going back', LOAD_MS + 5000, () => page.goBack({ waitUntil: 'commit', timeout: LOAD_MS })); },
    evaluate,
    click: (selector) => cmd(`clicking ${selector}`, COMMAND_MS + 5000, () => page.click(selector, { timeout: COMMAND_MS })),
    select: async (selector, value) => {
      await cmd(`selecting ${value} in ${selector}`, COMMAND_MS + 5000, () => page.selectOption(selector, value, { timeout: COMMAND_MS }));
    },
    problems: async () => [...problems],
    close: () => cmd('closing a page', CLOSE_MS, () => page.close()),
  });
}

/** The methods every engine builds the same way, from evaluate. */
function withWaits(engine, page) {
  async function waitForFunction(fn, arg, { timeout = WAIT_MS } = {}) {
    const end = Date.now() + timeout;
    const gaveUp = () => new DeadlineError(`${engine}: timed out after ${timeout} ms waiting for ${describe(fn)}`);
    for (;;) {
      let v;
      try {
        v = await page.evaluate(fn, arg, { timeout: Math.max(end - Date.now(), 1000) });
      } catch (e) {
        if (e instanceof DeadlineError) throw gaveUp();
        throw e;
      }
      if (v) return v;
      if (Date.now() > end) throw gaveUp();
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

function findOnPath(name, env) {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
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

/**
 * The driver command, the session's capabilities, the output lines that mean the start
 * failed, and what the driver's output holds, for an engine; `env` is what the driver gets.
 */
function driverFor(engine, port, env) {
  if (engine === 'firefox') {
    const geckodriver = env.GECKODRIVER || findOnPath('geckodriver', env);
    if (!geckodriver) throw new Error('firefox: the engine did not start: step "driver listening": geckodriver is not on PATH (nor named by GECKODRIVER): run `source scripts/setup.sh; payonce_setup` first');
    return {
      command: geckodriver,
      // --websocket-port 0: each Firefox picks its own BiDi port, so sessions can overlap.
      args: ['--host', '127.0.0.1', '--port', String(port), '--websocket-port', '0'],
      capabilities: {
        browserName: 'firefox',
        webSocketUrl: true, // BiDi, for scripts in the page's own realm (see pageScripts)
        'moz:firefoxOptions': {
          binary: env.FIREFOX_PATH || '/usr/bin/firefox-esr',
          args: ['-headless'],
        },
      },
      fatal: [],
      output: 'the driver; Firefox writes to the same output',
    };
  }
  if (!env.DISPLAY) {
    throw new Error('webkit: the engine did not start: step "display": DISPLAY is not set, and WebKitGTK has no headless mode: run the WebKit tests under `bash scripts/with-display.sh`');
  }
  return {
    command: env.WEBKIT_DRIVER || '/usr/bin/WebKitWebDriver',
    args: [`--port=${port}`],
    capabilities: {
      browserName: 'MiniBrowser',
      'webkitgtk:browserOptions': { binary: env.WEBKIT_BROWSER || WEBKIT_BROWSER, args: ['--automation'] },
    },
    // MiniBrowser exits, and WebKitWebDriver waits for it forever.
    fatal: [[/cannot open display/, () => `the browser cannot open display ${env.DISPLAY} (is an X server there? \`bash scripts/with-display.sh\` starts one)`]],
    output: 'the driver; MiniBrowser writes to the same output',
  };
}

/**
 * One attempt at starting a WebDriver engine: a driver process, a session, its first window
 * running a script. Returns what a context needs, or throws a StartFailure having ended
 * every process of the attempt.
 */
async function startWebDriverSession(engine) {
  const port = await freePort();
  const { command: binary, args, capabilities, fatal, output } = driverFor(engine, port, process.env);
  const driverProcess = startDriver(binary, args, newOwner(`${engine} driver ${binary}`, process.env), fatal);
  const steps = startSteps(driverProcess.failed);
  const server = `http://127.0.0.1:${port}`;
  let driver = null;
  try {
    await steps.run('driver listening', `GET ${server}/status`, async (signal) => {
      while (!signal.aborted) {
        const ok = await fetch(`${server}/status`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
        if (ok) return;
        await sleep(50);
      }
    });
    driver = await steps.run('session created', 'POST /session (the driver starts the browser)', () => new Builder().usingServer(server).withCapabilities(capabilities).build());
    const session = await steps.run('first page', 'a script in the session\'s first window', async () => {
      await driver.manage().setTimeouts({ script: 120000, pageLoad: LOAD_MS });
      const version = (await driver.getCapabilities()).get('browserVersion');
      const exec = await pageScripts(engine, driver);
      const handle = await driver.getWindowHandle();
      await exec(handle, 'return document.readyState;', []);
      return { version, exec, handle };
    });
    return { driver, driverProcess, ...session };
  } catch (e) {
    await endOwned(driverProcess.owner); // the driver, and the browser it started: a session request dies with it
    if (driverProcess.owner.pgid) await within(KILL_MS, 'the driver to exit', driverProcess.exited).catch(() => {});
    throw new StartFailure({
      step: steps.step, reason: e.message, ms: Date.now() - steps.started,
      lines: driverProcess.lines, source: `${binary} ${args.join(' ')} (${output})`,
    });
  }
}

async function launchWebDriver(engine, prelude) {
  const contexts = new Set();
  const owners = new Set(); // every driver this browser started, with what it runs
  let count = 0;
  const browser = {
    engine,
    version: null,
    processes: () => liveProcesses(owners),
    async newContext({ initScript } = {}) {
      const id = `${process.pid}x${++count}`;
      prelude.add(id, initScript);
      const started = await startEngine(engine, () => startWebDriverSession(engine));
      owners.add(started.driverProcess.owner);
      const context = webDriverContext(engine, id, initScript !== undefined, started);
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

function webDriverContext(engine, id, hasInitScript, { driver, driverProcess, version, exec, handle: first }) {
  // One WebDriver command at a time per session; each runs in its page's window, within
  // its deadline, and says what it was.
  let queue = Promise.resolve();
  let current = first;
  let unused = first; // the window the session opened with, for the first page
  const inWindow = (handle, what, action, ms = COMMAND_MS) => {
    const run = queue.then(() => command(engine, what, ms, async () => {
      if (current !== handle) {
        await driver.switchTo().window(handle);
        current = handle;
      }
      return action();
    }));
    queue = run.catch(() => {});
    return run;
  };
  const cookied = new Set(); // origins this context's cookie is set for
  let closing = null;

  return {
    version,
    async newPage() {
      let handle = unused;
      unused = null;
      if (!handle) {
        handle = await inWindow(current, 'opening a window', async () => {
          await driver.switchTo().newWindow('window'); // a window, not a tab: a background tab is hidden and throttled
          current = await driver.getWindowHandle();
          return current;
        });
      }
      return webDriverPage({ engine, driver, exec, handle, inWindow, cookied, id, hasInitScript });
    },
    close() {
      closing ??= (async () => {
        try {
          await within(CLOSE_MS, `${engine}: closing the session (WebDriver quit)`, driver.quit());
        } catch (e) {
          process.stderr.write(`harness: ${e.message}; ending its processes\n`);
        }
        await endOwned(driverProcess.owner);
        await within(KILL_MS, 'the driver to exit', driverProcess.exited).catch(() => {});
      })();
      return closing;
    },
  };
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
  const run = (what, action, ms) => inWindow(handle, what, action, ms);
  // Moves what the recorder in the page holds into `problems` (before the page goes away).
  const collect = () => run('collecting the page\'s problems', async () => {
    const seen = await exec(handle, 'const p = window.__payonceE2EProblems; return p ? p.splice(0) : null;', []);
    if (seen) problems.push(...seen);
  }).catch(() => {});
  // A page served without the prelude (not through the gateway) has neither the recorder
  // nor the init script: say so rather than report no problems.
  const checkWatched = async () => {
    const watched = await run('looking for the problem recorder', () => exec(handle, 'return Array.isArray(window.__payonceE2EProblems);', []));
    if (watched) return;
    const url = await run('reading the URL', () => driver.getCurrentUrl());
    if (hasInitScript) throw new Error(`${engine}: the init script did not run in ${url}: serve the page through setup()'s gateway, or insert env.prelude.html(req) into its HTML`);
    unwatched.push(url);
  };
  // The driver's own page load timeout is LOAD_MS; this one is for a driver that does not answer.
  const load = (what, action) => run(what, action, LOAD_MS + 5000);

  // Starts fn(arg); a value comes back at once, a promise is polled so that other pages
  // of the session can be driven meanwhile. Gives up after `timeout` ms.
  async function evaluate(fn, arg, { timeout = EVALUATE_MS } = {}) {
    const call = `e${++calls}`;
    const what = `evaluate of ${describe(fn)}`;
    const end = Date.now() + timeout;
    const budget = () => Math.min(COMMAND_MS, Math.max(end - Date.now(), 1000));
    const started = await run(what, () => exec(handle, `
      const [[arg], call] = arguments;
      const box = window.__payonceE2ECalls || Object.defineProperty(window, '__payonceE2ECalls', { value: {} }).__payonceE2ECalls;
      const json = (v) => (v === undefined ? { value: null, undefined: true } : { value: JSON.stringify(v) });
      const fail = (e) => ({ error: String(e && e.stack ? e.message + '\\n' + e.stack : e) });
      let v;
      try { v = (${fn})(arg); } catch (e) { return fail(e); }
      if (!v || typeof v.then !== 'function') return json(v);
      box[call] = { pending: true };
      v.then((r) => { box[call] = json(r); }, (e) => { box[call] = fail(e); });
      return { pending: true };`, [arg === undefined ? [] : [arg], call]), budget());
    let result = started;
    while (result && result.pending) {
      if (Date.now() > end) throw new DeadlineError(`${engine}: ${what}: its promise did not settle within ${timeout} ms`);
      await sleep(20);
      result = await run(`${what} (polling its promise)`, () => exec(handle, `
        const box = window.__payonceE2ECalls, r = box && box[arguments[0]];
        if (!r) return { lost: true };
        if (!r.pending) delete box[arguments[0]];
        return r;`, [call]), budget());
    }
    if (result.lost) throw new Error(`${engine}: evaluate: the page navigated away before the promise settled`);
    if (result.error !== undefined) throw new Error(`${engine}: evaluate: ${result.error}`);
    return result.undefined ? undefined : JSON.parse(result.value);
  }

  const page = withWaits(engine, {
    async goto(url) {
      const { origin } = new URL(url);
      await collect();
      if (!cookied.has(origin)) {
        await load(`loading ${origin}/__e2e/blank.html`, () => driver.get(`${origin}/__e2e/blank.html`));
        await run('setting the context\'s cookie', () => driver.manage().addCookie({ name: COOKIE, value: id, path: '/' }));
        cookied.add(origin);
      }
      await load(`loading ${url}`, () => driver.get(url));
      await checkWatched();
    },
    async reload() {
      await collect();
      await load('reloading', () => driver.navigate().refresh());
      await checkWatched();
    },
    async back() {
      await collect();
      await load('going back', () => driver.navigate().back());
      await checkWatched();
    },
    evaluate,
    async click(selector) {
      await page.waitForFunction((s) => {
        const el = document.querySelector(s);
        return !!el && !el.disabled && el.getClientRects().length > 0;
      }, selector, { timeout: 10000 });
      await run(`clicking ${selector}`, async () => (await driver.findElement(By.css(selector))).click());
    },
    async select(selector, value) {
      await run(`selecting ${value} in ${selector}`, async () => {
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
    close: () => run('closing a window', () => driver.close(), CLOSE_MS),
  });
  return page;
}
