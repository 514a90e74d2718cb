//! Raw JS imports that may throw, each declared `catch` so that a throwing
//! getter, proxy or fake global becomes an `Err`, never an exception
//! unwinding through wasm.

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/js/job.js")]
extern "C" {
    /// Runs a job to its end (see `job.js`).
    pub fn drive(job: JsValue) -> Promise;
}

#[wasm_bindgen(module = "/src/js/job.js")]
extern "C" {
    /// Resolves after `ms`, rejects when `signal` aborts first.
    pub fn sleep(ms: f64, signal: Option<web_sys::AbortSignal>) -> Promise;
    /// `setTimeout(f, ms)` as it was when payonce loaded.
    #[wasm_bindgen(js_name = startTimer)]
    pub fn set_timeout(f: &Function, ms: f64) -> JsValue;
    /// `clearTimeout(id)` as it was when payonce loaded.
    #[wasm_bindgen(js_name = stopTimer)]
    pub fn clear_timeout(id: &JsValue);
}

#[wasm_bindgen(module = "/src/js/job.js")]
extern "C" {
    /// One attempt's `[AbortController, stopped, stop]` (see `job.js`).
    #[wasm_bindgen(catch)]
    pub fn attempt() -> Result<Array, JsValue>;
    /// fetch's init for one attempt, each member as given, on an object with a
    /// null prototype, made in one call (see `job.js`).
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = requestInit)]
    pub fn request_init(
        method: &JsValue,
        headers: &JsValue,
        body: &str,
        signal: &JsValue,
        mode: &JsValue,
        credentials: &JsValue,
        redirect: &JsValue,
        cache: &JsValue,
        integrity: &JsValue,
        keepalive: bool,
        referrer_policy: &JsValue,
    ) -> JsValue;
}

#[wasm_bindgen(module = "/src/js/tabs.js")]
extern "C" {
    /// Names of payonce items other documents of the tab wrote since the last
    /// call, one per line (item names hold no line breaks).
    #[wasm_bindgen(js_name = takeWritten)]
    pub fn take_written() -> String;
}

#[wasm_bindgen(module = "/src/js/values.js")]
extern "C" {
    /// `globalThis` (js_sys::global() would bring a lazily initialised cache).
    pub fn page() -> JsValue;
    /// Whether a JS string has no lone surrogates.
    #[wasm_bindgen(js_name = wellFormed)]
    pub fn well_formed(s: &JsValue) -> bool;
    /// `o[name]` if `o` has its own property `name`, `undefined` otherwise;
    /// throws what a getter or proxy trap throws.
    #[wasm_bindgen(catch, js_name = own)]
    fn own_js(o: &JsValue, name: &JsValue) -> Result<JsValue, JsValue>;
    /// Whether `v` is of `kind` (`signal`, `url`, `element`) by the platform's
    /// brand check, whichever realm (same-origin frame) made it.
    #[wasm_bindgen(js_name = is)]
    fn is_js(kind: &JsValue, v: &JsValue) -> bool;
}

#[wasm_bindgen(module = "/src/js/values.js")]
extern "C" {
    /// `endpoint` made absolute against the page's address, without its
    /// fragment; throws what the URL parser throws.
    #[wasm_bindgen(catch)]
    pub fn absolute(endpoint: &str) -> Result<String, JsValue>;
}

#[wasm_bindgen(module = "/src/js/values.js")]
extern "C" {
    /// Payment details as JSON text, or `[kind, path, n, extra]` for the first
    /// value JSON cannot carry exactly (see `values.js`); never throws.
    pub fn details(value: &JsValue, max_depth: u32, max_nodes: u32, max_units: u32) -> JsValue;
}

#[wasm_bindgen(module = "/src/js/values.js")]
extern "C" {
    /// The options object's own properties as one JSON text (see
    /// `values.js`), strings longer than `max_units` as their length, lists
    /// of statuses longer than `max_items` described; the headers' names and
    /// values longer than `header_units` as their length, and no more than
    /// `headers` + 1 headers.
    #[wasm_bindgen(js_name = readOptions)]
    pub fn read_options(
        o: &JsValue,
        max_units: u32,
        max_items: u32,
        header_units: u32,
        headers: u32,
    ) -> String;
    /// The last `read_options`' `[signal, onEvent, thrown]`.
    #[wasm_bindgen(js_name = takeHandles)]
    pub fn take_handles() -> Array;
}

