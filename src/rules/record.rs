//! The payment record: what payonce remembers about one logical payment.
//!
//! A record holds only what it takes to send the same key again: the key, a
//! one-way fingerprint of endpoint and details, the endpoint, the state,
//! timestamps and the attempt count. Never the details, headers or card data.

use super::text::{cat, num, parse_u64};
use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;

use super::sha256;

/// Record item names start with this: one item per payment (see `store`).
pub const PREFIX: &str = "payonce:v1:";

/// The longest key lifetime payonce accepts: the `keyTtlMs` option's limit, and so the
/// longest lifetime a stored record may claim.
pub const MAX_KEY_TTL_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// The attempt count stops here (a record is read back only within the bounds).
pub const MAX_ATTEMPTS: u32 = 1_000_000;
/// The revision stops here.
pub const MAX_REV: u32 = 1_000_000_000;
/// The latest time a record may carry: the end of ECMAScript's time range.
const MAX_TIME_MS: u64 = 8_640_000_000_000_000;
/// The longest endpoint accepted (the `endpoint` option's limit).
pub const MAX_ENDPOINT_LEN: usize = 2048;

/// Where a payment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Sent (or about to be), outcome unknown: the key must be sent again.
    Pending,
    /// The server said 2xx: a repeat must replay, so the key is kept.
    Succeeded,
    /// The server's final no: the key is retired and the next try is a new payment.
    Failed,
}

impl State {
    /// The state's name, as JS sees it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Succeeded => "succeeded",
            State::Failed => "failed",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            State::Pending => "p",
            State::Succeeded => "s",
            State::Failed => "f",
        }
    }

    fn from_tag(tag: &str) -> Option<State> {
        match tag {
            "p" => Some(State::Pending),
            "s" => Some(State::Succeeded),
            "f" => Some(State::Failed),
            _ => None,
        }
    }
}

/// One logical payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The idempotency key sent on every attempt.
    pub key: String,
    /// Hex SHA-256 of the endpoint and the canonical body.
    pub fingerprint: String,
    /// Where the payment is sent.
    pub endpoint: String,
    /// Where it stands.
    pub state: State,
    /// When the key was first used (ms since the epoch).
    pub created_ms: u64,
    /// When the record last changed.
    pub updated_ms: u64,
    /// When the key stops being reused (fixed when the key is first used).
    pub expires_ms: u64,
    /// Requests sent with this key so far, across reloads.
    pub attempts: u32,
    /// Bumped on every write, so the newer of two copies (memory and storage)
    /// is known without trusting the wall clock, which can jump back.
    pub rev: u32,
}

/// The storage item name of the record for `key`.
pub fn item_name(key: &str) -> String {
    cat(&[PREFIX, key])
}

/// The fingerprint of a payment: endpoint and canonical body, hashed one way.
pub fn fingerprint(endpoint: &str, body: &str) -> String {
    let mut data = Vec::with_capacity(endpoint.len() + body.len() + 1);
    data.extend_from_slice(endpoint.as_bytes());
    data.push(b'\n');
    data.extend_from_slice(body.as_bytes());
    sha256::hex(&sha256::digest(&data))
}

/// Whether `text` looks like an endpoint payonce itself would store: an
/// absolute `http:` or `https:` URL as the URL parser writes it, with no
/// credentials, no fragment, no spaces or control characters.
pub fn is_endpoint(text: &str) -> bool {
    let Some(rest) = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    text.len() <= MAX_ENDPOINT_LEN
        && !authority.is_empty()
        && !authority.contains('@')
        && text.bytes().all(|b| b.is_ascii_graphic() && b != b'#')
}

