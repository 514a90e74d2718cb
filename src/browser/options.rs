//! Reading `processPayment`'s key and options object.
//!
//! Only the options object's own properties are read: what page code put on
//! `Object.prototype` is never an option. Each bound and default is the rule's
//! own (`rules::retry`, `rules::record`, `rules::header`, `rules::key`).

use super::endpoint::endpoint;
use super::headers::headers;
use super::js::{self, Brand};
use super::read::{text, threw, Refused};
use crate::rules::header::{self, DEFAULT_IDEMPOTENCY_HEADER, MAX_HEADER_NAME};
use crate::rules::key::{KeyRules, MAX_KEY_LEN, UUID_LEN};
use crate::rules::retry::{Dialect, Policy, Range, Statuses, LIMITS, MAX_DIALECT_STATUSES};
use crate::rules::text::{cat, num};
use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use js_sys::Function;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::AbortSignal;

/// Reads the optional caller key: `undefined` or `null` mean "payonce chooses".
pub fn caller_key(value: &JsValue) -> Result<Option<String>, String> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    let key = match text(value, MAX_KEY_LEN) {
        Ok(key) => key,
        Err(Refused::NotString) => {
            return Err(cat(&[
                "the idempotency key must be a string; got ",
                &js::describe(value),
            ]))
        }
        Err(Refused::TooLong(units)) => {
            return Err(cat(&[
                "the idempotency key is ",
                &num(u64::from(units)),
                " characters long; the limit is ",
                &num(MAX_KEY_LEN as u64),
            ]))
        }
        Err(Refused::LoneSurrogate) => {
            return Err(cat(&[
                "the idempotency key holds a lone UTF-16 surrogate; use 1 to ",
                &num(MAX_KEY_LEN as u64),
                " printable ASCII characters without spaces, quotes, commas or backslashes",
            ]))
        }
    };
    crate::rules::key::validate(&key)?;
    Ok(Some(key))
}

/// Everything `processPayment` was told, checked.
pub struct Options {
    /// Where to POST.
    pub endpoint: String,
    /// Caller headers, in order.
    pub headers: Vec<(String, String)>,
    /// Retries, timeouts, key lifetime, what counts as an answer.
    pub policy: Policy,
    /// The idempotency header's name.
    pub header_name: String,
    /// Send the key in the draft's quoted form.
    pub quoted_key: bool,
    /// fetch's `credentials` (fetch's own default, `same-origin`, when not given).
    pub credentials: &'static str,
    /// The caller's abort signal.
    pub signal: Option<AbortSignal>,
    /// Event callback.
    pub on_event: Option<Function>,
    /// A header besides the standard spellings whose `true` marks a replayed answer.
    pub replay_header: Option<String>,
    /// What the server accepts as a key.
    pub keys: KeyRules,
}

/// Reads the options object.
pub fn options(value: &JsValue) -> Result<Options, String> {
    if value.is_undefined() || value.is_null() {
        return Err("options are missing; pass at least { endpoint: '/api/charges' }".into());
    }
    if !value.is_object() || value.is_function() || js::is_array(value).unwrap_or(false) {
        return Err(cat(&[
            "options must be an object; got ",
            &js::describe(value),
        ]));
    }
    // Own properties only: what page code put on Object.prototype is not an option.
    let field = |name: &'static str| js::own(value, name).map_err(|e| threw("options", name, &e));
    // Read in this order, so the first bad option is the one reported.
    let endpoint = endpoint(&field("endpoint")?)?;
    let mut policy = policy(&field)?;
    let (dialect, replay_header) = dialect(&field("dialect")?)?;
    policy.dialect = dialect;
    let keys = keys(&field("keys")?)?;
    let header_name = idempotency_header(&field("idempotencyHeader")?)?;
    let quoted_key = flag(&field("quotedKey")?, "quotedKey")?;
    let credentials = credentials(&field("credentials")?)?;
    let signal = signal(field("signal")?)?;
    let on_event = optional::<Function>(field("onEvent")?, "options.onEvent must be a function")?;
    let headers = headers(&field("headers")?)?;
    Ok(Options {
        endpoint,
        headers,
        policy,
        header_name,
        quoted_key,
        credentials,
        signal,
        on_event,
        replay_header,
        keys,
    })
}

