//! The flow behind `processPayment`: read the input, join a payment already
//! on the wire or choose its key, then interpret the payment machine
//! ([`Payment`]) with `fetch`, the body's `text()` and timers, and turn the
//! outcome into the JS objects callers see.
//!
//! The interpreter decides nothing: each time an awaited promise settles it
//! feeds the machine one [`Input`] and performs the [`Effect`] it answers.
//! `src/js/job.js` does the awaiting, so the wasm carries no future executor.

use crate::browser::clock::now_ms;
use crate::browser::details;
use crate::browser::fetch::{self, AttemptGuard, FetchTransport};
use crate::browser::js::{self, Local};
use crate::browser::objects::{error_to_js, invalid_input, success_to_js, JsObserver};
use crate::browser::options::{self, Options};
use crate::browser::storage::SessionStore;
use crate::browser::tabs::{self, TabStore};
use crate::rules::error::{Code, PayError};
use crate::rules::json::{self, MAX_BODY_BYTES};
use crate::rules::key;
use crate::rules::lifecycle::{resolve, unheard, Lookup};
use crate::rules::payment::{Effect, Input, Outcome, Payment};
use crate::rules::record::{fingerprint, Record, State};
use crate::rules::retry::Policy;
use crate::rules::store::Store;
use crate::rules::text::{cat, num};
use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use js_sys::Promise;
use wasm_bindgen::prelude::*;

type JsError = PayError<JsValue>;

/// How a payment ended, for a [`Watcher`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    Succeeded,
    /// The key was retired, or nothing was sent: trying again is a new payment.
    Failed,
    /// The outcome is unknown and the key is kept: trying again resends it.
    Unknown,
}

impl Settled {
    fn of<B>(outcome: &Outcome<B>) -> Settled {
        match outcome {
            Ok(_) => Settled::Succeeded,
            Err(e) => Settled::failed(e),
        }
    }

    fn failed<B>(e: &PayError<B>) -> Settled {
        if e.key_kept {
            Settled::Unknown
        } else {
            Settled::Failed
        }
    }
}

/// Told how a payment ended (a `PayButton`), before its promise settles.
pub(crate) trait Watcher {
    fn settled(&self, how: Settled);
    /// A payment of these details starts (or joins one on the wire).
    fn paying(&self, _fingerprint: &str) {}
}

/// A payment on the wire, shared by every call for it (a double click joins
/// it: which one is the tabs machine's decision, see [`tabs::joinable`]).
struct Inflight {
    id: u32,
    promise: Promise,
    watchers: Vec<Rc<dyn Watcher>>,
}

static INFLIGHT: Local<RefCell<Vec<Inflight>>> = Local(RefCell::new(Vec::new()));
static NEXT_ID: Local<Cell<u32>> = Local(Cell::new(0));

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

/// Everything a payment needs, read and checked before any key is chosen.
struct Call {
    options: Options,
    caller_key: Option<String>,
    body: String,
    fingerprint: String,
    transport: FetchTransport,
}

fn read(details: &JsValue, key: &JsValue, options: &JsValue) -> Result<Call, JsError> {
    let options = options::options(options).map_err(PayError::invalid)?;
    let caller_key = options::caller_key(key).map_err(PayError::invalid)?;
    if let Some(key) = &caller_key {
        options.keys.check(key).map_err(PayError::invalid)?;
    }
    let body = json::canonical(&details::details(details).map_err(PayError::invalid)?);
    if body.len() > MAX_BODY_BYTES {
        return Err(PayError::invalid(cat(&[
            "payment details are ",
            &num(body.len() as u64),
            " bytes as JSON; the limit is ",
            &num(MAX_BODY_BYTES as u64),
        ])));
    }
    let transport = FetchTransport::new(&options).map_err(PayError::invalid)?;
    let fingerprint = fingerprint(&options.endpoint, &body);
    Ok(Call {
        options,
        caller_key,
        body,
        fingerprint,
        transport,
    })
}

