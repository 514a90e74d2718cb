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

/// What a server accepts as a key, where it is stricter than payonce
/// (README, "Keys that fit"): caller keys are checked against it before
/// anything is sent. payonce's own keys are UUIDs: 36 characters of `0-9a-f-`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRules {
    /// The longest key the server takes (Adyen 64, PayPal 108, Square 45, Worldline 40, Razorpay 36).
    pub max_len: usize,
    /// The server takes only UUIDs (djangorestframework-idempotency-key).
    pub uuid_only: bool,
}

/// The length of payonce's own keys (hyphenated UUIDs).
pub const UUID_LEN: usize = 36;

impl Default for KeyRules {
    fn default() -> Self {
        KeyRules {
            max_len: MAX_KEY_LEN,
            uuid_only: false,
        }
    }
}

impl KeyRules {
    /// Checks a caller key against the server's rules. On failure, says why.
    pub fn check(&self, key: &str) -> Result<(), String> {
        if key.len() > self.max_len {
            return Err(cat(&[
                "the idempotency key is ",
                &num(key.len() as u64),
                " characters long; options.keys.maxLength says the server takes at most ",
                &num(self.max_len as u64),
            ]));
        }
        if self.uuid_only && !is_uuid(key) {
            return Err(cat(&[
                "the idempotency key '",
                key,
                "' is not a UUID, and options.keys.uuid says the server takes only UUIDs",
            ]));
        }
        Ok(())
    }
}

/// Whether `key` is a hyphenated UUID (8-4-4-4-12 hex digits).
pub fn is_uuid(key: &str) -> bool {
    key.len() == UUID_LEN
        && key.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Checks the 16 bytes of a new random UUID. A draw whose random bytes are
/// all equal (a random source that gives zeros; bytes 6 and 8 carry the
/// version and variant) or that repeats the previous draw comes from a broken
/// source: two payments would share a key and the second would be told it
/// was paid.
pub fn check_draw(draw: &[u8; 16], previous: Option<&[u8; 16]>) -> Result<(), &'static str> {
    let random = || draw.iter().enumerate().filter(|&(i, _)| i != 6 && i != 8);
    let first = draw[0];
    if random().all(|(_, &b)| b == first) || previous == Some(draw) {
        return Err("this page's crypto.getRandomValues is broken (it gave no randomness, or the same bytes twice), so payonce cannot make a safe key; nothing was sent");
    }
    Ok(())
}

/// A new key from 16 random bytes: a UUID v4 (version and variant bits set),
/// hyphenated and lowercase; refused as [`check_draw`] says.
pub fn uuid_v4(draw: [u8; 16], previous: Option<&[u8; 16]>) -> Result<String, &'static str> {
    check_draw(&draw, previous)?;
    let mut b = draw;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(UUID_LEN);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        for nibble in [byte >> 4, byte & 0x0f] {
            out.push(char::from(b"0123456789abcdef"[usize::from(nibble)]));
        }
    }
    Ok(out)
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
    fn a_new_key_is_a_uuid_v4_of_its_draw() {
        let draw = [
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0xff, 0x01, 0x23, 0x45, 0x67, 0x89,
            0xab, 0xcd,
        ];
        let key = uuid_v4(draw, None).unwrap();
        assert_eq!(key, "12345678-9abc-4ef0-bf01-23456789abcd");
        assert!(is_uuid(&key));
        assert!(uuid_v4(draw, Some(&draw)).is_err(), "a repeated draw");
        assert!(uuid_v4([0; 16], None).is_err(), "no randomness");
    }

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
    fn a_random_source_without_randomness_is_refused() {
        let zeros = [0u8; 16];
        assert!(check_draw(&zeros, None).is_err());
        assert!(check_draw(&[0xab; 16], None).is_err());
        let mut good = [0u8; 16];
        for (i, b) in good.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37) ^ 0x5a;
        }
        assert!(check_draw(&good, None).is_ok());
        assert!(
            check_draw(&good, Some(&good)).is_err(),
            "the same draw twice"
        );
        let mut other = good;
        other[3] ^= 1;
        assert!(check_draw(&other, Some(&good)).is_ok());
    }

    #[test]
    fn keys_are_checked_against_the_server_s_rules() {
        let uuid = "8e03978e-40d5-43e8-bc93-6894a57f9324";
        assert!(is_uuid(uuid));
        assert!(!is_uuid("8e03978e-40d5-43e8-bc93-6894a57f932"));
        assert!(!is_uuid("8e03978e_40d5-43e8-bc93-6894a57f9324"));
        assert!(!is_uuid("8e03978g-40d5-43e8-bc93-6894a57f9324"));
        let adyen = KeyRules {
            max_len: 64,
            uuid_only: false,
        };
        assert!(adyen.check(uuid).is_ok());
        assert!(adyen
            .check(&"k".repeat(65))
            .unwrap_err()
            .contains("at most 64"));
        let drf = KeyRules {
            max_len: MAX_KEY_LEN,
            uuid_only: true,
        };
        assert!(drf.check(uuid).is_ok());
        assert!(drf.check("order-1").unwrap_err().contains("not a UUID"));
        assert!(KeyRules::default().check(&"k".repeat(255)).is_ok());
    }

    #[test]
    fn quoted_form_follows_the_draft() {
        assert_eq!(header_value("abc", false), "abc");
        assert_eq!(header_value("abc", true), "\"abc\"");
    }
}
