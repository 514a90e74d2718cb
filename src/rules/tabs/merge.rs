//! What a tab does with a record another tab reports: whether it takes it in
//! (what a Pay button shows of it is `crate::rules::button`).
//!
//! Merging is monotone and conservative: what a peer says can settle a key
//! this tab holds pending as paid, or bring a key this tab does not know, but
//! it never makes this tab drop a key under which a charge may exist. A
//! peer's word is no better evidence than this tab's own, so a peer's
//! *failed* never retires a key this tab left pending, and a peer's record
//! never replaces the key of a payment this tab holds pending or paid.

use crate::rules::record::{Record, State};

/// Whether a record another tab reports replaces this tab's copy of it.
///
/// `mine` is this tab's record under the same key; `current` is this tab's
/// live record (pending or succeeded) for the same details, whatever its key.
/// Revisions count writes per tab, so they cannot be compared across tabs;
/// what can: a success beats a pending record (a payment only moves from
/// pending to an outcome), and between two pending copies the later write
/// wins. A report that contradicts the copy (another fingerprint or endpoint
/// under the same key, or a second outcome) is ignored, and so is an expired one.
pub fn takes_over(
    mine: Option<&Record>,
    current: Option<&Record>,
    theirs: &Record,
    now_ms: u64,
) -> bool {
    if theirs.is_expired(now_ms) {
        return false;
    }
    // The key of a payment this tab holds pending or paid is never replaced.
    if current.is_some_and(|c| c.key != theirs.key && c.is_live(now_ms)) {
        return false;
    }
    let Some(mine) = mine else { return true };
    mine.key == theirs.key
        && mine.fingerprint == theirs.fingerprint
        && mine.endpoint == theirs.endpoint
        && match (mine.state, theirs.state) {
            (State::Pending, State::Succeeded) => true,
            (State::Pending, State::Pending) => theirs.updated_ms > mine.updated_ms,
            // Another tab's failure is not evidence that nothing was charged here.
            (State::Pending, State::Failed) => false,
            (State::Succeeded | State::Failed, _) => false,
        }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rules::record::fingerprint;

    const EP: &str = "https://shop.test/api/charges";

    /// A record of the test details with this key, state and update time.
    pub(crate) fn record(key: &str, state: State, updated: u64) -> Record {
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
    fn a_success_beats_pending_and_the_later_pending_wins() {
        let pending = record("k1", State::Pending, 1000);
        let later = record("k1", State::Pending, 2000);
        let paid = record("k1", State::Succeeded, 1500);
        let declined = record("k1", State::Failed, 3000);
        assert!(takes_over(None, None, &pending, 1000));
        assert!(takes_over(Some(&pending), Some(&pending), &later, 1000));
        assert!(!takes_over(Some(&later), Some(&later), &pending, 1000));
        assert!(
            takes_over(Some(&later), Some(&later), &paid, 1000),
            "a success is newer than any pending"
        );
        assert!(
            !takes_over(Some(&paid), Some(&paid), &later, 1000),
            "an outcome never goes back to pending"
        );
        assert!(
            !takes_over(Some(&paid), Some(&paid), &declined, 1000),
            "a second outcome contradicts the first"
        );
    }

    #[test]
    fn a_peers_failure_never_retires_a_key_left_pending_here() {
        let pending = record("k1", State::Pending, 1000);
        let failed = record("k1", State::Failed, 5000);
        assert!(!takes_over(Some(&pending), Some(&pending), &failed, 1000));
        // A failure of a key this tab does not hold changes nothing it depends on.
        assert!(takes_over(None, None, &failed, 1000));
    }

    #[test]
    fn a_pending_or_paid_key_is_never_replaced_by_another() {
        for state in [State::Pending, State::Succeeded] {
            let held = record("k1", state, 1000);
            for theirs in [State::Pending, State::Succeeded, State::Failed] {
                let newer = record("k2", theirs, 9000);
                assert!(
                    !takes_over(None, Some(&held), &newer, 1000),
                    "{state:?} k1 replaced by {theirs:?} k2"
                );
            }
        }
        // A cart whose last payment here failed may take a key from elsewhere.
        let failed = record("k1", State::Failed, 1000);
        assert!(takes_over(
            None,
            Some(&failed),
            &record("k2", State::Pending, 2000),
            1000
        ));
    }

    #[test]
    fn contradicting_or_expired_reports_are_ignored() {
        let mine = record("k1", State::Pending, 1000);
        let mut other_details = record("k1", State::Succeeded, 2000);
        other_details.fingerprint = fingerprint(EP, "{\"amount\":1}");
        assert!(!takes_over(Some(&mine), None, &other_details, 1000));
        let mut other_endpoint = record("k1", State::Succeeded, 2000);
        other_endpoint.endpoint = "https://evil.test/x".into();
        assert!(!takes_over(Some(&mine), None, &other_endpoint, 1000));
        let expired = record("k2", State::Succeeded, 2000);
        assert!(!takes_over(None, None, &expired, expired.expires_ms + 1));
    }
}
