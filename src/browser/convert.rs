//! Reading caller input from JS: payment details, keys and options.
//!
//! Whatever JS hands over (null, a BigInt, a cycle, a proxy whose traps
//! throw, NaN where a number belongs), the answer is `Ok` or an `Err` naming
//! what was wrong and where. Nothing here can panic.
//!
//! Every string is measured in JS before it is copied into wasm memory, so an
//! oversize input costs one length read, not a copy: a JS string's `length`
//! (UTF-16 code units) is a lower bound of its UTF-8 and JSON length. Every
//! copied string is then checked for lone surrogates, which the copy would
//! turn into U+FFFD and so make two different inputs one.

use super::js::{self, Brand, Local};
use crate::rules::json::{self, Value};
use crate::rules::key::MAX_KEY_LEN;
use crate::rules::record::{MAX_ENDPOINT_LEN as MAX_ENDPOINT, MAX_KEY_TTL_MS};
use crate::rules::retry::Policy;
use crate::rules::text::{cat, hex, num};
use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use js_sys::{Array, Function, JsString, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::AbortSignal;

/// The deepest nesting accepted in details.
pub const MAX_DEPTH: usize = 32;
/// The most values (objects, arrays and leaves) accepted in details.
pub const MAX_NODES: usize = 10_000;
/// The largest canonical body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 100_000;

/// Why a JS value could not be read as text.
enum Refused {
    /// Not a string at all.
    NotString,
    /// Longer than allowed: its length in UTF-16 code units, read without copying.
    TooLong(u32),
    /// It holds a lone UTF-16 surrogate, which no UTF-8 text can carry.
    LoneSurrogate,
}

/// Copies a JS string of at most `max` UTF-16 code units into Rust, exactly.
fn text(value: &JsValue, max: usize) -> Result<String, Refused> {
    let Some(js) = value.dyn_ref::<JsString>() else {
        return Err(Refused::NotString);
    };
    let units = js.length();
    if units as usize > max {
        return Err(Refused::TooLong(units));
    }
    let Some(copied) = value.as_string() else {
        return Err(Refused::NotString);
    };
    // The copy turned any lone surrogate into U+FFFD; only then is JS asked.
    if copied.chars().any(|c| c == '\u{FFFD}') && !js::well_formed(value) {
        return Err(Refused::LoneSurrogate);
    }
    Ok(copied)
}

/// A JS string for an error message: at most `max` UTF-16 units are copied.
fn shown(value: &JsValue, max: u32) -> String {
    match value.dyn_ref::<JsString>() {
        Some(js) if js.length() > max => cat(&[&String::from(js.slice(0, max)), "…"]),
        Some(js) => String::from(js),
        None => js::describe(value),
    }
}

struct Walker {
    stack: Vec<JsValue>,
    nodes: usize,
    /// The canonical body's length so far, in bytes.
    bytes: usize,
    object_prototype: JsValue,
}

/// Reads payment details into JSON data. They must be a plain object.
pub fn details(value: &JsValue) -> Result<Value, String> {
    if value.is_undefined() || value.is_null() {
        return Err(cat(&[
            "payment details are ",
            &js::describe(value),
            "; pass an object such as { amount: 5000, currency: 'usd' }",
        ]));
    }
    if !value.is_object() || js::is_array(value).unwrap_or(false) {
        return Err(cat(&[
            "payment details must be an object; got ",
            &js::describe(value),
        ]));
    }
    let mut walker = Walker {
        stack: Vec::new(),
        nodes: 0,
        bytes: 0,
        object_prototype: js::prototype_of(&Object::new().into()).unwrap_or(JsValue::NULL),
    };
    let mut path = String::from("details");
    match walker.walk(value, &mut path, true)? {
        Some(v @ Value::Object(_)) => Ok(v),
        // A toJSON() at the top (a Date, a class) turned the details into something else.
        Some(_) => Err("payment details must be an object whose JSON form is an object; its toJSON() returned something else".into()),
        None => Err("payment details are undefined".into()),
    }
}

impl Walker {
    /// `Ok(None)` is `undefined`: skipped in objects, as JSON does.
    fn walk(
        &mut self,
        v: &JsValue,
        path: &mut String,
        to_json: bool,
    ) -> Result<Option<Value>, String> {
        self.count_node()?;
        if v.is_undefined() {
            return Ok(None);
        }
        if !v.is_object() && !v.is_function() {
            return self.leaf(v, path).map(Some);
        }
        self.enter(v, path)?;
        if to_json {
            if let Some(replaced) = self.to_json(v, path)? {
                return self.walk(&replaced, path, false);
            }
        }
        self.stack.push(v.clone());
        let result = if js::is_array(v).map_err(|e| threw(path, "Array.isArray", &e))? {
            self.array(v, path)
        } else {
            self.object(v, path)
        };
        self.stack.pop();
        result.map(Some)
    }

    fn count_node(&mut self) -> Result<(), String> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(cat(&[
                "payment details hold more than ",
                &num(MAX_NODES as u64),
                " values",
            ]));
        }
        Ok(())
    }

    /// Adds `bytes` to the body's length; past the limit, says where.
    fn spend(&mut self, bytes: usize, path: &str) -> Result<(), String> {
        self.bytes = self.bytes.saturating_add(bytes);
        if self.bytes > MAX_BODY_BYTES {
            return Err(over_budget(path));
        }
        Ok(())
    }

    /// The budget left for one JSON string, in UTF-16 units of its text.
    fn left_for_string(&self) -> usize {
        MAX_BODY_BYTES.saturating_sub(self.bytes.saturating_add(2))
    }

    /// A primitive: null, a boolean, a number, a string, a BigInt or a symbol.
    fn leaf(&mut self, v: &JsValue, path: &str) -> Result<Value, String> {
        let value = if v.is_null() {
            Value::Null
        } else if let Some(b) = v.as_bool() {
            Value::Bool(b)
        } else if let Some(n) = v.as_f64() {
            if !n.is_finite() {
                return Err(cat(&[
                    path,
                    " is ",
                    &js::number_to_string(n),
                    "; numbers in payment details must be finite",
                ]));
            }
            Value::Number(js::number_to_string(n))
        } else if v.is_string() {
            return self.string(v, path).map(Value::String);
        } else if v.is_bigint() {
            return Err(cat(&[
                path,
                " is a BigInt, which JSON cannot carry; send it as a string or a number",
            ]));
        } else {
            return Err(cat(&[
                path,
                " is ",
                &js::describe(v),
                "; payment details must be JSON data",
            ]));
        };
        let len = match &value {
            Value::Null | Value::Bool(true) => 4,
            Value::Bool(false) => 5,
            Value::Number(text) => text.len(),
            _ => 0,
        };
        self.spend(len, path)?;
        Ok(value)
    }

    /// A string value, measured before it is copied.
    fn string(&mut self, v: &JsValue, path: &str) -> Result<String, String> {
        match text(v, self.left_for_string()) {
            Ok(s) => {
                self.spend(json::string_len(&s), path)?;
                Ok(s)
            }
            Err(Refused::TooLong(units)) => Err(over_budget(&cat(&[
                path,
                " (a string of ",
                &num(u64::from(units)),
                " characters)",
            ]))),
            Err(Refused::LoneSurrogate) => Err(cat(&[
                path,
                " holds a lone UTF-16 surrogate, which cannot be sent as JSON text",
            ])),
            Err(Refused::NotString) => Err(cat(&[path, " is not a string"])),
        }
    }

    /// Refuses a cycle and nesting past `MAX_DEPTH`.
    fn enter(&self, v: &JsValue, path: &str) -> Result<(), String> {
        if v.is_function() {
            return Err(cat(&[
                path,
                " is a function; payment details must be JSON data",
            ]));
        }
        if self.stack.iter().any(|seen| Object::is(seen, v)) {
            return Err(cat(&[
                path,
                " refers back to an object that contains it (a cycle)",
            ]));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(cat(&[
                path,
                " is nested deeper than ",
                &num(MAX_DEPTH as u64),
                " levels",
            ]));
        }
        Ok(())
    }

    /// What `v.toJSON()` returns, when `v` has one (a Date, a class), as `JSON.stringify` does.
    fn to_json(&self, v: &JsValue, path: &str) -> Result<Option<JsValue>, String> {
        let method = js::get(v, "toJSON").map_err(|e| threw(path, "toJSON", &e))?;
        match method.dyn_ref::<Function>() {
            Some(f) => f
                .call0(v)
                .map(Some)
                .map_err(|e| threw(path, "toJSON()", &e)),
            None => Ok(None),
        }
    }

    fn array(&mut self, v: &JsValue, path: &mut String) -> Result<Value, String> {
        let at = path.len();
        let len = js::get(v, "length").map_err(|e| threw(path, "length", &e))?;
        let len = len
            .as_f64()
            .filter(|n| *n >= 0.0 && *n <= MAX_NODES as f64)
            .ok_or_else(|| {
                cat(&[
                    path,
                    " is an array longer than ",
                    &num(MAX_NODES as u64),
                    " items",
                ])
            })?;
        self.spend(2, path)?;
        let mut items = Vec::new();
        for i in 0..(len as u32) {
            path.push('[');
            path.push_str(&num(u64::from(i)));
            path.push(']');
            if i > 0 {
                self.spend(1, path)?;
            }
            let item = Reflect::get_u32(v, i).map_err(|e| threw(path, "", &e))?;
            match self.walk(&item, path, true)? {
                Some(value) => items.push(value),
                None => {
                    return Err(cat(&[
                        path,
                        " is undefined; arrays in payment details cannot have holes",
                    ]))
                }
            }
            path.truncate(at);
        }
        Ok(Value::Array(items))
    }

    fn object(&mut self, v: &JsValue, path: &mut String) -> Result<Value, String> {
        self.plain(v, path)?;
        let keys = js::object_keys(v).map_err(|e| threw(path, "its keys", &e))?;
        self.spend(2, path)?;
        let at = path.len();
        let mut members = Vec::new();
        for key in keys.iter() {
            let item = Reflect::get(v, &key)
                .map_err(|e| threw(&cat(&[path, ".", &shown(&key, 64)]), "", &e))?;
            if item.is_undefined() {
                // Left out of the JSON, as JSON.stringify leaves it out.
                self.count_node()?;
                continue;
            }
            let before = self.bytes;
            let name = self.member_name(&key, path, members.is_empty())?;
            path.push('.');
            path.push_str(&name);
            match self.walk(&item, path, true)? {
                Some(value) => members.push((name, value)),
                // Its toJSON() returned undefined: left out, and so is its name.
                None => self.bytes = before,
            }
            path.truncate(at);
        }
        Ok(Value::Object(members))
    }

    /// Refuses anything but a plain object (or one with a null prototype), from this
    /// page or from another frame: each frame has its own `Object.prototype`.
    fn plain(&self, v: &JsValue, path: &str) -> Result<(), String> {
        let proto = js::prototype_of(v).map_err(|e| threw(path, "its prototype", &e))?;
        if proto.is_null()
            || Object::is(&proto, &self.object_prototype)
            || is_object_prototype(&proto)
        {
            return Ok(());
        }
        let name = js::get(&proto, "constructor")
            .ok()
            .and_then(|c| js::get(&c, "name").ok())
            .and_then(|n| text(&n, 64).ok())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "class instance".to_owned());
        let article = if name.starts_with(['A', 'E', 'I', 'O', 'U', 'a', 'e', 'i', 'o', 'u']) {
            " is an "
        } else {
            " is a "
        };
        Err(cat(&[
            path,
            article,
            &name,
            "; payment details must be plain objects, arrays, strings, numbers, booleans or null",
        ]))
    }

    /// A member name, measured before it is copied, and its bytes with its `:` (and `,`).
    fn member_name(&mut self, key: &JsValue, path: &str, first: bool) -> Result<String, String> {
        let separators = if first { 1 } else { 2 };
        match text(key, self.left_for_string().saturating_sub(separators)) {
            Ok(name) => {
                self.spend(json::string_len(&name) + separators, path)?;
                Ok(name)
            }
            Err(Refused::TooLong(units)) => Err(over_budget(&cat(&[
                "a member name of ",
                &num(u64::from(units)),
                " characters in ",
                path,
            ]))),
            Err(Refused::LoneSurrogate) => Err(cat(&[
                path,
                " has a member name holding a lone UTF-16 surrogate, which cannot be sent as JSON text",
            ])),
            // Object.keys gives strings only.
            Err(Refused::NotString) => Err(cat(&[path, " has a member name that is not a string"])),
        }
    }
}

