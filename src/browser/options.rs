//! Reading `processPayment`'s key and options object.
//!
//! Only the options object's own properties are read: what page code put on
//! `Object.prototype` is never an option. Each bound and default is the rule's
//! own (`rules::retry`, `rules::record`, `rules::header`, `rules::key`).

use super::endpoint;
use super::headers::headers;
use super::js;
use super::read::{text, threw, Refused};
use crate::rules::header::{self, DEFAULT_IDEMPOTENCY_HEADER, MAX_HEADER_NAME};
use crate::rules::json::{self, Value};
use crate::rules::key::{KeyRules, MAX_KEY_LEN, UUID_LEN};
use crate::rules::record::MAX_ENDPOINT_LEN;
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

/// The longest string an option may be (the endpoint's limit): longer ones
/// cross as their length only.
const MAX_OPTION_UNITS: usize = MAX_ENDPOINT_LEN;

/// Reads the options object: its own properties cross in one call, as one
/// JSON text (see `src/js/values.js`) beside the values that cannot be text.
pub fn options(value: &JsValue) -> Result<Options, String> {
    let text = js::read_options(value, MAX_OPTION_UNITS as u32, MAX_DIALECT_STATUSES as u32);
    // The text's first character says whether values that cannot be text are held.
    let held = text.starts_with('1');
    let text = text.get(1..).unwrap_or_default();
    let members = match json::parse(text, usize::MAX) {
        Ok(Value::Object(members)) => members,
        _ => return Err("options could not be read".into()),
    };
    if let Some(what) = marker(&members, "!is") {
        return Err(match what {
            Value::String(w) if w == "undefined" || w == "null" => {
                "options are missing; pass at least { endpoint: '/api/charges' }".into()
            }
            _ => cat(&["options must be an object; got ", &describe(Some(what))]),
        });
    }
    // The values that cannot be text, when the text says there are some.
    let handles = if held { js::take_handles() } else { Vec::new() };
    let at = |i: usize| handles.get(i).cloned().unwrap_or(JsValue::UNDEFINED);
    let thrown = at(3);
    let top = Record {
        members: &members,
        path: "options",
        thrown: &thrown,
    };
    // Checked in this order, so the first bad option is the one reported.
    let v = top.field("endpoint")?;
    let endpoint = endpoint::checked(string(v, MAX_ENDPOINT_LEN), || describe(v))?;
    let mut policy = policy(&top)?;
    let (dialect, replay_header) = dialect(&top)?;
    policy.dialect = dialect;
    let keys = keys(&top)?;
    let header_name = idempotency_header(top.field("idempotencyHeader")?)?;
    let quoted_key = flag(top.field("quotedKey")?, "quotedKey")?;
    let credentials = credentials(top.field("credentials")?)?;
    let signal = match top.field("signal")? {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) if marker(m, "!held").is_some() => Some(at(0).unchecked_into()),
        v => {
            return Err(cat(&[
                "options.signal must be an AbortSignal; got ",
                &describe(v),
            ]))
        }
    };
    let on_event = match top.field("onEvent")? {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) if marker(m, "!held").is_some() => Some(at(1).unchecked_into()),
        _ => return Err("options.onEvent must be a function".into()),
    };
    top.field("headers")?;
    let headers = headers(&at(2))?;
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

/// One object of the record: the options, `options.dialect` or `options.keys`.
struct Record<'a> {
    members: &'a [(String, Value)],
    path: &'static str,
    /// What a getter or proxy trap threw, where the record says `{"!threw": name}`.
    thrown: &'a JsValue,
}

impl<'a> Record<'a> {
    /// The option `name` (`None` when not given); `Err` if reading it threw.
    fn field(&self, name: &str) -> Result<Option<&'a Value>, String> {
        let value = self.members.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        if let Some(Value::Object(m)) = value {
            if let Some(Value::String(what)) = marker(m, "!threw") {
                return Err(threw(self.path, what, self.thrown));
            }
        }
        Ok(value)
    }

    /// The nested options object `name`, if given.
    fn nested(&self, name: &'static str, path: &'static str) -> Result<Option<Self>, String> {
        match self.field(name)? {
            None => Ok(None),
            Some(Value::Object(members)) if !members.iter().any(|(k, _)| k.starts_with('!')) => {
                Ok(Some(Record {
                    members,
                    path,
                    thrown: self.thrown,
                }))
            }
            v => Err(cat(&[
                "options.",
                name,
                " must be an object; got ",
                &describe(v),
            ])),
        }
    }
}

