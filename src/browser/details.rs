//! Reading payment details into JSON data (`processPayment`'s first argument).
//!
//! Whatever JS hands over (null, a BigInt, a cycle, a proxy whose traps
//! throw, NaN), the answer is `Ok` or an `Err` naming what was wrong and
//! where. Nothing here can panic. The limits are the details' own, in
//! `rules::json`.

use super::js;
use super::read::{shown, text, threw, Refused};
use crate::rules::json::{self, Value, MAX_BODY_BYTES, MAX_DEPTH, MAX_NODES};
use crate::rules::text::{cat, num};
use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use js_sys::{Function, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

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
