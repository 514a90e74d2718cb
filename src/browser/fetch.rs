//! The transport: one `fetch` per attempt, with its own timeout.

use super::js;
use super::options::Options;
use crate::rules::key;
use crate::rules::payment::{is_html, Body, Failure, Head};
use crate::rules::text::cat;
use alloc::string::String;
use js_sys::{Function, Promise};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{AbortController, AbortSignal, Headers};

/// Sends payment requests with the page's `fetch`.
pub struct FetchTransport {
    headers: Headers,
    header_name: String,
    quoted_key: bool,
    credentials: &'static str,
    signal: Option<AbortSignal>,
    replay_header: Option<String>,
}

impl FetchTransport {
    /// A transport for one payment call. Builds the headers once, so a header
    /// the browser refuses is an error before any key is chosen or anything leaves.
    pub fn new(options: &Options) -> Result<Self, String> {
        let headers = Headers::new().map_err(|e| js::describe_thrown(&e))?;
        for (name, value) in &options.headers {
            headers.append(name, value).map_err(|e| {
                cat(&[
                    "options.headers['",
                    name,
                    "'] was refused by the browser (",
                    &js::describe_thrown(&e),
                    ")",
                ])
            })?;
        }
        // Ours after the caller's, so a caller header of the same name cannot replace them.
        headers
            .set("Content-Type", "application/json")
            .map_err(|e| js::describe_thrown(&e))?;
        Ok(FetchTransport {
            headers,
            header_name: options.header_name.clone(),
            quoted_key: options.quoted_key,
            credentials: options.credentials,
            signal: options.signal.clone(),
            replay_header: options.replay_header.clone(),
        })
    }

    /// Sends one attempt, which may take `timeout_ms`. The returned guard owns
    /// that timer; keep it until the body is read, and await what
    /// [`AttemptGuard::race`] gives, so the attempt ends on time whatever fetch
    /// does with its signal.
    pub fn send(
        &self,
        endpoint: &str,
        key: &str,
        body: &str,
        timeout_ms: u64,
    ) -> Result<(Promise, AttemptGuard), Failure> {
        // The same key on every attempt; set (not append) replaces any caller header of that name.
        self.headers
            .set(&self.header_name, &key::header_value(key, self.quoted_key))
            .map_err(|e| Failure::Network(js::describe_thrown(&e)))?;
        let guard = AttemptGuard::new(timeout_ms, self.signal.as_ref())?;
        // Every member payonce means, on an object that inherits nothing: fetch reads
        // its init through the prototype chain, and page code may have put `mode:
        // 'no-cors'` (which drops the key and the JSON type) or `integrity` on
        // Object.prototype.
        let init = js::request_init(
            &js::name("POST"),
            &self.headers,
            body,
            &guard.controller.signal(),
            &js::name("cors"),
            &js::name(self.credentials),
            // A payment must not silently turn into a GET elsewhere: see redirects as they are.
            &js::name("manual"),
            &js::name("no-store"),
            &js::name(""),
            false,
            &js::name(""),
        );
        match js::fetch(endpoint, &init) {
            Ok(promise) => Ok((guard.race(&promise), guard)),
            Err(e) => Err(guard.failure(&e)),
        }
    }
}

/// Owns one attempt's AbortController and timer; clears both when dropped,
/// whichever way the attempt ends.
pub struct AttemptGuard {
    controller: AbortController,
    /// Rejects once the attempt is stopped (its time is up, or the caller aborted).
    stopped: Promise,
    timer: JsValue,
    caller: Option<(AbortSignal, Function)>,
}

impl AttemptGuard {
    fn new(timeout_ms: u64, caller: Option<&AbortSignal>) -> Result<Self, Failure> {
        let parts = js::attempt().map_err(|e| Failure::Network(js::describe_thrown(&e)))?;
        let controller: AbortController = parts.get(0).unchecked_into();
        let stopped: Promise = parts.get(1).unchecked_into();
        let stop: Function = parts.get(2).unchecked_into();
        let timer = js::set_timeout(&stop, timeout_ms as f64);
        let caller = caller.map(|signal| {
            let _ = signal.add_event_listener_with_callback("abort", &stop);
            (signal.clone(), stop)
        });
        Ok(AttemptGuard {
            controller,
            stopped,
            timer,
            caller,
        })
    }

    /// `promise`, or a rejection once the attempt is stopped, whichever comes first.
    pub fn race(&self, promise: &Promise) -> Promise {
        Promise::race(&js_sys::Array::of2(promise, &self.stopped))
    }

    /// Why the request was cut off, after fetch or the body read failed.
    pub fn failure(&self, thrown: &JsValue) -> Failure {
        if self.caller.as_ref().is_some_and(|(s, _)| s.aborted()) {
            Failure::Aborted
        } else if self.controller.signal().aborted() {
            Failure::Timeout
        } else {
            Failure::Network(js::describe_thrown(thrown))
        }
    }
}

impl Drop for AttemptGuard {
    fn drop(&mut self) {
        js::clear_timeout(&self.timer);
        if let Some((signal, abort)) = &self.caller {
            let _ = signal.remove_event_listener_with_callback("abort", abort);
        }
    }
}

impl FetchTransport {
    /// What fetch resolved to, up to the body: the status and the headers
    /// payonce reads, and the promise of the body text. A replayed answer is
    /// marked `Idempotent-Replayed: true` (the IETF draft's examples, Stripe's
    /// SDKs), `Idempotency-Replayed: true` (fastapi-idempotency-key,
    /// axum-idempotent) or the page's `dialect.replayHeader`.
    pub fn head(&self, response: JsValue) -> Result<(Head, Promise), JsValue> {
        let response: web_sys::Response = response
            .dyn_into()
            .map_err(|_| JsValue::from_str("fetch resolved to something that is not a Response"))?;
        // An opaque-redirect response (redirect: 'manual') has status 0.
        let status = response.status();
        let headers = response.headers();
        let header = |name: &str| headers.get(name).ok().flatten();
        let says_true =
            |name: &str| header(name).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let head = Head {
            // Read only for a success: what counts as the server's answer.
            html: (200..=299).contains(&status)
                && header("Content-Type").is_some_and(|t| is_html(&t)),
            status,
            // Read where a retry may follow (each read is a trip across the boundary).
            retry_after: (status >= 400).then(|| header("Retry-After")).flatten(),
            replayed: says_true("Idempotent-Replayed")
                || says_true("Idempotency-Replayed")
                || self.replay_header.as_deref().is_some_and(says_true),
        };
        Ok((head, response.text()?))
    }
}

/// A body [`parse_body`] gave: text that did not parse as JSON (or nothing) is a page.
impl Body for JsValue {
    fn is_page(&self) -> bool {
        self.is_string() || self.is_null()
    }
}

/// The body as JSON when it is JSON, as text when it is not, `null` when empty.
pub fn parse_body(text: &JsValue) -> JsValue {
    match text.dyn_ref::<js_sys::JsString>() {
        Some(s) if s.length() > 0 => js::json_parse(text).unwrap_or_else(|_| text.clone()),
        _ => JsValue::NULL,
    }
}
