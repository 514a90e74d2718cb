//! Tabs of one origin paying the same cart: the messages they exchange and
//! what a tab does with a record another tab reports.
//!
//! Tabs talk over a `BroadcastChannel` and serialise one payment's start
//! with a Web Lock named after its fingerprint (`crate::browser::tabs` does
//! the I/O). What travels is exactly what sessionStorage holds: a record's
//! item name and encoded value (key, fingerprint, endpoint, state, times,
//! counters), never the details. A message is untrusted input, like storage:
//! any script of the origin can post on the channel, so a record arrives
//! only through [`Record::decode`], and [`lifecycle::resolve`] still checks it
//! against the caller's payment before it lends a key.
//!
//! [`lifecycle::resolve`]: super::lifecycle::resolve

use super::record::{Record, State};
use super::text::cat;
use alloc::string::String;

/// The channel every payonce tab of the origin listens on.
pub const CHANNEL: &str = "payonce:v1";
/// Each tab holds the lock `TAB_LOCK` + its id while it listens, so a new tab
/// learns how many others exist from the lock manager (which forgets a
/// crashed tab at once) instead of waiting for answers that may never come.
pub const TAB_LOCK: &str = "payonce:tab:";
/// A payment holds `PAY_LOCK` + its fingerprint from before its key is chosen
/// until its outcome is known, when other tabs are listening.
pub const PAY_LOCK: &str = "payonce:pay:";

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
    /// The answer to an `Ask`: the record's item name and value, if any.
    Answer {
        from: &'a str,
        to: &'a str,
        item: Option<(&'a str, &'a str)>,
    },
    /// A tab saved this record (before a request, and with the outcome).
    Saved {
        from: &'a str,
        name: &'a str,
        value: &'a str,
    },
}

