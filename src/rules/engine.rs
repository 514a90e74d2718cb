//! Choosing the key and running the attempts, over injected browser parts.
//!
//! The browser layer implements [`Transport`], [`Clock`], [`Store`] and
//! [`Observer`]; the tests below put scripted fakes behind them.

use super::error::{Code, PayError};
use super::record::{Record, State};
use super::retry::{self, Policy, Verdict};
use super::text::{cat, num};
use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;

/// One attempt's request. The same endpoint, body and key on every attempt.
#[derive(Debug)]
pub struct Request<'a> {
    /// Where to POST.
    pub endpoint: &'a str,
    /// The canonical JSON body.
    pub body: &'a str,
    /// The idempotency key.
    pub key: &'a str,
    /// 1 for the first attempt of this call.
    pub attempt: u32,
}

/// What the server answered.
#[derive(Debug)]
pub struct Response<B> {
    /// HTTP status (0 for a redirect fetch would not follow).
    pub status: u16,
    /// The raw `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// Whether the server said `Idempotent-Replayed: true`.
    pub replayed: bool,
    /// The parsed body.
    pub body: B,
}

/// Why an attempt got no HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The network failed; the message is the browser's.
    Network(String),
    /// The per-attempt timeout fired.
    Timeout,
    /// The caller aborted.
    Aborted,
}

/// Sends one request, for [`run`]: a blocking transport (the tests' fakes).
/// The browser drives a [`Payment`] step by step instead.
pub trait Transport {
    /// The response body type.
    type Body;
    /// Sends `req`, with the per-attempt timeout applied.
    fn send(&self, req: &Request<'_>) -> Result<Response<Self::Body>, Failure>;
}

/// Time and chance, for [`run`].
pub trait Clock {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Waits; `false` when the caller aborted meanwhile.
    fn sleep(&self, ms: u64) -> bool;
    /// Uniform in `[0, 1)`, for jitter.
    fn random(&self) -> f64;
}

/// Where records live. Implementations never fail: a store that cannot write
/// keeps the record in memory for the page. Lookups are by key and by
/// fingerprint, so a payment costs the same however many came before it.
pub trait Store {
    /// The record with this key, if any.
    fn by_key(&self, key: &str) -> Option<Record>;
    /// The live record most recently saved for this fingerprint, if any.
    fn by_fingerprint(&self, fingerprint: &str) -> Option<Record>;
    /// Every readable record (corrupt and foreign items are skipped).
    fn all(&self) -> Vec<Record>;
    /// Writes or replaces the record under its key.
    fn save(&self, record: &Record);
    /// Deletes the record with this key; says whether there was one.
    fn remove(&self, key: &str) -> bool;
    /// Drops expired records. May do the work only once per page.
    fn sweep(&self, now_ms: u64) {
        for r in self.all() {
            if r.is_expired(now_ms) {
                self.remove(&r.key);
            }
        }
    }
}

/// What payonce is doing, for logs and UIs.
#[derive(Clone, Debug, PartialEq)]
pub enum Event<'a> {
    /// A request is about to leave.
    Attempt {
        /// The key sent.
        key: &'a str,
        /// 1-based, within this call.
        attempt: u32,
    },
    /// The server answered.
    Response {
        /// 1-based, within this call.
        attempt: u32,
        /// HTTP status.
        status: u16,
        /// `Idempotent-Replayed: true`.
        replayed: bool,
    },
    /// An attempt got no answer.
    NoResponse {
        /// 1-based, within this call.
        attempt: u32,
        /// `network`, `timeout` or `aborted`.
        code: Code,
    },
    /// Waiting before the next attempt.
    Backoff {
        /// The retry about to happen (1 for the first).
        retry: u32,
        /// How long.
        delay_ms: u64,
        /// Why.
        reason: Code,
    },
}

/// Receives [`Event`]s.
pub trait Observer {
    /// Called for each event; must not fail.
    fn event(&self, event: Event<'_>);
}

/// An observer that ignores everything.
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _: Event<'_>) {}
}

/// A payment that went through.
#[derive(Debug, PartialEq)]
pub struct Success<B> {
    /// The key used.
    pub key: String,
    /// The final status (2xx).
    pub status: u16,
    /// Requests sent in this call.
    pub attempts: u32,
    /// Whether the server replayed an earlier answer.
    pub replayed: bool,
    /// The response body.
    pub body: B,
}

