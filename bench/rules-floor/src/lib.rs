//! The rules floor: payonce's `src/rules/` itself (not a copy: `#[path]` below)
//! behind the thinnest boundary there is, to measure what every decision costs
//! with no browser layer around it. One export, [`step`], takes one JSON text
//! (a call, or what happened) and returns one JSON text (its answer and every
//! effect to perform: send, read the body, sleep, events, the outcome, the tabs'
//! channel, locks and timers). sessionStorage, the clock and the random sources
//! are raw imports (`s.*`, numbers and bytes only), because the rules read them
//! synchronously ([`Port`]). No wasm-bindgen, no web-sys, no js-sys.
//!
//! It drives [`Page`], the composition the browser drives, and reaches every
//! decision the shipped build reaches: the options' bounds and header rules
//! (the rules' own checks, called from a reader much smaller than
//! `src/browser/options.rs`, whose wording it does not carry), the caller key,
//! the details as canonical JSON and their fingerprint, the response head
//! (HTML, `Retry-After`, the replay headers), both machines, the record codec
//! and the store, pending payments, forgetting, fresh keys and the PayButton's
//! rule. bench/run.mjs builds it as payonce is built and measures it;
//! bench/rules-floor/run.mjs drives it under Node. Not shipped.
#![no_std]
#![allow(clippy::missing_safety_doc)]

extern crate alloc;

#[allow(dead_code, unused_imports)]
#[path = "../../../src/rules/mod.rs"]
mod rules;

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use rules::error::PayError;
use rules::header::{self, DEFAULT_IDEMPOTENCY_HEADER, MAX_HEADERS, MAX_HEADER_CHARS};
use rules::json::{self, write_string, Value};
use rules::key::{self, KeyRules, MAX_KEY_LEN, UUID_LEN};
use rules::page::{self, Begun, Call, Out, Page, Port, Settled};
use rules::payment::{self, Body, Event, Failure, Head, Input};
use rules::record::{self, Record};
use rules::retry::{Dialect, Policy, Range, Statuses, LIMITS, MAX_DIALECT_STATUSES};
use rules::store::{Backend, Mirrored, Store, Unavailable};
use rules::tabs::{self, Effect};
use rules::text::{cat, num, parse_u64};

#[global_allocator]
// SAFETY: the module runs on one thread.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// A static of a one-threaded module.
struct Local<T>(T);
// SAFETY: the module runs on one thread.
unsafe impl<T> Sync for Local<T> {}

#[link(wasm_import_module = "s")]
extern "C" {
    /// `sessionStorage.getItem`: the value's UTF-8 length (then [`fill`]), -1 null, -2 threw.
    fn get(name: *const u8, len: usize) -> i32;
    /// `sessionStorage.key(i)`: as [`get`].
    fn key(i: u32) -> i32;
    /// `sessionStorage.length`, -1 threw.
    fn length() -> i32;
    /// `sessionStorage.setItem`: 0 stored, else threw.
    fn set(name: *const u8, nlen: usize, value: *const u8, vlen: usize) -> i32;
    /// `sessionStorage.removeItem`: 0 done, else threw.
    fn remove(name: *const u8, len: usize) -> i32;
    /// Copies the text the last [`get`] or [`key`] found to `to`.
    fn fill(to: *mut u8);
    /// `Date.now()`.
    fn now() -> f64;
    /// `Math.random()`.
    fn unit() -> f64;
    /// `crypto.getRandomValues` into 16 bytes at `to`: 0 when the page has none.
    fn draw(to: *mut u8) -> i32;
}

/// What the last [`get`] or [`key`] found.
fn found(len: i32) -> Result<Option<String>, Unavailable> {
    match len {
        -1 => Ok(None),
        n if n < 0 => Err(Unavailable),
        n => {
            let mut bytes = alloc::vec![0u8; n as usize];
            // SAFETY: `bytes` has room for the `n` bytes the import copies.
            unsafe { fill(bytes.as_mut_ptr()) };
            String::from_utf8(bytes).map(Some).map_err(|_| Unavailable)
        }
    }
}

