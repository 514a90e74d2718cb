//! The flow behind `processPayment`, and the browser's driver of the page's
//! [`Page`] (both machines and the decisions around them, in `crate::rules`):
//! read the input, begin the call, and perform what the page asks with
//! `fetch`, the body's `text()`, timers and the tabs' channel and locks.
//!
//! The driver decides nothing: each time an awaited promise settles it feeds
//! the page one input and performs each [`Out`] it queues, after the page is
//! put back, so page code those effects run (the caller's `onEvent`, a
//! `PayButton`, page code behind the channel) may call payonce again.
//! `src/js/job.js` does the awaiting, so the wasm carries no future executor.

use crate::browser::clock::now_ms;
use crate::browser::details;
use crate::browser::fetch::{self, AttemptGuard, FetchTransport};
use crate::browser::js::{self, Local};
use crate::browser::objects::{error_to_js, invalid_input, success_to_js, JsObserver};
use crate::browser::options::{self, Options};
use crate::browser::storage::SessionStore;
use crate::browser::tabs;
use crate::rules::error::{Code, PayError};
use crate::rules::json;
pub(crate) use crate::rules::page::Settled;
use crate::rules::page::{self, Begun, Call, Out, Page, Port};
use crate::rules::payment::{Failure, Input, Observer};
use crate::rules::record::{fingerprint, Record, State};
use crate::rules::store::Store;
use crate::rules::tabs::message::MAX_MESSAGE;
use crate::rules::tabs::Input as TabsInput;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

type JsError = PayError<JsValue>;

#[wasm_bindgen(module = "/src/js/tabs.js")]
extern "C" {
    fn deferred() -> Array;
}

/// Told how a payment ended (a `PayButton`), before its promise settles.
pub(crate) trait Watcher {
    fn settled(&self, how: Settled);
    /// A payment of these details starts (or joins one on the wire).
    fn paying(&self, _fingerprint: &str) {}
}

/// The page's payonce; `None` while one of its methods runs (page code that
/// storage runs then and calls payonce again finds it out of reach).
static PAGE: Local<RefCell<Option<Page<JsValue>>>> = Local(RefCell::new(Some(Page::new())));
/// Tabs inputs that arrived while the page was out of reach.
static QUEUE: Local<RefCell<VecDeque<TabsInput>>> = Local(RefCell::new(VecDeque::new()));

/// What the browser gives the rules synchronously.
struct Browser;

impl Port for Browser {
    type Store = SessionStore;

    fn store(&self) -> &SessionStore {
        &SessionStore
    }

    fn now_ms(&self) -> u64 {
        now_ms()
    }

    fn unit(&self) -> f64 {
        js_sys::Math::random()
    }

    fn can_draw(&self) -> bool {
        crypto_available()
    }

    fn draw(&self) -> Option<[u8; 16]> {
        crypto_available().then(js::random_bytes).flatten()
    }
}

/// Runs `f` on the page, then performs what it queued; `None` when the page
/// is out of reach (a call from page code run by a storage access of payonce's).
fn with_page<R>(flight: Option<&mut Flight>, f: impl FnOnce(&mut Page<JsValue>) -> R) -> Option<R> {
    let mut page = take_page()?;
    let r = f(&mut page);
    put_back(page, flight);
    Some(r)
}

fn take_page() -> Option<Page<JsValue>> {
    PAGE.with(|p| p.try_borrow_mut().ok()?.take())
}

/// Takes in the tabs inputs that arrived meanwhile, puts the page back, and
/// performs what it queued (one body for every [`with_page`]).
#[inline(never)]
fn put_back(mut page: Page<JsValue>, flight: Option<&mut Flight>) {
    let mut outs = Vec::new();
    loop {
        while let Some(input) = QUEUE.with(|q| q.borrow_mut().pop_front()) {
            page.tabs(input, &Browser);
        }
        while let Some(out) = page.poll() {
            outs.push(out);
        }
        if QUEUE.with(|q| q.borrow().is_empty()) {
            break;
        }
    }
    PAGE.with(|p| *p.borrow_mut() = Some(page));
    perform(outs, flight);
}