/// Picks the record (and so the key) for a payment. [`run`] writes it to the
/// store before the first request leaves.
///
/// A caller key wins, unless it is already bound to other details. Without
/// one, an unexpired pending or succeeded record for the same fingerprint is
/// reused; otherwise `mint` makes a fresh key. Expired records are purged.
pub fn resolve<S: Store, B>(
    store: &S,
    now_ms: u64,
    ttl_ms: u64,
    endpoint: &str,
    fingerprint: &str,
    caller_key: Option<&str>,
    mint: impl FnOnce() -> String,
) -> Result<Record, PayError<B>> {
    store.sweep(now_ms);
    let found = match caller_key {
        Some(key) => match store.by_key(key) {
            Some(r) if r.is_expired(now_ms) => {
                store.remove(&r.key);
                None
            }
            Some(r) if r.fingerprint != fingerprint => {
                let mut err = PayError::new(
                    Code::KeyReused,
                    cat(&[
                        "the idempotency key '",
                        key,
                        "' was already used for a different payment (other details or endpoint); use a new key for a new payment",
                    ]),
                );
                err.key = Some(key.to_owned());
                return Err(err);
            }
            found => found,
        },
        None => match store.by_fingerprint(fingerprint) {
            Some(r) if r.is_expired(now_ms) => {
                store.remove(&r.key);
                None
            }
            found => found.filter(|r| r.is_live(now_ms) && r.fingerprint == fingerprint),
        },
    };
    Ok(found.unwrap_or_else(|| {
        let key = caller_key.map_or_else(mint, str::to_owned);
        Record::new(
            key,
            fingerprint.to_owned(),
            endpoint.to_owned(),
            now_ms,
            ttl_ms,
        )
    }))
}

/// What a [`Payment`] wants next.
pub enum Next<B> {
    /// Wait this long, then send the next attempt.
    Wait(u64),
    /// Finished.
    Done(Result<Success<B>, PayError<B>>),
}

/// One payment's attempts, as a state machine with no I/O of its own: the
/// caller sends each request, feeds back what happened, and waits when told.
/// The record is updated in the store as it goes: succeeded and pending keep
/// the key, a definitive failure retires it.
pub struct Payment {
    /// The record, and so the key, endpoint and attempts so far.
    pub record: Record,
    /// Attempts in this call.
    pub attempt: u32,
    /// How hard to try.
    pub policy: Policy,
}

impl Payment {
    /// A payment for `record`, as [`resolve`] chose it.
    pub fn new(record: Record, policy: Policy) -> Self {
        Payment {
            record,
            attempt: 0,
            policy,
        }
    }

    /// Starts the next attempt: writes the record (before anything leaves)
    /// and tells the observer. Send the request right after.
    pub fn attempt(&mut self, now_ms: u64, store: &impl Store, observer: &impl Observer) {
        self.attempt += 1;
        self.record.attempts = self.record.attempts.saturating_add(1);
        self.record.updated_ms = now_ms;
        store.save(&self.record);
        observer.event(Event::Attempt {
            key: &self.record.key,
            attempt: self.attempt,
        });
    }

    /// The server answered the current attempt.
    pub fn answered<B>(
        &mut self,
        now_ms: u64,
        unit: f64,
        store: &impl Store,
        observer: &impl Observer,
        response: Response<B>,
    ) -> Next<B> {
        let attempt = self.attempt;
        observer.event(Event::Response {
            attempt,
            status: response.status,
            replayed: response.replayed,
        });
        let code = match retry::classify(response.status) {
            Verdict::Success => {
                self.settle(State::Succeeded, now_ms, store);
                return Next::Done(Ok(Success {
                    key: self.record.key.clone(),
                    status: response.status,
                    attempts: attempt,
                    replayed: response.replayed,
                    body: response.body,
                }));
            }
            Verdict::Definitive(code) => {
                self.settle(State::Failed, now_ms, store);
                return Next::Done(Err(self.failure(code, Some(response), false)));
            }
            Verdict::Unknown(code) => {
                return Next::Done(Err(self.failure(code, Some(response), false)))
            }
            Verdict::Retry(code) => code,
        };
        let retry_after_ms = response
            .retry_after
            .as_deref()
            .and_then(|v| retry::parse_retry_after(v, now_ms));
        self.again(code, retry_after_ms, unit, observer, Some(response))
    }

