//! When to try again, and how long to wait first.
//!
//! The rules follow stripe-node and the IETF Idempotency-Key draft: network
//! errors, timeouts, 408, 409 (the first request is still being processed),
//! 425 (too early, RFC 8470), 429 and 5xx are worth another attempt with the
//! same key; 422 says the key is bound to other details; any other 4xx is a
//! refusal (whether it retires the key is the payment machine's call: see
//! `payment`); a status outside the classes HTTP defines says nothing.
//!
//! Servers differ in which status says what, so the statuses that carry an
//! idempotency meaning are a [`Dialect`], plain data a page can declare.

use super::error::Code;
use super::record::MAX_KEY_TTL_MS;
use super::text::{cat, num, parse_u64};
use alloc::string::String;

/// How one payment call runs: how hard to try, how long a settled key is
/// reused, and what counts as the server's answer. The defaults: two retries,
/// after 250-500 ms and 500-1,000 ms, 10 s per attempt, keys reused for a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Backoff before the first retry, doubled for each one after.
    pub base_delay_ms: u64,
    /// The longest backoff between two attempts.
    pub max_delay_ms: u64,
    /// The longest `Retry-After` payonce will honour; a longer one ends the retries.
    pub max_retry_after_ms: u64,
    /// How long one attempt may take, body included.
    pub timeout_ms: u64,
    /// How long a settled payment's key is reused for the same details,
    /// counted from when it settled. A pending payment keeps its key for good.
    pub key_ttl_ms: u64,
    /// Whether a 2xx whose body is an HTML page counts as the server's answer.
    pub accept_html: bool,
    /// What the server's statuses mean.
    pub dialect: Dialect,
}

/// The most statuses one list of a page's [`Dialect`] may name.
pub const MAX_DIALECT_STATUSES: usize = 16;

/// A set of HTTP statuses (100 to 599).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Statuses([u64; 10]);

impl Statuses {
    /// The set holding exactly `statuses` (those outside 100..=599 are left out).
    pub fn of(statuses: &[u16]) -> Statuses {
        let mut set = Statuses::default();
        for &s in statuses {
            if (100..=599).contains(&s) {
                set.0[usize::from(s / 64)] |= 1 << (s % 64);
            }
        }
        set
    }

    /// Whether `status` is in the set.
    pub fn contains(&self, status: u16) -> bool {
        self.0
            .get(usize::from(status / 64))
            .is_some_and(|bits| bits & (1 << (status % 64)) != 0)
    }
}

/// What a server's statuses mean for idempotency, where servers differ. The
/// default is the IETF draft's (and Stripe's and Adyen's): 422 for a key
/// reused with other details, 409 while the first request still runs.
/// A status in one of these sets means that whatever its class; statuses in
/// none keep their HTTP meaning ([`classify`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dialect {
    /// "This key was already used with other details" (express-idempotency: 417;
    /// djangorestframework-idempotency-key: 409).
    pub mismatch: Statuses,
    /// "An earlier request with this key is still being processed".
    pub in_progress: Statuses,
    /// "A request with this key already finished", answered without that
    /// request's own status (django-idempotency-key's `CONFLICT_STATUS_CODE`, 409):
    /// the outcome is unknown and retrying will not tell.
    pub finished: Statuses,
}

impl Default for Dialect {
    fn default() -> Self {
        Dialect {
            mismatch: Statuses::of(&[422]),
            in_progress: Statuses::of(&[409]),
            finished: Statuses::default(),
        }
    }
}

/// One day, the default key lifetime (the IETF draft's suggestion).
pub const DEFAULT_KEY_TTL_MS: u64 = 24 * 60 * 60 * 1000;

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_retries: 2,
            base_delay_ms: 500,
            max_delay_ms: 5_000,
            max_retry_after_ms: 10_000,
            timeout_ms: 10_000,
            key_ttl_ms: DEFAULT_KEY_TTL_MS,
            accept_html: false,
            dialect: Dialect::default(),
        }
    }
}

impl Policy {
    /// The longest one call can take: every attempt timing out, with the
    /// longest wait allowed between each two.
    pub fn longest_call_ms(&self) -> u64 {
        let retries = u64::from(self.max_retries);
        let wait = self.max_delay_ms.max(self.max_retry_after_ms);
        self.timeout_ms
            .saturating_mul(retries + 1)
            .saturating_add(wait.saturating_mul(retries))
    }