impl<'a> Message<'a> {
    /// Reads a message; anything malformed is `None`.
    pub fn parse(text: &'a str) -> Option<Message<'a>> {
        let mut parts = text.splitn(5, '\t');
        let kind = parts.next()?;
        let from = parts.next().filter(|id| is_id(id))?;
        let rest: [Option<&str>; 3] = [parts.next(), parts.next(), parts.next()];
        let message = match (kind, rest) {
            ("hello", [None, None, None]) => Message::Hello { from },
            ("bye", [None, None, None]) => Message::Bye { from },
            ("here", [Some(to), None, None]) if is_id(to) => Message::Here { from, to },
            ("ask", [Some(fingerprint), None, None]) if is_fingerprint(fingerprint) => {
                Message::Ask { from, fingerprint }
            }
            ("answer", [Some(to), None, None]) if is_id(to) => Message::Answer {
                from,
                to,
                item: None,
            },
            ("answer", [Some(to), Some(name), Some(value)]) if is_id(to) => Message::Answer {
                from,
                to,
                item: Some((name, value)),
            },
            ("saved", [Some(name), Some(value), None]) => Message::Saved { from, name, value },
            _ => return None,
        };
        Some(message)
    }

    /// The text to post.
    pub fn encode(&self) -> String {
        match self {
            Message::Hello { from } => cat(&["hello\t", from]),
            Message::Bye { from } => cat(&["bye\t", from]),
            Message::Here { from, to } => cat(&["here\t", from, "\t", to]),
            Message::Ask { from, fingerprint } => cat(&["ask\t", from, "\t", fingerprint]),
            Message::Answer { from, to, item } => match item {
                None => cat(&["answer\t", from, "\t", to]),
                Some((name, value)) => cat(&["answer\t", from, "\t", to, "\t", name, "\t", value]),
            },
            Message::Saved { from, name, value } => {
                cat(&["saved\t", from, "\t", name, "\t", value])
            }
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

/// Whether a record another tab reports replaces this tab's copy of it.
///
/// Revisions count writes per tab, so they cannot be compared across tabs;
/// what can: an outcome beats a pending record (a payment only moves from
/// pending to an outcome), and between two of the same kind the later write
/// wins. A report that contradicts the copy (another fingerprint or endpoint
/// under the same key, or a second outcome) is ignored, and so is an expired one.
pub fn takes_over(mine: Option<&Record>, theirs: &Record, now_ms: u64) -> bool {
    if theirs.is_expired(now_ms) {
        return false;
    }
    let Some(mine) = mine else { return true };
    let settled = |r: &Record| r.state != State::Pending;
    mine.key == theirs.key
        && mine.fingerprint == theirs.fingerprint
        && mine.endpoint == theirs.endpoint
        && match (settled(mine), settled(theirs)) {
            (false, true) => true,
            (false, false) => theirs.updated_ms > mine.updated_ms,
            (true, _) => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::record::fingerprint;

    const EP: &str = "https://shop.test/api/charges";

    fn record(key: &str, state: State, updated: u64) -> Record {
        let mut r = Record::new(
            key.into(),
            fingerprint(EP, "{}"),
            EP.into(),
            1000,
            86_400_000,
        );
        r.state = state;
        r.updated_ms = updated;
        r
    }

    #[test]
    fn messages_round_trip() {
        let r = record("k1", State::Pending, 1000);
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
                item: None,
            },
            Message::Answer {
                from: "a1",
                to: "b2",
                item: Some((&name, &value)),
            },
            Message::Saved {
                from: "a1",
                name: &name,
                value: &value,
            },
        ] {
            let text = m.encode();
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
                assert_eq!(record_of(name, value), Some(r))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_messages_are_refused() {
        for text in [
            "",
            "hello",
            "hello\t",
            "hello\tA1",
            "hello\ta1\textra",
            "hello\taaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "here\ta1",
            "here\ta1\tB",
            "ask\ta1\tnot-a-fingerprint",
            "answer\ta1\tb2\tname-without-value",
            "saved\ta1\tname",
            "saved\ta1\tname\tvalue\textra",
            "charge\ta1",
        ] {
            assert_eq!(Message::parse(text), None, "{text:?}");
        }
        // A record that is not one payonce could have written reads as nothing.
        assert_eq!(record_of("payonce:v1:k1", "1,p,zz"), None);
        assert_eq!(
            record_of("other:k1", &record("k1", State::Pending, 1).encode()),
            None
        );
    }

    #[test]
    fn an_outcome_beats_pending_and_the_later_pending_wins() {
        let pending = record("k1", State::Pending, 1000);
        let later = record("k1", State::Pending, 2000);
        let paid = record("k1", State::Succeeded, 1500);
        let declined = record("k1", State::Failed, 3000);
        assert!(takes_over(None, &pending, 1000));
        assert!(takes_over(Some(&pending), &later, 1000));
        assert!(!takes_over(Some(&later), &pending, 1000));
        assert!(
            takes_over(Some(&later), &paid, 1000),
            "an outcome is newer than any pending"
        );
        assert!(
            !takes_over(Some(&paid), &later, 1000),
            "an outcome never goes back to pending"
        );
        assert!(
            !takes_over(Some(&paid), &declined, 1000),
            "a second outcome contradicts the first"
        );
    }

    #[test]
    fn contradicting_or_expired_reports_are_ignored() {
        let mine = record("k1", State::Pending, 1000);
        let mut other_details = record("k1", State::Succeeded, 2000);
        other_details.fingerprint = fingerprint(EP, "{\"amount\":1}");
        assert!(!takes_over(Some(&mine), &other_details, 1000));
        let mut other_endpoint = record("k1", State::Succeeded, 2000);
        other_endpoint.endpoint = "https://evil.test/x".into();
        assert!(!takes_over(Some(&mine), &other_endpoint, 1000));
        let expired = record("k2", State::Succeeded, 2000);
        assert!(!takes_over(None, &expired, expired.expires_ms + 1));
    }
}
