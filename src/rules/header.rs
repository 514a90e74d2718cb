//! Which request headers a caller may set, and the limits on them: the
//! Fetch standard's forbidden names, headers payonce owns, and what a header
//! value may hold. The browser layer (`browser::headers`, `browser::options`)
//! reads JS values and asks these rules.

use super::text::{cat, hex, num};
use alloc::string::String;

/// The idempotency header's name when `options.idempotencyHeader` is not given.
pub const DEFAULT_IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// The longest header name accepted, in characters.
pub const MAX_HEADER_NAME: usize = 256;
/// The most characters accepted in all caller header names and values together.
pub const MAX_HEADER_CHARS: usize = 32_768;
/// The most caller headers accepted.
pub const MAX_HEADERS: u32 = 100;

/// RFC 9110 token characters.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `name` is an HTTP header name (a token).
pub fn is_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(is_tchar)
}

/// Why the browser (or a server) would not let a header through as payonce
/// means it, by the Fetch standard's forbidden request-header names, or `None`.
pub fn refused_header(name: &str) -> Option<&'static str> {
    const FORBIDDEN: [&str; 21] = [
        "Accept-Charset",
        "Accept-Encoding",
        "Access-Control-Request-Headers",
        "Access-Control-Request-Method",
        "Connection",
        "Content-Length",
        "Cookie",
        "Cookie2",
        "Date",
        "DNT",
        "Expect",
        "Host",
        "Keep-Alive",
        "Origin",
        "Referer",
        "Set-Cookie",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Via",
    ];
    const METHOD_OVERRIDE: [&str; 3] = [
        "X-HTTP-Method",
        "X-HTTP-Method-Override",
        "X-Method-Override",
    ];
    let starts = |prefix: &str| {
        name.get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    if FORBIDDEN.iter().any(|f| f.eq_ignore_ascii_case(name)) || starts("Proxy-") || starts("Sec-")
    {
        Some("a header the browser does not let pages set (fetch drops it without a word)")
    } else if METHOD_OVERRIDE.iter().any(|f| f.eq_ignore_ascii_case(name)) {
        Some("a method-override header, which would make servers that honour it treat the payment as another method")
    } else {
        None
    }
}

/// What is wrong with a caller header value, as the end of a sentence that
/// starts with where it is; `None` when it may be sent.
pub fn value_problem(value: &str) -> Option<String> {
    if value.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
        return Some(" holds a line break or NUL; header values must be one line".into());
    }
    let c = value.chars().find(|c| u32::from(*c) > 0xFF)?;
    Some(cat(&[
        " holds U+",
        &hex(u64::from(c), 4).to_ascii_uppercase(),
        ", beyond U+00FF; header values are bytes, so encode such text first (for example with encodeURIComponent)",
    ]))
}

/// Checks the name the key is sent under (`options.idempotencyHeader`):
/// a header name the browser sends and payonce does not own.
pub fn check_idempotency_header(name: &str) -> Result<(), String> {
    if !is_name(name) {
        return Err(
            "options.idempotencyHeader must be an HTTP header name such as 'Idempotency-Key'"
                .into(),
        );
    }
    if name.eq_ignore_ascii_case("Content-Type") {
        return Err("options.idempotencyHeader cannot be Content-Type, which payonce sets to application/json; use a name such as 'Idempotency-Key'".into());
    }
    if let Some(why) = refused_header(name) {
        return Err(cat(&[
            "options.idempotencyHeader '",
            name,
            "' is ",
            why,
            ", so the key would not reach the server; use a name such as 'Idempotency-Key'",
        ]));
    }
    Ok(())
}

/// "options.headers has more than 100 headers".
pub fn too_many() -> String {
    cat(&[
        "options.headers has more than ",
        &num(u64::from(MAX_HEADERS)),
        " headers",
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_and_override_names_are_refused_in_any_case() {
        for name in [
            "cookie",
            "SEC-Fetch-Mode",
            "proxy-authorization",
            "Via",
            "dnt",
        ] {
            assert!(
                refused_header(name)
                    .unwrap()
                    .contains("does not let pages set"),
                "{name}"
            );
        }
        for name in ["x-http-method-override", "X-Method-Override"] {
            assert!(
                refused_header(name).unwrap().contains("method-override"),
                "{name}"
            );
        }
        for name in [
            "Authorization",
            "X-Trace",
            "Idempotency-Key",
            "Secret",
            "Proxy",
        ] {
            assert_eq!(refused_header(name), None, "{name}");
        }
    }

    #[test]
    fn names_are_tokens_and_values_one_line_of_bytes() {
        assert!(is_name("X-A_b.c~1"));
        for bad in ["", "a b", "X:Y", "é", "a\"b"] {
            assert!(!is_name(bad), "{bad:?}");
        }
        assert_eq!(value_problem("Bearer t0k é"), None);
        assert!(value_problem("a\r\nX-Evil: 1")
            .unwrap()
            .contains("line break"));
        assert!(value_problem("a\0").unwrap().contains("NUL"));
        assert!(value_problem("\u{100}").unwrap().contains("U+0100"));
    }

    #[test]
    fn the_idempotency_header_is_a_name_payonce_does_not_own() {
        assert_eq!(check_idempotency_header(DEFAULT_IDEMPOTENCY_HEADER), Ok(()));
        assert!(check_idempotency_header("content-TYPE")
            .unwrap_err()
            .contains("cannot be Content-Type"));
        assert!(check_idempotency_header("Cookie")
            .unwrap_err()
            .contains("would not reach the server"));
        assert!(check_idempotency_header("a b")
            .unwrap_err()
            .contains("must be an HTTP header name"));
    }
}