/// A nested options object (`undefined` when absent), own properties only.
fn nested(value: &JsValue, name: &str) -> Result<bool, String> {
    if value.is_undefined() {
        return Ok(false);
    }
    if !value.is_object() || value.is_function() || js::is_array(value).unwrap_or(false) {
        return Err(cat(&[
            "options.",
            name,
            " must be an object; got ",
            &js::describe(value),
        ]));
    }
    Ok(true)
}

/// `options.dialect`: what the server's statuses mean where servers differ
/// (see [`Dialect`]), and an extra replay header.
fn dialect(value: &JsValue) -> Result<(Dialect, Option<String>), String> {
    let d = Dialect::default();
    if !nested(value, "dialect")? {
        return Ok((d, None));
    }
    let field =
        |name: &'static str| js::own(value, name).map_err(|e| threw("options.dialect", name, &e));
    let dialect = Dialect {
        mismatch: statuses(&field("mismatch")?, "mismatch", d.mismatch)?,
        in_progress: statuses(&field("inProgress")?, "inProgress", d.in_progress)?,
        finished: statuses(&field("finished")?, "finished", d.finished)?,
    };
    let header = field("replayHeader")?;
    let replay_header = if header.is_undefined() {
        None
    } else {
        match text(&header, MAX_HEADER_NAME) {
            Ok(name) if header::is_name(&name) => Some(name),
            _ => {
                return Err(cat(&[
                    "options.dialect.replayHeader must be a header name (letters, digits and !#$%&'*+-.^_`|~, at most ",
                    &num(MAX_HEADER_NAME as u64),
                    " characters); got ",
                    &js::describe(&header),
                ]))
            }
        }
    };
    Ok((dialect, replay_header))
}

/// A list of HTTP statuses for a dialect.
fn statuses(value: &JsValue, name: &str, default: Statuses) -> Result<Statuses, String> {
    if value.is_undefined() {
        return Ok(default);
    }
    let bad = || {
        cat(&[
            "options.dialect.",
            name,
            " must be an array of at most ",
            &num(MAX_DIALECT_STATUSES as u64),
            " HTTP statuses (whole numbers from 100 to 599); got ",
            &js::describe(value),
        ])
    };
    if !js::is_array(value).unwrap_or(false) {
        return Err(bad());
    }
    let len = js::own(value, "length")
        .ok()
        .and_then(|n| n.as_f64())
        .filter(|&n| n <= MAX_DIALECT_STATUSES as f64)
        .ok_or_else(bad)?;
    let mut list = Vec::new();
    for i in 0..len as u32 {
        let item = js::own_index(value, i).map_err(|e| threw("options.dialect", name, &e))?;
        match item.as_f64() {
            Some(n) if (100.0..=599.0).contains(&n) && n == (n as u16) as f64 => {
                list.push(n as u16)
            }
            _ => return Err(bad()),
        }
    }
    Ok(Statuses::of(&list))
}

/// `options.keys`: what the server accepts as a key (see [`KeyRules`]).
fn keys(value: &JsValue) -> Result<KeyRules, String> {
    let d = KeyRules::default();
    if !nested(value, "keys")? {
        return Ok(d);
    }
    let field =
        |name: &'static str| js::own(value, name).map_err(|e| threw("options.keys", name, &e));
    let range = Range {
        min: UUID_LEN as u64,
        max: MAX_KEY_LEN as u64,
    };
    let max_len = whole(
        &field("maxLength")?,
        "keys.maxLength",
        d.max_len as u64,
        range,
    )? as usize;
    let uuid_only = flag(&field("uuid")?, "keys.uuid")?;
    Ok(KeyRules { max_len, uuid_only })
}