fn start(
    details: &JsValue,
    key: &JsValue,
    options: &JsValue,
    watcher: Option<Rc<dyn Watcher>>,
) -> Result<Promise, JsError> {
    let call = read(details, key, options)?;
    if let Some(w) = &watcher {
        w.paying(&call.fingerprint);
    }
    if let Some(promise) = join(&call, &watcher)? {
        return Ok(promise);
    }
    if call.caller_key.is_none() && !crypto_available() {
        return Err(PayError::invalid(
            "this page has no crypto.getRandomValues, so payonce cannot make a safe key; pass one yourself",
        ));
    }
    tabs::open();
    let id = NEXT_ID.with(|n| {
        let id = n.get();
        n.set(id.wrapping_add(1));
        id
    });
    let aborted = call
        .options
        .signal
        .as_ref()
        .is_some_and(web_sys::AbortSignal::aborted);
    let now = tabs::start(
        id,
        &call.fingerprint,
        call.caller_key.as_deref(),
        call.options.policy.timeout_ms,
        aborted,
    );
    let Some(turn) = now else {
        // Other tabs may pay these details: the key is chosen once they have been heard.
        return Ok(launch(id, call, None, watcher));
    };
    match choose(&call.key_choice(), &turn) {
        Ok(record) => {
            tabs::key_chosen(id, &record.key);
            Ok(launch(id, call, Some(record), watcher))
        }
        Err(err) => {
            tabs::end(id);
            Err(err)
        }
    }
}

/// What choosing a payment's key needs, kept while other tabs are heard.
struct KeyChoice {
    caller_key: Option<String>,
    fingerprint: String,
    endpoint: String,
    ttl_ms: u64,
}

impl Call {
    fn key_choice(&self) -> KeyChoice {
        KeyChoice {
            caller_key: self.caller_key.clone(),
            fingerprint: self.fingerprint.clone(),
            endpoint: self.options.endpoint.clone(),
            ttl_ms: self.options.policy.key_ttl_ms,
        }
    }
}

/// The record, and so the key, for a payment (see [`resolve`]); a new key
/// only where the tabs machine found evidence that no other is live.
fn choose(c: &KeyChoice, turn: &tabs::Turn) -> Result<Record, JsError> {
    resolve(
        &SessionStore,
        &Lookup {
            now_ms: now_ms(),
            ttl_ms: c.ttl_ms,
            endpoint: &c.endpoint,
            fingerprint: &c.fingerprint,
            caller_key: c.caller_key.as_deref(),
            joined: turn.joined.as_deref(),
        },
        || {
            if turn.mint {
                new_key()
            } else {
                Err(unheard())
            }
        },
    )
}

/// A double click: the same payment is already on the wire, so its promise
/// is the answer. A caller key on the wire for other details is refused.
fn join(call: &Call, watcher: &Option<Rc<dyn Watcher>>) -> Result<Option<Promise>, JsError> {
    let Ok(found) = tabs::joinable(&call.fingerprint, call.caller_key.as_deref()) else {
        let mut err = PayError::new(
            Code::KeyReused,
            "this idempotency key is in flight for a different payment; use a new key for a new payment",
        );
        err.key = call.caller_key.clone();
        return Err(err);
    };
    let Some(id) = found else { return Ok(None) };
    INFLIGHT.with(|all| {
        let mut all = all.borrow_mut();
        let Some(f) = all.iter_mut().find(|f| f.id == id) else {
            return Ok(None);
        };
        f.watchers.extend(watcher.iter().cloned());
        Ok(Some(f.promise.clone()))
    })
}