#[wasm_bindgen(module = "/src/js/values.js")]
extern "C" {
    /// The result, PaymentError or records `text` describes, with `body` (see
    /// `values.js`).
    pub fn made(text: &str, body: &JsValue) -> JsValue;
    /// Hands the event `text` describes to `callback`, ignoring what it throws.
    pub fn emit(callback: &Function, text: &str);
    /// A short description of whatever JS threw, for error messages (an
    /// Error's name and message, at most a few hundred characters of each).
    #[wasm_bindgen(js_name = describeThrown)]
    pub fn describe_thrown(thrown: &JsValue) -> String;
    /// What kind of JS value this is, for error messages (`undefined`, `null`,
    /// the number itself, `a string`, `an array`, …).
    pub fn describe(value: &JsValue) -> String;
    /// Whether `value` is an error payonce threw.
    #[wasm_bindgen(js_name = isPaymentError)]
    pub fn is_payment_error(value: &JsValue) -> bool;
}

#[wasm_bindgen]
extern "C" {
    /// `crypto.getRandomValues(buf)`, looked up at call time.
    #[wasm_bindgen(catch, js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(buf: &mut [u8]) -> Result<JsValue, JsValue>;
}

/// 16 bytes from `crypto.getRandomValues`, as drawn (`rules::key::uuid_v4` makes
/// them a UUID v4); `None` if it throws.
pub fn random_bytes() -> Option<[u8; 16]> {
    let mut b = [0u8; 16];
    get_random_values(&mut b).ok()?;
    Some(b)
}

/// A platform type recognised by its brand, from any realm.
#[derive(Clone, Copy)]
pub enum Brand {
    /// `URL`.
    Url,
    /// A DOM `Element`.
    Element,
}

/// Whether `v` is a `kind`, made in this page or in a same-origin frame
/// (`instanceof` and wasm-bindgen's `dyn_ref` see only this realm's classes).
pub fn is(kind: Brand, v: &JsValue) -> bool {
    v.is_object()
        && is_js(
            &name(match kind {
                Brand::Url => "url",
                Brand::Element => "element",
            }),
            v,
        )
}

/// Reads `target`'s own property `name` (`undefined` when only inherited);
/// a throwing getter or proxy gives `Err`.
pub fn own(target: &JsValue, name: &'static str) -> Result<JsValue, JsValue> {
    own_js(target, &self::name(name))
}

#[wasm_bindgen]
extern "C" {
    /// The page's current global `fetch`, looked up at call time.
    #[wasm_bindgen(catch, js_name = fetch)]
    pub fn fetch(url: &str, init: &JsValue) -> Result<Promise, JsValue>;

    /// `Array.isArray(v)` (throws on a revoked proxy).
    #[wasm_bindgen(catch, js_namespace = Array, js_name = isArray)]
    pub fn is_array(v: &JsValue) -> Result<bool, JsValue>;

    /// `Object.getPrototypeOf(v)` (a proxy trap may throw).
    #[wasm_bindgen(catch, js_namespace = Object, js_name = getPrototypeOf)]
    pub fn prototype_of(v: &JsValue) -> Result<JsValue, JsValue>;

    /// `JSON.parse(text)` without copying the text through wasm memory.
    #[wasm_bindgen(catch, js_namespace = JSON, js_name = parse)]
    pub fn json_parse(text: &JsValue) -> Result<JsValue, JsValue>;

    /// `String(n)` for a number: ECMAScript's shortest round-trip form,
    /// which is what RFC 8785 asks for (and keeps float formatting out of wasm).
    #[wasm_bindgen(js_name = String)]
    pub fn number_to_string(n: f64) -> String;
}

/// The JS string for a name payonce uses often, made once per page:
/// copying a string out of wasm memory costs more than the lookup it serves.
pub fn name(name: &'static str) -> JsValue {
    NAMES.with(|names| {
        let at = name.as_ptr() as usize;
        if let Some((_, v)) = names.borrow().iter().find(|(p, _)| *p == at) {
            return v.clone();
        }
        let v = JsValue::from_str(name);
        names.borrow_mut().push((at, v.clone()));
        v
    })
}

static NAMES: Local<RefCell<Vec<(usize, JsValue)>>> = Local(RefCell::new(Vec::new()));

/// Reads `target[name]`; a throwing getter or proxy gives `Err`.
pub fn get(target: &JsValue, name: &'static str) -> Result<JsValue, JsValue> {
    Reflect::get(target, &self::name(name))
}

/// Page-wide state. The page runs payonce on one thread (wasm32 without
/// atomics), so a plain static is enough; `with` keeps call sites as they
/// were with `thread_local!`.
pub struct Local<T>(pub T);

// SAFETY: wasm32 without the atomics feature has exactly one thread.
#[cfg(not(target_feature = "atomics"))]
unsafe impl<T> Sync for Local<T> {}

impl<T> Local<T> {
    /// Runs `f` on the state.
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.0)
    }
}
