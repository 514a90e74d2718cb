//! Idempotency keys: what a valid one looks like and how it goes on the wire.

use super::text::{cat, hex, num};
use alloc::borrow::ToOwned;
use alloc::string::String;
/// The longest key payonce accepts (Stripe and Adyen accept up to 255 or 64; the IETF draft sets none).
pub const MAX_KEY_LEN: usize = 255;

/// Checks a caller-supplied key. On failure, says what is wrong with it.
///
/// A key is 1 to 255 printable ASCII characters without spaces, quotes,
/// commas or backslashes: it must survive as an HTTP header value, as a
/// structured-field string (the IETF draft's quoted form) and as the name of
/// a storage record, unchanged.
pub fn validate(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("the idempotency key is empty; pass undefined to let payonce make one".into());
    }
    if key.len() > MAX_KEY_LEN {
        return Err(cat(&[
            "the idempotency key is ",
            &num(key.len() as u64),
            " bytes long; the limit is ",
            &num(MAX_KEY_LEN as u64),
        ]));
    }
    if let Some((at, c)) = key
        .char_indices()
        .find(|&(_, c)| !('!'..='~').contains(&c) || matches!(c, '"' | '\'' | ',' | '\\'))
    {
        let what = match c {
            ' ' => "a space".to_owned(),
            '"' | '\'' => "a quote".to_owned(),
            ',' => "a comma".to_owned(),
            '\\' => "a backslash".to_owned(),
            c if c.is_control() => cat(&[
                "control character U+",
                &hex(u64::from(c), 4).to_ascii_uppercase(),
            ]),
            _ => "a character outside printable ASCII".to_owned(),
        };
        return Err(cat(&[
            "the idempotency key has ",
            &what,
            " at byte ",
            &num(at as u64),
            "; use 1 to ",
            &num(MAX_KEY_LEN as u64),
            " printable ASCII characters without spaces, quotes, commas or backslashes",
        ]));
    }
    Ok(())
}

/// The header value for `key`: bare, or as the IETF draft's structured-field string.
pub fn header_value(key: &str, quoted: bool) -> String {
    if quoted {
        // Valid keys hold no `"` or `\`, so no escaping is needed.
        cat(&["\"", key, "\""])
    } else {
        key.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuids_and_typical_keys() {
        assert!(validate("8e03978e-40d5-43e8-bc93-6894a57f9324").is_ok());
        assert!(validate("order_123:attempt/2").is_ok());
        assert!(validate(&"k".repeat(255)).is_ok());
    }

    #[test]
    fn refuses_what_cannot_travel_intact_and_says_why() {
        let cases: [(&str, &str); 9] = [
            ("", "empty"),
            ("a b", "a space"),
            ("a\"b", "a quote"),
            ("a'b", "a quote"),
            ("a,b", "a comma"),
            ("a\\b", "a backslash"),
            ("a\r\nX-Evil: 1", "control character U+000D"),
            ("a\u{7f}", "control character U+007F"),
            ("clé", "outside printable ASCII"),
        ];
        for (key, why) in cases {
            let err = validate(key).expect_err(key);
            assert!(err.contains(why), "{key:?}: {err}");
        }
        assert!(validate(&"k".repeat(256))
            .expect_err("long")
            .contains("256 bytes"));
    }

    #[test]
    fn quoted_form_follows_the_draft() {
        assert_eq!(header_value("abc", false), "abc");
        assert_eq!(header_value("abc", true), "\"abc\"");
    }
}