    /// Refuses a key lifetime shorter than one call: a repeat of a payment
    /// still retrying would otherwise be a new payment.
    pub fn check(&self) -> Result<(), String> {
        let longest = self.longest_call_ms();
        if self.key_ttl_ms >= longest {
            return Ok(());
        }
        Err(cat(&[
            "options.keyTtlMs is ",
            &num(self.key_ttl_ms),
            " ms, shorter than one payment's own attempts and waits may take (timeoutMs × (maxRetries + 1) + the longest wait × maxRetries = ",
            &num(longest),
            " ms); use at least that",
        ]))
    }
}

/// The accepted range of one `Policy` option: `min..=max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// The smallest value accepted.
    pub min: u64,
    /// The largest value accepted.
    pub max: u64,
}

/// The range each retry option is accepted in (the options object's bounds).
pub struct Limits {
    /// `maxRetries`.
    pub max_retries: Range,
    /// `retryDelayMs`.
    pub base_delay_ms: Range,
    /// `maxRetryDelayMs`.
    pub max_delay_ms: Range,
    /// `maxRetryAfterMs`.
    pub max_retry_after_ms: Range,
    /// `timeoutMs`.
    pub timeout_ms: Range,
    /// `keyTtlMs` (within it, [`Policy::check`] asks for at least one call's length).
    pub key_ttl_ms: Range,
}

/// The bounds of [`Policy`]'s options: at most 10 retries, waits of up to
/// 1 minute (first backoff) and 5 minutes (cap, `Retry-After`), attempts of
/// 1 ms to 10 minutes, keys reused for at most [`MAX_KEY_TTL_MS`] (a week).
pub const LIMITS: Limits = Limits {
    max_retries: Range { min: 0, max: 10 },
    base_delay_ms: Range {
        min: 0,
        max: 60_000,
    },
    max_delay_ms: Range {
        min: 0,
        max: 300_000,
    },
    max_retry_after_ms: Range {
        min: 0,
        max: 300_000,
    },
    timeout_ms: Range {
        min: 1,
        max: 600_000,
    },
    key_ttl_ms: Range {
        min: 1,
        max: MAX_KEY_TTL_MS,
    },
};

/// What an HTTP status means for the payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: the payment went through (or was replayed).
    Success,
    /// Worth another attempt with the same key; the outcome is still unknown.
    Retry(Code),
    /// A refusal. Whether it is the server's final answer (the payment did not
    /// happen, the key is spent) is the payment machine's call: see `payment`.
    Definitive(Code),
    /// The outcome is unknown and retrying will not tell: stop, keep the key.
    Unknown(Code),
    /// The server says a request with this key already finished, without
    /// saying how ([`Dialect::finished`]).
    Finished,
}

/// Sorts an HTTP status into a [`Verdict`], in the server's dialect.
pub fn classify(status: u16, dialect: &Dialect) -> Verdict {
    if dialect.mismatch.contains(status) {
        return Verdict::Definitive(Code::KeyReused);
    }
    if dialect.in_progress.contains(status) {
        return Verdict::Retry(Code::Conflict);
    }
    if dialect.finished.contains(status) {
        return Verdict::Finished;
    }
    match status {
        200..=299 => Verdict::Success,
        408 => Verdict::Retry(Code::Timeout),
        // Too Early (RFC 8470): the server asks for the request again.
        425 => Verdict::Retry(Code::Http),
        429 => Verdict::Retry(Code::RateLimited),
        500..=599 => Verdict::Retry(Code::Http),
        // 0 is fetch's opaque redirect; the server may have charged before redirecting.
        0 | 300..=399 => Verdict::Unknown(Code::Redirect),
        400..=499 => Verdict::Definitive(Code::Http),
        // Outside the classes HTTP defines (1xx never reaches fetch; 600 and up are
        // no status at all): nothing is known about the payment.
        _ => Verdict::Unknown(Code::Http),
    }
}

/// Exponential backoff with jitter before retry number `retry` (1 for the first).
///
/// The delay doubles from `base_delay_ms` up to `max_delay_ms`, and a random
/// half of it is taken off (`unit` is uniform in `[0, 1)`), so clients that
/// failed together do not come back together.
pub fn backoff_ms(policy: &Policy, retry: u32, unit: f64) -> u64 {
    let shift = retry.saturating_sub(1).min(32);
    let exp = policy
        .base_delay_ms
        .saturating_mul(1u64 << shift)
        .min(policy.max_delay_ms);
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let half = exp / 2;
    half + ((exp - half) as f64 * unit) as u64
}

/// The wait before retry number `retry`, or `None` when the server's
/// `Retry-After` is longer than the policy accepts (the retries end there).
pub fn delay_ms(
    policy: &Policy,
    retry: u32,
    retry_after_ms: Option<u64>,
    unit: f64,
) -> Option<u64> {
    let backoff = backoff_ms(policy, retry, unit);
    match retry_after_ms {
        Some(wait) if wait > policy.max_retry_after_ms => None,
        Some(wait) => Some(wait.max(backoff)),
        None => Some(backoff),
    }
}