/// sessionStorage through the raw imports.
struct Raw;

/// Names of items other documents wrote, as the page reported them.
static WRITTEN: Local<RefCell<Vec<String>>> = Local(RefCell::new(Vec::new()));

impl Backend for Raw {
    fn names(&self) -> Result<Vec<String>, Unavailable> {
        // SAFETY: the imports take and return plain numbers.
        let n = unsafe { length() };
        if n < 0 {
            return Err(Unavailable);
        }
        Ok((0..n as u32)
            .filter_map(|i| found(unsafe { key(i) }).ok().flatten())
            .filter(|name| name.starts_with("payonce:"))
            .collect())
    }

    fn get(&self, name: &str) -> Result<Option<String>, Unavailable> {
        found(unsafe { get(name.as_ptr(), name.len()) })
    }

    fn set(&self, name: &str, value: &str) -> Result<(), Unavailable> {
        match unsafe { set(name.as_ptr(), name.len(), value.as_ptr(), value.len()) } {
            0 => Ok(()),
            _ => Err(Unavailable),
        }
    }

    fn remove(&self, name: &str) -> Result<(), Unavailable> {
        match unsafe { remove(name.as_ptr(), name.len()) } {
            0 => Ok(()),
            _ => Err(Unavailable),
        }
    }

    fn written_by_others(&self) -> Vec<String> {
        WRITTEN.0.borrow_mut().split_off(0)
    }
}

static STORE: Local<Mirrored<Raw>> = Local(Mirrored::new(Raw));

/// The page's store: sessionStorage mirrored in memory.
struct Session;

impl Store for Session {
    fn by_key(&self, key: &str) -> Option<Record> {
        STORE.0.by_key(key)
    }
    fn by_fingerprint(&self, fingerprint: &str) -> Option<Record> {
        STORE.0.by_fingerprint(fingerprint)
    }
    fn all(&self) -> Vec<Record> {
        STORE.0.all()
    }
    fn save(&self, record: &Record) -> bool {
        STORE.0.save(record)
    }
    fn remove(&self, key: &str) -> bool {
        STORE.0.remove(key)
    }
    fn sweep(&self, now_ms: u64) {
        STORE.0.sweep(now_ms)
    }
    fn keep(&self, key: &str) {
        STORE.0.keep(key)
    }
}

/// What the page gives the rules synchronously.
struct Floor;

impl Port for Floor {
    type Store = Session;
    fn store(&self) -> &Session {
        &Session
    }
    fn now_ms(&self) -> u64 {
        unsafe { now() as u64 }
    }
    fn unit(&self) -> f64 {
        unsafe { unit() }
    }
    fn can_draw(&self) -> bool {
        self.draw().is_some()
    }
    fn draw(&self) -> Option<[u8; 16]> {
        let mut bytes = [0u8; 16];
        (unsafe { draw(bytes.as_mut_ptr()) } != 0).then_some(bytes)
    }
}

/// A response body: its text, and whether it parsed as JSON (`JSON.parse`, in JS).
#[derive(Debug)]
struct Text {
    text: String,
    json: bool,
}

impl Body for Text {
    fn is_page(&self) -> bool {
        !self.json
    }
}

/// What one payment's request carries beside what the page holds.
struct Wire {
    id: u32,
    body: String,
    headers: Vec<(String, String)>,
    header_name: String,
    quoted_key: bool,
    credentials: &'static str,
    replay_header: Option<String>,
    button: Option<u32>,
}

/// A PayButton: its endpoint, and the payment it made last.
struct Button {
    endpoint: Option<String>,
    fingerprint: Option<String>,
}

struct Driver {
    page: Page<Text>,
    wires: Vec<Wire>,
    buttons: Vec<Button>,
}

static DRIVER: Local<RefCell<Driver>> = Local(RefCell::new(Driver {
    page: Page::new(),
    wires: Vec::new(),
    buttons: Vec::new(),
}));

