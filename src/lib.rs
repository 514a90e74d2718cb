//! payonce: a shopper clicks "Pay" and is charged exactly once.
//!
//! This file holds only what JavaScript sees. The rules live in [`core`]
//! (pure Rust, tested natively); the browser plumbing lives in `browser`.
#![deny(missing_docs)]

mod browser;
pub mod core;
mod guard;

use crate::browser::clock::{now_ms, BrowserClock};
use crate::browser::convert::{self, MAX_BODY_BYTES};
use crate::browser::fetch::FetchTransport;
use crate::browser::js;
use crate::browser::storage::SessionStore;
use crate::core::engine::{self, Event, Observer, Store, Success};
use crate::core::error::{Code, PayError};
use crate::core::json;
use crate::core::record::{fingerprint, Record, State};
use js_sys::{Array, Function, Promise};
use std::cell::{Cell, RefCell};
use wasm_bindgen::prelude::*;

#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = include_str!("payonce.d.ts");

/// A request on the wire, shared by every call for the same payment.
struct Inflight {
    id: u32,
    key: String,
    fingerprint: String,
    promise: Promise,
}

thread_local! {
    static INFLIGHT: RefCell<Vec<Inflight>> = const { RefCell::new(Vec::new()) };
    static NEXT_ID: Cell<u32> = const { Cell::new(0) };
}

type JsError = PayError<JsValue>;

/// Pays once. See `payonce.d.ts` for the contract.
#[wasm_bindgen(js_name = processPayment, skip_typescript)]
pub fn process_payment(details: JsValue, key: JsValue, options: JsValue) -> Promise {
    start(&details, &key, &options).unwrap_or_else(|err| Promise::reject(&error_to_js(err)))
}

fn start(details: &JsValue, key: &JsValue, options: &JsValue) -> Result<Promise, JsError> {
    let options = convert::options(options).map_err(PayError::invalid)?;
    let caller_key = convert::caller_key(key).map_err(PayError::invalid)?;
    let body = json::canonical(&convert::details(details).map_err(PayError::invalid)?);
    if body.len() > MAX_BODY_BYTES {
        return Err(PayError::invalid(format!(
            "payment details are {} bytes as JSON; the limit is {MAX_BODY_BYTES}",
            body.len()
        )));
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
    let clock = BrowserClock::new(options.signal.clone());
    let observer = JsObserver(options.on_event.clone());
    let policy = options.policy;
    let promise = wasm_bindgen_futures::future_to_promise(async move {
        let result = engine::run(
            &transport,
            &clock,
            &SessionStore,
            &observer,
            &policy,
            record,
            &body,
        )
        .await;
        INFLIGHT.with(|all| all.borrow_mut().retain(|f| f.id != id));
        result.map(success_to_js).map_err(error_to_js)
    });
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

fn crypto_available() -> bool {
    js::get(&js_sys::global(), "crypto")
        .and_then(|c| js::get(&c, "getRandomValues"))
        .is_ok_and(|f| f.is_function())
}

/// A fresh UUID v4 from the browser's crypto RNG, never derived from the details.
fn new_key() -> String {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid::Uuid::new_v4()
        .hyphenated()
        .encode_lower(&mut buf)
        .to_owned()
}

/// A fresh idempotency key (UUID v4), for apps that manage keys themselves.
#[wasm_bindgen(js_name = newIdempotencyKey, skip_typescript)]
pub fn new_idempotency_key() -> Result<String, JsValue> {
    if crypto_available() {
        Ok(new_key())
    } else {
        Err(error_to_js(PayError::invalid(
            "this page has no crypto.getRandomValues",
        )))
    }
}

/// The payments whose outcome is still unknown, for the page to show after a reload.
#[wasm_bindgen(js_name = pendingPayments, skip_typescript)]
pub fn pending_payments(endpoint: JsValue) -> Array {
    let endpoint = endpoint
        .as_string()
        .map(|e| convert::absolute_url(&e).unwrap_or(e));
    let now = now_ms();
    let mut records: Vec<Record> = SessionStore
        .all()
        .into_iter()
        .filter(|r| r.state == State::Pending && !r.is_expired(now))
        .filter(|r| endpoint.as_ref().is_none_or(|e| *e == r.endpoint))
        .collect();
    records.sort_unstable_by_key(|r| r.created_ms);
    records
        .iter()
        .map(|r| JsValue::from(record_to_js(r)))
        .collect()
}

/// Forgets a payment's key, so the same details become a new payment.
#[wasm_bindgen(js_name = forgetPayment, skip_typescript)]
pub fn forget_payment(key: JsValue) -> bool {
    let Some(key) = key.as_string() else {
        return false;
    };
    let found = SessionStore.by_key(&key).is_some();
    SessionStore.remove(&key);
    found
}

/// Whether `value` is an error thrown by payonce.
#[wasm_bindgen(js_name = isPaymentError, skip_typescript)]
pub fn is_payment_error(value: JsValue) -> bool {
    value.is_instance_of::<js_sys::Error>()
        && js::get(&value, "name")
            .ok()
            .and_then(|n| n.as_string())
            .as_deref()
            == Some("PaymentError")
        && js::get(&value, "code").is_ok_and(|c| c.is_string())
}

/// Drops everything payonce holds in memory, as a page reload does; storage stays.
/// For tests of reload behaviour; not part of the JS API.
#[doc(hidden)]
pub fn simulate_reload() {
    SessionStore::drop_memory();
    INFLIGHT.with(|all| all.borrow_mut().clear());
}

/// A `PaymentError` with code `invalid_input`, for exports that throw.
pub(crate) fn invalid_input(message: &str) -> JsValue {
    error_to_js(PayError::invalid(message))
}

fn num(n: u64) -> JsValue {
    JsValue::from_f64(n as f64)
}

fn opt<T: Into<JsValue>>(v: Option<T>) -> JsValue {
    v.map_or(JsValue::NULL, Into::into)
}

fn record_to_js(r: &Record) -> js_sys::Object {
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

fn error_to_js(e: JsError) -> JsValue {
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
