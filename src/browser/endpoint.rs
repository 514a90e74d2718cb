//! Reading an endpoint (a string or a `URL`, as `fetch` takes it) and making
//! it the absolute URL that names one payment's endpoint.

use super::js::{self, Brand};
use super::read::{text, threw, Refused};
use crate::rules::record::MAX_ENDPOINT_LEN as MAX_ENDPOINT;
use crate::rules::text::{cat, num};
use alloc::string::String;
use wasm_bindgen::JsValue;

/// `options.endpoint`: a string or a `URL`, as `fetch` takes it, made absolute
/// (see [`absolute_url`]). Also the reader for any other endpoint JS hands over
/// (`pendingPayments(endpoint)`, a PayButton's `endpoint`).
pub fn endpoint(value: &JsValue) -> Result<String, String> {
    // A URL of this page or of a same-origin frame, as fetch takes either.
    let written = if js::is(Brand::Url, value) {
        js::get(value, "href").map_err(|e| threw("options", "endpoint.href", &e))?
    } else {
        value.clone()
    };
    checked(text(&written, MAX_ENDPOINT), &|| js::describe(&written))
}

/// An endpoint read as text (`read`; `got` describes what it was when not a
/// string), checked and made absolute.
pub fn checked(read: Result<String, Refused>, got: &dyn Fn() -> String) -> Result<String, String> {
    let endpoint = match read {
        Ok(e) if !e.trim().is_empty() && !e.chars().any(char::is_control) => e,
        Ok(_) => {
            return Err(cat(&[
                "options.endpoint must be a URL of 1 to ",
                &num(MAX_ENDPOINT as u64),
                " characters without control characters",
            ]))
        }
        Err(Refused::TooLong(units)) => return Err(endpoint_too_long(u64::from(units), "")),
        Err(Refused::LoneSurrogate) => {
            return Err(
                "options.endpoint holds a lone UTF-16 surrogate, which no URL can carry".into(),
            )
        }
        Err(Refused::NotString) => {
            return Err(cat(&[
                "options.endpoint must be the payment URL as a string or a URL object; got ",
                &got(),
            ]))
        }
    };
    absolute_url(&endpoint)
}

fn endpoint_too_long(chars: u64, how: &str) -> String {
    cat(&[
        "options.endpoint is ",
        &num(chars),
        " characters long",
        how,
        "; the limit is ",
        &num(MAX_ENDPOINT as u64),
        " characters",
    ])
}

/// The endpoint as an absolute URL against the page's address, so that
/// `/api/charges`, `api/../api/charges`, `/api/charges#x` and
/// `https://shop.example/api/charges` are one endpoint, and so one payment
/// and one key. Only http(s) URLs without credentials are accepted; the
/// fragment, which never reaches the server, is dropped.
pub fn absolute_url(endpoint: &str) -> Result<String, String> {
    let href = js::absolute(endpoint).map_err(|e| {
        // The browser's message repeats the URL, so neither is shown when it may hold credentials.
        if endpoint.bytes().any(|b| b == b'@') {
            return "options.endpoint is not a valid URL (not shown: it may hold a password)"
                .into();
        }
        let shown = endpoint
            .char_indices()
            .nth(80)
            .and_then(|(at, _)| endpoint.get(..at))
            .unwrap_or(endpoint);
        cat(&[
            "options.endpoint ",
            shown,
            " is not a valid URL (",
            &js::describe_thrown(&e),
            ")",
        ])
    })?;
    // An absolute URL's text begins with its scheme and a colon.
    let colon = href.bytes().position(|b| b == b':').unwrap_or(0);
    let scheme = href.get(..colon).unwrap_or_default();
    if scheme != "http" && scheme != "https" {
        return Err(cat(&[
            "options.endpoint must be an http: or https: URL; got a ",
            scheme,
            ": URL",
        ]));
    }
    // An http(s) URL's text is `scheme://authority/...`; its authority holds an `@`
    // exactly when it has a user name or password (the host cannot hold one).
    let credentials = href
        .bytes()
        .skip(colon + 3)
        .take_while(|b| !matches!(b, b'/' | b'?' | b'#'))
        .any(|b| b == b'@');
    if credentials {
        return Err("options.endpoint has a user name or password in it; send credentials in options.headers (such as Authorization), never in the URL".into());
    }
    // The absolute URL is ASCII (percent-encoded, punycode), so its bytes are its characters.
    if href.len() > MAX_ENDPOINT {
        return Err(endpoint_too_long(
            href.len() as u64,
            " as an absolute, percent-encoded URL",
        ));
    }
    Ok(href)
}