/// The text crossing the boundary, both ways.
static IO: Local<RefCell<Vec<u8>>> = Local(RefCell::new(Vec::new()));

/// Room for `len` bytes of input; JS writes the step's text there.
#[no_mangle]
pub extern "C" fn buf(len: usize) -> *mut u8 {
    let mut io = IO.0.borrow_mut();
    io.clear();
    io.resize(len, 0);
    io.as_mut_ptr()
}

/// Where the last answer is (its length is what [`step`] returned).
#[no_mangle]
pub extern "C" fn out() -> *const u8 {
    IO.0.borrow().as_ptr()
}

/// One step: the `len` bytes at [`buf`] in, the answer's length out (at [`out`]).
#[no_mangle]
pub extern "C" fn step(len: usize) -> usize {
    let input = {
        let io = IO.0.borrow();
        String::from_utf8(io.get(..len).unwrap_or_default().to_vec()).unwrap_or_default()
    };
    let mut o = Writer(String::from("{\"r\":"));
    {
        let mut d = DRIVER.0.borrow_mut();
        let d = &mut *d;
        match json::parse(&input, usize::MAX) {
            Ok(Value::Object(m)) => d.run(&m, &mut o),
            _ => o.0.push_str("null"),
        }
        o.0.push_str(",\"fx\":[");
        d.drain(&mut o);
    }
    o.0.push_str("]}");
    let mut io = IO.0.borrow_mut();
    *io = o.0.into_bytes();
    io.len()
}

/// JSON written as it comes.
struct Writer(String);

impl Writer {
    fn s(&mut self, v: &str) -> &mut Self {
        write_string(&mut self.0, v);
        self
    }
    fn n(&mut self, v: u64) -> &mut Self {
        self.0.push_str(&num(v));
        self
    }
    fn b(&mut self, v: bool) -> &mut Self {
        self.0.push_str(if v { "true" } else { "false" });
        self
    }
    fn c(&mut self, t: &str) -> &mut Self {
        self.0.push_str(t);
        self
    }
    fn os(&mut self, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.s(v),
            None => self.c("null"),
        }
    }
    fn on(&mut self, v: Option<u64>) -> &mut Self {
        match v {
            Some(v) => self.n(v),
            None => self.c("null"),
        }
    }
    /// A body: its text as JSON when it is JSON, as a string when not.
    fn body(&mut self, b: Option<&Text>) -> &mut Self {
        match b {
            Some(t) if t.json => self.c(&t.text),
            Some(t) => self.s(&t.text),
            None => self.c("null"),
        }
    }
    fn record(&mut self, r: &Record) -> &mut Self {
        self.c("[")
            .s(&r.key)
            .c(",")
            .s(&r.endpoint)
            .c(",")
            .s(r.state.as_str())
            .c(",")
            .n(r.created_ms)
            .c(",")
            .n(r.updated_ms)
            .c(",")
            .n(r.expires_ms)
            .c(",")
            .n(r.attempts.into())
            .c("]")
    }
    fn error(&mut self, e: &PayError<Text>) -> &mut Self {
        self.c("[\"error\",")
            .s(e.code.as_str())
            .c(",")
            .s(&e.message)
            .c(",")
            .on(e.status.map(u64::from))
            .c(",")
            .b(e.retryable)
            .c(",")
            .os(e.key.as_deref())
            .c(",")
            .n(e.attempts.into())
            .c(",")
            .on(e.retry_after_ms)
            .c(",")
            .body(e.body.as_ref())
            .c("]")
    }
}