/// Feeds the tabs machine (from JS's reports), or queues the input while
/// the page is out of reach.
fn feed_tabs(input: TabsInput) {
    match take_page() {
        Some(mut page) => {
            page.tabs(input, &Browser);
            put_back(page, None);
        }
        None => QUEUE.with(|q| q.borrow_mut().push_back(input)),
    }
}

/// Performs what the page queued: the tabs' effects, wakes, and the I/O of
/// `flight`, the payment being stepped (the only one the page asks I/O of).
fn perform(outs: Vec<Out<JsValue>>, mut flight: Option<&mut Flight>) {
    for out in outs {
        match out {
            Out::Tabs(effect) => {
                if let Some(input) = tabs::perform(effect, || PayonceTabs.into()) {
                    feed_tabs(input);
                }
            }
            Out::Wake(id) => {
                let waiter = WAITERS.with(|w| {
                    let mut w = w.borrow_mut();
                    let at = w.iter().position(|(p, _)| *p == id)?;
                    Some(w.swap_remove(at).1)
                });
                match waiter {
                    Some(resolve) => {
                        let _ = resolve.call0(&JsValue::UNDEFINED);
                    }
                    None => WOKEN.with(|w| w.borrow_mut().push(id)),
                }
            }
            other => {
                if let Some(f) = flight.as_deref_mut() {
                    f.perform(other);
                }
            }
        }
    }
}

/// Payments waiting for their turn, and the functions that resolve their wait.
static WAITERS: Local<RefCell<Vec<(u32, Function)>>> = Local(RefCell::new(Vec::new()));
/// Payments woken before they waited.
static WOKEN: Local<RefCell<Vec<u32>>> = Local(RefCell::new(Vec::new()));

/// Settles once the payment may go on.
fn woken(id: u32) -> Promise {
    let early = WOKEN.with(|w| {
        let mut w = w.borrow_mut();
        let at = w.iter().position(|p| *p == id);
        at.map(|i| w.swap_remove(i)).is_some()
    });
    if early {
        return Promise::resolve(&JsValue::UNDEFINED);
    }
    let pair = deferred();
    WAITERS.with(|w| w.borrow_mut().push((id, pair.get(1).unchecked_into())));
    pair.get(0).unchecked_into()
}

/// A payment on the wire: its promise, shared by every call for it (a
/// double click joins it: which one is the tabs machine's decision).
struct Inflight {
    id: u32,
    promise: Promise,
    watchers: Vec<Rc<dyn Watcher>>,
}

static INFLIGHT: Local<RefCell<Vec<Inflight>>> = Local(RefCell::new(Vec::new()));

/// Starts or joins a payment; `watcher` is told how it ends. Never throws:
/// every failure is a rejected promise.
pub(crate) fn pay(
    details: &JsValue,
    key: &JsValue,
    options: &JsValue,
    watcher: Option<Rc<dyn Watcher>>,
) -> Promise {
    match start(details, key, options, watcher.clone()) {
        Ok(promise) => promise,
        Err(err) => {
            if let Some(w) = watcher {
                w.settled(Settled::failed(&err));
            }
            Promise::reject(&error_to_js(err))
        }
    }
}

/// What a payment needs beside what the page holds: read before it begins.
struct Read {
    options: Options,
    call: Call,
    body: String,
    transport: FetchTransport,
}

fn read(details: &JsValue, key: &JsValue, options: &JsValue) -> Result<Read, JsError> {
    let options = options::options(options).map_err(PayError::invalid)?;
    let caller_key = options::caller_key(key).map_err(PayError::invalid)?;
    let body = json::canonical(&details::details(details).map_err(PayError::invalid)?);
    let transport = FetchTransport::new(&options).map_err(PayError::invalid)?;
    let call = Call {
        fingerprint: fingerprint(&options.endpoint, &body),
        endpoint: options.endpoint.clone(),
        body_len: body.len(),
        caller_key,
        keys: options.keys,
        policy: options.policy,
        aborted: options
            .signal
            .as_ref()
            .is_some_and(web_sys::AbortSignal::aborted),
    };
    Ok(Read {
        options,
        call,
        body,
        transport,
    })
}

