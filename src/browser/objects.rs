//! The JS objects callers see: a payment's result, a `PaymentError`, the
//! pending payments' records, and the events handed to `onEvent`.
//!
//! Each crosses as one text, a JSON array of its kind and its values in order
//! (`["result", key, status, attempts, replayed]`, `["error", code, message,
//! status, retryable, key, attempts, retryAfterMs]`, `["records", [key,
//! endpoint, state, createdAt, updatedAt, expiresAt, attempts], …]`, an
//! event's `[type, …]`), beside the response body where there is one;
//! `src/js/values.js` names the values.

use super::js;
use crate::rules::error::PayError;
use crate::rules::json::{canonical, Value};
use crate::rules::payment::{Event, Observer, Success};
use crate::rules::record::Record;
use crate::rules::text::num;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use js_sys::Function;
use wasm_bindgen::prelude::*;

type JsError = PayError<JsValue>;

/// A `PaymentError` with code `invalid_input`, for exports that throw.
pub(crate) fn invalid_input(message: &str) -> JsValue {
    error_to_js(PayError::invalid(message))
}

fn n(v: u64) -> Value {
    Value::Number(num(v))
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

fn text(items: Vec<Value>) -> String {
    canonical(&Value::Array(items))
}

/// The pending payments' records, as one array.
pub(crate) fn records_to_js(records: &[Record]) -> JsValue {
    let mut items = vec![s("records")];
    items.extend(records.iter().map(|r| {
        Value::Array(vec![
            s(&r.key),
            s(&r.endpoint),
            s(r.state.as_str()),
            n(r.created_ms),
            n(r.updated_ms),
            n(r.expires_ms),
            n(r.attempts.into()),
        ])
    }));
    js::made(&text(items), &JsValue::UNDEFINED)
}

pub(crate) fn success_to_js(r: Success<JsValue>) -> JsValue {
    let items = vec![
        s("result"),
        s(&r.key),
        n(r.status.into()),
        n(r.attempts.into()),
        Value::Bool(r.replayed),
    ];
    js::made(&text(items), &r.body)
}

pub(crate) fn error_to_js(e: JsError) -> JsValue {
    let items = vec![
        s("error"),
        s(e.code.as_str()),
        s(&e.message),
        e.status.map_or(Value::Null, |v| n(v.into())),
        Value::Bool(e.retryable),
        e.key.as_deref().map_or(Value::Null, s),
        n(e.attempts.into()),
        e.retry_after_ms.map_or(Value::Null, n),
    ];
    js::made(&text(items), &e.body.unwrap_or(JsValue::NULL))
}

/// Hands events to the caller's `onEvent`, ignoring whatever it throws.
pub(crate) struct JsObserver(pub(crate) Option<Function>);

impl Observer for JsObserver {
    fn event(&self, event: &Event) {
        let Some(callback) = &self.0 else { return };
        let items = match event.clone() {
            Event::Attempt { key, attempt } => vec![s("attempt"), s(&key), n(attempt.into())],
            Event::Response {
                attempt,
                status,
                replayed,
            } => vec![
                s("response"),
                n(attempt.into()),
                n(status.into()),
                Value::Bool(replayed),
            ],
            Event::NoResponse { attempt, code } => {
                vec![s("no-response"), n(attempt.into()), s(code.as_str())]
            }
            Event::Backoff {
                retry,
                delay_ms,
                reason,
            } => vec![
                s("backoff"),
                n(retry.into()),
                n(delay_ms),
                s(reason.as_str()),
            ],
            Event::NotSaved { key } => vec![s("not-saved"), s(&key)],
        };
        js::emit(callback, &text(items));
    }
}