fn field<'a>(m: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    m.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn string<'a>(m: &'a [(String, Value)], name: &str) -> Option<&'a str> {
    match field(m, name) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

fn number(m: &[(String, Value)], name: &str) -> u64 {
    match field(m, name) {
        Some(Value::Number(n)) => parse_u64(n).unwrap_or(0),
        _ => 0,
    }
}

fn flag_of(m: &[(String, Value)], name: &str) -> bool {
    matches!(field(m, name), Some(Value::Bool(true)))
}

impl Driver {
    fn run(&mut self, m: &[(String, Value)], o: &mut Writer) {
        let id = number(m, "id") as u32;
        let input = match string(m, "op").unwrap_or("") {
            "pay" => return self.pay(m, o),
            "start" => Input::Start,
            "slept" => Input::Slept,
            "aborted" => Input::Aborted,
            "answered" => Input::Answered(self.head(id, m)),
            "body" => Input::BodyRead(Text {
                text: string(m, "text").unwrap_or("").into(),
                json: flag_of(m, "json"),
            }),
            "noanswer" => Input::NoAnswer(match string(m, "why") {
                Some("timeout") => Failure::Timeout,
                Some("aborted") => Failure::Aborted,
                _ => Failure::Network(string(m, "message").unwrap_or("").into()),
            }),
            "tabs" => {
                if let Some(input) = tabs_input(m) {
                    self.page.tabs(input, &Floor);
                }
                o.c("null");
                return;
            }
            "written" => {
                if let Some(Value::Array(names)) = field(m, "names") {
                    let mut w = WRITTEN.0.borrow_mut();
                    w.extend(names.iter().filter_map(|n| match n {
                        Value::String(s) => Some(s.clone()),
                        _ => None,
                    }));
                }
                o.c("null");
                return;
            }
            "forget" => {
                let done = string(m, "key").is_some_and(|k| self.page.forget(k, &Floor));
                o.b(done);
                return;
            }
            "pending" => {
                let endpoint = string(m, "endpoint");
                o.c("[\"records\"");
                for r in page::pending(&Session, endpoint) {
                    o.c(",").record(&r);
                }
                o.c("]");
                return;
            }
            "newkey" => {
                match self.page.new_key::<Text>(&Floor) {
                    Ok(k) => o.s(&k),
                    Err(e) => o.error(&e),
                };
                return;
            }
            "reload" => {
                self.page.reload(&Floor);
                self.wires.clear();
                STORE.0.drop_memory();
                o.c("null");
                return;
            }
            "button" => {
                // A PayButton is made: the channel opens, and it shows where its endpoint stands.
                self.page.open(&Floor);
                let endpoint = string(m, "endpoint").map(String::from);
                let pending = !page::pending(&Session, endpoint.as_deref()).is_empty();
                self.buttons.push(Button {
                    endpoint,
                    fingerprint: None,
                });
                o.n(self.buttons.len() as u64 - 1)
                    .c(",\"pending\":")
                    .b(pending);
                return;
            }
            _ => {
                o.c("null");
                return;
            }
        };
        self.page.pay(id, input, &Floor);
        o.c("null");
    }

    /// `processPayment`: the call read and checked, then begun on the page.
    fn pay(&mut self, m: &[(String, Value)], o: &mut Writer) {
        match self.call(m) {
            Ok((begun, wire)) => {
                match begun {
                    Begun::New(id) => {
                        o.c("[\"new\",").n(id.into()).c("]");
                        self.wires.push(Wire { id, ..wire });
                    }
                    Begun::Joined(id) => {
                        o.c("[\"joined\",").n(id.into()).c("]");
                    }
                };
            }
            Err(e) => {
                o.error(&e);
            }
        }
    }

    fn call(&mut self, m: &[(String, Value)]) -> Result<(Begun, Wire), PayError<Text>> {
        let opts = match field(m, "options") {
            Some(Value::Object(o)) => o,
            Some(Value::Null) | None => {
                return Err(PayError::invalid(
                    "options are missing; pass at least { endpoint: '/api/charges' }",
                ))
            }
            _ => return Err(PayError::invalid("options must be an object")),
        };
        let options = options(opts).map_err(PayError::invalid)?;
        let caller_key = match field(m, "key") {
            None | Some(Value::Null) => None,
            Some(Value::String(k)) => {
                key::validate(k).map_err(PayError::invalid)?;
                Some(k.clone())
            }
            _ => return Err(PayError::invalid("the idempotency key must be a string")),
        };
        let body =
            match field(m, "details") {
                Some(v @ Value::Object(_)) => json::canonical(v),
                _ => return Err(PayError::invalid(
                    "payment details must be an object such as { amount: 5000, currency: 'usd' }",
                )),
            };
        let fingerprint = record::fingerprint(&options.endpoint, &body);
        let button = match field(m, "button") {
            Some(Value::Number(_)) => Some(number(m, "button") as u32),
            _ => None,
        };
        if let Some(b) = button.and_then(|b| self.buttons.get_mut(b as usize)) {
            b.fingerprint = Some(fingerprint.clone());
        }
        let call = Call {
            fingerprint,
            endpoint: options.endpoint,
            body_len: body.len(),
            caller_key,
            keys: options.keys,
            policy: options.policy,
            aborted: flag_of(m, "aborted"),
        };
        let begun = self.page.begin(call, &Floor)?;
        Ok((
            begun,
            Wire {
                id: 0,
                body,
                headers: options.headers,
                header_name: options.header_name,
                quoted_key: options.quoted_key,
                credentials: options.credentials,
                replay_header: options.replay_header,
                button,
            },
        ))
    }

    /// The response head from the header values JS read (those the send named,
    /// in order: Content-Type, Retry-After, then the replay headers).
    fn head(&self, id: u32, m: &[(String, Value)]) -> Head {
        let status = number(m, "status").min(999) as u16;
        let h = match field(m, "h") {
            Some(Value::Array(h)) => h.as_slice(),
            _ => &[],
        };
        let at = |i: usize| match h.get(i) {
            Some(Value::String(s)) => Some(s.as_str()),
            _ => None,
        };
        let replay_headers = 2 + self
            .wires
            .iter()
            .find(|w| w.id == id)
            .map_or(0, |w| w.replay_header.is_some() as usize);
        Head {
            html: (200..=299).contains(&status) && at(0).is_some_and(payment::is_html),
            status,
            retry_after: (status >= 400).then(|| at(1).map(String::from)).flatten(),
            replayed: (0..replay_headers)
                .any(|i| at(2 + i).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))),
        }
    }

    /// Every effect the page queued, as JSON arrays.
    fn drain(&mut self, o: &mut Writer) {
        let mut first = true;
        while let Some(out) = self.page.poll() {
            if !first {
                o.c(",");
            }
            first = false;
            match out {
                Out::Tabs(e) => self.tabs_effect(e, o),
                Out::Wake(id) => {
                    o.c("[\"wake\",").n(id.into()).c("]");
                }
                Out::Send(id, req) => {
                    o.c("[\"send\",")
                        .n(id.into())
                        .c(",")
                        .s(&req.endpoint)
                        .c(",");
                    match self.wires.iter().find(|w| w.id == id) {
                        Some(w) => {
                            o.s(w.credentials).c(",").s(&w.body).c(",[");
                            for (n, v) in &w.headers {
                                o.c("[").s(n).c(",").s(v).c("],");
                            }
                            o.c("[\"Content-Type\",\"application/json\"],[")
                                .s(&w.header_name)
                                .c(",")
                                .s(&key::header_value(&req.key, w.quoted_key))
                                .c("]],[\"Content-Type\",\"Retry-After\",\"Idempotent-Replayed\",\"Idempotency-Replayed\"");
                            if let Some(r) = &w.replay_header {
                                o.c(",").s(r);
                            }
                            o.c("]");
                        }
                        None => {
                            o.c("null");
                        }
                    }
                    o.c(",").n(req.timeout_ms).c("]");
                }
                Out::ReadBody(id) => {
                    o.c("[\"read\",").n(id.into()).c("]");
                }
                Out::Sleep(id, ms) => {
                    o.c("[\"sleep\",").n(id.into()).c(",").n(ms).c("]");
                }
                Out::Event(id, e) => {
                    o.c("[\"event\",").n(id.into()).c(",");
                    event(&e, o);
                    o.c("]");
                }
                Out::Done(id, outcome, how) => {
                    let button = self.wires.iter().position(|w| w.id == id);
                    let button = button.map(|at| self.wires.swap_remove(at).button);
                    o.c("[\"done\",").n(id.into()).c(",");
                    match &outcome {
                        Ok(s) => {
                            o.c("[\"result\",")
                                .s(&s.key)
                                .c(",")
                                .n(s.status.into())
                                .c(",")
                                .n(s.attempts.into())
                                .c(",")
                                .b(s.replayed)
                                .c(",")
                                .body(Some(&s.body))
                                .c("]");
                        }
                        Err(e) => {
                            o.error(e);
                        }
                    }
                    o.c(",").s(match how {
                        Settled::Succeeded => "succeeded",
                        Settled::Failed => "failed",
                        Settled::Unknown => "unknown",
                    });
                    o.c(",").on(button.flatten().map(u64::from)).c("]");
                }
            }
        }
    }

    fn tabs_effect(&mut self, e: Effect, o: &mut Writer) {
        match e {
            Effect::Listen => {
                o.c("[\"listen\",").s(tabs::message::CHANNEL).c("]");
            }
            Effect::Post(text) => {
                o.c("[\"post\",").s(&text).c("]");
            }
            Effect::Close => {
                o.c("[\"close\"]");
            }
            Effect::Lock { lock, name, query } => {
                o.c("[\"lock\",")
                    .n(lock.into())
                    .c(",")
                    .s(&name)
                    .c(",")
                    .b(query)
                    .c("]");
            }
            Effect::Release(lock) => {
                o.c("[\"release\",").n(lock.into()).c("]");
            }
            Effect::Query => {
                o.c("[\"query\"]");
            }
            Effect::Timer { timer, ms } => {
                o.c("[\"timer\",").n(timer.into()).c(",").n(ms).c("]");
            }
            Effect::Adopted { record, continued } => {
                o.c("[\"adopted\",").record(&record).c(",[");
                // Which PayButtons now show "Paid".
                let mut first = true;
                for (i, b) in self.buttons.iter().enumerate() {
                    if rules::button::shows_paid(
                        b.fingerprint.as_deref(),
                        b.endpoint.as_deref(),
                        &record,
                        continued,
                    ) {
                        if !first {
                            o.c(",");
                        }
                        first = false;
                        o.n(i as u64);
                    }
                }
                o.c("]]");
            }
            Effect::Restored => {
                o.c("[\"restored\"]");
            }
            // Taken by the page.
            Effect::Choose { .. } => {
                o.c("null");
            }
        }
    }
}

