//! The flow behind `processPayment`: read the input, join a request already
//! on the wire or pick the key, run the attempts, and turn the outcome into
//! the JS objects callers see.

use crate::browser::clock::now_ms;
use crate::browser::convert::{self, MAX_BODY_BYTES};
use crate::browser::fetch::{self, AttemptGuard, FetchTransport, Head};
use crate::browser::js;
use crate::browser::js::Local;
use crate::browser::storage::SessionStore;
use crate::rules::engine::{self, Event, Next, Observer, Payment, Success};
use crate::rules::error::{Code, PayError};
use crate::rules::json;
use crate::rules::record::{fingerprint, Record};
use crate::rules::text::cat;
use crate::guard::Inner;
use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

/// A request on the wire, shared by every call for the same payment.
struct Inflight {
    id: u32,
    key: String,
    fingerprint: String,
    promise: Promise,
}

static INFLIGHT: Local<RefCell<Vec<Inflight>>> = Local(RefCell::new(Vec::new()));
static NEXT_ID: Local<Cell<u32>> = Local(Cell::new(0));

type JsError = PayError<JsValue>;

/// Starts (or joins) a payment; every failure is an `Err`, never a panic.
pub(crate) fn start(
    details: &JsValue,
    key: &JsValue,
    options: &JsValue,
) -> Result<Promise, JsError> {
    let options = convert::options(options).map_err(PayError::invalid)?;
    let caller_key = convert::caller_key(key).map_err(PayError::invalid)?;
    let body = json::canonical(&convert::details(details).map_err(PayError::invalid)?);
    if body.len() > MAX_BODY_BYTES {
        return Err(PayError::invalid(cat(&[
            "payment details are ",
            &crate::rules::text::num(body.len() as u64),
            " bytes as JSON; the limit is ",
            &crate::rules::text::num(MAX_BODY_BYTES as u64),
        ])));
    }
    let transport = FetchTransport::new(&options).map_err(PayError::invalid)?;
    let fingerprint = fingerprint(&options.endpoint, &body);

    // A double-click: the same payment is already on the wire, so wait for it.
    let shared = INFLIGHT.with(|all| {
        all.borrow()
            .iter()
            .find(|f| match &caller_key {
                Some(k) => f.key == *k,
                None => f.fingerprint == fingerprint,
            })
            .map(|f| (f.fingerprint == fingerprint, f.promise.clone()))
    });
    if let Some((same, promise)) = shared {
        if !same {
            let mut err = PayError::new(
                Code::KeyReused,
                "this idempotency key is in flight for a different payment; use a new key for a new payment",
            );
            err.key = caller_key;
            return Err(err);
        }
        return Ok(promise);
    }

    if caller_key.is_none() && !crypto_available() {
        return Err(PayError::invalid(
            "this page has no crypto.getRandomValues, so payonce cannot make a safe key; pass one yourself",
        ));
    }
    let record = engine::resolve(
        &SessionStore,
        now_ms(),
        options.key_ttl_ms,
        &options.endpoint,
        &fingerprint,
        caller_key.as_deref(),
        new_key,
    )?;

    let id = NEXT_ID.with(|n| {
        let id = n.get();
        n.set(id.wrapping_add(1));
        id
    });
    let key = record.key.clone();
    let job = Job(Kind::Pay(Box::new(Flight {
        id,
        payment: Payment::new(record, options.policy),
        body,
        transport,
        observer: JsObserver(options.on_event.clone()),
        stage: Stage::Start,
    })));
    let promise = js::drive(job.into());
    INFLIGHT.with(|all| {
        all.borrow_mut().push(Inflight {
            id,
            key,
            fingerprint,
            promise: promise.clone(),
        });
    });
    Ok(promise)
}

/// Work for `driver.js`: each `step` says what to await next, until
/// `finish` gives the outcome. Not part of the API.
#[doc(hidden)]
#[wasm_bindgen(js_name = PayonceJob, skip_typescript)]
pub struct Job(Kind);