/// The longest wait a `Retry-After` is read as: JavaScript's largest exact
/// integer, so the `retryAfterMs` callers see is a true whole number.
pub const MAX_RETRY_AFTER_MS: u64 = (1 << 53) - 1;

/// Parses a `Retry-After` value (delay-seconds or an HTTP-date) into a wait in
/// milliseconds from `now_ms`, at most [`MAX_RETRY_AFTER_MS`]. Garbage gives
/// `None`; a date in the past gives 0.
pub fn parse_retry_after(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let mut secs: u64 = 0;
        for b in value.bytes() {
            secs = secs.saturating_mul(10).saturating_add(u64::from(b - b'0'));
        }
        secs.saturating_mul(1000)
    } else {
        parse_http_date(value)?.saturating_sub(now_ms)
    };
    Some(wait.min(MAX_RETRY_AFTER_MS))
}

/// Parses the three HTTP-date forms of RFC 9110 (IMF-fixdate, RFC 850, asctime)
/// into milliseconds since the Unix epoch.
///
/// A date that does not exist (31 April, 29 February 2023) or whose weekday is
/// not the date's own is refused, as a round trip through a calendar would.
pub fn parse_http_date(value: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    // Short names for IMF-fixdate and asctime, long ones for RFC 850; 1970-01-01 was a Thursday.
    const WEEKDAYS: [&str; 7] = ["thu", "fri", "sat", "sun", "mon", "tue", "wed"];
    const LONG: [&str; 7] = [
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
    ];
    let mut tokens = value.split([' ', ',', '-']).filter(|t| !t.is_empty());
    let weekday = tokens.next()?.to_ascii_lowercase();
    let weekday = WEEKDAYS
        .iter()
        .position(|d| *d == weekday)
        .or_else(|| LONG.iter().position(|d| *d == weekday))?;
    let (mut day, mut month, mut year, mut time) = (None, None, None, None);
    for token in tokens {
        if token.contains(':') {
            time = Some(parse_time(token)?);
        } else if token.bytes().all(|b| b.is_ascii_digit()) && token.len() <= 4 {
            // All digits and at most 4 of them: parse_u64 reads it as str::parse would.
            let n = parse_u64(token)? as u32;
            if day.is_none() {
                day = Some(n);
            } else if year.is_none() {
                year = Some(match (token.len(), n) {
                    (2, n) if n < 70 => 2000 + n,
                    (2, n) => 1900 + n,
                    (4, n) => n,
                    _ => return None,
                });
            } else {
                return None;
            }
        } else if token.eq_ignore_ascii_case("gmt") {
            continue;
        } else {
            let lower = token.to_ascii_lowercase();
            month = Some(MONTHS.iter().position(|m| *m == lower)? as u32 + 1);
        }
    }
    let (day, month, year, secs) = (day?, month?, year?, time?);
    if day < 1 || day > days_in_month(year, month) || year < 1970 {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    if days.rem_euclid(7) as usize != weekday {
        return None;
    }
    let total = days.checked_mul(86_400)?.checked_add(i64::from(secs))?;
    u64::try_from(total).ok()?.checked_mul(1000)
}

fn parse_time(token: &str) -> Option<u32> {
    let mut parts = token.split(':');
    let mut field = |max: u32| -> Option<u32> {
        let p = parts.next()?;
        if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Two digits: parse_u64 reads them as str::parse would.
        let n = parse_u64(p)? as u32;
        (n <= max).then_some(n)
    };
    let (h, m, s) = (field(23)?, field(59)?, field(60)?);
    if parts.next().is_some() {
        return None;
    }
    Some(h * 3600 + m * 60 + s)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_sort_as_the_draft_and_stripe_say() {
        let classify = |s| classify(s, &Dialect::default());
        assert_eq!(classify(200), Verdict::Success);
        assert_eq!(classify(201), Verdict::Success);
        assert_eq!(classify(408), Verdict::Retry(Code::Timeout));
        assert_eq!(classify(409), Verdict::Retry(Code::Conflict));
        assert_eq!(classify(425), Verdict::Retry(Code::Http));
        assert_eq!(classify(429), Verdict::Retry(Code::RateLimited));
        assert_eq!(classify(500), Verdict::Retry(Code::Http));
        assert_eq!(classify(503), Verdict::Retry(Code::Http));
        assert_eq!(classify(400), Verdict::Definitive(Code::Http));
        assert_eq!(classify(402), Verdict::Definitive(Code::Http));
        assert_eq!(classify(404), Verdict::Definitive(Code::Http));
        assert_eq!(classify(417), Verdict::Definitive(Code::Http));
        assert_eq!(classify(422), Verdict::Definitive(Code::KeyReused));
        assert_eq!(classify(0), Verdict::Unknown(Code::Redirect));
        assert_eq!(classify(303), Verdict::Unknown(Code::Redirect));
    }

    #[test]
    fn a_dialect_gives_statuses_their_server_s_meaning() {
        // express-idempotency: 417 for other details.
        let express = Dialect {
            mismatch: Statuses::of(&[417, 422]),
            ..Dialect::default()
        };
        assert_eq!(
            classify(417, &express),
            Verdict::Definitive(Code::KeyReused)
        );
        // djangorestframework-idempotency-key: 409 for other details, nothing for in progress.
        let drf = Dialect {
            mismatch: Statuses::of(&[409]),
            in_progress: Statuses::of(&[]),
            ..Dialect::default()
        };
        assert_eq!(classify(409, &drf), Verdict::Definitive(Code::KeyReused));
        // django-idempotency-key: 409 with the first request's body once it finished.
        let django = Dialect {
            finished: Statuses::of(&[409]),
            in_progress: Statuses::of(&[]),
            ..Dialect::default()
        };
        assert_eq!(classify(409, &django), Verdict::Finished);
        assert_eq!(classify(422, &django), Verdict::Definitive(Code::KeyReused));
        // Out of range statuses never enter a set.
        let set = Statuses::of(&[0, 99, 600, 65535, 100, 599]);
        assert!(set.contains(100) && set.contains(599));
        assert!(!set.contains(0) && !set.contains(600) && !set.contains(65535));
    }

    #[test]
    fn backoff_doubles_and_caps_with_half_jitter() {
        let p = Policy::default();
        assert_eq!(backoff_ms(&p, 1, 0.0), 250);
        assert_eq!(backoff_ms(&p, 1, 0.999_999), 499);
        assert_eq!(backoff_ms(&p, 2, 0.0), 500);
        assert_eq!(backoff_ms(&p, 3, 0.0), 1000);
        assert_eq!(backoff_ms(&p, 10, 0.0), 2500);
        assert!(backoff_ms(&p, 10, 0.999) <= 5000);
        assert!(backoff_ms(&p, u32::MAX, 0.5) <= 5000);
        assert_eq!(backoff_ms(&p, 1, f64::NAN), 250);
    }

    #[test]
    fn retry_after_wins_when_longer_and_ends_retries_when_too_long() {
        let p = Policy::default();
        assert_eq!(delay_ms(&p, 1, Some(1000), 0.0), Some(1000));
        assert_eq!(delay_ms(&p, 1, Some(0), 0.0), Some(250));
        assert_eq!(delay_ms(&p, 1, Some(10_000), 0.0), Some(10_000));
        assert_eq!(delay_ms(&p, 1, Some(10_001), 0.0), None);
        assert_eq!(delay_ms(&p, 1, None, 0.0), Some(250));
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after("1", 0), Some(1000));
        assert_eq!(parse_retry_after(" 120 ", 0), Some(120_000));
        assert_eq!(parse_retry_after("0", 0), Some(0));
        assert_eq!(
            parse_retry_after("99999999999999999999999", 0),
            Some(MAX_RETRY_AFTER_MS),
            "a whole number JS can hold"
        );
        assert_eq!(
            parse_retry_after("18446744073709551", 0),
            Some(MAX_RETRY_AFTER_MS)
        );
        assert_eq!(parse_retry_after("-1", 0), None);
        assert_eq!(parse_retry_after("1.5", 0), None);
        assert_eq!(parse_retry_after("soon", 0), None);
        assert_eq!(parse_retry_after("", 0), None);
    }

    #[test]
    fn retry_after_dates_in_all_three_forms() {
        let at = 784_111_777_000; // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(at));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(at));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(at));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:39 GMT", at),
            Some(2000)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at + 5000),
            Some(0)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Sat, 29 Feb 2020 23:59:59 GMT"),
            Some(1_583_020_799_000)
        );
    }

    #[test]
    fn garbage_dates_are_refused() {
        for bad in [
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994",
            "06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37:01 GMT",
            "Sun, 06 Nov 1 2 08:49:37 GMT",
            // Dates that do not exist, and weekdays that are not the date's.
            "Thu, 31 Apr 2025 08:00:00 GMT",
            "Sun, 29 Feb 2023 08:00:00 GMT",
            "Wed, 30 Feb 2024 08:00:00 GMT",
            "Mon, 06 Nov 1994 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sunny, 06-Nov-94 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }
}