fn over_budget(at: &str) -> String {
    cat(&[
        "payment details grow past ",
        &num(MAX_BODY_BYTES as u64),
        " bytes as JSON at ",
        at,
        "; the limit is ",
        &num(MAX_BODY_BYTES as u64),
        " bytes, so send large data by reference (an id) instead",
    ])
}

/// Whether `proto` is some frame's `Object.prototype`: the end of its chain, and the
/// `prototype` of its own `constructor`.
fn is_object_prototype(proto: &JsValue) -> bool {
    js::prototype_of(proto).is_ok_and(|p| p.is_null())
        && js::get(proto, "constructor")
            .ok()
            .filter(JsValue::is_function)
            .and_then(|c| js::get(&c, "prototype").ok())
            .is_some_and(|p| Object::is(&p, proto))
}

fn threw(path: &str, what: &str, thrown: &JsValue) -> String {
    let space = if what.is_empty() { "" } else { " " };
    cat(&[
        "reading ",
        path,
        space,
        what,
        " threw (",
        &js::describe_thrown(thrown),
        ")",
    ])
}

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
}

/// The longest header name accepted, in characters.
const MAX_HEADER_NAME: usize = 256;
/// The most characters accepted in all caller header names and values together.
const MAX_HEADER_CHARS: usize = 32_768;
/// The most caller headers accepted.
const MAX_HEADERS: u32 = 100;

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
    let policy = policy(&field)?;
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
    })
}

