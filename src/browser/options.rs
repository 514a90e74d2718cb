//! Reading `processPayment`'s key and options object.
//!
//! Only the options object's own properties are read: what page code put on
//! `Object.prototype` is never an option. Each bound and default is the rule's
//! own (`rules::retry`, `rules::record`, `rules::header`, `rules::key`).

use super::endpoint;
use super::headers::headers;
use super::js;
use super::read::{text, threw, Refused};
use crate::rules::header::{
    self, DEFAULT_IDEMPOTENCY_HEADER, MAX_HEADERS, MAX_HEADER_CHARS, MAX_HEADER_NAME,
};
use crate::rules::json::{self, Value};
use crate::rules::key::{KeyRules, MAX_KEY_LEN, UUID_LEN};
use crate::rules::record::MAX_ENDPOINT_LEN;
use crate::rules::retry::{Dialect, Policy, Range, Statuses, LIMITS, MAX_DIALECT_STATUSES};
use crate::rules::text::{cat, num, parse_u64};
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

/// Where the options' messages and their groups' say they are.
const TOP: &str = "options";
const DIALECT: &str = "options.dialect";
const KEYS: &str = "options.keys";

/// Reads the options object: its own properties cross in one call, as one
/// JSON array of strings (see `readOptions` in `src/js/values.js`) beside the
/// values that cannot be text, and are checked here in that order, so the
/// first bad option is the one reported.
pub fn options(value: &JsValue) -> Result<Options, String> {
    let text = js::read_options(
        value,
        MAX_OPTION_UNITS as u32,
        MAX_DIALECT_STATUSES as u32,
        MAX_HEADER_CHARS as u32,
        MAX_HEADERS,
    );
    // The text's first character says whether values that cannot be text are held.
    let held = text.starts_with('1');
    let Ok(Value::Array(items)) = json::parse(text.get(1..).unwrap_or_default(), usize::MAX) else {
        return Err("options could not be read".into());
    };
    // The values that cannot be text, when the text says there are some.
    let handles = held.then(js::take_handles);
    let at = |i: u32| handles.as_ref().map_or(JsValue::UNDEFINED, |h| h.get(i));
    let thrown = at(2);
    let mut r = Entries {
        items: items.iter(),
        thrown: &thrown,
        refused: None,
    };
    match r.next(TOP, "") {
        "xan object" => {}
        "" | "z" => {
            return Err("options are missing; pass at least { endpoint: '/api/charges' }".into())
        }
        other => return Err(cat(&["options must be an object; got ", describe(other)])),
    }
    // Each option is checked in turn; the first refusal is kept (see `Entries`).
    let e = r.next(TOP, "endpoint");
    let endpoint = endpoint::checked(string(e, MAX_ENDPOINT_LEN), &|| describe(e).into());
    let endpoint = r.ok(endpoint);
    let d = Policy::default();
    let l = LIMITS;
    let mut policy = Policy {
        max_retries: r.whole("maxRetries", u64::from(d.max_retries), l.max_retries) as u32,
        base_delay_ms: r.whole("retryDelayMs", d.base_delay_ms, l.base_delay_ms),
        max_delay_ms: r.whole("maxRetryDelayMs", d.max_delay_ms, l.max_delay_ms),
        max_retry_after_ms: r.whole(
            "maxRetryAfterMs",
            d.max_retry_after_ms,
            l.max_retry_after_ms,
        ),
        timeout_ms: r.whole("timeoutMs", d.timeout_ms, l.timeout_ms),
        key_ttl_ms: r.whole("keyTtlMs", d.key_ttl_ms, l.key_ttl_ms),
        accept_html: r.flag(TOP, "acceptHtml"),
        dialect: d.dialect,
    };
    let checked = policy.check();
    r.ok(checked);
    // `options.dialect`: what the server's statuses mean where servers differ
    // (see [`Dialect`]), and an extra replay header.
    r.group("dialect");
    policy.dialect = Dialect {
        mismatch: r.statuses("mismatch", d.dialect.mismatch),
        in_progress: r.statuses("inProgress", d.dialect.in_progress),
        finished: r.statuses("finished", d.dialect.finished),
    };
    let e = r.next(DIALECT, "replayHeader");
    let replay_header = match string(e, MAX_HEADER_NAME) {
        Ok(name) if header::is_name(&name) => Some(name),
        _ if e.is_empty() => None,
        _ => {
            r.refuse(
                DIALECT,
                "replayHeader",
                &cat(&[
                    "a header name (letters, digits and !#$%&'*+-.^_`|~, at most ",
                    &num(MAX_HEADER_NAME as u64),
                    " characters)",
                ]),
                e,
            );
            None
        }
    };
    // `options.keys`: what the server accepts as a key (see [`KeyRules`]).
    r.group("keys");
    let keys = KeyRules {
        max_len: r.whole_in(
            KEYS,
            "maxLength",
            KeyRules::default().max_len as u64,
            Range {
                min: UUID_LEN as u64,
                max: MAX_KEY_LEN as u64,
            },
        ) as usize,
        uuid_only: r.flag(KEYS, "uuid"),
    };
    let header_name = idempotency_header(r.next(TOP, "idempotencyHeader"));
    let header_name = r.ok(header_name);
    let quoted_key = r.flag(TOP, "quotedKey");
    let credentials = match r.next(TOP, "credentials") {
        "" | "ssame-origin" => "same-origin",
        "somit" => "omit",
        "sinclude" => "include",
        _ => {
            r.fail("options.credentials must be 'omit', 'same-origin' or 'include'".into());
            ""
        }
    };
    let signal = match r.next(TOP, "signal") {
        "" | "z" => None,
        "h" => Some(at(0).unchecked_into()),
        e => {
            r.refuse(TOP, "signal", "an AbortSignal", e);
            None
        }
    };
    let on_event = match r.next(TOP, "onEvent") {
        "" | "z" => None,
        "h" => Some(at(1).unchecked_into()),
        _ => {
            r.fail("options.onEvent must be a function".into());
            None
        }
    };
    let headers = headers(&mut r);
    if let Some(why) = r.refused {
        return Err(why);
    }
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

/// The options' strings, one per option in reading order (see `readOptions`):
/// '' when not given, else a letter saying what the value is and what follows it.
/// Each is checked in turn without stopping: the first refusal is kept, and
/// every entry after it reads as not given, so nothing more is refused.
pub struct Entries<'a> {
    items: core::slice::Iter<'a, Value>,
    /// What a getter or proxy trap threw, where the entry is `T` (or, for
    /// the headers, `P` or `K`).
    pub thrown: &'a JsValue,
    /// The first refusal.
    refused: Option<String>,
}

