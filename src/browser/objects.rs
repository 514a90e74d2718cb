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
use crate::rules::json::write_string;
use crate::rules::payment::{Event, Observer, Success};
use crate::rules::record::Record;
use crate::rules::text::num;
use alloc::string::String;
use js_sys::Function;
use wasm_bindgen::prelude::*;

type JsError = PayError<JsValue>;

/// A PaymentError with code `invalid_input`, for exports that throw.
pub(crate) fn invalid_input(message: &str) -> JsValue {
    error_to_js(PayError::invalid(message))
}

/// One object's text, written as its values come: a JSON array opened with
/// its first string (the object's kind, or a record's key).
struct Text(String);

impl Text {
    fn new(first: &str) -> Self {
        let mut t = Text(String::from("["));
        write_string(&mut t.0, first);
        t
    }

    fn s(&mut self, v: &str) -> &mut Self {
        self.0.push(',');
        write_string(&mut self.0, v);
        self
    }

    fn n(&mut self, v: u64) -> &mut Self {
        self.0.push(',');
        self.0.push_str(&num(v));
        self
    }

    fn b(&mut self, v: bool) -> &mut Self {
        self.0.push_str(if v { ",true" } else { ",false" });
        self
    }

    /// `null` for `None`.
    fn opt_s(&mut self, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.s(v),
            None => self.null(),
        }
    }

    fn opt_n(&mut self, v: Option<u64>) -> &mut Self {
        match v {
            Some(v) => self.n(v),
            None => self.null(),
        }
    }

    fn null(&mut self) -> &mut Self {
        self.0.push_str(",null");
        self
    }

    fn end(&mut self) -> &str {
        self.0.push(']');
        &self.0
    }
}

/// The pending payments' records, as one array.
pub(crate) fn records_to_js(records: &[Record]) -> JsValue {
    let mut t = Text::new("records");
    for r in records {
        t.0.push(',');
        let mut item = Text::new(&r.key);
        item.s(&r.endpoint)
            .s(r.state.as_str())
            .n(r.created_ms)
            .n(r.updated_ms)
            .n(r.expires_ms)
            .n(r.attempts.into());
        t.0.push_str(item.end());
    }
    js::made(t.end(), &JsValue::UNDEFINED)
}

pub(crate) fn success_to_js(r: Success<JsValue>) -> JsValue {
    let mut t = Text::new("result");
    t.s(&r.key)
        .n(r.status.into())
        .n(r.attempts.into())
        .b(r.replayed);
    js::made(t.end(), &r.body)
}

pub(crate) fn error_to_js(e: JsError) -> JsValue {
    let mut t = Text::new("error");
    t.s(e.code.as_str())
        .s(&e.message)
        .opt_n(e.status.map(u64::from))
        .b(e.retryable)
        .opt_s(e.key.as_deref())
        .n(e.attempts.into())
        .opt_n(e.retry_after_ms);
    js::made(t.end(), &e.body.unwrap_or(JsValue::NULL))
}

/// Hands events to the caller's `onEvent`, ignoring whatever it throws.
pub(crate) struct JsObserver(pub(crate) Option<Function>);

impl Observer for JsObserver {
    fn event(&self, event: &Event) {
        let Some(callback) = &self.0 else { return };
        let mut t;
        match event {
            Event::Attempt { key, attempt } => {
                t = Text::new("attempt");
                t.s(key).n((*attempt).into());
            }
            Event::Response {
                attempt,
                status,
                replayed,
            } => {
                t = Text::new("response");
                t.n((*attempt).into()).n((*status).into()).b(*replayed);
            }
            Event::NoResponse { attempt, code } => {
                t = Text::new("no-response");
                t.n((*attempt).into()).s(code.as_str());
            }
            Event::Backoff {
                retry,
                delay_ms,
                reason,
            } => {
                t = Text::new("backoff");
                t.n((*retry).into()).n(*delay_ms).s(reason.as_str());
            }
            Event::NotSaved { key } => {
                t = Text::new("not-saved");
                t.s(key);
            }
        }
        js::emit(callback, t.end());
    }
}