pub(crate) enum Kind {
    /// A payment's attempts.
    Pay(Box<Flight>),
    /// A PayButton following its payment.
    Button(Rc<Inner>, Option<Promise>),
    /// The outcome, for `finish`.
    Done(Result<JsValue, JsValue>),
}

impl Job {
    pub(crate) fn button(inner: Rc<Inner>, payment: Promise) -> Job {
        Job(Kind::Button(inner, Some(payment)))
    }
}

#[doc(hidden)]
#[wasm_bindgen(js_class = PayonceJob)]
impl Job {
    /// Takes what the last awaited promise gave (`ok`: it resolved) and
    /// returns the next promise to await, or nothing when the job is done.
    pub fn step(&mut self, value: JsValue, ok: bool) -> Option<Promise> {
        let outcome = match &mut self.0 {
            Kind::Pay(flight) => match flight.step(value, ok) {
                Ok(wait) => return Some(wait),
                Err(Done(outcome)) => {
                    let id = flight.id;
                    INFLIGHT.with(|all| all.borrow_mut().retain(|f| f.id != id));
                    outcome.map(success_to_js).map_err(error_to_js)
                }
            },
            Kind::Button(inner, payment) => {
                if let Some(payment) = payment.take() {
                    return Some(payment);
                }
                inner.settled(if ok { None } else { Some(&value) });
                if ok {
                    Ok(value)
                } else {
                    Err(value)
                }
            }
            Kind::Done(_) => return None,
        };
        self.0 = Kind::Done(outcome);
        None
    }

    /// The outcome: the result, or throws the error.
    pub fn finish(&mut self) -> Result<JsValue, JsValue> {
        match core::mem::replace(&mut self.0, Kind::Done(Ok(JsValue::UNDEFINED))) {
            Kind::Done(outcome) => outcome,
            _ => Err(invalid_input("payonce job finished before it was done")),
        }
    }
}

/// How a flight ended.
pub struct Done(Result<Success<JsValue>, JsError>);

/// Where a payment's attempt loop stands.
enum Stage {
    /// About to send an attempt.
    Start,
    /// Waiting for fetch.
    Fetching(AttemptGuard),
    /// Waiting for the body.
    Reading(AttemptGuard, Head),
    /// Waiting between attempts.
    Sleeping,
}

/// One payment on the wire.
#[doc(hidden)]
pub struct Flight {
    id: u32,
    payment: Payment,
    body: String,
    transport: FetchTransport,
    observer: JsObserver,
    stage: Stage,
}