/// Re-entered from page code that a storage access of payonce's ran.
fn busy() -> JsError {
    let mut err = PayError::new(
        Code::Conflict,
        "payonce was called from page code that runs inside its own storage access (a Storage.prototype override); nothing was sent: call it again once that code has returned",
    );
    err.retryable = true;
    err
}

fn start(
    details: &JsValue,
    key: &JsValue,
    options: &JsValue,
    watcher: Option<Rc<dyn Watcher>>,
) -> Result<Promise, JsError> {
    let read = read(details, key, options)?;
    if let Some(w) = &watcher {
        w.paying(&read.call.fingerprint);
    }
    let caller_key = read.call.caller_key.clone();
    let begun = with_page(None, |page| page.begin(read.call, &Browser)).ok_or_else(busy)??;
    let id = match begun {
        Begun::Joined(id) => {
            let joined = INFLIGHT.with(|all| {
                let mut all = all.borrow_mut();
                let f = all.iter_mut().find(|f| f.id == id)?;
                f.watchers.extend(watcher.iter().cloned());
                Some(f.promise.clone())
            });
            // The page knows it, so its promise is here: a reload dropped it otherwise.
            return joined.ok_or_else(|| {
                let mut err = busy();
                err.key = caller_key;
                err
            });
        }
        Begun::New(id) => id,
    };
    let job = Job(Box::new(Flight {
        id,
        body: read.body,
        signal: read.options.signal.clone(),
        observer: JsObserver(read.options.on_event),
        transport: read.transport,
        waiting: Waiting::Start,
        next: None,
        unsent: None,
        outcome: None,
    }));
    let promise = js::drive(job.into());
    INFLIGHT.with(|all| {
        all.borrow_mut().push(Inflight {
            id,
            promise: promise.clone(),
            watchers: watcher.into_iter().collect(),
        })
    });
    Ok(promise)
}

/// A payment for `src/js/job.js` to run: each `step` returns the promise to
/// await next, or nothing once `finish` has the outcome. Not part of the API.
#[doc(hidden)]
#[wasm_bindgen(js_name = PayonceJob, skip_typescript)]
pub struct Job(Box<Flight>);

/// What the driver is waiting for.
enum Waiting {
    /// The first step.
    Start,
    /// The page's word that the payment may go on ([`Out::Wake`]).
    Turn,
    /// fetch's promise.
    Fetch(AttemptGuard),
    /// The head is in and the page was told; the body's `text()` promise is
    /// kept for [`Out::ReadBody`].
    Head(AttemptGuard, Promise),
    /// The body's text.
    Body(AttemptGuard),
    /// A wait between attempts.
    Sleep,
    /// Nothing: the outcome is in.
    Nothing,
}

/// One payment's JS side: what its I/O needs.
struct Flight {
    id: u32,
    body: String,
    signal: Option<web_sys::AbortSignal>,
    observer: JsObserver,
    transport: FetchTransport,
    waiting: Waiting,
    /// The promise to await next, once the page asked for I/O.
    next: Option<Promise>,
    /// Why the request the page asked for could not be sent.
    unsent: Option<Failure>,
    outcome: Option<Result<JsValue, JsValue>>,
}

#[doc(hidden)]
#[wasm_bindgen(js_class = PayonceJob)]
impl Job {
    /// Takes what the last awaited promise gave (`ok`: it resolved) and
    /// returns the next promise to await, or nothing when the payment is done.
    pub fn step(&mut self, value: JsValue, ok: bool) -> Option<Promise> {
        let flight = &mut *self.0;
        let mut input = flight.input(value, ok)?;
        loop {
            let id = flight.id;
            with_page(Some(&mut *flight), |page| page.pay(id, input, &Browser))?;
            // A request that could not leave: the page hears why.
            if let Some(failure) = flight.unsent.take() {
                input = Input::NoAnswer(failure);
                continue;
            }
            if let Some(next) = flight.next.take() {
                return Some(next);
            }
            if flight.outcome.is_some() {
                return None;
            }
            match core::mem::replace(&mut flight.waiting, Waiting::Nothing) {
                // Its turn is still to come.
                Waiting::Start | Waiting::Turn => {
                    flight.waiting = Waiting::Turn;
                    return Some(woken(id));
                }
                // The page no longer knows it (a simulated reload): it is over.
                _ => return None,
            }
        }
    }