/// `options.endpoint`: a string or a `URL`, as `fetch` takes it, made absolute
/// (see [`absolute_url`]). Also the reader for any other endpoint JS hands over
/// (`pendingPayments(endpoint)`, a PayButton's `endpoint`).
pub fn endpoint(value: &JsValue) -> Result<String, String> {
    // A URL of this page or of a same-origin frame, as fetch takes either.
    let written = if js::is(Brand::Url, value) {
        js::get(value, "href").map_err(|e| threw("options", "endpoint.href", &e))?
    } else {
        value.clone()
    };
    let endpoint = match text(&written, MAX_ENDPOINT) {
        Ok(e) if !e.trim().is_empty() && !e.chars().any(char::is_control) => e,
        Ok(_) => {
            return Err(cat(&[
                "options.endpoint must be a URL of 1 to ",
                &num(MAX_ENDPOINT as u64),
                " characters without control characters",
            ]))
        }
        Err(Refused::TooLong(units)) => return Err(endpoint_too_long(u64::from(units), "")),
        Err(Refused::LoneSurrogate) => {
            return Err(
                "options.endpoint holds a lone UTF-16 surrogate, which no URL can carry".into(),
            )
        }
        Err(Refused::NotString) => {
            return Err(cat(&[
                "options.endpoint must be the payment URL as a string or a URL object; got ",
                &js::describe(&written),
            ]))
        }
    };
    absolute_url(&endpoint)
}

