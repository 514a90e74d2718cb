//! Reading caller input from JS: payment details, keys and options.
//!
//! Whatever JS hands over (null, a BigInt, a cycle, a proxy whose traps
//! throw, NaN where a number belongs), the answer is `Ok` or an `Err` naming
//! what was wrong and where. Nothing here can panic.

use super::js::{self, Local};
use crate::rules::json::Value;
use crate::rules::retry::Policy;
use crate::rules::text::{cat, num};
use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use js_sys::{Function, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::AbortSignal;

/// The deepest nesting accepted in details.
pub const MAX_DEPTH: usize = 32;
/// The most values (objects, arrays and leaves) accepted in details.
pub const MAX_NODES: usize = 10_000;
/// The largest canonical body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 100_000;

struct Walker {
    stack: Vec<JsValue>,
    nodes: usize,
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
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(cat(&[
                "payment details hold more than ",
                &num(MAX_NODES as u64),
                " values",
            ]));
        }
        if v.is_undefined() {
            return Ok(None);
        }
        if v.is_null() {
            return Ok(Some(Value::Null));
        }
        if let Some(b) = v.as_bool() {
            return Ok(Some(Value::Bool(b)));
        }
        if let Some(n) = v.as_f64() {
            if !n.is_finite() {
                return Err(cat(&[
                    path,
                    " is ",
                    &js::number_to_string(n),
                    "; numbers in payment details must be finite",
                ]));
            }
            return Ok(Some(Value::Number(js::number_to_string(n))));
        }
        if let Some(text) = v.as_string() {
            // Copying into Rust turns a lone surrogate into U+FFFD; only then is JS asked.
            if text.chars().any(|c| c == '\u{FFFD}') && !js::well_formed(v) {
                return Err(cat(&[
                    path,
                    " holds a lone UTF-16 surrogate, which cannot be sent as JSON text",
                ]));
            }
            return Ok(Some(Value::String(text)));
        }
        if v.is_bigint() {
            return Err(cat(&[
                path,
                " is a BigInt, which JSON cannot carry; send it as a string or a number",
            ]));
        }
        if v.is_symbol() || v.is_function() {
            return Err(cat(&[
                path,
                " is ",
                &js::describe(v),
                "; payment details must be JSON data",
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
        if to_json {
            let method = js::get(v, "toJSON").map_err(|e| threw(path, "toJSON", &e))?;
            if let Some(f) = method.dyn_ref::<Function>() {
                let replaced = f.call0(v).map_err(|e| threw(path, "toJSON()", &e))?;
                return self.walk(&replaced, path, false);
            }
        }
        self.stack.push(v.clone());
        let result = self.walk_container(v, path);
        self.stack.pop();
        result.map(Some)
    }

    fn walk_container(&mut self, v: &JsValue, path: &mut String) -> Result<Value, String> {
        let at = path.len();
        if js::is_array(v).map_err(|e| threw(path, "Array.isArray", &e))? {
            let len = js::get(v, "length").map_err(|e| threw(path, "length", &e))?;
            let len = len
                .as_f64()
                .filter(|n| *n >= 0.0 && *n <= MAX_NODES as f64)
                .unwrap_or(f64::MAX);
            if len > MAX_NODES as f64 {
                return Err(cat(&[
                    path,
                    " is an array longer than ",
                    &num(MAX_NODES as u64),
                    " items",
                ]));
            }
            let mut items = Vec::new();
            for i in 0..(len as u32) {
                let index = num(u64::from(i));
                path.push('[');
                path.push_str(&index);
                path.push(']');
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
            return Ok(Value::Array(items));
        }
        let proto = js::prototype_of(v).map_err(|e| threw(path, "its prototype", &e))?;
        if !proto.is_null() && !Object::is(&proto, &self.object_prototype) {
            let name = js::get(&proto, "constructor")
                .ok()
                .and_then(|c| js::get(&c, "name").ok())
                .and_then(|n| n.as_string())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "class instance".to_owned());
            return Err(cat(&[
                path,
                " is a ",
                &name,
                "; payment details must be plain objects, arrays, strings, numbers, booleans or null",
            ]));
        }
        let keys = js::object_keys(v).map_err(|e| threw(path, "its keys", &e))?;
        let mut members = Vec::new();
        for key in keys.iter() {
            let Some(name) = key.as_string() else {
                continue;
            };
            path.push('.');
            path.push_str(&name);
            let item = Reflect::get(v, &key).map_err(|e| threw(path, "", &e))?;
            if let Some(value) = self.walk(&item, path, true)? {
                members.push((name, value));
            }
            path.truncate(at);
        }
        Ok(Value::Object(members))
    }
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
    let Some(key) = value.as_string() else {
        return Err(cat(&[
            "the idempotency key must be a string; got ",
            &js::describe(value),
        ]));
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
    /// Retries and timeouts.
    pub policy: Policy,
    /// How long a key lives.
    pub key_ttl_ms: u64,
    /// The idempotency header's name.
    pub header_name: String,
    /// Send the key in the draft's quoted form.
    pub quoted_key: bool,
    /// fetch's `credentials`.
    pub credentials: Option<&'static str>,
    /// The caller's abort signal.
    pub signal: Option<AbortSignal>,
    /// Event callback.
    pub on_event: Option<Function>,
}

/// The longest endpoint accepted.
const MAX_ENDPOINT: usize = 2048;
/// One day, the default key lifetime (the IETF draft's suggestion).
pub const DEFAULT_KEY_TTL_MS: u64 = 24 * 60 * 60 * 1000;

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
    let field = |name: &'static str| js::get(value, name).map_err(|e| threw("options", name, &e));

    let endpoint = field("endpoint")?;
    let endpoint = match endpoint.as_string() {
        Some(e)
            if !e.trim().is_empty()
                && e.len() <= MAX_ENDPOINT
                && !e.chars().any(char::is_control) =>
        {
            e
        }
        Some(_) => {
            return Err(cat(&[
                "options.endpoint must be a URL of 1 to ",
                &num(MAX_ENDPOINT as u64),
                " characters without control characters",
            ]))
        }
        None => {
            return Err(cat(&[
                "options.endpoint must be the payment URL as a string; got ",
                &js::describe(&endpoint),
            ]))
        }
    };

    let endpoint = absolute_url(&endpoint)?;

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
    };
    let key_ttl_ms = whole(
        &field("keyTtlMs")?,
        "keyTtlMs",
        DEFAULT_KEY_TTL_MS,
        1,
        7 * DEFAULT_KEY_TTL_MS,
    )?;

    let header_name = field("idempotencyHeader")?;
    let header_name = if header_name.is_undefined() {
        "Idempotency-Key".to_owned()
    } else {
        match header_name.as_string() {
            Some(h) if !h.is_empty() && h.bytes().all(is_tchar) => h,
            _ => return Err(
                "options.idempotencyHeader must be an HTTP header name such as 'Idempotency-Key'"
                    .into(),
            ),
        }
    };

    let quoted = field("quotedKey")?;
    let quoted_key = if quoted.is_undefined() {
        false
    } else {
        quoted.as_bool().ok_or_else(|| {
            cat(&[
                "options.quotedKey must be true or false; got ",
                &js::describe(&quoted),
            ])
        })?
    };

    let credentials = field("credentials")?;
    let credentials = if credentials.is_undefined() {
        None
    } else {
        match credentials.as_string().as_deref() {
            Some("omit") => Some("omit"),
            Some("same-origin") => Some("same-origin"),
            Some("include") => Some("include"),
            _ => {
                return Err("options.credentials must be 'omit', 'same-origin' or 'include'".into())
            }
        }
    };

    let signal =
        optional::<AbortSignal>(field("signal")?, "options.signal must be an AbortSignal")?;
    let on_event = optional::<Function>(field("onEvent")?, "options.onEvent must be a function")?;

    let headers = headers(&field("headers")?)?;
    Ok(Options {
        endpoint,
        headers,
        policy,
        key_ttl_ms,
        header_name,
        quoted_key,
        credentials,
        signal,
        on_event,
    })
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
/// `/api/charges`, `api/../api/charges` and `https://shop.example/api/charges`
/// are one endpoint, and so one payment and one key.
pub fn absolute_url(endpoint: &str) -> Result<String, String> {
    let base = js::get(&js::page(), "location")
        .and_then(|l| js::get(&l, "href"))
        .ok()
        .and_then(|h| h.as_string());
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
    let href = url.map(|u| u.href()).map_err(|e| {
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
    LAST_URL.with(|last| *last.borrow_mut() = Some((endpoint.to_owned(), base, href.clone())));
    Ok(href)
}

type UrlMemo = Option<(String, Option<String>, String)>;
static LAST_URL: Local<RefCell<UrlMemo>> = Local(RefCell::new(None));

fn headers(value: &JsValue) -> Result<Vec<(String, String)>, String> {
    if value.is_undefined() || value.is_null() {
        return Ok(Vec::new());
    }
    if !value.is_object() || value.is_function() || js::is_array(value).unwrap_or(false) {
        return Err(cat(&[
            "options.headers must be an object of header names to string values; got ",
            &js::describe(value),
        ]));
    }
    let keys = js::object_keys(value).map_err(|e| threw("options.headers", "its keys", &e))?;
    let mut out = Vec::new();
    for key in keys.iter() {
        let Some(name) = key.as_string() else {
            continue;
        };
        let v = Reflect::get(value, &key).map_err(|e| threw("options.headers", &name, &e))?;
        let Some(v) = v.as_string() else {
            return Err(cat(&[
                "options.headers['",
                &name,
                "'] must be a string; got ",
                &js::describe(&v),
            ]));
        };
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(cat(&[
                "options.headers has an invalid header name '",
                &name,
                "'",
            ]));
        }
        if v.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
            return Err(cat(&[
                "options.headers['",
                &name,
                "'] holds a line break or NUL; header values must be one line",
            ]));
        }
        out.push((name, v));
    }
    Ok(out)
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