fn event(e: &Event, o: &mut Writer) {
    match e {
        Event::Attempt { key, attempt } => {
            o.c("[\"attempt\",").s(key).c(",").n((*attempt).into());
        }
        Event::Response {
            attempt,
            status,
            replayed,
        } => {
            o.c("[\"response\",")
                .n((*attempt).into())
                .c(",")
                .n((*status).into())
                .c(",")
                .b(*replayed);
        }
        Event::NoResponse { attempt, code } => {
            o.c("[\"no-response\",")
                .n((*attempt).into())
                .c(",")
                .s(code.as_str());
        }
        Event::Backoff {
            retry,
            delay_ms,
            reason,
        } => {
            o.c("[\"backoff\",")
                .n((*retry).into())
                .c(",")
                .n(*delay_ms)
                .c(",")
                .s(reason.as_str());
        }
        Event::NotSaved { key } => {
            o.c("[\"not-saved\",").s(key);
        }
    }
    o.c("]");
}

/// A tabs input from JS's report: `{"in": kind, ...}`.
fn tabs_input(m: &[(String, Value)]) -> Option<tabs::Input> {
    let held = || string(m, "held").map(String::from);
    Some(match string(m, "in")? {
        "listening" => tabs::Input::Listening,
        "unsupported" => tabs::Input::Unsupported,
        "message" => {
            let text = string(m, "text")?;
            if text.len() > tabs::message::MAX_MESSAGE {
                return None;
            }
            tabs::Input::Message(text.into())
        }
        "granted" => tabs::Input::Granted {
            lock: number(m, "lock") as u32,
            held: held(),
        },
        "refused" => tabs::Input::Refused {
            lock: number(m, "lock") as u32,
        },
        "fired" => tabs::Input::Fired {
            timer: number(m, "timer") as u32,
        },
        "listed" => tabs::Input::Listed(held()),
        "hide" => {
            STORE.0.write_back();
            tabs::Input::PageHide
        }
        "show" => {
            STORE.0.reread();
            tabs::Input::PageShow {
                id: page::tab_id(&Floor),
            }
        }
        _ => return None,
    })
}

