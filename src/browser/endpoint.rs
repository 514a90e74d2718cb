//! Reading an endpoint (a string or a `URL`, as `fetch` takes it) and making
//! it the absolute URL that names one payment's endpoint.

use super::js::{self, Brand, Local};
use super::read::{text, threw, Refused};
use crate::rules::record::MAX_ENDPOINT_LEN as MAX_ENDPOINT;
use crate::rules::text::{cat, num};
use alloc::borrow::ToOwned;
use alloc::string::String;
use core::cell::RefCell;
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
    let endpoint = match text(&written, MAX_ENDPOINT) {
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
                &js::describe(&written),
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
    let base = js::get(&js::page(), "location")
        .and_then(|l| js::get(&l, "href"))
        .ok()
        .and_then(|h| text(&h, 1 << 20).ok());
    // The last answer, reused while the endpoint and the page address are the same.
    let hit = LAST_URL.with(|last| {
        last.borrow()
            .as_ref()
            .filter(|(e, b, _)| e == endpoint && *b == base)
            .map(|(_, _, href)| href.clone())
    });
    if let Some(href) = hit {
        return Ok(href);
    }
    let url = match &base {
        Some(base) => web_sys::Url::new_with_base(endpoint, base),
        None => web_sys::Url::new(endpoint),
    };
    let url = url.map_err(|e| {
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
    let scheme = url.protocol();
    if scheme != "http:" && scheme != "https:" {
        return Err(cat(&[
            "options.endpoint must be an http: or https: URL; got a ",
            &scheme,
            " URL",
        ]));
    }
    if !url.username().is_empty() || !url.password().is_empty() {
        return Err("options.endpoint has a user name or password in it; send credentials in options.headers (such as Authorization), never in the URL".into());
    }
    url.set_hash("");
    let href = url.href();
    // The absolute URL is ASCII (percent-encoded, punycode), so its bytes are its characters.
    if href.len() > MAX_ENDPOINT {
        return Err(endpoint_too_long(
            href.len() as u64,
            " as an absolute, percent-encoded URL",
        ));
    }
    LAST_URL.with(|last| *last.borrow_mut() = Some((endpoint.to_owned(), base, href.clone())));
    Ok(href)
}

type UrlMemo = Option<(String, Option<String>, String)>;
static LAST_URL: Local<RefCell<UrlMemo>> = Local(RefCell::new(None));