fn endpoint_too_long(chars: u64, how: &str) -> String {
    cat(&[
        "options.endpoint is ",
        &num(chars),
        " characters long",
        how,
        "; the limit is ",
        &num(MAX_ENDPOINT as u64),
        " characters",
    ])
}

/// The retry and timeout options.
fn policy(field: &dyn Fn(&'static str) -> Result<JsValue, String>) -> Result<Policy, String> {
    let defaults = Policy::default();
    let policy = Policy {
        max_retries: whole(
            &field("maxRetries")?,
            "maxRetries",
            u64::from(defaults.max_retries),
            0,
            10,
        )? as u32,
        base_delay_ms: whole(
            &field("retryDelayMs")?,
            "retryDelayMs",
            defaults.base_delay_ms,
            0,
            60_000,
        )?,
        max_delay_ms: whole(
            &field("maxRetryDelayMs")?,
            "maxRetryDelayMs",
            defaults.max_delay_ms,
            0,
            300_000,
        )?,
        max_retry_after_ms: whole(
            &field("maxRetryAfterMs")?,
            "maxRetryAfterMs",
            defaults.max_retry_after_ms,
            0,
            300_000,
        )?,
        timeout_ms: whole(
            &field("timeoutMs")?,
            "timeoutMs",
            defaults.timeout_ms,
            1,
            600_000,
        )?,
        key_ttl_ms: whole(
            &field("keyTtlMs")?,
            "keyTtlMs",
            defaults.key_ttl_ms,
            1,
            MAX_KEY_TTL_MS,
        )?,
        accept_html: flag(&field("acceptHtml")?, "acceptHtml")?,
    };
    policy.check()?;
    Ok(policy)
}

/// `options.idempotencyHeader`: a header name the browser sends and payonce does not own.
fn idempotency_header(value: &JsValue) -> Result<String, String> {
    if value.is_undefined() {
        return Ok("Idempotency-Key".to_owned());
    }
    let name =
        match text(value, MAX_HEADER_NAME) {
            Ok(h) if !h.is_empty() && h.bytes().all(is_tchar) => h,
            Err(Refused::TooLong(units)) => {
                return Err(cat(&[
                    "options.idempotencyHeader is ",
                    &num(u64::from(units)),
                    " characters long; header names here are at most ",
                    &num(MAX_HEADER_NAME as u64),
                    " characters",
                ]))
            }
            _ => return Err(
                "options.idempotencyHeader must be an HTTP header name such as 'Idempotency-Key'"
                    .into(),
            ),
        };
    if name.eq_ignore_ascii_case("Content-Type") {
        return Err("options.idempotencyHeader cannot be Content-Type, which payonce sets to application/json; use a name such as 'Idempotency-Key'".into());
    }
    if let Some(why) = refused_header(&name) {
        return Err(cat(&[
            "options.idempotencyHeader '",
            &name,
            "' is ",
            why,
            ", so the key would not reach the server; use a name such as 'Idempotency-Key'",
        ]));
    }
    Ok(name)
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

/// The endpoint as an absolute URL against the page's address, so that
/// `/api/charges`, `api/../api/charges`, `/api/charges#x` and
/// `https://shop.example/api/charges` are one endpoint, and so one payment
/// and one key. Only http(s) URLs without credentials are accepted; the
/// fragment, which never reaches the server, is dropped.
pub fn absolute_url(endpoint: &str) -> Result<String, String> {
    let base = js::get(&js::page(), "location")
        .and_then(|l| js::get(&l, "href"))
        .ok()
        .and_then(|h| text(&h, 1 << 20).ok());
    // The last answer, reused while the endpoint and the page address are the same.
    let hit = LAST_URL.with(|last| {
        last.borrow()
            .as_ref()
            .filter(|(e, b, _)| e == endpoint && *b == base)
            .map(|(_, _, href)| href.clone())
    });
    if let Some(href) = hit {
        return Ok(href);
    }
    let url = match &base {
        Some(base) => web_sys::Url::new_with_base(endpoint, base),
        None => web_sys::Url::new(endpoint),
    };
    let url = url.map_err(|e| {
        // The browser's message repeats the URL, so neither is shown when it may hold credentials.
        if endpoint.bytes().any(|b| b == b'@') {
            return "options.endpoint is not a valid URL (not shown: it may hold a password)"
                .into();
        }
        let shown = endpoint
            .char_indices()
            .nth(80)
            .and_then(|(at, _)| endpoint.get(..at))
            .unwrap_or(endpoint);
        cat(&[
            "options.endpoint ",
            shown,
            " is not a valid URL (",
            &js::describe_thrown(&e),
            ")",
        ])
    })?;
    let scheme = url.protocol();
    if scheme != "http:" && scheme != "https:" {
        return Err(cat(&[
            "options.endpoint must be an http: or https: URL; got a ",
            &scheme,
            " URL",
        ]));
    }
    if !url.username().is_empty() || !url.password().is_empty() {
        return Err("options.endpoint has a user name or password in it; send credentials in options.headers (such as Authorization), never in the URL".into());
    }
    url.set_hash("");
    let href = url.href();
    // The absolute URL is ASCII (percent-encoded, punycode), so its bytes are its characters.
    if href.len() > MAX_ENDPOINT {
        return Err(endpoint_too_long(
            href.len() as u64,
            " as an absolute, percent-encoded URL",
        ));
    }
    LAST_URL.with(|last| *last.borrow_mut() = Some((endpoint.to_owned(), base, href.clone())));
    Ok(href)
}

type UrlMemo = Option<(String, Option<String>, String)>;
static LAST_URL: Local<RefCell<UrlMemo>> = Local(RefCell::new(None));

/// `options.headers`, in any form `fetch` takes (`HeadersInit`): a `Headers`,
/// a sequence of `[name, value]` pairs (any iterable, a `Map` included, as
/// WebIDL reads it) or a record of names to values.
fn headers(value: &JsValue) -> Result<Vec<(String, String)>, String> {
    if value.is_undefined() || value.is_null() {
        return Ok(Vec::new());
    }
    if !value.is_object() || value.is_function() {
        return Err(cat(&[
            "options.headers must be a Headers object, an array of [name, value] pairs or an object of header names to string values; got ",
            &js::describe(value),
        ]));
    }
    let mut list = HeaderList {
        out: Vec::new(),
        left: MAX_HEADER_CHARS,
    };
    match js::take(value, MAX_HEADERS).map_err(|e| threw("options.headers", "", &e))? {
        Some(pairs) => list.pairs(&pairs)?,
        None => list.record(value)?,
    }
    Ok(list.out)
}

struct HeaderList {
    out: Vec<(String, String)>,
    /// Characters left for names and values.
    left: usize,
}

impl HeaderList {
    fn pairs(&mut self, pairs: &Array) -> Result<(), String> {
        if pairs.length() > MAX_HEADERS {
            return Err(too_many_headers());
        }
        for (i, pair) in pairs.iter().enumerate() {
            let at = cat(&["options.headers[", &num(i as u64), "]"]);
            let items = if pair.is_object() {
                js::take(&pair, 2).map_err(|e| threw(&at, "", &e))?
            } else {
                None
            };
            let items = match items {
                Some(items) if items.length() == 2 => items,
                Some(items) => {
                    let count = match items.length() {
                        0 => "no items",
                        1 => "1 item",
                        _ => "more than 2 items",
                    };
                    return Err(cat(&[
                        &at,
                        " has ",
                        count,
                        "; each header is a [name, value] pair",
                    ]));
                }
                None => {
                    return Err(cat(&[
                        &at,
                        " must be a [name, value] pair; got ",
                        &js::describe(&pair),
                    ]))
                }
            };
            let name = self.name(&items.get(0), &at)?;
            let value = items.get(1);
            self.add(name, &value)?;
        }
        Ok(())
    }

    fn record(&mut self, record: &JsValue) -> Result<(), String> {
        let keys = js::object_keys(record).map_err(|e| threw("options.headers", "its keys", &e))?;
        if keys.length() > MAX_HEADERS {
            return Err(too_many_headers());
        }
        for key in keys.iter() {
            let name = self.name(&key, "options.headers")?;
            let value = Reflect::get(record, &key)
                .map_err(|e| threw(&cat(&["options.headers['", &name, "']"]), "", &e))?;
            self.add(name, &value)?;
        }
        Ok(())
    }

    fn name(&mut self, name: &JsValue, at: &str) -> Result<String, String> {
        let name = match text(name, self.left.min(MAX_HEADER_NAME)) {
            Ok(name) => name,
            Err(Refused::NotString) => {
                return Err(cat(&[
                    at,
                    " has a header name that is not a string: ",
                    &js::describe(name),
                ]))
            }
            Err(Refused::TooLong(units)) => {
                return Err(cat(&[
                    "options.headers has a header name of ",
                    &num(u64::from(units)),
                    " characters; names are at most ",
                    &num(MAX_HEADER_NAME as u64),
                    " characters, and all names and values together ",
                    &num(MAX_HEADER_CHARS as u64),
                    " characters",
                ]))
            }
            Err(Refused::LoneSurrogate) => String::from("\u{FFFD}"),
        };
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(cat(&[
                "options.headers has an invalid header name '",
                &name,
                "'",
            ]));
        }
        if let Some(why) = refused_header(&name) {
            return Err(cat(&[
                "options.headers['",
                &name,
                "'] is ",
                why,
                "; remove it from options.headers",
            ]));
        }
        self.left = self.left.saturating_sub(name.len());
        Ok(name)
    }

    fn add(&mut self, name: String, value: &JsValue) -> Result<(), String> {
        let at = || cat(&["options.headers['", &name, "']"]);
        let text =
            match text(value, self.left) {
                Ok(text) => text,
                Err(Refused::NotString) => {
                    return Err(cat(&[
                        &at(),
                        " must be a string; got ",
                        &js::describe(value),
                    ]))
                }
                Err(Refused::TooLong(units)) => {
                    return Err(cat(&[
                        &at(),
                        " is ",
                        &num(u64::from(units)),
                        " characters long; all header names and values together are limited to ",
                        &num(MAX_HEADER_CHARS as u64),
                        " characters",
                    ]))
                }
                Err(Refused::LoneSurrogate) => return Err(cat(&[
                    &at(),
                    " holds a lone UTF-16 surrogate; header values are bytes (U+0000 to U+00FF)",
                ])),
            };
        if text.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
            return Err(cat(&[
                &at(),
                " holds a line break or NUL; header values must be one line",
            ]));
        }
        if let Some(c) = text.chars().find(|c| u32::from(*c) > 0xFF) {
            return Err(cat(&[
                &at(),
                " holds U+",
                &hex(u64::from(c), 4).to_ascii_uppercase(),
                ", beyond U+00FF; header values are bytes, so encode such text first (for example with encodeURIComponent)",
            ]));
        }
        self.left = self.left.saturating_sub(text.chars().count());
        self.out.push((name, text));
        Ok(())
    }
}

