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

/// Writes `s` as a JSON string (the canonical form's escapes).
pub fn write_string(out: &mut String, s: &str) {
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

/// Why [`parse`] gave no value.
#[derive(Debug, PartialEq, Eq)]
pub enum Unread {
    /// The text grows past the byte limit at this value (a path such as `details.items[2].sku`).
    TooLong(String),
    /// Not JSON as `JSON.stringify` writes it.
    Malformed,
}

/// Reads JSON text as `JSON.stringify` writes it (no white space, numbers in
/// ECMAScript's form, the minimal escapes), refusing it at the first value that
/// ends past `max_bytes`: the canonical text holds exactly these bytes (its
/// members are only reordered), so that is where the body outgrows its limit.
/// Paths start at `details`.
pub fn parse(text: &str, max_bytes: usize) -> Result<Value, Unread> {
    let mut reader = Reader {
        text,
        at: 0,
        open: 0,
        max_bytes,
        path: String::from("details"),
    };
    let value = reader.value(0)?;
    if reader.at == text.len() {
        Ok(value)
    } else {
        Err(Unread::Malformed)
    }
}

struct Reader<'a> {
    text: &'a str,
    at: usize,
    /// Objects and arrays begun and not yet closed: their closing bytes are counted
    /// from the start, so a value that leaves no room for them is the one refused.
    open: usize,
    max_bytes: usize,
    path: String,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let here = self.peek() == Some(b);
        if here {
            self.at += 1;
        }
        here
    }

    /// Eats the closing byte of an object or array, if it is next.
    fn close(&mut self, b: u8) -> bool {
        let closed = self.eat(b);
        if closed {
            self.open -= 1;
        }
        closed
    }

    /// Refuses the value just read if the text has passed its limit.
    fn within(&self) -> Result<(), Unread> {
        if self.at + self.open > self.max_bytes {
            Err(Unread::TooLong(self.path.clone()))
        } else {
            Ok(())
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, Unread> {
        if depth > MAX_DEPTH {
            return Err(Unread::Malformed);
        }
        let value = match self.peek().ok_or(Unread::Malformed)? {
            b'{' => self.object(depth)?,
            b'[' => self.array(depth)?,
            b'"' => Value::String(self.string()?),
            _ => self.literal()?,
        };
        self.within()?;
        Ok(value)
    }

    fn object(&mut self, depth: usize) -> Result<Value, Unread> {
        self.at += 1;
        self.open += 1;
        let mut members = Vec::new();
        let at = self.path.len();
        while !self.close(b'}') {
            if !members.is_empty() && !self.eat(b',') {
                return Err(Unread::Malformed);
            }
            let name = self.string()?;
            self.path.push('.');
            self.path.push_str(&name);
            self.within()?;
            if !self.eat(b':') {
                return Err(Unread::Malformed);
            }
            let value = self.value(depth + 1)?;
            self.path.truncate(at);
            members.push((name, value));
        }
        Ok(Value::Object(members))
    }

    fn array(&mut self, depth: usize) -> Result<Value, Unread> {
        self.at += 1;
        self.open += 1;
        let mut items = Vec::new();
        let at = self.path.len();
        while !self.close(b']') {
            if !items.is_empty() && !self.eat(b',') {
                return Err(Unread::Malformed);
            }
            self.path.push('[');
            self.path.push_str(&super::text::num(items.len() as u64));
            self.path.push(']');
            let value = self.value(depth + 1)?;
            self.path.truncate(at);
            items.push(value);
        }
        Ok(Value::Array(items))
    }

    /// `null`, `true`, `false` or a number, kept as its text.
    fn literal(&mut self) -> Result<Value, Unread> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            self.at += 1;
        }
        match self.text.get(start..self.at).ok_or(Unread::Malformed)? {
            "null" => Ok(Value::Null),
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            n if n.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => {
                Ok(Value::Number(n.into()))
            }
            _ => Err(Unread::Malformed),
        }
    }

    /// A string, its escapes undone.
    fn string(&mut self) -> Result<String, Unread> {
        if !self.eat(b'"') {
            return Err(Unread::Malformed);
        }
        let mut out = String::new();
        loop {
            // Up to the next quote or escape: text as it is (both are ASCII, so
            // this slice ends on a character boundary).
            let start = self.at;
            while self.peek().is_some_and(|b| b != b'"' && b != b'\\') {
                self.at += 1;
            }
            out.push_str(self.text.get(start..self.at).ok_or(Unread::Malformed)?);
            if self.eat(b'"') {
                return Ok(out);
            }
            self.at += 1;
            let e = self.peek().ok_or(Unread::Malformed)?;
            self.at += 1;
            out.push(match e {
                b'"' | b'\\' | b'/' => char::from(e),
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                // JSON.stringify writes \u only for control characters here
                // (lone surrogates are refused before the text is made).
                b'u' => {
                    let hex = self
                        .text
                        .get(self.at..self.at + 4)
                        .ok_or(Unread::Malformed)?;
                    self.at += 4;
                    hex.strip_prefix("00")
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                        .filter(|c| *c < 0x80)
                        .map(char::from)
                        .ok_or(Unread::Malformed)?
                }
                _ => return Err(Unread::Malformed),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stringified_text_reads_back_to_the_same_canonical_bytes() {
        let text = "{\"b\":[1,-0.5,1e+21,true,false,null,{}],\"a\":\"q\\\"\\\\\\n\\u0001é😀\",\"10\":{\"2\":[]}}";
        let v = parse(text, 1000).unwrap();
        assert_eq!(
            canonical(&v),
            "{\"10\":{\"2\":[]},\"a\":\"q\\\"\\\\\\n\\u0001é😀\",\"b\":[1,-0.5,1e+21,true,false,null,{}]}"
        );
        assert_eq!(canonical(&v).len(), text.len());
    }

    #[test]
    fn the_byte_limit_names_the_value_that_crosses_it() {
        let text = "{\"a\":\"xx\",\"list\":[1,\"éé\"]}";
        assert!(parse(text, text.len()).is_ok());
        assert_eq!(
            parse(text, text.len() - 1),
            Err(Unread::TooLong("details.list[1]".into()))
        );
        assert_eq!(parse(text, 6), Err(Unread::TooLong("details.a".into())));
        assert_eq!(parse(text, 3), Err(Unread::TooLong("details.a".into())));
    }

    #[test]
    fn anything_but_stringified_json_is_malformed() {
        for bad in [
            "",
            "{",
            "{\"a\" :1}",
            "[1,]",
            "{\"a\":nul}",
            "\"\\ud800\"",
            "[1] ",
            "\"\\x\"",
        ] {
            assert_eq!(parse(bad, 100), Err(Unread::Malformed), "{bad}");
        }
    }

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
