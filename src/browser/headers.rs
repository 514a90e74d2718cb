//! Reading `options.headers`, in every form `fetch` takes. Which names and
//! values are refused, and the limits, are `rules::header`'s.

use super::js;
use super::read::{text, threw, Refused};
use crate::rules::header::{self, MAX_HEADERS, MAX_HEADER_CHARS, MAX_HEADER_NAME};
use crate::rules::text::{cat, num};
use alloc::string::String;
use alloc::vec::Vec;
use js_sys::{Array, Reflect};
use wasm_bindgen::JsValue;

/// `options.headers`, in any form `fetch` takes (`HeadersInit`): a `Headers`,
/// a sequence of `[name, value]` pairs (any iterable, a `Map` included, as
/// WebIDL reads it) or a record of names to values.
pub fn headers(value: &JsValue) -> Result<Vec<(String, String)>, String> {
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
            return Err(header::too_many());
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
            return Err(header::too_many());
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
        if !header::is_name(&name) {
            return Err(cat(&[
                "options.headers has an invalid header name '",
                &name,
                "'",
            ]));
        }
        if let Some(why) = header::refused_header(&name) {
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
        let at = cat(&["options.headers['", &name, "']"]);
        let text =
            match text(value, self.left) {
                Ok(text) => text,
                Err(Refused::NotString) => {
                    return Err(cat(&[&at, " must be a string; got ", &js::describe(value)]))
                }
                Err(Refused::TooLong(units)) => {
                    return Err(cat(&[
                        &at,
                        " is ",
                        &num(u64::from(units)),
                        " characters long; all header names and values together are limited to ",
                        &num(MAX_HEADER_CHARS as u64),
                        " characters",
                    ]))
                }
                Err(Refused::LoneSurrogate) => return Err(cat(&[
                    &at,
                    " holds a lone UTF-16 surrogate; header values are bytes (U+0000 to U+00FF)",
                ])),
            };
        if let Some(problem) = header::value_problem(&text) {
            return Err(cat(&[&at, &problem]));
        }
        // Its characters: the bytes that do not continue a UTF-8 sequence (what
        // `chars().count()` gives, without core's kilobyte-long counting routine).
        let chars = text.bytes().filter(|b| b & 0xC0 != 0x80).count();
        self.left = self.left.saturating_sub(chars);
        self.out.push((name, text));
        Ok(())
    }
}