/// The options the rules need, checked.
struct Options {
    endpoint: String,
    headers: Vec<(String, String)>,
    policy: Policy,
    header_name: String,
    quoted_key: bool,
    credentials: &'static str,
    replay_header: Option<String>,
    keys: KeyRules,
}

/// Reads the options, as JS sent them (own properties; the endpoint made
/// absolute by the URL parser; headers as `[name, value]` pairs), with each
/// bound and default of the rules. Its messages are short: the browser
/// layer's wording is measured apart (bench/RESULTS.md).
fn options(m: &[(String, Value)]) -> Result<Options, String> {
    let endpoint = match string(m, "endpoint") {
        Some(e) if record::is_endpoint(e) => String::from(e),
        _ => {
            return Err(cat(&[
                "options.endpoint must be an absolute http(s) URL of at most ",
                &num(record::MAX_ENDPOINT_LEN as u64),
                " characters, without credentials",
            ]))
        }
    };
    let d = Policy::default();
    let l = LIMITS;
    let mut policy = Policy {
        max_retries: whole(m, "maxRetries", d.max_retries.into(), l.max_retries)? as u32,
        base_delay_ms: whole(m, "retryDelayMs", d.base_delay_ms, l.base_delay_ms)?,
        max_delay_ms: whole(m, "maxRetryDelayMs", d.max_delay_ms, l.max_delay_ms)?,
        max_retry_after_ms: whole(
            m,
            "maxRetryAfterMs",
            d.max_retry_after_ms,
            l.max_retry_after_ms,
        )?,
        timeout_ms: whole(m, "timeoutMs", d.timeout_ms, l.timeout_ms)?,
        key_ttl_ms: whole(m, "keyTtlMs", d.key_ttl_ms, l.key_ttl_ms)?,
        accept_html: flag(m, "acceptHtml")?,
        dialect: d.dialect,
    };
    policy.check()?;
    let none = Vec::new();
    let nested = |name: &str| match field(m, name) {
        None => Ok(&none),
        Some(Value::Object(o)) => Ok(o),
        _ => Err(cat(&["options.", name, " must be an object"])),
    };
    let dm = nested("dialect")?;
    let dd = Dialect::default();
    policy.dialect = Dialect {
        mismatch: statuses(dm, "mismatch", dd.mismatch)?,
        in_progress: statuses(dm, "inProgress", dd.in_progress)?,
        finished: statuses(dm, "finished", dd.finished)?,
    };
    let replay_header = match field(dm, "replayHeader") {
        None => None,
        Some(Value::String(h)) if h.len() <= header::MAX_HEADER_NAME && header::is_name(h) => {
            Some(h.clone())
        }
        _ => return Err("options.dialect.replayHeader must be a header name".into()),
    };
    let km = nested("keys")?;
    let kd = KeyRules::default();
    let range = Range {
        min: UUID_LEN as u64,
        max: MAX_KEY_LEN as u64,
    };
    let keys = KeyRules {
        max_len: whole(km, "maxLength", kd.max_len as u64, range)? as usize,
        uuid_only: flag(km, "uuid")?,
    };
    let header_name = match field(m, "idempotencyHeader") {
        None => DEFAULT_IDEMPOTENCY_HEADER.into(),
        Some(Value::String(h)) => {
            header::check_idempotency_header(h)?;
            h.clone()
        }
        _ => {
            header::check_idempotency_header("")?;
            String::new()
        }
    };
    let credentials = match string(m, "credentials") {
        None if field(m, "credentials").is_none() => "same-origin",
        Some("omit") => "omit",
        Some("same-origin") => "same-origin",
        Some("include") => "include",
        _ => return Err("options.credentials must be 'omit', 'same-origin' or 'include'".into()),
    };
    Ok(Options {
        endpoint,
        headers: headers(field(m, "headers"))?,
        policy,
        header_name,
        quoted_key: flag(m, "quotedKey")?,
        credentials,
        replay_header,
        keys,
    })
}