/// The retry, timeout, key lifetime and answer options, each within its
/// bound in [`LIMITS`], then checked together ([`Policy::check`]).
fn policy(field: &dyn Fn(&'static str) -> Result<JsValue, String>) -> Result<Policy, String> {
    let d = Policy::default();
    let l = LIMITS;
    let policy = Policy {
        max_retries: whole(
            &field("maxRetries")?,
            "maxRetries",
            u64::from(d.max_retries),
            l.max_retries,
        )? as u32,
        base_delay_ms: whole(
            &field("retryDelayMs")?,
            "retryDelayMs",
            d.base_delay_ms,
            l.base_delay_ms,
        )?,
        max_delay_ms: whole(
            &field("maxRetryDelayMs")?,
            "maxRetryDelayMs",
            d.max_delay_ms,
            l.max_delay_ms,
        )?,
        max_retry_after_ms: whole(
            &field("maxRetryAfterMs")?,
            "maxRetryAfterMs",
            d.max_retry_after_ms,
            l.max_retry_after_ms,
        )?,
        timeout_ms: whole(
            &field("timeoutMs")?,
            "timeoutMs",
            d.timeout_ms,
            l.timeout_ms,
        )?,
        key_ttl_ms: whole(&field("keyTtlMs")?, "keyTtlMs", d.key_ttl_ms, l.key_ttl_ms)?,
        accept_html: flag(&field("acceptHtml")?, "acceptHtml")?,
        dialect: d.dialect,
    };
    policy.check()?;
    Ok(policy)
}

/// `options.idempotencyHeader`: the name the key is sent under (see
/// [`header::check_idempotency_header`]).
fn idempotency_header(value: &JsValue) -> Result<String, String> {
    if value.is_undefined() {
        return Ok(DEFAULT_IDEMPOTENCY_HEADER.to_owned());
    }
    match text(value, MAX_HEADER_NAME) {
        Ok(name) => header::check_idempotency_header(&name).map(|()| name),
        Err(Refused::TooLong(units)) => Err(cat(&[
            "options.idempotencyHeader is ",
            &num(u64::from(units)),
            " characters long; header names here are at most ",
            &num(MAX_HEADER_NAME as u64),
            " characters",
        ])),
        Err(_) => header::check_idempotency_header("").map(|()| String::new()),
    }
}

/// A true-or-false option, false when absent.
fn flag(value: &JsValue, name: &str) -> Result<bool, String> {
    if value.is_undefined() {
        return Ok(false);
    }
    value.as_bool().ok_or_else(|| {
        cat(&[
            "options.",
            name,
            " must be true or false; got ",
            &js::describe(value),
        ])
    })
}

fn credentials(value: &JsValue) -> Result<&'static str, String> {
    if value.is_undefined() {
        return Ok("same-origin");
    }
    match text(value, 16).ok().as_deref() {
        Some("omit") => Ok("omit"),
        Some("same-origin") => Ok("same-origin"),
        Some("include") => Ok("include"),
        _ => Err("options.credentials must be 'omit', 'same-origin' or 'include'".into()),
    }
}

/// `options.signal`: an `AbortSignal` of this page or of a same-origin frame.
fn signal(value: JsValue) -> Result<Option<AbortSignal>, String> {
    if value.is_undefined() || value.is_null() {
        Ok(None)
    } else if js::is(Brand::Signal, &value) {
        Ok(Some(value.unchecked_into()))
    } else {
        Err(cat(&[
            "options.signal must be an AbortSignal; got ",
            &js::describe(&value),
        ]))
    }
}

/// An option of a JS type; `undefined` and `null` mean none.
fn optional<T: JsCast>(value: JsValue, wrong: &str) -> Result<Option<T>, String> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value
        .dyn_into::<T>()
        .map(Some)
        .map_err(|_| wrong.to_owned())
}

/// A whole number of milliseconds (or a count) within `range`.
fn whole(value: &JsValue, name: &str, default: u64, range: Range) -> Result<u64, String> {
    if value.is_undefined() {
        return Ok(default);
    }
    match value.as_f64() {
        Some(n) if n >= range.min as f64 && n <= range.max as f64 && n == (n as u64) as f64 => {
            Ok(n as u64)
        }
        _ => Err(cat(&[
            "options.",
            name,
            " must be a whole number from ",
            &num(range.min),
            " to ",
            &num(range.max),
            "; got ",
            &js::describe(value),
        ])),
    }
}
