//! A key's life: which record, and so which key, a payment uses.
//!
//! A caller key wins, unless it is already bound to other details. Without
//! one, an unexpired pending or succeeded record for the same endpoint and
//! details lends its key; otherwise a fresh key is minted. What storage gives
//! back is untrusted: a record lends its key only to a payment whose endpoint
//! and fingerprint it matches exactly, and the request always goes to the
//! caller's endpoint (the record made here carries it).

use super::error::{Code, PayError};
use super::record::Record;
use super::store::Store;
use super::text::cat;
use alloc::borrow::ToOwned;
use alloc::string::String;

/// What a payment looks for.
pub struct Lookup<'a> {
    /// The wall clock.
    pub now_ms: u64,
    /// How long a new key lives.
    pub ttl_ms: u64,
    /// The caller's endpoint, absolute.
    pub endpoint: &'a str,
    /// The fingerprint of endpoint and body.
    pub fingerprint: &'a str,
    /// The caller's own key, if any.
    pub caller_key: Option<&'a str>,
    /// The key of the payment another tab had on the wire for these details
    /// when this call began, and which this call waited for: it lends its key
    /// whatever its outcome, so both tabs settle with the one outcome (the
    /// server replays it) instead of the second starting a new payment.
    pub joined: Option<&'a str>,
}

/// Picks the record for a payment. The payment saves it before its first
/// request leaves. Expired records, and records that contradict themselves
/// (a fingerprint that names this payment beside another endpoint), are removed.
/// `mint` makes a new key when no record lends one; it refuses (with
/// [`unheard`], say) when there is no evidence that no other key is live.
pub fn resolve<B>(
    store: &impl Store,
    lookup: &Lookup<'_>,
    mint: impl FnOnce() -> Result<String, PayError<B>>,
) -> Result<Record, PayError<B>> {
    store.sweep(lookup.now_ms);
    let joined = || {
        let r = store.by_key(lookup.joined?)?;
        (r.fingerprint == lookup.fingerprint).then_some(r)
    };
    let found = match lookup.caller_key {
        Some(key) => store.by_key(key),
        None => store.by_fingerprint(lookup.fingerprint).or_else(joined),
    };
    let found = match found {
        Some(r) if r.is_expired(lookup.now_ms) || !matches_itself(&r, lookup) => {
            store.remove(&r.key);
            None
        }
        Some(r) if r.fingerprint != lookup.fingerprint => {
            // Only a caller key can find a record of other details.
            let key = r.key;
            let mut err = PayError::new(
                Code::KeyReused,
                cat(&[
                    "the idempotency key '",
                    &key,
                    "' was already used for a different payment (other details or endpoint); use a new key for a new payment",
                ]),
            );
            err.key = Some(key);
            return Err(err);
        }
        found => found.filter(|r| {
            lookup.caller_key.is_some()
                || r.is_live(lookup.now_ms)
                || lookup.joined == Some(r.key.as_str())
        }),
    };
    if let Some(found) = found {
        return Ok(found);
    }
    let key = match lookup.caller_key {
        Some(key) => key.to_owned(),
        None => {
            let key = mint()?;
            // Random keys do not repeat: this one came from a broken random source.
            if store.by_key(&key).is_some() {
                return Err(PayError::invalid(cat(&[
                    "the new key '",
                    &key,
                    "' is one payonce already holds for another payment, so this page's crypto.getRandomValues is broken (replaced, or not random); nothing was sent",
                ])));
            }
            key
        }
    };
    Ok(Record::new(
        key,
        lookup.fingerprint.to_owned(),
        lookup.endpoint.to_owned(),
        lookup.now_ms,
        lookup.ttl_ms,
    ))
}

/// The refusal of a payment that may not mint a key: another tab of the site
/// may hold a live key for these details (it holds their lock, or did not
/// answer in time, or speaks a protocol version this tab cannot read), and
/// silence is no evidence that it does not. Nothing was sent; trying again
/// once that tab answers (or is closed) is safe.
pub fn unheard<B>() -> PayError<B> {
    let mut err = PayError::new(
        Code::Conflict,
        "another tab of this site may be paying with the same details (it holds their lock, did not answer in time, or runs another payonce version), so no new key was made and nothing was sent; switch to that tab or close it, then pay again",
    );
    err.retryable = true;
    err
}