    /// The current attempt got no HTTP answer.
    pub fn no_answer<B>(
        &mut self,
        unit: f64,
        observer: &impl Observer,
        failure: Failure,
    ) -> Next<B> {
        let (code, cause): (Code, Option<String>) = match failure {
            Failure::Aborted => (Code::Aborted, None),
            Failure::Timeout => (Code::Timeout, None),
            Failure::Network(cause) => (Code::Network, Some(cause)),
        };
        observer.event(Event::NoResponse {
            attempt: self.attempt,
            code,
        });
        if code == Code::Aborted {
            return Next::Done(Err(self.failure(code, None, false)));
        }
        if let (Some(cause), true) = (cause, self.attempt > self.policy.max_retries) {
            let mut err = self.failure(code, None, true);
            err.message = cat(&[&err.message, " (browser said: ", &cause, ")"]);
            return Next::Done(Err(err));
        }
        self.again(code, None, unit, observer, None)
    }

    /// The caller aborted while waiting between attempts.
    pub fn aborted<B>(&self) -> PayError<B> {
        self.failure(Code::Aborted, None, false)
    }

    fn again<B>(
        &self,
        code: Code,
        retry_after_ms: Option<u64>,
        unit: f64,
        observer: &impl Observer,
        response: Option<Response<B>>,
    ) -> Next<B> {
        let attempt = self.attempt;
        let delay = retry::delay_ms(&self.policy, attempt, retry_after_ms, unit);
        match delay {
            Some(delay_ms) if attempt <= self.policy.max_retries => {
                observer.event(Event::Backoff {
                    retry: attempt,
                    delay_ms,
                    reason: code,
                });
                Next::Wait(delay_ms)
            }
            _ => Next::Done(Err(self.failure(code, response, true))),
        }
    }

    fn settle(&mut self, state: State, now_ms: u64, store: &impl Store) {
        self.record.state = state;
        self.record.updated_ms = now_ms;
        store.save(&self.record);
    }

    fn failure<B>(
        &self,
        code: Code,
        response: Option<Response<B>>,
        retryable: bool,
    ) -> PayError<B> {
        failure(
            code,
            &self.record,
            self.attempt,
            response,
            retryable,
            &self.policy,
        )
    }
}

/// Runs a [`Payment`] to the end over a blocking transport and clock.
#[allow(clippy::too_many_arguments)]
pub fn run<T: Transport, C: Clock, S: Store, O: Observer>(
    transport: &T,
    clock: &C,
    store: &S,
    observer: &O,
    policy: &Policy,
    record: Record,
    body: &str,
) -> Result<Success<T::Body>, PayError<T::Body>> {
    let mut payment = Payment::new(record, *policy);
    loop {
        payment.attempt(clock.now_ms(), store, observer);
        let request = Request {
            endpoint: &payment.record.endpoint,
            body,
            key: &payment.record.key,
            attempt: payment.attempt,
        };
        let next = match transport.send(&request) {
            Ok(response) => {
                payment.answered(clock.now_ms(), clock.random(), store, observer, response)
            }
            Err(failure) => payment.no_answer(clock.random(), observer, failure),
        };
        match next {
            Next::Wait(ms) => {
                if !clock.sleep(ms) {
                    return Err(payment.aborted());
                }
            }
            Next::Done(result) => return result,
        }
    }
}