/// `options.headers` as `[name, value]` pairs, with the rules' limits and refusals.
fn headers(v: Option<&Value>) -> Result<Vec<(String, String)>, String> {
    let pairs = match v {
        None => return Ok(Vec::new()),
        Some(Value::Array(p)) => p,
        _ => return Err("options.headers must be [name, value] pairs".into()),
    };
    if pairs.len() > MAX_HEADERS as usize {
        return Err(header::too_many());
    }
    let mut left = MAX_HEADER_CHARS;
    let mut out = Vec::new();
    for pair in pairs {
        let (name, value) = match pair {
            Value::Array(p) => match p.as_slice() {
                [Value::String(n), Value::String(v)] => (n, v),
                _ => {
                    return Err(
                        "options.headers holds something that is not a pair of strings".into(),
                    )
                }
            },
            _ => return Err("options.headers holds something that is not a pair".into()),
        };
        if !header::is_name(name) || name.len() > header::MAX_HEADER_NAME {
            return Err(cat(&[
                "options.headers has an invalid header name '",
                name,
                "'",
            ]));
        }
        if let Some(why) = header::refused_header(name) {
            return Err(cat(&["options.headers['", name, "'] is ", why]));
        }
        if let Some(problem) = header::value_problem(value) {
            return Err(cat(&["options.headers['", name, "']", &problem]));
        }
        left = left.checked_sub(name.len() + value.len()).ok_or_else(|| {
            cat(&[
                "options.headers are over ",
                &num(MAX_HEADER_CHARS as u64),
                " characters",
            ])
        })?;
        out.push((name.clone(), value.clone()));
    }
    Ok(out)
}

