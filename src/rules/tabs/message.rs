//! The messages tabs of one origin exchange on the channel, as text.
//!
//! What travels about a payment is exactly what sessionStorage holds: a
//! record's item name and encoded value (key, fingerprint, endpoint, state,
//! times, counters), never the details. A message is untrusted input, like
//! storage: any script of the origin can post on the channel, so [`Message::parse`]
//! refuses anything longer than [`MAX_MESSAGE`], any other protocol version,
//! and anything malformed, and a record in it is read only through
//! [`Record::decode`].

use crate::rules::record::Record;
use crate::rules::text::cat;
use alloc::string::String;

/// The channel every payonce tab of the origin listens on.
pub const CHANNEL: &str = "payonce:v1";
/// The protocol version each message starts with. A tab ignores messages of
/// any other version (an older payonce left open across a deploy): the two
/// still take the same payment locks, so they never pay one cart at once.
pub const VERSION: &str = "2";
/// Each tab holds the lock `TAB_LOCK` + its id while it listens, so a new tab
/// learns how many others exist from the lock manager (which forgets a
/// crashed tab at once) instead of waiting for answers that may never come.
pub const TAB_LOCK: &str = "payonce:tab:";
/// A payment holds `PAY_LOCK` + its fingerprint from before its key is chosen
/// until its outcome is known, when other tabs are listening.
pub const PAY_LOCK: &str = "payonce:pay:";
/// The longest message read, in UTF-16 code units: the longest record payonce
/// writes (a 255-character key, a 2,048-character endpoint) with room to spare.
/// Longer ones are dropped before they are copied into wasm.
pub const MAX_MESSAGE: usize = 4096;
/// The longest lock name read from the lock manager's list, in UTF-16 code units.
pub const MAX_LOCK_NAME: usize = 64;

/// The sender of a message in another protocol version: a version other
/// than [`VERSION`] (or none, as before versions were numbered) followed by a
/// kind this release knows and a tab id. `None` for anything else.
pub fn sender_of_other_version(text: &str) -> Option<&str> {
    if text.len() > MAX_MESSAGE {
        return None;
    }
    const KINDS: [&str; 7] = ["hello", "here", "bye", "ask", "answer", "saved", "forget"];
    let mut parts = text.split('\t');
    let first = parts.next()?;
    // Before versions were numbered a message began with its kind.
    let unversioned = KINDS.contains(&first);
    let numbered = first != VERSION
        && !first.is_empty()
        && first.len() <= 8
        && first.bytes().all(|b| b.is_ascii_digit());
    if !(unversioned || (numbered && KINDS.contains(&parts.next()?))) {
        return None;
    }
    let from = parts.next()?;
    is_id(from).then_some(from)
}

/// The longest tab id accepted.
const MAX_ID: usize = 32;