fn failure<B>(
    code: Code,
    record: &Record,
    attempts: u32,
    response: Option<Response<B>>,
    retryable: bool,
    policy: &Policy,
) -> PayError<B> {
    let status = response.as_ref().map(|r| r.status);
    let retry_after_ms = response
        .as_ref()
        .and_then(|r| r.retry_after.as_deref())
        .and_then(|v| retry::parse_retry_after(v, record.updated_ms));
    let n = num(u64::from(attempts));
    let tries: &[&str] = if attempts == 1 {
        &["1 attempt"]
    } else {
        &[&n, " attempts"]
    };
    let http = num(u64::from(status.unwrap_or(0)));
    // "<head> after <n attempts>; <tail>"
    let after = |head: &[&str], tail: &str| {
        let mut message = cat(head);
        message.push_str(&cat(tries));
        message.push_str("; ");
        message.push_str(tail);
        message
    };
    let message = match code {
        Code::Timeout if status.is_some() => after(&["the server timed out (408) after "], KEPT),
        Code::Timeout => after(
            &["no answer within ", &num(policy.timeout_ms), " ms after "],
            KEPT,
        ),
        Code::Network => after(
            &["the payment request could not reach the server after "],
            KEPT,
        ),
        Code::Conflict => after(
            &["the server is still processing an earlier request with this key (409) after "],
            "wait, then pay again with the same details",
        ),
        Code::RateLimited => match retry_after_ms {
            Some(ms) if ms > policy.max_retry_after_ms => cat(&[
                "the server is rate limiting (429) and asked to wait ",
                &num(ms),
                " ms, longer than maxRetryAfterMs (",
                &num(policy.max_retry_after_ms),
                " ms); ",
                KEPT,
            ]),
            _ => after(&["the server is rate limiting (429) after "], KEPT),
        },
        Code::Http if retryable => after(&["the server answered ", &http, " after "], KEPT),
        Code::Redirect => cat(&[
            "the server answered with a redirect, which payonce does not follow for payments; ",
            KEPT,
        ]),
        Code::Aborted => cat(&["the payment was aborted by the caller's signal; ", KEPT]),
        Code::KeyReused => cat(&[
            "the server says this idempotency key was already used for different payment details (422); ",
            RETIRED,
        ]),
        Code::Http | Code::InvalidInput => cat(&[
            "the server refused the payment with status ",
            &http,
            "; ",
            RETIRED,
        ]),
    };
    PayError {
        code,
        message,
        status,
        retryable,
        key: Some(record.key.clone()),
        attempts,
        body: response.map(|r| r.body),
        retry_after_ms,
    }
}

const KEPT: &str =
    "the outcome is unknown and the key is kept, so paying again with the same details is safe";