    /// The outcome: the result, or throws the error.
    pub fn finish(&mut self) -> Result<JsValue, JsValue> {
        self.0
            .outcome
            .take()
            .unwrap_or_else(|| Err(invalid_input("payonce job finished before it was done")))
    }
}

impl Flight {
    fn aborted(&self) -> bool {
        self.signal
            .as_ref()
            .is_some_and(web_sys::AbortSignal::aborted)
    }

    /// What the settled promise means for the page; `None` once done.
    fn input(&mut self, value: JsValue, ok: bool) -> Option<Input<JsValue>> {
        Some(
            match core::mem::replace(&mut self.waiting, Waiting::Nothing) {
                // Until the page asks for I/O, the payment waits for its turn.
                // Nothing leaves once the caller's signal has fired.
                Waiting::Start | Waiting::Turn => {
                    self.waiting = Waiting::Turn;
                    if self.aborted() {
                        Input::Aborted
                    } else {
                        Input::Start
                    }
                }
                Waiting::Sleep if ok && !self.aborted() => Input::Slept,
                Waiting::Sleep => Input::Aborted,
                Waiting::Fetch(guard) => {
                    // Err: fetch rejected, or resolved to something payonce cannot read.
                    match if ok {
                        self.transport.head(value)
                    } else {
                        Err(value)
                    } {
                        Ok((head, text)) => {
                            self.waiting = Waiting::Head(guard, text);
                            Input::Answered(head)
                        }
                        Err(thrown) => Input::NoAnswer(guard.failure(&thrown)),
                    }
                }
                Waiting::Body(_guard) if ok => Input::BodyRead(fetch::parse_body(&value)),
                Waiting::Body(guard) => Input::NoAnswer(guard.failure(&value)),
                Waiting::Head(..) | Waiting::Nothing => return None,
            },
        )
    }

    /// Performs the page's I/O for this payment.
    fn perform(&mut self, out: Out<JsValue>) {
        let for_me = match &out {
            Out::Send(id, _)
            | Out::ReadBody(id)
            | Out::Sleep(id, _)
            | Out::Event(id, _)
            | Out::Done(id, ..) => *id == self.id,
            Out::Tabs(_) | Out::Wake(_) => false,
        };
        if !for_me {
            return;
        }
        match out {
            Out::Send(_, req) => {
                match self
                    .transport
                    .send(&req.endpoint, &req.key, &self.body, req.timeout_ms)
                {
                    Ok((promise, guard)) => {
                        self.waiting = Waiting::Fetch(guard);
                        self.next = Some(promise);
                    }
                    // Fed back by `step`.
                    Err(failure) => self.unsent = Some(failure),
                }
            }
            Out::ReadBody(_) => {
                if let Waiting::Head(guard, text) =
                    core::mem::replace(&mut self.waiting, Waiting::Nothing)
                {
                    self.next = Some(guard.race(&text));
                    self.waiting = Waiting::Body(guard);
                }
            }
            Out::Sleep(_, ms) => {
                self.waiting = Waiting::Sleep;
                self.next = Some(js::sleep(ms as f64, self.signal.clone()));
            }
            Out::Event(_, event) => self.observer.event(&event),
            Out::Done(id, outcome, how) => {
                let watchers = INFLIGHT.with(|all| {
                    let mut all = all.borrow_mut();
                    let at = all.iter().position(|f| f.id == id);
                    at.map(|i| all.swap_remove(i).watchers).unwrap_or_default()
                });
                for w in &watchers {
                    w.settled(how);
                }
                self.waiting = Waiting::Nothing;
                self.outcome = Some(outcome.map(success_to_js).map_err(error_to_js));
            }
            Out::Tabs(_) | Out::Wake(_) => {}
        }
    }
}