/// What `kind` (`!is`, `!long`, `!lone`, `!threw`) a marker object says.
fn marker<'a>(members: &'a [(String, Value)], kind: &str) -> Option<&'a Value> {
    match members {
        [(k, v)] if k == kind => Some(v),
        _ => None,
    }
}

/// What kind of JS value the record's value was, for error messages (as
/// [`js::describe`] words it).
fn describe(value: Option<&Value>) -> String {
    match value {
        None => "undefined".into(),
        Some(Value::Null) => "null".into(),
        Some(Value::Bool(_)) => "a boolean".into(),
        Some(Value::Number(n)) => n.clone(),
        Some(Value::String(_)) => "a string".into(),
        Some(Value::Array(_)) => "an array".into(),
        Some(Value::Object(m)) => match marker(m, "!is") {
            Some(Value::String(what)) => what.clone(),
            _ if marker(m, "!long").is_some() || marker(m, "!lone").is_some() => "a string".into(),
            _ => "an object".into(),
        },
    }
}

/// A string option of at most `max` UTF-16 units, as [`super::read::text`] reads one.
fn string(value: Option<&Value>, max: usize) -> Result<String, Refused> {
    let units = |m: &[(String, Value)], kind| match marker(m, kind) {
        Some(Value::Number(n)) => {
            Some(whole_number(n).unwrap_or(u64::MAX).min(u32::MAX.into()) as u32)
        }
        _ => None,
    };
    match value {
        Some(Value::String(s)) => {
            let n = s.encode_utf16().count();
            if n > max {
                Err(Refused::TooLong(n as u32))
            } else {
                Ok(s.clone())
            }
        }
        Some(Value::Object(m)) => {
            if let Some(n) = units(m, "!long") {
                Err(Refused::TooLong(n))
            } else if units(m, "!lone").is_some() {
                Err(Refused::LoneSurrogate)
            } else {
                Err(Refused::NotString)
            }
        }
        _ => Err(Refused::NotString),
    }
}

