//! Reading payment details (`processPayment`'s first argument) into JSON data.
//!
//! The details cross into the wasm as one JSON text that `src/js/values.js` makes
//! with `JSON.stringify` (own enumerable properties, `toJSON()` applied). At
//! the first value JSON cannot carry exactly, the replacer stops and reports
//! what and where; the refusal is worded here. The limits are the details'
//! own, in `rules::json`. Nothing here can panic.

use super::js;
use super::read::text;
use crate::rules::json::{self, Unread, Value, MAX_BODY_BYTES, MAX_DEPTH, MAX_NODES};
use crate::rules::text::{cat, num};
use alloc::string::String;
use js_sys::Array;
use wasm_bindgen::{JsCast, JsValue};

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
    let made = js::details(
        value,
        MAX_DEPTH as u32,
        MAX_NODES as u32,
        MAX_BODY_BYTES as u32,
    );
    let Some(stop) = made.dyn_ref::<Array>() else {
        // The replacer counted the text's UTF-16 units, so this copy is within the limit.
        let text = text(&made, MAX_BODY_BYTES).map_err(|_| over_budget("details"))?;
        return match json::parse(&text, MAX_BODY_BYTES) {
            Ok(v) => Ok(v),
            Err(Unread::TooLong(path)) => Err(over_budget(&path)),
            Err(Unread::Malformed) => {
                Err("payment details did not come back from JSON.stringify as JSON".into())
            }
        };
    };
    Err(refusal(
        &stop.get(0),
        &stop.get(1),
        &stop.get(2),
        &stop.get(3),
    ))
}

/// The message for what the replacer stopped at: `kind` at `path`, with a count
/// `n` (or the number itself) and `extra` (what was thrown, or a class name).
fn refusal(kind: &JsValue, path: &JsValue, n: &JsValue, extra: &JsValue) -> String {
    let path = path.as_string().unwrap_or_default();
    let count = n.as_f64().unwrap_or(0.0);
    let whole = num(count as u64);
    let name = extra.as_string().unwrap_or_default();
    let p = path.as_str();
    match kind.as_string().as_deref().unwrap_or("") {
        "number" => cat(&[
            p,
            " is ",
            &js::number_to_string(count),
            "; numbers in payment details must be finite",
        ]),
        "bigint" => cat(&[
            p,
            " is a BigInt, which JSON cannot carry; send it as a string or a number",
        ]),
        "symbol" => cat(&[p, " is a symbol; payment details must be JSON data"]),
        "function" => cat(&[p, " is a function; payment details must be JSON data"]),
        "hole" => cat(&[
            p,
            " is undefined; arrays in payment details cannot have holes",
        ]),
        "top" => "payment details must be an object whose JSON form is an object; its toJSON() returned something else".into(),
        "class" => {
            let (article, name) = match name.as_str() {
                "" => (" is a ", "class instance"),
                n if n.starts_with(['A', 'E', 'I', 'O', 'U', 'a', 'e', 'i', 'o', 'u']) => {
                    (" is an ", n)
                }
                n => (" is a ", n),
            };
            cat(&[
                p,
                article,
                name,
                "; payment details must be plain objects, arrays, strings, numbers, booleans or null",
            ])
        }
        "cycle" => cat(&[
            p,
            " refers back to an object that contains it (a cycle)",
        ]),
        "deep" => cat(&[p, " is nested deeper than ", &whole, " levels"]),
        "nodes" => cat(&["payment details hold more than ", &whole, " values"]),
        "long-array" => cat(&[p, " is an array longer than ", &whole, " items"]),
        "lone" => cat(&[
            p,
            " holds a lone UTF-16 surrogate, which cannot be sent as JSON text",
        ]),
        "lone-name" => cat(&[
            p,
            " has a member name holding a lone UTF-16 surrogate, which cannot be sent as JSON text",
        ]),
        "long-string" => over_budget(&cat(&[p, " (a string of ", &whole, " characters)"])),
        "long-name" => over_budget(&cat(&["a member name of ", &whole, " characters in ", p])),
        "budget" => over_budget(p),
        _ => cat(&[
            "reading payment details threw (",
            &js::describe_thrown(extra),
            "); the last value read was ",
            p,
        ]),
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