fn too_many_headers() -> String {
    cat(&[
        "options.headers has more than ",
        &num(u64::from(MAX_HEADERS)),
        " headers",
    ])
}

/// Why the browser (or a server) would not let a header through as payonce
/// means it, by the Fetch standard's forbidden request-header names, or `None`.
fn refused_header(name: &str) -> Option<&'static str> {
    const FORBIDDEN: [&str; 21] = [
        "Accept-Charset",
        "Accept-Encoding",
        "Access-Control-Request-Headers",
        "Access-Control-Request-Method",
        "Connection",
        "Content-Length",
        "Cookie",
        "Cookie2",
        "Date",
        "DNT",
        "Expect",
        "Host",
        "Keep-Alive",
        "Origin",
        "Referer",
        "Set-Cookie",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Via",
    ];
    const METHOD_OVERRIDE: [&str; 3] = [
        "X-HTTP-Method",
        "X-HTTP-Method-Override",
        "X-Method-Override",
    ];
    let starts = |prefix: &str| {
        name.get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    if FORBIDDEN.iter().any(|f| f.eq_ignore_ascii_case(name)) || starts("Proxy-") || starts("Sec-")
    {
        Some("a header the browser does not let pages set (fetch drops it without a word)")
    } else if METHOD_OVERRIDE.iter().any(|f| f.eq_ignore_ascii_case(name)) {
        Some("a method-override header, which would make servers that honour it treat the payment as another method")
    } else {
        None
    }
}

/// A whole number of milliseconds (or a count) within bounds.
fn whole(value: &JsValue, name: &str, default: u64, min: u64, max: u64) -> Result<u64, String> {
    if value.is_undefined() {
        return Ok(default);
    }
    match value.as_f64() {
        Some(n) if n >= min as f64 && n <= max as f64 && n == (n as u64) as f64 => Ok(n as u64),
        _ => Err(cat(&[
            "options.",
            name,
            " must be a whole number from ",
            &num(min),
            " to ",
            &num(max),
            "; got ",
            &js::describe(value),
        ])),
    }
}

/// RFC 9110 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