/// One message on the channel.
#[derive(Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A tab started listening; the others answer [`Message::Here`].
    Hello { from: &'a str },
    /// An answer to `Hello`, sent once the payments on the wire in this tab hold their locks.
    Here { from: &'a str, to: &'a str },
    /// A tab stopped listening (closed, or entered the back/forward cache).
    Bye { from: &'a str },
    /// "Which record do you hold for this payment?" Every tab answers.
    Ask { from: &'a str, fingerprint: &'a str },
    /// The answer to an `Ask` about `fingerprint`: the record's item name and value, if any.
    Answer {
        from: &'a str,
        to: &'a str,
        fingerprint: &'a str,
        item: Option<(&'a str, &'a str)>,
    },
    /// A tab saved this record (before a request, and with the outcome).
    Saved {
        from: &'a str,
        name: &'a str,
        value: &'a str,
    },
    /// `forgetPayment(key)` was called in a tab: the others drop the key too.
    Forget { from: &'a str, key: &'a str },
}

impl<'a> Message<'a> {
    /// Reads a message; anything too long, of another version or malformed is `None`.
    pub fn parse(text: &'a str) -> Option<Message<'a>> {
        if text.len() > MAX_MESSAGE {
            return None;
        }
        let mut parts = text.splitn(7, '\t');
        if parts.next()? != VERSION {
            return None;
        }
        let kind = parts.next()?;
        let from = parts.next().filter(|id| is_id(id))?;
        let rest: [Option<&str>; 4] = [parts.next(), parts.next(), parts.next(), parts.next()];
        let message = match (kind, rest) {
            ("hello", [None, None, None, None]) => Message::Hello { from },
            ("bye", [None, None, None, None]) => Message::Bye { from },
            ("here", [Some(to), None, None, None]) if is_id(to) => Message::Here { from, to },
            ("ask", [Some(fingerprint), None, None, None]) if is_fingerprint(fingerprint) => {
                Message::Ask { from, fingerprint }
            }
            ("answer", [Some(to), Some(fingerprint), None, None])
                if is_id(to) && is_fingerprint(fingerprint) =>
            {
                Message::Answer {
                    from,
                    to,
                    fingerprint,
                    item: None,
                }
            }
            ("answer", [Some(to), Some(fingerprint), Some(name), Some(value)])
                if is_id(to) && is_fingerprint(fingerprint) =>
            {
                Message::Answer {
                    from,
                    to,
                    fingerprint,
                    item: Some((name, value)),
                }
            }
            ("saved", [Some(name), Some(value), None, None]) => {
                Message::Saved { from, name, value }
            }
            ("forget", [Some(key), None, None, None])
                if crate::rules::key::validate(key).is_ok() =>
            {
                Message::Forget { from, key }
            }
            _ => return None,
        };
        Some(message)
    }

    /// The text to post.
    pub fn encode(&self) -> String {
        let v = VERSION;
        match self {
            Message::Hello { from } => cat(&[v, "\thello\t", from]),
            Message::Bye { from } => cat(&[v, "\tbye\t", from]),
            Message::Here { from, to } => cat(&[v, "\there\t", from, "\t", to]),
            Message::Ask { from, fingerprint } => cat(&[v, "\task\t", from, "\t", fingerprint]),
            Message::Answer {
                from,
                to,
                fingerprint,
                item,
            } => match item {
                None => cat(&[v, "\tanswer\t", from, "\t", to, "\t", fingerprint]),
                Some((name, value)) => cat(&[
                    v,
                    "\tanswer\t",
                    from,
                    "\t",
                    to,
                    "\t",
                    fingerprint,
                    "\t",
                    name,
                    "\t",
                    value,
                ]),
            },
            Message::Saved { from, name, value } => {
                cat(&[v, "\tsaved\t", from, "\t", name, "\t", value])
            }
            Message::Forget { from, key } => cat(&[v, "\tforget\t", from, "\t", key]),
        }
    }
}

/// A tab id: 1 to 32 lowercase letters and digits.
pub fn is_id(text: &str) -> bool {
    (1..=MAX_ID).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn is_fingerprint(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The record in a message, if it is one payonce could have written.
pub fn record_of(name: &str, value: &str) -> Option<Record> {
    Record::decode(name, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::record::{fingerprint, State};

    const EP: &str = "https://shop.test/api/charges";

    #[test]
    fn messages_round_trip() {
        let r = Record::new(
            "k1".into(),
            fingerprint(EP, "{}"),
            EP.into(),
            1000,
            86_400_000,
        );
        let (name, value) = (r.item_name(), r.encode());
        let fp = fingerprint(EP, "{}");
        for m in [
            Message::Hello { from: "a1" },
            Message::Bye { from: "a1" },
            Message::Here {
                from: "a1",
                to: "b2",
            },
            Message::Ask {
                from: "a1",
                fingerprint: &fp,
            },
            Message::Answer {
                from: "a1",
                to: "b2",
                fingerprint: &fp,
                item: None,
            },
            Message::Answer {
                from: "a1",
                to: "b2",
                fingerprint: &fp,
                item: Some((&name, &value)),
            },
            Message::Saved {
                from: "a1",
                name: &name,
                value: &value,
            },
            Message::Forget {
                from: "a1",
                key: "k1",
            },
        ] {
            let text = m.encode();
            assert!(text.starts_with("2\t"), "{text}");
            assert_eq!(Message::parse(&text), Some(m), "{text}");
        }
        let saved = Message::Saved {
            from: "a1",
            name: &name,
            value: &value,
        }
        .encode();
        match Message::parse(&saved) {
            Some(Message::Saved { name, value, .. }) => {
                assert_eq!(
                    record_of(name, value).map(|r| (r.key, r.state)),
                    Some(("k1".into(), State::Pending))
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_messages_are_refused() {
        for text in [
            "",
            "2",
            "2\thello",
            "2\thello\t",
            "2\thello\tA1",
            "2\thello\ta1\textra",
            "2\thello\taaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "2\there\ta1",
            "2\there\ta1\tB",
            "2\task\ta1\tnot-a-fingerprint",
            "2\tanswer\ta1\tb2\tname-without-value",
            "2\tanswer\ta1\tb2",
            "2\tsaved\ta1\tname",
            "2\tsaved\ta1\tname\tvalue\textra",
            "2\tforget\ta1",
            "2\tforget\ta1\tbad key",
            "2\tcharge\ta1",
        ] {
            assert_eq!(Message::parse(text), None, "{text:?}");
        }
        // A record that is not one payonce could have written reads as nothing.
        assert_eq!(record_of("payonce:v1:k1", "1,p,zz"), None);
    }

    #[test]
    fn another_version_or_a_huge_message_is_ignored() {
        // payonce before the version field, and a later protocol.
        for text in ["hello\ta1", "1\thello\ta1", "3\thello\ta1", "v2\thello\ta1"] {
            assert_eq!(Message::parse(text), None, "{text:?}");
        }
        let huge = cat(&["2\tsaved\ta1\tpayonce:v1:k\t", &"x".repeat(MAX_MESSAGE)]);
        assert_eq!(Message::parse(&huge), None);
    }
}