impl<'a> Entries<'a> {
    /// The next entry ("" past the last, or once something was refused).
    pub fn raw(&mut self) -> &'a str {
        match self.items.next() {
            Some(Value::String(s)) if self.refused.is_none() => s.as_str(),
            _ => "",
        }
    }

    /// The next option's entry, `path`'s `name`; where reading it threw, that
    /// is the refusal.
    pub fn next(&mut self, path: &str, name: &str) -> &'a str {
        let entry = self.raw();
        if entry == "T" {
            self.fail(threw(path, name, self.thrown));
            return "";
        }
        entry
    }

    /// Keeps `why` unless something was refused before.
    pub fn fail(&mut self, why: String) {
        if self.refused.is_none() {
            self.refused = Some(why);
        }
    }

    /// `result`'s value; its refusal kept (and the type's default given) if not.
    pub fn ok<T: Default>(&mut self, result: Result<T, String>) -> T {
        result.unwrap_or_else(|why| {
            self.fail(why);
            T::default()
        })
    }

    /// Refuses `path`.`name`, whose entry is `e`: it "must be `be`".
    fn refuse(&mut self, path: &str, name: &str, be: &str, e: &str) {
        self.fail(refuse(path, name, be, describe(e)));
    }

    /// A group of options (`options.dialect`, `options.keys`): an object, if
    /// given; its members follow it ('' when it is not given).
    fn group(&mut self, name: &str) {
        match self.next(TOP, name) {
            "" | "xan object" => {}
            e => self.refuse(TOP, name, "an object", e),
        }
    }

    /// A true-or-false option, false when absent.
    fn flag(&mut self, path: &str, name: &str) -> bool {
        match self.next(path, name) {
            "" | "f" => false,
            "t" => true,
            e => {
                self.refuse(path, name, "true or false", e);
                false
            }
        }
    }

    /// A whole number of milliseconds (or a count) of the options object.
    fn whole(&mut self, name: &str, default: u64, range: Range) -> u64 {
        self.whole_in(TOP, name, default, range)
    }

    /// A whole number within `range`, `default` when absent.
    fn whole_in(&mut self, path: &str, name: &str, default: u64, range: Range) -> u64 {
        let e = self.next(path, name);
        match number(e) {
            Some(n) if n >= range.min && n <= range.max => n,
            _ if e.is_empty() => default,
            _ => {
                let be = cat(&[
                    "a whole number from ",
                    &num(range.min),
                    " to ",
                    &num(range.max),
                ]);
                self.refuse(path, name, &be, e);
                default
            }
        }
    }

    /// A list of HTTP statuses for a dialect.
    fn statuses(&mut self, name: &str, default: Statuses) -> Statuses {
        let e = self.next(DIALECT, name);
        if e.is_empty() {
            return default;
        }
        let mut list = Vec::new();
        // What is not a list reads as one item that is no status.
        for item in e.strip_prefix('a').unwrap_or(",").split_terminator(',') {
            match number(item) {
                Some(s @ 100..=599) if list.len() < MAX_DIALECT_STATUSES => list.push(s as u16),
                _ => {
                    let be = cat(&[
                        "an array of at most ",
                        &num(MAX_DIALECT_STATUSES as u64),
                        " HTTP statuses (whole numbers from 100 to 599)",
                    ]);
                    self.refuse(DIALECT, name, &be, e);
                    return default;
                }
            }
        }
        Statuses::of(&list)
    }
}

