//! What a `PayButton` shows: the one rule of the button that is a decision
//! rather than DOM work (`crate::button` does the DOM).

use super::record::{Record, State};

/// Whether a Pay button shows a record another tab saved as "Paid": a success
/// of the payment the button last made (`fingerprint`), or, before it made
/// any, a success that settles a payment this tab already held pending
/// (`continued`) for the button's endpoint. A success of some key nobody here
/// knew of changes nothing on the button.
pub fn shows_paid(
    fingerprint: Option<&str>,
    endpoint: Option<&str>,
    record: &Record,
    continued: bool,
) -> bool {
    record.state == State::Succeeded
        && match fingerprint {
            Some(fp) => fp == record.fingerprint,
            None => continued && endpoint.is_none_or(|e| e == record.endpoint),
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::record::fingerprint;
    use crate::rules::tabs::merge::tests::record;

    const EP: &str = "https://shop.test/api/charges";

    #[test]
    fn a_button_shows_paid_only_for_its_own_payment() {
        let paid = record("k1", State::Succeeded, 2000);
        let fp = paid.fingerprint.clone();
        let other = fingerprint(EP, "{\"amount\":1}");
        assert!(shows_paid(Some(&fp), None, &paid, false));
        assert!(!shows_paid(Some(&other), None, &paid, true));
        // An idle button: only a payment this tab already held pending.
        assert!(shows_paid(None, None, &paid, true));
        assert!(shows_paid(None, Some(EP), &paid, true));
        assert!(!shows_paid(None, None, &paid, false), "a made-up key");
        assert!(!shows_paid(
            None,
            Some("https://shop.test/other"),
            &paid,
            true
        ));
        let pending = record("k1", State::Pending, 2000);
        assert!(!shows_paid(Some(&fp), None, &pending, true));
    }
}