impl Record {
    /// A new pending record whose key lives for `ttl_ms`.
    pub fn new(
        key: String,
        fingerprint: String,
        endpoint: String,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Record {
        Record {
            key,
            fingerprint,
            endpoint,
            state: State::Pending,
            created_ms: now_ms,
            updated_ms: now_ms,
            expires_ms: now_ms.saturating_add(ttl_ms),
            attempts: 0,
            rev: 0,
        }
    }

    /// The storage item name.
    pub fn item_name(&self) -> String {
        item_name(&self.key)
    }

    /// The storage item value:
    /// `1,<state>,<fingerprint>,<created>,<updated>,<expires>,<attempts>,<rev>,<endpoint>`.
    /// The endpoint comes last so that commas in it need no escaping.
    pub fn encode(&self) -> String {
        cat(&[
            "1,",
            self.state.tag(),
            ",",
            &self.fingerprint,
            ",",
            &num(self.created_ms),
            ",",
            &num(self.updated_ms),
            ",",
            &num(self.expires_ms),
            ",",
            &num(u64::from(self.attempts)),
            ",",
            &num(u64::from(self.rev)),
            ",",
            &self.endpoint,
        ])
    }

    /// Whether a stored value claims this release's record format (version
    /// `1` and a state it knows), so that one that does not decode is corrupt
    /// rather than another release's.
    pub fn is_this_version(value: &str) -> bool {
        let mut fields = value.splitn(3, ',');
        fields.next() == Some("1") && fields.next().and_then(State::from_tag).is_some()
    }

    /// Reads a storage item back. Storage is untrusted input (any same-origin
    /// page of the tab's session can write it): anything malformed, out of
    /// range, from another version or another library gives `None`, and the
    /// caller drops it. Every record payonce writes reads back.
    pub fn decode(item_name: &str, value: &str) -> Option<Record> {
        let key = item_name.strip_prefix(PREFIX)?;
        super::key::validate(key).ok()?;
        let mut fields = value.splitn(9, ',');
        if fields.next()? != "1" {
            return None;
        }
        let state = State::from_tag(fields.next()?)?;
        let fingerprint = fields.next()?;
        if fingerprint.len() != 64
            || !fingerprint
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return None;
        }
        let time = |text: Option<&str>| parse_u64(text?).filter(|&t| t <= MAX_TIME_MS);
        let created_ms = time(fields.next())?;
        let updated_ms = time(fields.next())?;
        let expires_ms = time(fields.next())?;
        // A settled record's lifetime runs from when it settled (`updated`).
        if expires_ms <= created_ms
            || expires_ms.saturating_sub(created_ms.max(updated_ms)) > MAX_KEY_TTL_MS
        {
            return None;
        }
        let count = |text: Option<&str>, max: u32| {
            parse_u64(text?)
                .filter(|&n| n <= u64::from(max))
                .map(|n| n as u32)
        };
        let attempts = count(fields.next(), MAX_ATTEMPTS)?;
        let rev = count(fields.next(), MAX_REV)?;
        let endpoint = fields.next()?;
        if !is_endpoint(endpoint) {
            return None;
        }
        Some(Record {
            key: key.to_owned(),
            fingerprint: fingerprint.to_owned(),
            endpoint: endpoint.to_owned(),
            state,
            created_ms,
            updated_ms,
            expires_ms,
            attempts,
            rev,
        })
    }