/// The digits of a whole number as `JSON.stringify` writes a safe integer.
fn whole_number(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 16 {
        return None;
    }
    text.bytes().try_fold(0u64, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

/// `options.dialect`: what the server's statuses mean where servers differ
/// (see [`Dialect`]), and an extra replay header.
fn dialect(top: &Record<'_>) -> Result<(Dialect, Option<String>), String> {
    let d = Dialect::default();
    let Some(r) = top.nested("dialect", "options.dialect")? else {
        return Ok((d, None));
    };
    let dialect = Dialect {
        mismatch: statuses(r.field("mismatch")?, "mismatch", d.mismatch)?,
        in_progress: statuses(r.field("inProgress")?, "inProgress", d.in_progress)?,
        finished: statuses(r.field("finished")?, "finished", d.finished)?,
    };
    let replay_header = match r.field("replayHeader")? {
        None => None,
        header => match string(header, MAX_HEADER_NAME) {
            Ok(name) if header::is_name(&name) => Some(name),
            _ => {
                return Err(cat(&[
                    "options.dialect.replayHeader must be a header name (letters, digits and !#$%&'*+-.^_`|~, at most ",
                    &num(MAX_HEADER_NAME as u64),
                    " characters); got ",
                    &describe(header),
                ]))
            }
        },
    };
    Ok((dialect, replay_header))
}

/// A list of HTTP statuses for a dialect.
fn statuses(value: Option<&Value>, name: &str, default: Statuses) -> Result<Statuses, String> {
    let Some(v) = value else {
        return Ok(default);
    };
    let bad = || {
        cat(&[
            "options.dialect.",
            name,
            " must be an array of at most ",
            &num(MAX_DIALECT_STATUSES as u64),
            " HTTP statuses (whole numbers from 100 to 599); got ",
            &describe(value),
        ])
    };
    let Value::Array(items) = v else {
        return Err(bad());
    };
    if items.len() > MAX_DIALECT_STATUSES {
        return Err(bad());
    }
    let mut list = Vec::new();
    for item in items {
        match item {
            Value::Number(n) => match whole_number(n) {
                Some(s @ 100..=599) => list.push(s as u16),
                _ => return Err(bad()),
            },
            _ => return Err(bad()),
        }
    }
    Ok(Statuses::of(&list))
}

/// `options.keys`: what the server accepts as a key (see [`KeyRules`]).
fn keys(top: &Record<'_>) -> Result<KeyRules, String> {
    let d = KeyRules::default();
    let Some(r) = top.nested("keys", "options.keys")? else {
        return Ok(d);
    };
    let range = Range {
        min: UUID_LEN as u64,
        max: MAX_KEY_LEN as u64,
    };
    let max_len = whole(
        r.field("maxLength")?,
        "keys.maxLength",
        d.max_len as u64,
        range,
    )? as usize;
    let uuid_only = flag(r.field("uuid")?, "keys.uuid")?;
    Ok(KeyRules { max_len, uuid_only })
}

/// The retry, timeout, key lifetime and answer options, each within its
/// bound in [`LIMITS`], then checked together ([`Policy::check`]).
fn policy(r: &Record<'_>) -> Result<Policy, String> {
    let d = Policy::default();
    let l = LIMITS;
    let policy = Policy {
        max_retries: whole(
            r.field("maxRetries")?,
            "maxRetries",
            u64::from(d.max_retries),
            l.max_retries,
        )? as u32,
        base_delay_ms: whole(
            r.field("retryDelayMs")?,
            "retryDelayMs",
            d.base_delay_ms,
            l.base_delay_ms,
        )?,
        max_delay_ms: whole(
            r.field("maxRetryDelayMs")?,
            "maxRetryDelayMs",
            d.max_delay_ms,
            l.max_delay_ms,
        )?,
        max_retry_after_ms: whole(
            r.field("maxRetryAfterMs")?,
            "maxRetryAfterMs",
            d.max_retry_after_ms,
            l.max_retry_after_ms,
        )?,
        timeout_ms: whole(
            r.field("timeoutMs")?,
            "timeoutMs",
            d.timeout_ms,
            l.timeout_ms,
        )?,
        key_ttl_ms: whole(r.field("keyTtlMs")?, "keyTtlMs", d.key_ttl_ms, l.key_ttl_ms)?,
        accept_html: flag(r.field("acceptHtml")?, "acceptHtml")?,
        dialect: d.dialect,
    };
    policy.check()?;
    Ok(policy)
}

/// `options.idempotencyHeader`: the name the key is sent under (see
/// [`header::check_idempotency_header`]).
fn idempotency_header(value: Option<&Value>) -> Result<String, String> {
    if value.is_none() {
        return Ok(DEFAULT_IDEMPOTENCY_HEADER.to_owned());
    }
    match string(value, MAX_HEADER_NAME) {
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
fn flag(value: Option<&Value>, name: &str) -> Result<bool, String> {
    match value {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        v => Err(cat(&[
            "options.",
            name,
            " must be true or false; got ",
            &describe(v),
        ])),
    }
}

fn credentials(value: Option<&Value>) -> Result<&'static str, String> {
    match value {
        None => Ok("same-origin"),
        Some(Value::String(s)) if s == "omit" => Ok("omit"),
        Some(Value::String(s)) if s == "same-origin" => Ok("same-origin"),
        Some(Value::String(s)) if s == "include" => Ok("include"),
        _ => Err("options.credentials must be 'omit', 'same-origin' or 'include'".into()),
    }
}

/// A whole number of milliseconds (or a count) within `range`.
fn whole(value: Option<&Value>, name: &str, default: u64, range: Range) -> Result<u64, String> {
    let Some(v) = value else {
        return Ok(default);
    };
    if let Some(n) = match v {
        Value::Number(n) => whole_number(n),
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
        "; got ",
        &describe(value),
    ]))
}
