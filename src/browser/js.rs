//! Raw JS imports that may throw, each declared `catch` so that a throwing
//! getter, proxy or fake global becomes an `Err`, never an exception
//! unwinding through wasm.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen(module = "/src/driver.js")]
extern "C" {
    /// Runs a job to its end (see `driver.js`).
    pub fn drive(job: JsValue) -> Promise;
    /// Resolves after `ms`, rejects when `signal` aborts first.
    pub fn sleep(ms: f64, signal: Option<web_sys::AbortSignal>) -> Promise;
    /// `globalThis` (js_sys::global() would bring a lazily initialised cache).
    pub fn page() -> JsValue;
    /// Names of payonce items other documents of the tab wrote since the last
    /// call, one per line (item names hold no line breaks).
    #[wasm_bindgen(js_name = takeWritten)]
    pub fn take_written() -> String;
    /// Whether a JS string has no lone surrogates.
    #[wasm_bindgen(js_name = wellFormed)]
    pub fn well_formed(s: &JsValue) -> bool;
    /// The first `max + 1` items of an iterable (so that more than `max` shows),
    /// or `None` when `v` has no `Symbol.iterator`; throws what the iterable throws.
    #[wasm_bindgen(catch)]
    pub fn take(v: &JsValue, max: u32) -> Result<Option<Array>, JsValue>;
    /// One attempt's `[AbortController, stopped, stop]` (see `driver.js`).
    #[wasm_bindgen(catch)]
    pub fn attempt() -> Result<Array, JsValue>;
    /// `setTimeout(f, ms)` as it was when payonce loaded.
    #[wasm_bindgen(js_name = startTimer)]
    pub fn set_timeout(f: &Function, ms: f64) -> JsValue;
    /// `clearTimeout(id)` as it was when payonce loaded.
    #[wasm_bindgen(js_name = stopTimer)]
    pub fn clear_timeout(id: &JsValue);
    /// Payment details as JSON text, or `[kind, path, n, extra]` for the first
    /// value JSON cannot carry exactly (see `driver.js`); never throws.
    pub fn details(value: &JsValue, max_depth: u32, max_nodes: u32, max_units: u32) -> JsValue;
    /// `o[name]` if `o` has its own property `name`, `undefined` otherwise;
    /// throws what a getter or proxy trap throws.
    #[wasm_bindgen(catch, js_name = own)]
    fn own_js(o: &JsValue, name: &JsValue) -> Result<JsValue, JsValue>;
    /// Whether `v` is of `kind` (`signal`, `url`, `element`) by the platform's
    /// brand check, whichever realm (same-origin frame) made it.
    #[wasm_bindgen(js_name = is)]
    fn is_js(kind: &JsValue, v: &JsValue) -> bool;
}

/// A platform type recognised by its brand, from any realm.
#[derive(Clone, Copy)]
pub enum Brand {
    /// `AbortSignal`.
    Signal,
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
                Brand::Signal => "signal",
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

/// Reads `target`'s own element `index` (`undefined` for a hole, whatever
/// the prototype holds); a throwing getter or proxy gives `Err`.
pub fn own_index(target: &JsValue, index: u32) -> Result<JsValue, JsValue> {
    own_js(target, &JsValue::from(index))
}

#[wasm_bindgen]
extern "C" {
    /// The page's current global `fetch`, looked up at call time.
    #[wasm_bindgen(catch, js_name = fetch)]
    pub fn fetch(url: &str, init: &Object) -> Result<Promise, JsValue>;

    /// `Object.keys(o)`: own enumerable string keys, as `JSON.stringify` sees them.
    #[wasm_bindgen(catch, js_namespace = Object, js_name = keys)]
    pub fn object_keys(o: &JsValue) -> Result<Array, JsValue>;

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

/// Sets `target[name] = value` on an object payonce made itself.
pub fn set(target: &Object, name: &'static str, value: &JsValue) {
    // Our own fresh objects have no setters or proxies, so this cannot fail.
    let _ = Reflect::set(target, &self::name(name), value);
}

/// A fresh object from `(name, value)` pairs.
pub fn object(fields: &[(&'static str, JsValue)]) -> Object {
    let obj = Object::new();
    for (name, value) in fields {
        set(&obj, name, value);
    }
    obj
}

/// A fresh object with a null prototype from `(name, value)` pairs: whoever
/// reads it (fetch reading its init) sees these members and nothing that
/// page code put on `Object.prototype`.
pub fn bare_object(fields: &[(&'static str, JsValue)]) -> Object {
    let obj = Object::create(JsValue::NULL.unchecked_ref());
    for (name, value) in fields {
        set(&obj, name, value);
    }
    obj
}

/// A short description of whatever JS threw, for error messages. Reads
/// through `Reflect` (an `Error` subclass may have throwing getters) and
/// copies at most a few hundred characters of a message.
pub fn describe_thrown(thrown: &JsValue) -> String {
    const MAX: u32 = 300;
    let short = |v: JsValue| -> Option<String> {
        let s = v.dyn_ref::<js_sys::JsString>()?;
        Some(if s.length() > MAX {
            crate::rules::text::cat(&[&String::from(s.slice(0, MAX)), "…"])
        } else {
            String::from(s)
        })
    };
    if thrown.is_instance_of::<js_sys::Error>() {
        let name = get(thrown, "name").ok().and_then(short).unwrap_or_default();
        let message = get(thrown, "message")
            .ok()
            .and_then(short)
            .unwrap_or_default();
        if message.is_empty() {
            name
        } else {
            crate::rules::text::cat(&[&name, ": ", &message])
        }
    } else if let Some(s) = short(thrown.clone()) {
        s
    } else {
        "a non-Error value".to_owned()
    }
}

/// What kind of JS value this is, for error messages.
pub fn describe(value: &JsValue) -> String {
    if value.is_undefined() {
        "undefined".into()
    } else if value.is_null() {
        "null".into()
    } else if let Some(n) = value.as_f64() {
        number_to_string(n)
    } else if value.is_string() {
        "a string".into()
    } else if value.as_bool().is_some() {
        "a boolean".into()
    } else if value.is_bigint() {
        "a BigInt".into()
    } else if value.is_symbol() {
        "a symbol".into()
    } else if value.is_function() {
        "a function".into()
    } else if is_array(value).unwrap_or(false) {
        "an array".into()
    } else {
        "an object".into()
    }
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