    /// Whether the key is past its lifetime. A pending payment's key never
    /// is: whatever the clock says, sending it again is never worse than a new
    /// key (if the server has forgotten it, that is a new payment either way).
    /// A settled one's lifetime ends at `expires_ms`; a clock set back keeps
    /// it alive longer, which is the safe side.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.state != State::Pending && now_ms > self.expires_ms
    }

    /// Marks the payment settled at `now_ms`: its key is reused for the same
    /// details for `ttl_ms` from now (from its creation, if the clock is behind that).
    pub fn settle(&mut self, state: State, now_ms: u64, ttl_ms: u64) {
        self.state = state;
        self.updated_ms = now_ms;
        self.expires_ms = now_ms
            .max(self.created_ms)
            .saturating_add(ttl_ms.clamp(1, MAX_KEY_TTL_MS))
            .min(MAX_TIME_MS);
    }

    /// Whether this record's key must be reused for the same payment.
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.state != State::Failed && !self.is_expired(now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            key: "k-1".into(),
            fingerprint: fingerprint("/api/charges", "{}"),
            endpoint: "https://x.test/a,b?c=1,2".into(),
            state: State::Succeeded,
            created_ms: 1_700_000_000_000,
            updated_ms: 1_700_000_000_500,
            expires_ms: 1_700_000_001_000,
            attempts: 3,
            rev: 7,
        }
    }

    #[test]
    fn round_trips_through_storage_text() {
        let r = sample();
        assert_eq!(Record::decode(&r.item_name(), &r.encode()), Some(r));
    }

    #[test]
    fn stores_no_details() {
        let text = sample().encode();
        assert!(!text.contains('{'), "{text}");
    }

    #[test]
    fn corrupt_or_foreign_items_are_refused() {
        let r = sample();
        let good = r.encode();
        assert_eq!(Record::decode("other:k-1", &good), None);
        assert_eq!(Record::decode("payonce:v1:bad key", &good), None);
        for bad in [
            "",
            "0,p",
            &good.replacen("1,", "2,", 1),
            &good.replacen(",s,", ",x,", 1),
            &good.replacen(&r.fingerprint, "zz", 1),
            "1,p,abc,1,2,3,4,5,/x",
            &good.replacen(",3,", ",-3,", 1),
            "{\"key\":\"k-1\"}",
        ] {
            assert_eq!(Record::decode(&r.item_name(), bad), None, "{bad}");
        }
    }

    #[test]
    fn planted_records_out_of_range_are_refused() {
        let r = sample();
        let name = r.item_name();
        let with = |f: &dyn Fn(&mut Record)| {
            let mut x = r.clone();
            f(&mut x);
            x.encode()
        };
        let refused = [
            // The endpoint decides where a payment goes: only what payonce itself stores.
            with(&|x| x.endpoint = "http://localhost:1/api/charges?stolen=1#x".into()),
            with(&|x| x.endpoint = "javascript:alert(1)".into()),
            with(&|x| x.endpoint = "data:application/json,{}".into()),
            with(&|x| x.endpoint = "/api/charges".into()),
            with(&|x| x.endpoint = "https://user:secret@shop.test/pay".into()),
            with(&|x| x.endpoint = "https://shop.test/a b".into()),
            with(&|x| x.endpoint = "https://shop.test/a\u{1}".into()),
            with(&|x| x.endpoint = "https://".into()),
            with(&|x| x.endpoint = cat(&["https://shop.test/", &"a".repeat(MAX_ENDPOINT_LEN)])),
            // Lifetimes payonce never grants, counters it never reaches.
            with(&|x| x.expires_ms = x.updated_ms + MAX_KEY_TTL_MS + 1),
            with(&|x| x.expires_ms = x.created_ms),
            with(&|x| x.expires_ms = x.created_ms - 1),
            with(&|x| x.created_ms = MAX_TIME_MS + 1),
            with(&|x| x.rev = MAX_REV + 1),
            with(&|x| x.rev = u32::MAX),
            with(&|x| x.attempts = MAX_ATTEMPTS + 1),
            r.encode().replacen(",3,7,", ",+3,7,", 1),
        ];
        for bad in &refused {
            assert_eq!(Record::decode(&name, bad), None, "{bad}");
        }
        let mut edge = r.clone();
        (edge.attempts, edge.rev, edge.expires_ms) =
            (MAX_ATTEMPTS, MAX_REV, r.updated_ms + MAX_KEY_TTL_MS);
        edge.endpoint = "http://127.0.0.1:8080/api/charges?order=1,2".into();
        assert_eq!(
            Record::decode(&name, &edge.encode()),
            Some(edge),
            "the bounds themselves are fine"
        );
    }

    #[test]
    fn fingerprint_depends_on_endpoint_and_body() {
        let a = fingerprint("/a", "{\"amount\":1}");
        assert_eq!(a.len(), 64);
        assert_eq!(a, fingerprint("/a", "{\"amount\":1}"));
        assert_ne!(a, fingerprint("/b", "{\"amount\":1}"));
        assert_ne!(a, fingerprint("/a", "{\"amount\":2}"));
    }

    #[test]
    fn a_settled_key_expires_by_its_lifetime_and_a_pending_one_never() {
        let r = sample();
        assert!(!r.is_expired(r.created_ms));
        assert!(!r.is_expired(r.expires_ms));
        assert!(r.is_expired(r.expires_ms + 1));
        assert!(
            !r.is_expired(r.created_ms - 25 * 3_600_000),
            "a clock set back keeps a settled key"
        );
        let mut pending = r.clone();
        pending.state = State::Pending;
        for now in [
            0,
            r.created_ms - 1,
            r.expires_ms + 1,
            r.expires_ms + 365 * 86_400_000,
            u64::MAX,
        ] {
            assert!(!pending.is_expired(now), "pending at {now}");
            assert!(pending.is_live(now), "pending at {now}");
        }
        let mut failed = r.clone();
        failed.state = State::Failed;
        assert!(!failed.is_live(r.created_ms));
        assert!(r.is_live(r.created_ms));
    }

    #[test]
    fn a_key_lives_from_when_its_payment_settles_and_reads_back() {
        let mut r = Record::new(
            "k".into(),
            "a".repeat(64),
            "https://x.test/p".into(),
            1000,
            50,
        );
        // Settled two days after it began, with a lifetime of a week.
        r.settle(State::Succeeded, 1000 + 2 * 86_400_000, MAX_KEY_TTL_MS);
        assert_eq!(r.expires_ms, 1000 + 2 * 86_400_000 + MAX_KEY_TTL_MS);
        assert_eq!(Record::decode(&r.item_name(), &r.encode()), Some(r.clone()));
        // A clock behind the record's creation: the lifetime runs from the creation.
        let mut back = Record::new(
            "k".into(),
            "a".repeat(64),
            "https://x.test/p".into(),
            5000,
            50,
        );
        back.settle(State::Failed, 10, 100);
        assert_eq!((back.expires_ms, back.updated_ms), (5100, 10));
        assert_eq!(
            Record::decode(&back.item_name(), &back.encode()),
            Some(back)
        );
    }
}