/// "`path`.`name` must be `be`; got `got`": how most options are refused.
#[inline(never)]
fn refuse(path: &str, name: &str, be: &str, got: &str) -> String {
    cat(&[path, ".", name, " must be ", be, "; got ", got])
}

/// What kind of JS value an entry was, for error messages (as
/// [`js::describe`] words it).
pub fn describe(entry: &str) -> &str {
    let rest = entry.get(1..).unwrap_or_default();
    match entry.as_bytes().first() {
        None => "undefined",
        Some(b'n' | b'x') => rest,
        Some(b's' | b'L' | b'U') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'z') => "null",
        _ => "an array",
    }
}

/// The whole number an entry holds (`n` and its digits).
fn number(entry: &str) -> Option<u64> {
    parse_u64(entry.strip_prefix('n')?)
}

/// A string of at most `max` UTF-16 units, as [`super::read::text`] reads one
/// (`U` and a length says a string that long holds a lone surrogate; `U`
/// alone, that it holds one and is not too long for an option).
pub fn string(entry: &str, max: usize) -> Result<String, Refused> {
    let rest = entry.get(1..).unwrap_or_default();
    match entry.as_bytes().first() {
        Some(b's') => {
            let n = rest.encode_utf16().count();
            if n > max {
                Err(Refused::TooLong(n as u32))
            } else {
                Ok(rest.into())
            }
        }
        Some(b'L') => Err(Refused::TooLong(
            parse_u64(rest).unwrap_or(u64::MAX).min(u32::MAX.into()) as u32,
        )),
        Some(b'U') => match parse_u64(rest) {
            Some(n) if n > max as u64 => Err(Refused::TooLong(n.min(u32::MAX.into()) as u32)),
            _ => Err(Refused::LoneSurrogate),
        },
        _ => Err(Refused::NotString),
    }
}

/// `options.idempotencyHeader`: the name the key is sent under (see
/// [`header::check_idempotency_header`]).
fn idempotency_header(entry: &str) -> Result<String, String> {
    if entry.is_empty() {
        return Ok(DEFAULT_IDEMPOTENCY_HEADER.to_owned());
    }
    match string(entry, MAX_HEADER_NAME) {
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