/// Starts the payment for `record`, or, without one, first hears the other
/// tabs (see [`tabs::start`]) and then chooses it.
fn launch(
    id: u32,
    call: Call,
    record: Option<Record>,
    watcher: Option<Rc<dyn Watcher>>,
) -> Promise {
    let policy = call.options.policy;
    let (payment, coordination) = match record {
        Some(record) => (Some(Payment::new(record, policy)), None),
        None => (None, Some(call.key_choice())),
    };
    let job = Job(Box::new(Flight {
        id,
        payment,
        policy,
        coordination,
        body: call.body,
        signal: call.options.signal.clone(),
        observer: JsObserver(call.options.on_event),
        transport: call.transport,
        waiting: Waiting::Start,
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
    promise
}

/// A payment for `src/js/job.js` to run: each `step` returns the promise to
/// await next, or nothing once `finish` has the outcome. Not part of the API.
#[doc(hidden)]
#[wasm_bindgen(js_name = PayonceJob, skip_typescript)]
pub struct Job(Box<Flight>);

/// What the interpreter is waiting for.
enum Waiting {
    /// The first step.
    Start,
    /// The tabs machine's word that the key may be chosen (see [`tabs::chosen`]).
    Turn,
    /// fetch's promise.
    Fetch(AttemptGuard),
    /// The head is in and the machine was told; the body's `text()` promise is kept
    /// for [`Effect::ReadBody`].
    Head(AttemptGuard, Promise),
    /// The body's text.
    Body(AttemptGuard),
    /// A wait between attempts.
    Sleep,
    /// Nothing: the outcome is in.
    Nothing,
}

struct Flight {
    id: u32,
    /// `None` while other tabs are heard, before the key is chosen.
    payment: Option<Payment>,
    policy: Policy,
    /// What choosing the key needs, while other tabs are heard.
    coordination: Option<KeyChoice>,
    body: String,
    signal: Option<web_sys::AbortSignal>,
    observer: JsObserver,
    transport: FetchTransport,
    waiting: Waiting,
    outcome: Option<Result<JsValue, JsValue>>,
}

#[doc(hidden)]
#[wasm_bindgen(js_class = PayonceJob)]
impl Job {
    /// Takes what the last awaited promise gave (`ok`: it resolved) and
    /// returns the next promise to await, or nothing when the payment is done.
    pub fn step(&mut self, value: JsValue, ok: bool) -> Option<Promise> {
        let flight = &mut *self.0;
        let (value, ok) = if flight.payment.is_none() {
            if let Some(wait) = flight.coordinate() {
                return Some(wait);
            }
            (JsValue::UNDEFINED, true)
        } else {
            (value, ok)
        };
        let mut input = flight.input(value, ok)?;
        loop {
            let payment = flight.payment.as_mut()?;
            let effect = payment.handle(
                input,
                now_ms(),
                js_sys::Math::random(),
                &TabStore,
                &flight.observer,
            );
            input = match effect {
                Effect::Send(req) => {
                    match flight
                        .transport
                        .send(req.endpoint, req.key, &flight.body, req.timeout_ms)
                    {
                        Ok((promise, guard)) => {
                            flight.waiting = Waiting::Fetch(guard);
                            return Some(promise);
                        }
                        Err(failure) => Input::NoAnswer(failure),
                    }
                }
                Effect::ReadBody => match core::mem::replace(&mut flight.waiting, Waiting::Nothing)
                {
                    Waiting::Head(guard, text) => {
                        let text = guard.race(&text);
                        flight.waiting = Waiting::Body(guard);
                        return Some(text);
                    }
                    // Unreachable: the machine asks for the body only after a head.
                    _ => Input::NoAnswer(crate::rules::payment::Failure::Network(
                        "the response body was lost".into(),
                    )),
                },
                Effect::Sleep(ms) => {
                    flight.waiting = Waiting::Sleep;
                    return Some(js::sleep(ms as f64, flight.signal.clone()));
                }
                Effect::Done(outcome) => {
                    flight.finish(outcome);
                    return None;
                }
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
    /// While other tabs are heard: waits for the tabs machine's word, then
    /// chooses the key. The next promise to await, or `None` once the
    /// payment is made (or failed before it could start).
    fn coordinate(&mut self) -> Option<Promise> {
        let choice = self.coordination.as_ref()?;
        if let Waiting::Start = core::mem::replace(&mut self.waiting, Waiting::Nothing) {
            self.waiting = Waiting::Turn;
            return Some(tabs::chosen(self.id));
        }
        // Settled without a turn (the payment ended meanwhile): nothing was chosen.
        let turn = tabs::turn(self.id).unwrap_or(tabs::Turn {
            joined: None,
            mint: false,
        });
        match choose(choice, &turn) {
            Ok(record) => {
                tabs::key_chosen(self.id, &record.key);
                self.payment = Some(Payment::new(record, self.policy));
                self.coordination = None;
                self.waiting = Waiting::Start;
            }
            Err(err) => {
                self.coordination = None;
                self.finish(Err(err));
            }
        }
        None
    }

    fn aborted(&self) -> bool {
        self.signal
            .as_ref()
            .is_some_and(web_sys::AbortSignal::aborted)
    }

    /// What the settled promise means for the machine; `None` once done.
    fn input(&mut self, value: JsValue, ok: bool) -> Option<Input<JsValue>> {
        Some(
            match core::mem::replace(&mut self.waiting, Waiting::Nothing) {
                // Nothing leaves once the caller's signal has fired.
                Waiting::Start if self.aborted() => Input::Aborted,
                Waiting::Start => Input::Start,
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
                Waiting::Turn => return None,
            },
        )
    }

    /// The payment is over: it leaves the wire, its watchers are told, and
    /// the outcome waits for `finish`.
    fn finish(&mut self, outcome: Outcome<JsValue>) {
        let id = self.id;
        // Page code may have cleared storage during the call: the record the
        // caller is told about ("the key is kept") is in storage when it is told.
        SessionStore::write_back();
        tabs::end(id);
        let how = Settled::of(&outcome);
        let watchers = INFLIGHT.with(|all| {
            let mut all = all.borrow_mut();
            let at = all.iter().position(|f| f.id == id);
            at.map(|i| all.swap_remove(i).watchers).unwrap_or_default()
        });
        for w in &watchers {
            w.settled(how);
        }
        self.outcome = Some(outcome.map(success_to_js).map_err(error_to_js));
    }
}

/// Whether a payment with this key is on the wire.
pub(crate) fn in_flight(key: &str) -> bool {
    tabs::in_flight(key)
        .is_some_and(|id| INFLIGHT.with(|all| all.borrow().iter().any(|f| f.id == id)))
}

/// The payments whose outcome is unknown, oldest first (for `pendingPayments`).
pub(crate) fn pending(endpoint: Option<&str>) -> Vec<Record> {
    let mut records: Vec<Record> = SessionStore
        .all()
        .into_iter()
        .filter(|r| r.state == State::Pending)
        .filter(|r| endpoint.is_none_or(|e| e == r.endpoint))
        .collect();
    crate::rules::text::sort_by(&mut records, |a, b| a.created_ms < b.created_ms);
    records
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

/// A fresh UUID v4 from the browser's crypto RNG, never derived from the
/// details; refused when the RNG is broken ([`key::check_draw`]).
pub(crate) fn new_key() -> Result<String, JsError> {
    let id = uuid::Uuid::new_v4();
    let draw = *id.as_bytes();
    let previous = LAST_DRAW.with(|last| last.replace(Some(draw)));
    key::check_draw(&draw, previous.as_ref()).map_err(PayError::invalid)?;
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    Ok(id.hyphenated().encode_lower(&mut buf).to_owned())
}

static LAST_DRAW: Local<Cell<Option<[u8; 16]>>> = Local(Cell::new(None));

/// Drops the payments on the wire from memory, as a page reload does.
pub(crate) fn forget_in_flight() {
    INFLIGHT.with(|all| all.borrow_mut().clear());
}