/// A record with this payment's fingerprint must name this payment's endpoint:
/// the fingerprint hashes the endpoint, so anything else was planted.
fn matches_itself(r: &Record, lookup: &Lookup<'_>) -> bool {
    r.fingerprint != lookup.fingerprint || r.endpoint == lookup.endpoint
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::record::{fingerprint, State};
    use crate::rules::store::tests::MemStore;

    const EP: &str = "https://shop.test/api/charges";
    const BODY: &str = r#"{"amount":5000}"#;
    const TTL: u64 = 86_400_000;

    fn find(
        s: &MemStore,
        now: u64,
        endpoint: &str,
        body: &str,
        key: Option<&str>,
        mint: &str,
    ) -> Result<Record, PayError<()>> {
        let fp = fingerprint(endpoint, body);
        let lookup = Lookup {
            now_ms: now,
            ttl_ms: TTL,
            endpoint,
            fingerprint: &fp,
            caller_key: key,
            joined: None,
        };
        resolve(s, &lookup, || Ok(mint.to_owned()))
    }

    fn saved(s: &MemStore, r: Record) -> Record {
        s.save(&r);
        r
    }

    #[test]
    fn a_caller_key_wins_and_is_bound_to_its_details() {
        let s = MemStore::default();
        let r = saved(
            &s,
            find(&s, 1000, EP, BODY, Some("mine"), "minted").unwrap(),
        );
        assert_eq!(r.key, "mine");
        let err = find(&s, 1000, EP, r#"{"amount":1}"#, Some("mine"), "x").unwrap_err();
        assert_eq!(
            (err.code, err.attempts, err.key.as_deref()),
            (Code::KeyReused, 0, Some("mine"))
        );
        // Same details, same key: allowed (the server replays).
        assert_eq!(
            find(&s, 1000, EP, BODY, Some("mine"), "x").unwrap().key,
            "mine"
        );
    }

    #[test]
    fn same_details_reuse_the_live_key_and_others_get_their_own() {
        let s = MemStore::default();
        saved(&s, find(&s, 1000, EP, BODY, None, "k1").unwrap());
        assert_eq!(find(&s, 1000, EP, BODY, None, "k2").unwrap().key, "k1");
        assert_eq!(
            find(&s, 1000, EP, r#"{"amount":1}"#, None, "k2")
                .unwrap()
                .key,
            "k2"
        );
        assert_eq!(
            find(&s, 1000, "https://shop.test/other", BODY, None, "k3")
                .unwrap()
                .key,
            "k3"
        );
    }

    #[test]
    fn a_failed_record_lends_no_key() {
        let s = MemStore::default();
        let mut r = find(&s, 1000, EP, BODY, None, "k1").unwrap();
        r.state = State::Failed;
        s.save(&r);
        assert_eq!(find(&s, 1000, EP, BODY, None, "k2").unwrap().key, "k2");
    }

    #[test]
    fn a_joined_payment_lends_its_key_whatever_its_outcome() {
        let s = MemStore::default();
        let mut r = find(&s, 1000, EP, BODY, None, "k1").unwrap();
        r.state = State::Failed;
        s.save(&r);
        let fp = fingerprint(EP, BODY);
        let lookup = |joined, caller_key| Lookup {
            now_ms: 1000,
            ttl_ms: TTL,
            endpoint: EP,
            fingerprint: &fp,
            caller_key,
            joined,
        };
        let got = |l: &Lookup<'_>| resolve::<()>(&s, l, || Ok("k2".to_owned())).unwrap().key;
        assert_eq!(
            got(&lookup(Some("k1"), None)),
            "k1",
            "waited for k1: its outcome"
        );
        assert_eq!(
            got(&lookup(None, None)),
            "k2",
            "did not wait: a new payment"
        );
        assert_eq!(
            got(&lookup(Some("k1"), Some("mine"))),
            "mine",
            "a caller key is never replaced"
        );
        // A joined key recorded for other details lends nothing.
        let other = fingerprint(EP, r#"{"amount":1}"#);
        let l = Lookup {
            fingerprint: &other,
            ..lookup(Some("k1"), None)
        };
        assert_eq!(
            resolve::<()>(&s, &l, || Ok("k3".to_owned())).unwrap().key,
            "k3"
        );
    }

    #[test]
    fn a_settled_key_expires_after_its_lifetime_and_a_pending_one_never() {
        let s = MemStore::default();
        let mut paid = find(&s, 1000, EP, BODY, None, "k1").unwrap();
        paid.settle(State::Succeeded, 1000, TTL);
        s.save(&paid);
        assert_eq!(
            find(&s, 1000 + TTL, EP, BODY, None, "k2").unwrap().key,
            "k1"
        );
        assert_eq!(
            find(&s, 1000 + TTL + 1, EP, BODY, None, "k2").unwrap().key,
            "k2"
        );
        assert!(s.all().is_empty(), "the expired record was purged");

        // The outcome is unknown: whatever the clock does, the key is sent again.
        let other = r#"{"amount":7}"#;
        saved(&s, find(&s, 1000, EP, other, None, "p1").unwrap());
        for now in [1000 + TTL + 1, 1000 + 365 * TTL, 1] {
            assert_eq!(
                find(&s, now, EP, other, None, "p2").unwrap().key,
                "p1",
                "at {now}"
            );
        }
    }

    #[test]
    fn a_minted_key_payonce_already_holds_is_refused() {
        let s = MemStore::default();
        saved(&s, find(&s, 1000, EP, BODY, None, "same").unwrap());
        let err = find(&s, 1000, EP, r#"{"amount":1}"#, None, "same").unwrap_err();
        assert_eq!((err.code, err.attempts), (Code::InvalidInput, 0));
        assert!(err.message.contains("getRandomValues"), "{}", err.message);
        // Its own key is found by its details, not minted.
        assert_eq!(find(&s, 1000, EP, BODY, None, "same").unwrap().key, "same");
    }

    #[test]
    fn a_planted_record_naming_another_endpoint_lends_nothing_and_is_removed() {
        for caller in [None, Some("planted")] {
            let s = MemStore::default();
            let mut planted = Record::new(
                "planted".into(),
                fingerprint(EP, BODY),
                "https://evil.test/steal".into(),
                1000,
                TTL,
            );
            planted.attempts = 1;
            s.save(&planted);
            let r = find(&s, 1000, EP, BODY, caller, "fresh").unwrap();
            assert_eq!(r.endpoint, EP, "the request goes to the caller's endpoint");
            assert_eq!(r.attempts, 0);
            assert_eq!(r.key, caller.unwrap_or("fresh"));
            assert!(s.all().iter().all(|r| r.endpoint == EP), "{:?}", s.all());
        }
    }
}
