//! Payment details as plain JSON data, and their canonical bytes.
//!
//! Servers fingerprint the request body to spot a key reused for another
//! payment, so every attempt (and every attempt after a reload) must send the
//! same bytes. The canonical form follows RFC 8785 (JSON Canonicalization
//! Scheme): object members sorted by their UTF-16 code units, no white space,
//! strings escaped minimally, numbers in ECMAScript's shortest form. Number
//! text comes from the JS engine itself, so no float formatting lives here.

#[cfg(test)]
use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;

/// The deepest nesting accepted in details.
pub const MAX_DEPTH: usize = 32;
/// The most values (objects, arrays and leaves) accepted in details.
pub const MAX_NODES: usize = 10_000;
/// The largest canonical body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 100_000;

/// JSON data, as read from the caller's details.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A finite number, already in ECMAScript `Number.prototype.toString` form.
    Number(String),
    /// A string of valid Unicode.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object's members in any order; canonical output sorts them.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// A whole number, formatted the way JS formats it.
    #[cfg(test)]
    pub fn int(n: i64) -> Value {
        let digits = super::text::num(n.unsigned_abs());
        Value::Number(if n < 0 {
            super::text::cat(&["-", &digits])
        } else {
            digits
        })
    }

    /// A string value.
    #[cfg(test)]
    pub fn str(s: &str) -> Value {
        Value::String(s.to_owned())
    }

    /// An object from `(name, value)` pairs.
    #[cfg(test)]
    pub fn object<const N: usize>(members: [(&str, Value); N]) -> Value {
        Value::Object(
            members
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }
}

/// The canonical JSON text of `value`.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(text) => out.push_str(text),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(members) => {
            let mut sorted: Vec<&(String, Value)> = members.iter().collect();
            // Member names are unique, so an unstable sort gives one order.
            super::text::sort_by(&mut sorted, |a, b| {
                a.0.encode_utf16().lt(b.0.encode_utf16())
            });
            out.push('{');
            for (i, (name, item)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, name);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// How a character is written inside a canonical JSON string.
enum Written {
    /// A two-character escape such as `\n`.
    Short(&'static str),
    /// `\u00XX`, for the other control characters.
    Unicode(u8),
    /// As it is.
    Itself,
}

fn written(c: char) -> Written {
    match c {
        '"' => Written::Short("\\\""),
        '\\' => Written::Short("\\\\"),
        '\u{8}' => Written::Short("\\b"),
        '\t' => Written::Short("\\t"),
        '\n' => Written::Short("\\n"),
        '\u{c}' => Written::Short("\\f"),
        '\r' => Written::Short("\\r"),
        c if (c as u32) < 0x20 => Written::Unicode(c as u8),
        _ => Written::Itself,
    }
}

fn write_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match written(c) {
            Written::Short(escape) => out.push_str(escape),
            Written::Unicode(b) => {
                out.push_str("\\u00");
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
            Written::Itself => out.push(c),
        }
    }
    out.push('"');
}

/// The length in bytes of `s` written as a canonical JSON string, quotes included.
pub fn string_len(s: &str) -> usize {
    2 + s
        .chars()
        .map(|c| match written(c) {
            Written::Short(escape) => escape.len(),
            Written::Unicode(_) => 6,
            Written::Itself => c.len_utf8(),
        })
        .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_order_does_not_change_the_bytes() {
        let a = Value::object([
            ("amount", Value::int(5000)),
            ("currency", Value::str("usd")),
        ]);
        let b = Value::object([
            ("currency", Value::str("usd")),
            ("amount", Value::int(5000)),
        ]);
        assert_eq!(canonical(&a), canonical(&b));
        assert_eq!(canonical(&a), r#"{"amount":5000,"currency":"usd"}"#);
    }

    #[test]
    fn nested_objects_are_sorted_too() {
        let v = Value::object([
            (
                "z",
                Value::Array(vec![Value::object([
                    ("b", Value::Null),
                    ("a", Value::Bool(true)),
                ])]),
            ),
            ("a", Value::Bool(false)),
        ]);
        assert_eq!(canonical(&v), r#"{"a":false,"z":[{"a":true,"b":null}]}"#);
    }

    #[test]
    fn strings_escape_only_what_json_requires() {
        let v = Value::str("a\"b\\c\n\u{1}é€😀</");
        assert_eq!(canonical(&v), "\"a\\\"b\\\\c\\n\\u0001é€😀</\"");
    }

    #[test]
    fn keys_sort_by_utf16_code_units_as_rfc8785_says() {
        // U+FB01 sorts after U+1F600 in UTF-8 but before it in UTF-16 (0xD83D).
        let v = Value::object([("\u{1F600}", Value::int(1)), ("\u{FB01}", Value::int(2))]);
        assert_eq!(canonical(&v), "{\"\u{1F600}\":1,\"\u{FB01}\":2}");
    }

    #[test]
    fn rfc8785_sample_ordering() {
        let v = Value::object([
            ("\u{20ac}", Value::str("Euro Sign")),
            ("\r", Value::str("Carriage Return")),
            ("\u{fb33}", Value::str("Hebrew Letter Dalet With Dagesh")),
            ("1", Value::str("One")),
            ("\u{1f600}", Value::str("Emoji: Grinning Face")),
            ("\u{80}", Value::str("Control")),
            ("\u{f6}", Value::str("Latin Small Letter O With Diaeresis")),
        ]);
        let order = [
            "Carriage Return",
            "One",
            "Control",
            "Latin Small Letter O With Diaeresis",
            "Euro Sign",
            "Emoji: Grinning Face",
            "Hebrew Letter Dalet With Dagesh",
        ];
        let text = canonical(&v);
        let mut last = 0;
        for name in order {
            let at = text.find(name).expect("value present");
            assert!(at > last, "{name} out of order in {text}");
            last = at;
        }
    }
}
