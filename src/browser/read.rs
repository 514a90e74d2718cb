//! Copying JS strings into Rust exactly, and the error text for a JS value
//! that threw while it was read: what every reader of caller input shares.
//!
//! Every string is measured in JS before it is copied into wasm memory, so an
//! oversize input costs one length read, not a copy: a JS string's `length`
//! (UTF-16 code units) is a lower bound of its UTF-8 and JSON length. Every
//! copied string is then checked for lone surrogates, which the copy would
//! turn into U+FFFD and so make two different inputs one.

use super::js;
use crate::rules::text::cat;
use alloc::string::String;
use js_sys::JsString;
use wasm_bindgen::{JsCast, JsValue};

/// Why a JS value could not be read as text.
pub enum Refused {
    /// Not a string at all.
    NotString,
    /// Longer than allowed: its length in UTF-16 code units, read without copying.
    TooLong(u32),
    /// It holds a lone UTF-16 surrogate, which no UTF-8 text can carry.
    LoneSurrogate,
}

/// Copies a JS string of at most `max` UTF-16 code units into Rust, exactly.
pub fn text(value: &JsValue, max: usize) -> Result<String, Refused> {
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

/// "reading `path` `what` threw (…)", for a getter, proxy trap or toJSON() that threw.
pub fn threw(path: &str, what: &str, thrown: &JsValue) -> String {
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
