//! Reading `options.headers`, in every form `fetch` takes, from the strings
//! `readOptions` writes for them (see `readHeaders` in `src/js/values.js`).
//! Which names and values are refused, and the limits, are `rules::header`'s.

use super::options::{describe, string, Entries};
use super::read::{threw, Refused};
use crate::rules::header::{self, MAX_HEADER_CHARS, MAX_HEADER_NAME};
use crate::rules::text::{cat, num, parse_u64};
use alloc::string::String;
use alloc::vec::Vec;

/// `options.headers`, in any form `fetch` takes (`HeadersInit`): a `Headers`,
/// a sequence of `[name, value]` pairs (any iterable, a `Map` included, as
/// WebIDL reads it) or a record of names to values. A refusal is kept by `r`
/// (see [`Entries`]), and every entry after it reads as not given.
pub fn headers(r: &mut Entries<'_>) -> Vec<(String, String)> {
    let e = r.next("options", "headers");
    let mut list = HeaderList {
        out: Vec::new(),
        left: MAX_HEADER_CHARS,
    };
    let thrown = r.thrown;
    let count = parse_u64(e.get(1..).unwrap_or_default()).unwrap_or(0);
    let pairs = match e.as_bytes().first() {
        None | Some(b'z') => return list.out,
        Some(b'p') => true,
        Some(b'r') => false,
        Some(b'P') => {
            r.fail(threw("options.headers", "", thrown));
            return list.out;
        }
        Some(b'K') => {
            r.fail(threw("options.headers", "its keys", thrown));
            return list.out;
        }
        _ => {
            r.fail(cat(&[
                "options.headers must be a Headers object, an array of [name, value] pairs or an object of header names to string values; got ",
                describe(e),
            ]));
            return list.out;
        }
    };
    if count > u64::from(header::MAX_HEADERS) {
        r.fail(header::too_many());
        return list.out;
    }
    for i in 0..count {
        if !pairs {
            let name = list.name(r, "options.headers");
            let value = r.next(&cat(&["options.headers['", &name, "']"]), "");
            list.add(r, name, value);
            continue;
        }
        let at = cat(&["options.headers[", &num(i), "]"]);
        let count = match r.next(&at, "") {
            "l2" => "",
            "l0" => "no items",
            "l1" => "1 item",
            pair if pair.starts_with('l') => "more than 2 items",
            pair => {
                r.fail(cat(&[
                    &at,
                    " must be a [name, value] pair; got ",
                    describe(pair),
                ]));
                ""
            }
        };
        if !count.is_empty() {
            r.fail(cat(&[
                &at,
                " has ",
                count,
                "; each header is a [name, value] pair",
            ]));
        }
        let name = list.name(r, &at);
        let value = r.raw();
        list.add(r, name, value);
    }
    list.out
}

struct HeaderList {
    out: Vec<(String, String)>,
    /// Characters left for names and values.
    left: usize,
}

impl HeaderList {
    /// The next header's name (its place in messages is `at`); "" if refused.
    fn name(&mut self, r: &mut Entries<'_>, at: &str) -> String {
        let name = self.checked_name(r.raw(), at);
        r.ok(name)
    }

    /// Adds the header `name` whose value's entry is `entry`, if it may be sent.
    fn add(&mut self, r: &mut Entries<'_>, name: String, entry: &str) {
        let added = self.checked_add(name, entry);
        r.ok(added);
    }

    fn checked_name(&mut self, entry: &str, at: &str) -> Result<String, String> {
        let name = match string(entry, self.left.min(MAX_HEADER_NAME)) {
            Ok(name) => name,
            Err(Refused::NotString) => {
                return Err(cat(&[
                    at,
                    " has a header name that is not a string: ",
                    describe(entry),
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

    fn checked_add(&mut self, name: String, entry: &str) -> Result<(), String> {
        let at = cat(&["options.headers['", &name, "']"]);
        let text =
            match string(entry, self.left) {
                Ok(text) => text,
                Err(Refused::NotString) => {
                    return Err(cat(&[&at, " must be a string; got ", describe(entry)]))
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