fn flag(m: &[(String, Value)], name: &str) -> Result<bool, String> {
    match field(m, name) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        _ => Err(cat(&["options.", name, " must be true or false"])),
    }
}

fn whole(m: &[(String, Value)], name: &str, default: u64, range: Range) -> Result<u64, String> {
    let Some(v) = field(m, name) else {
        return Ok(default);
    };
    if let Some(n) = match v {
        Value::Number(n) => parse_u64(n),
        _ => None,
    } {
        if n >= range.min && n <= range.max {
            return Ok(n);
        }
    }
    Err(cat(&[
        "options.",
        name,
        " must be a whole number from ",
        &num(range.min),
        " to ",
        &num(range.max),
    ]))
}

fn statuses(m: &[(String, Value)], name: &str, default: Statuses) -> Result<Statuses, String> {
    let bad = || {
        cat(&[
            "options.dialect.",
            name,
            " must be an array of at most ",
            &num(MAX_DIALECT_STATUSES as u64),
            " HTTP statuses",
        ])
    };
    let items = match field(m, name) {
        None => return Ok(default),
        Some(Value::Array(items)) if items.len() <= MAX_DIALECT_STATUSES => items,
        _ => return Err(bad()),
    };
    let mut list = Vec::new();
    for item in items {
        match item {
            Value::Number(n) => match parse_u64(n) {
                Some(s @ 100..=599) => list.push(s as u16),
                _ => return Err(bad()),
            },
            _ => return Err(bad()),
        }
    }
    Ok(Statuses::of(&list))
}