const RETIRED: &str = "the key is retired, so the next try is a new payment";

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rules::record::fingerprint;
    use std::cell::{Cell, RefCell};
    use std::collections::VecDeque;

    pub type Scripted = Result<(u16, Option<&'static str>, bool), Failure>;

    #[derive(Default)]
    pub struct FakeTransport {
        pub script: RefCell<VecDeque<Scripted>>,
        pub sent: RefCell<Vec<(String, String, String)>>,
    }

    impl FakeTransport {
        pub fn new(script: Vec<Scripted>) -> Self {
            FakeTransport {
                script: RefCell::new(script.into()),
                sent: RefCell::default(),
            }
        }
    }

    impl Transport for FakeTransport {
        type Body = u32;
        fn send(&self, req: &Request<'_>) -> Result<Response<u32>, Failure> {
            self.sent
                .borrow_mut()
                .push((req.endpoint.into(), req.body.into(), req.key.into()));
            let (status, retry_after, replayed) = self
                .script
                .borrow_mut()
                .pop_front()
                .expect("script ran out")?;
            Ok(Response {
                status,
                retry_after: retry_after.map(Into::into),
                replayed,
                body: req.attempt,
            })
        }
    }

    pub struct FakeClock {
        pub now: Cell<u64>,
        pub sleeps: RefCell<Vec<u64>>,
        pub abort_on_sleep: Cell<bool>,
    }

    impl FakeClock {
        pub fn at(now: u64) -> Self {
            FakeClock {
                now: Cell::new(now),
                sleeps: RefCell::default(),
                abort_on_sleep: Cell::new(false),
            }
        }
    }

    impl Clock for FakeClock {
        fn now_ms(&self) -> u64 {
            self.now.get()
        }
        fn sleep(&self, ms: u64) -> bool {
            self.sleeps.borrow_mut().push(ms);
            self.now.set(self.now.get() + ms);
            !self.abort_on_sleep.get()
        }
        fn random(&self) -> f64 {
            0.5
        }
    }

    pub type MemStore = crate::rules::store::Mirrored<crate::rules::store::tests::FlakyBackend>;

    #[derive(Default)]
    struct Log(RefCell<Vec<String>>);

    impl Observer for Log {
        fn event(&self, e: Event<'_>) {
            self.0.borrow_mut().push(format!("{e:?}"));
        }
    }

    const EP: &str = "/api/charges";
    const BODY: &str = r#"{"amount":5000,"currency":"usd"}"#;
    const TTL: u64 = 86_400_000;

    fn fp() -> String {
        fingerprint(EP, BODY)
    }

    fn minted(n: &'static str) -> impl FnOnce() -> String {
        move || n.to_owned()
    }

    fn pay(
        t: &FakeTransport,
        c: &FakeClock,
        s: &MemStore,
        key: Option<&str>,
        mint: &'static str,
    ) -> Result<Success<u32>, PayError<u32>> {
        let record = resolve::<_, u32>(s, c.now_ms(), TTL, EP, &fp(), key, minted(mint))?;
        run(t, c, s, &Silent, &Policy::default(), record, BODY)
    }

    #[test]
    fn success_first_time() {
        let (t, c, s) = (
            FakeTransport::new(vec![Ok((201, None, false))]),
            FakeClock::at(1000),
            MemStore::default(),
        );
        let ok = pay(&t, &c, &s, None, "k1").unwrap();
        assert_eq!(
            (ok.key.as_str(), ok.status, ok.attempts, ok.replayed),
            ("k1", 201, 1, false)
        );
        assert_eq!(
            t.sent.borrow().as_slice(),
            [(EP.to_owned(), BODY.to_owned(), "k1".to_owned())]
        );
        let rec = &s.all()[0];
        assert_eq!((rec.state, rec.attempts), (State::Succeeded, 1));
        assert!(c.sleeps.borrow().is_empty());
    }

    #[test]
    fn record_is_written_before_the_first_request() {
        struct Peek<'a>(&'a MemStore, RefCell<Option<State>>);
        impl Transport for Peek<'_> {
            type Body = u32;
            fn send(&self, _: &Request<'_>) -> Result<Response<u32>, Failure> {
                *self.1.borrow_mut() = self.0.all().first().map(|r| r.state);
                Err(Failure::Aborted)
            }
        }
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let peek = Peek(&s, RefCell::new(None));
        let record = resolve::<_, u32>(&s, 1000, TTL, EP, &fp(), None, minted("k1")).unwrap();
        let err = run(&peek, &c, &s, &Silent, &Policy::default(), record, BODY).unwrap_err();
        assert_eq!(err.code, Code::Aborted);
        assert_eq!(*peek.1.borrow(), Some(State::Pending));
    }

    #[test]
    fn retries_503_then_succeeds_with_same_key_and_body() {
        let t = FakeTransport::new(vec![
            Ok((503, None, false)),
            Ok((503, None, false)),
            Ok((200, None, true)),
        ]);
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let ok = pay(&t, &c, &s, None, "k1").unwrap();
        assert_eq!((ok.attempts, ok.replayed), (3, true));
        let sent = t.sent.borrow();
        assert!(
            sent.iter().all(|r| r == &sent[0]),
            "same request every time"
        );
        assert_eq!(c.sleeps.borrow().as_slice(), [375, 750]);
    }

    #[test]
    fn network_errors_and_timeouts_are_retried() {
        let t = FakeTransport::new(vec![
            Err(Failure::Network("reset".into())),
            Err(Failure::Timeout),
            Ok((200, None, false)),
        ]);
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let log = Log::default();
        let record = resolve::<_, u32>(&s, 1000, TTL, EP, &fp(), None, minted("k1")).unwrap();
        let ok = run(&t, &c, &s, &log, &Policy::default(), record, BODY).unwrap();
        assert_eq!(ok.attempts, 3);
        let log = log.0.borrow();
        assert_eq!(log.len(), 8, "{log:?}");
        assert!(
            log[1].contains("Network") && log[5].contains("Timeout"),
            "{log:?}"
        );
        assert!(
            log[2].contains("Backoff") && log[2].contains("delay_ms: 375"),
            "{log:?}"
        );
    }

    #[test]
    fn retries_exhausted_keep_the_key_pending() {
        let t = FakeTransport::new(vec![Ok((500, None, false)); 3]);
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let err = pay(&t, &c, &s, None, "k1").unwrap_err();
        assert_eq!(
            (err.code, err.status, err.attempts, err.retryable),
            (Code::Http, Some(500), 3, true)
        );
        assert_eq!(err.body, Some(3));
        assert!(err.message.contains("key is kept"), "{}", err.message);
        assert_eq!(s.all()[0].state, State::Pending);
        // The shopper clicks again: same key, no new one minted.
        let t2 = FakeTransport::new(vec![Ok((200, None, true))]);
        let ok = pay(&t2, &c, &s, None, "k2").unwrap();
        assert_eq!(ok.key, "k1");
        assert_eq!(s.all()[0].attempts, 4);
    }

    #[test]
    fn conflict_that_outlives_retries_is_conflict() {
        let t = FakeTransport::new(vec![Ok((409, None, false)); 3]);
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let err = pay(&t, &c, &s, None, "k1").unwrap_err();
        assert_eq!(
            (err.code, err.status, err.retryable),
            (Code::Conflict, Some(409), true)
        );
    }

    #[test]
    fn definitive_4xx_is_not_retried_and_retires_the_key() {
        for status in [400, 401, 402, 403, 404, 422] {
            let t = FakeTransport::new(vec![Ok((status, None, false))]);
            let (c, s) = (FakeClock::at(1000), MemStore::default());
            let err = pay(&t, &c, &s, None, "k1").unwrap_err();
            assert_eq!(
                (err.status, err.attempts, err.retryable),
                (Some(status), 1, false)
            );
            assert_eq!(
                err.code,
                if status == 422 {
                    Code::KeyReused
                } else {
                    Code::Http
                }
            );
            assert_eq!(s.all()[0].state, State::Failed);
            // The next try is a new payment with a new key.
            let t2 = FakeTransport::new(vec![Ok((200, None, false))]);
            assert_eq!(pay(&t2, &c, &s, None, "k2").unwrap().key, "k2");
        }
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let t = FakeTransport::new(vec![Ok((429, Some("2"), false)), Ok((200, None, false))]);
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        pay(&t, &c, &s, None, "k1").unwrap();
        assert_eq!(c.sleeps.borrow().as_slice(), [2000]);

        let t = FakeTransport::new(vec![Ok((429, Some("31536000"), false))]);
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let err = pay(&t, &c, &s, None, "k1").unwrap_err();
        assert_eq!(
            (err.code, err.attempts, err.retry_after_ms),
            (Code::RateLimited, 1, Some(31_536_000_000))
        );
        assert!(c.sleeps.borrow().is_empty(), "never waits a year");
        assert!(err.message.contains("maxRetryAfterMs"), "{}", err.message);
    }

    #[test]
    fn redirect_stops_without_retiring_the_key() {
        let t = FakeTransport::new(vec![Ok((0, None, false))]);
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let err = pay(&t, &c, &s, None, "k1").unwrap_err();
        assert_eq!(
            (err.code, err.attempts, err.retryable),
            (Code::Redirect, 1, false)
        );
        assert_eq!(s.all()[0].state, State::Pending);
    }

    #[test]
    fn abort_during_backoff_stops_and_keeps_the_key() {
        let t = FakeTransport::new(vec![Ok((503, None, false))]);
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        c.abort_on_sleep.set(true);
        let err = pay(&t, &c, &s, None, "k1").unwrap_err();
        assert_eq!((err.code, err.attempts), (Code::Aborted, 1));
        assert_eq!(s.all()[0].state, State::Pending);
    }

    #[test]
    fn a_caller_key_wins_and_is_checked_against_its_details() {
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let t = FakeTransport::new(vec![Ok((200, None, false))]);
        assert_eq!(pay(&t, &c, &s, Some("mine"), "minted").unwrap().key, "mine");
        let other = fingerprint(EP, r#"{"amount":1}"#);
        let err =
            resolve::<_, u32>(&s, 1000, TTL, EP, &other, Some("mine"), minted("x")).unwrap_err();
        assert_eq!(err.code, Code::KeyReused);
        assert_eq!(err.attempts, 0);
        // Same details, same key: allowed (the server replays).
        assert_eq!(
            resolve::<_, u32>(&s, 1000, TTL, EP, &fp(), Some("mine"), minted("x"))
                .unwrap()
                .key,
            "mine"
        );
    }

    #[test]
    fn keys_expire_after_their_lifetime() {
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let t = FakeTransport::new(vec![Ok((200, None, false))]);
        pay(&t, &c, &s, None, "k1").unwrap();
        let later = 1000 + TTL + 1;
        let r = resolve::<_, u32>(&s, later, TTL, EP, &fp(), None, minted("k2")).unwrap();
        assert_eq!(r.key, "k2");
        assert!(
            s.all().is_empty(),
            "the expired record was purged (the new one is written by run)"
        );
    }

    #[test]
    fn other_details_get_their_own_key() {
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let t = FakeTransport::new(vec![Ok((200, None, false))]);
        pay(&t, &c, &s, None, "k1").unwrap();
        let other = fingerprint(EP, r#"{"amount":1}"#);
        assert_eq!(
            resolve::<_, u32>(&s, 1000, TTL, EP, &other, None, minted("k2"))
                .unwrap()
                .key,
            "k2"
        );
        let other_ep = fingerprint("/other", BODY);
        assert_eq!(
            resolve::<_, u32>(&s, 1000, TTL, "/other", &other_ep, None, minted("k3"))
                .unwrap()
                .key,
            "k3"
        );
    }
}