impl Flight {
    fn step(&mut self, value: JsValue, ok: bool) -> Result<Promise, Done> {
        let store = &SessionStore;
        let random = js_sys::Math::random;
        let next = match core::mem::replace(&mut self.stage, Stage::Start) {
            Stage::Start | Stage::Sleeping if ok => {
                self.payment.attempt(now_ms(), store, &self.observer);
                let record = &self.payment.record;
                match self
                    .transport
                    .send(&record.endpoint, &record.key, &self.body)
                {
                    Ok((promise, guard)) => {
                        self.stage = Stage::Fetching(guard);
                        return Ok(promise);
                    }
                    Err(failure) => self.payment.no_answer(random(), &self.observer, failure),
                }
            }
            Stage::Start | Stage::Sleeping => Next::Done(Err(self.payment.aborted())),
            Stage::Fetching(guard) => {
                // Err: fetch rejected, or resolved to something payonce cannot read.
                let head = if ok { fetch::head(value) } else { Err(value) };
                match head {
                    Ok((head, text)) => {
                        self.stage = Stage::Reading(guard, head);
                        return Ok(text);
                    }
                    Err(thrown) => {
                        let failure = guard.failure(&thrown);
                        self.payment.no_answer(random(), &self.observer, failure)
                    }
                }
            }
            Stage::Reading(guard, head) => {
                if ok {
                    drop(guard);
                    let response = head.with_body(&value);
                    self.payment
                        .answered(now_ms(), random(), store, &self.observer, response)
                } else {
                    let failure = guard.failure(&value);
                    self.payment.no_answer(random(), &self.observer, failure)
                }
            }
        };
        match next {
            Next::Wait(ms) => {
                self.stage = Stage::Sleeping;
                Ok(js::sleep(ms as f64, self.transport.signal().cloned()))
            }
            Next::Done(outcome) => Err(Done(outcome)),
        }
    }
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

/// A fresh UUID v4 from the browser's crypto RNG, never derived from the details.
pub(crate) fn new_key() -> String {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid::Uuid::new_v4()
        .hyphenated()
        .encode_lower(&mut buf)
        .to_owned()
}

/// Drops the requests on the wire from memory, as a page reload does.
pub(crate) fn forget_in_flight() {
    INFLIGHT.with(|all| all.borrow_mut().clear());
}

/// A `PaymentError` with code `invalid_input`, for exports that throw.
pub(crate) fn invalid_input(message: &str) -> JsValue {
    error_to_js(PayError::invalid(message))
}

pub(crate) fn num(n: u64) -> JsValue {
    JsValue::from_f64(n as f64)
}

fn opt<T: Into<JsValue>>(v: Option<T>) -> JsValue {
    v.map_or(JsValue::NULL, Into::into)
}

pub(crate) fn record_to_js(r: &Record) -> js_sys::Object {
    js::object(&[
        ("key", r.key.as_str().into()),
        ("endpoint", r.endpoint.as_str().into()),
        ("state", r.state.as_str().into()),
        ("createdAt", num(r.created_ms)),
        ("updatedAt", num(r.updated_ms)),
        ("expiresAt", num(r.expires_ms)),
        ("attempts", r.attempts.into()),
    ])
}

fn success_to_js(s: Success<JsValue>) -> JsValue {
    js::object(&[
        ("body", s.body),
        ("key", s.key.into()),
        ("status", s.status.into()),
        ("attempts", s.attempts.into()),
        ("replayed", s.replayed.into()),
    ])
    .into()
}

pub(crate) fn error_to_js(e: JsError) -> JsValue {
    let err = js_sys::Error::new(&e.message);
    err.set_name("PaymentError");
    let fields = [
        ("code", JsValue::from_str(e.code.as_str())),
        ("status", opt(e.status)),
        ("retryable", e.retryable.into()),
        ("key", opt(e.key)),
        ("attempts", e.attempts.into()),
        ("body", e.body.unwrap_or(JsValue::UNDEFINED)),
        ("retryAfterMs", e.retry_after_ms.map_or(JsValue::NULL, num)),
    ];
    for (name, value) in &fields {
        js::set(&err, name, value);
    }
    err.into()
}

/// Hands core events to the caller's `onEvent`, ignoring whatever it throws.
struct JsObserver(Option<Function>);

impl Observer for JsObserver {
    fn event(&self, event: Event<'_>) {
        let Some(callback) = &self.0 else { return };
        let fields: Vec<(&str, JsValue)> = match event {
            Event::Attempt { key, attempt } => {
                vec![
                    ("type", "attempt".into()),
                    ("key", key.into()),
                    ("attempt", attempt.into()),
                ]
            }
            Event::Response {
                attempt,
                status,
                replayed,
            } => vec![
                ("type", "response".into()),
                ("attempt", attempt.into()),
                ("status", status.into()),
                ("replayed", replayed.into()),
            ],
            Event::NoResponse { attempt, code } => vec![
                ("type", "no-response".into()),
                ("attempt", attempt.into()),
                ("code", code.as_str().into()),
            ],
            Event::Backoff {
                retry,
                delay_ms,
                reason,
            } => vec![
                ("type", "backoff".into()),
                ("retry", retry.into()),
                ("delayMs", num(delay_ms)),
                ("reason", reason.as_str().into()),
            ],
        };
        let _ = callback.call1(&JsValue::NULL, &js::object(&fields));
    }
}
