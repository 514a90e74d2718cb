//! The JS objects callers see: a payment's result, a `PaymentError`, a
//! pending payment's record, and the events handed to `onEvent`.

use super::js;
use crate::rules::error::PayError;
use crate::rules::payment::{Event, Observer, Success};
use crate::rules::record::Record;
use alloc::vec;
use alloc::vec::Vec;
use js_sys::Function;
use wasm_bindgen::prelude::*;

type JsError = PayError<JsValue>;

/// A `PaymentError` with code `invalid_input`, for exports that throw.
pub(crate) fn invalid_input(message: &str) -> JsValue {
    error_to_js(PayError::invalid(message))
}

pub(crate) fn num_js(n: u64) -> JsValue {
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
        ("createdAt", num_js(r.created_ms)),
        ("updatedAt", num_js(r.updated_ms)),
        ("expiresAt", num_js(r.expires_ms)),
        ("attempts", r.attempts.into()),
    ])
}

pub(crate) fn success_to_js(s: Success<JsValue>) -> JsValue {
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
        ("body", e.body.unwrap_or(JsValue::NULL)),
        (
            "retryAfterMs",
            e.retry_after_ms.map_or(JsValue::NULL, num_js),
        ),
    ];
    for (name, value) in &fields {
        js::set(&err, name, value);
    }
    err.into()
}

/// Hands events to the caller's `onEvent`, ignoring whatever it throws.
pub(crate) struct JsObserver(pub(crate) Option<Function>);

impl Observer for JsObserver {
    fn event(&self, event: &Event) {
        let Some(callback) = &self.0 else { return };
        let fields: Vec<(&str, JsValue)> = match event.clone() {
            Event::Attempt { key, attempt } => vec![
                ("type", "attempt".into()),
                ("key", key.into()),
                ("attempt", attempt.into()),
            ],
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
                ("delayMs", num_js(delay_ms)),
                ("reason", reason.as_str().into()),
            ],
            Event::NotSaved { key } => vec![("type", "not-saved".into()), ("key", key.into())],
        };
        let _ = callback.call1(&JsValue::NULL, &js::object(&fields));
    }
}