/// Forgets a payment's key (see [`Page::forget`]); false while the page is busy.
pub(crate) fn forget(key: &str) -> bool {
    with_page(None, |page| page.forget(key, &Browser)).unwrap_or(false)
}

/// Opens the channel to the other tabs (a `PayButton` is made).
pub(crate) fn open() {
    with_page(None, |page| page.open(&Browser));
}

/// The payments whose outcome is unknown, oldest first (for `pendingPayments`).
pub(crate) fn pending(endpoint: Option<&str>) -> Vec<Record> {
    page::pending(&SessionStore, endpoint)
}

/// Where the live payment of these details stands, if there is one.
pub(crate) fn state_of(fingerprint: &str) -> Option<State> {
    SessionStore.by_fingerprint(fingerprint).map(|r| r.state)
}

/// Whether the page has `crypto.getRandomValues` (remembered once seen).
pub(crate) fn crypto_available() -> bool {
    if CRYPTO_SEEN.with(Cell::get) {
        return true;
    }
    let found = js::get(&js::page(), "crypto")
        .and_then(|c| js::get(&c, "getRandomValues"))
        .is_ok_and(|f| f.is_function());
    CRYPTO_SEEN.with(|seen| seen.set(found));
    found
}

static CRYPTO_SEEN: Local<Cell<bool>> = Local(Cell::new(false));

/// A fresh UUID v4 from the browser's crypto RNG (see [`Page::new_key`]).
pub(crate) fn new_key() -> Result<String, JsError> {
    with_page(None, |page| page.new_key(&Browser)).ok_or_else(busy)?
}

/// Drops the payments on the wire from memory, as a page reload does.
pub(crate) fn forget_in_flight() {
    INFLIGHT.with(|all| all.borrow_mut().clear());
    WAITERS.with(|w| w.borrow_mut().clear());
    WOKEN.with(|w| w.borrow_mut().clear());
    with_page(None, |page| page.reload(&Browser));
}

/// What the JS side reports to (see `src/js/tabs.js`). Not part of the API.
#[doc(hidden)]
#[wasm_bindgen(js_name = PayonceTabs, skip_typescript)]
pub struct PayonceTabs;

#[doc(hidden)]
#[wasm_bindgen(js_class = PayonceTabs)]
impl PayonceTabs {
    /// What JS reports, one method for every kind (each method would cost
    /// its own shim on both sides of the boundary); `kind` says which:
    /// - 0: a message `a` from another tab (anything; read only if it is a
    ///   short string);
    /// - 1: the lock request `id` was granted (`a` is the function that
    ///   releases it) or refused (`a` null); for the tab's own lock, `b` is
    ///   the array of the names of the locks held on the origin, or null when
    ///   the lock manager would not say;
    /// - 2: the timer `id` fired;
    /// - 3: the lock manager's list `a` after a query: the names of the held
    ///   locks, or null when it would not say;
    /// - 4: `pagehide`: before the page goes (a reload, a navigation), every
    ///   record page code removed from storage is written back, so the next
    ///   page finds it;
    /// - 5: `pageshow` from the back/forward cache.
    ///
    /// Any other kind is ignored.
    pub fn on(&self, kind: u32, id: u32, a: JsValue, b: JsValue) {
        let input = match kind {
            0 => match tabs::short_string(&a, MAX_MESSAGE) {
                Some(text) => TabsInput::Message(text),
                None => return,
            },
            1 => match a.dyn_into::<Function>() {
                Ok(release) => {
                    tabs::granted(id, release);
                    TabsInput::Granted {
                        lock: id,
                        held: tabs::names(&b),
                    }
                }
                Err(_) => TabsInput::Refused { lock: id },
            },
            2 => TabsInput::Fired { timer: id },
            3 => TabsInput::Listed(tabs::names(&a)),
            4 => {
                SessionStore::write_back();
                TabsInput::PageHide
            }
            5 => {
                SessionStore::reread();
                TabsInput::PageShow {
                    id: page::tab_id(&Browser),
                }
            }
            _ => return,
        };
        feed_tabs(input);
    }
}
