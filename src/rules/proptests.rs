//! Property tests: random shoppers, networks, servers, storages and clocks
//! against a model of what must hold. Run natively by `cargo test`.
//!
//! The server here is a faithful IETF Idempotency-Key server: a key is
//! processed once, and every repeat replays the stored answer. Faults hit
//! each attempt: the network down before the server, the response lost after
//! the server charged, timeouts on either side, 503, 429 with Retry-After,
//! 409. Between payments the page reloads (the store's memory is dropped),
//! storage breaks or fills up, other code wipes it, and the clock jumps.

use super::engine::tests::FakeClock;
use super::engine::{self, Failure, Request, Response, Silent, Store, Transport};
use super::error::Code;
use super::json::{canonical, Value};
use super::record::{fingerprint, State};
use super::retry::Policy;
use super::store::tests::FlakyBackend;
use super::store::Mirrored;
use proptest::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};

const EP: &str = "/api/charges";

#[derive(Clone, Copy, Debug)]
enum Fault {
    NetDown,
    LostAfterCharge,
    TimeoutBefore,
    TimeoutAfterCharge,
    Unavailable,
    RateLimited(u8),
    Conflict,
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::NetDown),
        Just(Fault::LostAfterCharge),
        Just(Fault::TimeoutBefore),
        Just(Fault::TimeoutAfterCharge),
        Just(Fault::Unavailable),
        (0u8..20).prop_map(Fault::RateLimited),
        Just(Fault::Conflict),
    ]
}

#[derive(Clone, Debug)]
enum Action {
    /// The shopper pays order `order` with card `card` (card 0 is declined);
    /// `faults` hit its attempts in turn; `reload_mid` drops the page before it sees the outcome.
    Pay {
        order: u8,
        card: u8,
        faults: Vec<Fault>,
        reload_mid: bool,
    },
    Reload,
    BreakStorage(bool),
    Quota(Option<u8>),
    WipeStorage,
    ClockJump(i32),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0u8..4, 0u8..3, prop::collection::vec(fault(), 0..5), prop::bool::weighted(0.15))
            .prop_map(|(order, card, faults, reload_mid)| Action::Pay { order, card, faults, reload_mid }),
        1 => Just(Action::Reload),
        1 => any::<bool>().prop_map(Action::BreakStorage),
        1 => prop::option::of(0u8..4).prop_map(Action::Quota),
        1 => Just(Action::WipeStorage),
        // At most 30 jumps of at most half an hour: never past the 24 h key lifetime.
        1 => (-1_800_000i32..1_800_000).prop_map(Action::ClockJump),
    ]
}

/// The gateway, keyed by idempotency key; charges counted per request body.
#[derive(Default)]
struct Server {
    keys: RefCell<HashMap<String, (String, u16)>>,
    charges: RefCell<HashMap<String, u32>>,
    faults: RefCell<VecDeque<Fault>>,
    requests: Cell<u32>,
}

impl Server {
    fn process(&self, req: &Request<'_>) -> (u16, bool) {
        if let Some((body, status)) = self.keys.borrow().get(req.key) {
            return if body == req.body {
                (*status, true)
            } else {
                (422, false)
            };
        }
        let status = if req.body.contains("\"card\":0") {
            402
        } else {
            *self
                .charges
                .borrow_mut()
                .entry(req.body.to_owned())
                .or_default() += 1;
            201
        };
        self.keys
            .borrow_mut()
            .insert(req.key.to_owned(), (req.body.to_owned(), status));
        (status, false)
    }
}

impl Transport for Server {
    type Body = ();
    fn send(&self, req: &Request<'_>) -> Result<Response<()>, Failure> {
        self.requests.set(self.requests.get() + 1);
        let answer = |status, replayed| {
            Ok(Response {
                status,
                retry_after: None,
                replayed,
                body: (),
            })
        };
        match self.faults.borrow_mut().pop_front() {
            None => {
                let (status, replayed) = self.process(req);
                answer(status, replayed)
            }
            Some(Fault::NetDown) => Err(Failure::Network("down".into())),
            Some(Fault::TimeoutBefore) => Err(Failure::Timeout),
            Some(Fault::LostAfterCharge) => {
                self.process(req);
                Err(Failure::Network("reset".into()))
            }
            Some(Fault::TimeoutAfterCharge) => {
                self.process(req);
                Err(Failure::Timeout)
            }
            Some(Fault::Unavailable) => answer(503, false),
            Some(Fault::Conflict) => answer(409, false),
            Some(Fault::RateLimited(secs)) => Ok(Response {
                status: 429,
                retry_after: Some(secs.to_string()),
                replayed: false,
                body: (),
            }),
        }
    }
}

/// A reload drops the page's memory; storage keeps what it holds. A record that
/// only memory holds (storage refused the write, or other code wiped it and
/// payonce has not written it back yet) cannot survive a reload, and no client
/// can help that: the model reloads only when storage holds everything.
fn reload(store: &Mirrored<FlakyBackend>) {
    if store.backend_holds_everything() {
        store.drop_memory();
    }
}

fn details(order: u8, card: u8) -> String {
    canonical(&Value::object([
        ("order", Value::int(i64::from(order))),
        ("amount", Value::int(1000 + i64::from(order))),
        ("card", Value::int(i64::from(card))),
    ]))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn exactly_once_whatever_happens(actions in prop::collection::vec(action(), 1..30)) {
        let policy = Policy::default();
        let ttl = 24 * 60 * 60 * 1000;
        let server = Server::default();
        let clock = FakeClock::at(1_700_000_000_000);
        let store = Mirrored::new(FlakyBackend::default());
        let mut told_success: HashSet<String> = HashSet::new();
        let mut told_declined: HashSet<String> = HashSet::new();
        let mut minted = 0u32;

        for action in actions {
            match action {
                Action::Pay { order, card, faults, reload_mid } => {
                    let body = details(order, card);
                    let fp = fingerprint(EP, &body);
                    *server.faults.borrow_mut() = faults.into();
                    let mint = || { minted += 1; format!("key-{minted}") };
                    let record = engine::resolve::<_, ()>(&store, clock.now.get(), ttl, EP, &fp, None, mint)
                        .expect("no caller key, so no key_reused");
                    let key = record.key.clone();
                    let before = server.requests.get();
                    let sleeps_before = clock.sleeps.borrow().len();
                    let outcome = engine::run(&server, &clock, &store, &Silent, &policy, record, &body);

                    let sent = server.requests.get() - before;
                    prop_assert!(sent <= policy.max_retries + 1, "{sent} requests in one call");
                    for &ms in &clock.sleeps.borrow()[sleeps_before..] {
                        prop_assert!(ms <= policy.max_delay_ms.max(policy.max_retry_after_ms), "slept {ms} ms");
                    }
                    if reload_mid {
                        // The page died before the shopper saw anything.
                        reload(&store);
                        continue;
                    }
                    match outcome {
                        Ok(ok) => {
                            prop_assert_eq!(&ok.key, &key);
                            prop_assert!(ok.status == 201);
                            told_success.insert(body.clone());
                        }
                        Err(e) if !e.retryable && e.code == Code::Http => {
                            prop_assert_eq!(e.status, Some(402));
                            told_declined.insert(body.clone());
                            // A final answer retires the key: the next try is a new payment.
                            let next = engine::resolve::<_, ()>(&store, clock.now.get(), ttl, EP, &fp, None, || "after-decline".into()).unwrap();
                            prop_assert_ne!(&next.key, &key);
                            store.remove(&next.key);
                        }
                        Err(e) => {
                            prop_assert!(e.retryable, "only final answers are not retryable: {:?}", e.code);
                            prop_assert!(e.code != Code::KeyReused && e.code != Code::InvalidInput);
                        }
                    }
                }
                Action::Reload => reload(&store),
                // Storage starts throwing. Right after a reload, before payonce has read it,
                // the records in it are out of reach of any client: skipped, as for a wipe.
                Action::BreakStorage(broken) => {
                    if !broken || store.memory_holds_everything() {
                        store.backend().broken.set(broken);
                    }
                }
                Action::Quota(left) => store.backend().quota_left.set(left.map(u32::from)),
                // Other code on the page clears sessionStorage. Right after a reload, before
                // payonce has read storage, that loses records no client can keep: skipped.
                Action::WipeStorage => {
                    if store.memory_holds_everything() {
                        store.backend().items.borrow_mut().clear();
                    }
                }
                Action::ClockJump(delta) => {
                    let now = clock.now.get() as i64 + i64::from(delta);
                    clock.now.set(now as u64);
                }
            }
            // Never two charges for one payment.
            for (body, n) in server.charges.borrow().iter() {
                prop_assert!(*n <= 1, "charged {n} times for {body}");
            }
            // Told success: charged. Told declined: not charged.
            for body in &told_success {
                prop_assert_eq!(server.charges.borrow().get(body).copied(), Some(1), "success with no charge");
            }
            for body in &told_declined {
                prop_assert!(!server.charges.borrow().contains_key(body), "declined but charged");
            }
            // One payment never has two live keys.
            let now = clock.now.get();
            let live: Vec<_> = store.all().into_iter().filter(|r| r.is_live(now)).collect();
            let fps: HashSet<_> = live.iter().map(|r| r.fingerprint.clone()).collect();
            prop_assert_eq!(fps.len(), live.len(), "two live keys for one payment");
            prop_assert!(live.iter().all(|r| r.state != State::Failed));
        }
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| Value::int(i64::from(n))),
        "\\PC{0,8}".prop_map(Value::String),
        "[\\x00-\\x1f\"\\\\]{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::hash_map("[a-z\u{e9}\u{1F600}\u{FB01}]{0,3}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The same data with every object's members in reverse order.
fn reordered(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(reordered).collect()),
        Value::Object(members) => Value::Object(
            members
                .iter()
                .rev()
                .map(|(k, v)| (k.clone(), reordered(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Members sorted, for comparing data regardless of order.
fn normal(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(normal).collect()),
        Value::Object(members) => {
            let mut m: Vec<_> = members
                .iter()
                .map(|(k, v)| (k.clone(), normal(v)))
                .collect();
            m.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(m)
        }
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn same_data_same_bytes_and_fingerprint(v in json_value()) {
        let a = canonical(&v);
        let b = canonical(&reordered(&v));
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(fingerprint(EP, &a), fingerprint(EP, &b));
        prop_assert!(!a.contains('\n') && !a.contains('\r'), "raw line breaks in {}", a);
    }

    #[test]
    fn different_data_different_bytes(a in json_value(), b in json_value()) {
        prop_assert_eq!(normal(&a) == normal(&b), canonical(&a) == canonical(&b));
    }

    #[test]
    fn retry_after_and_dates_never_panic(s in "\\PC{0,40}", now in any::<u64>()) {
        let _ = super::retry::parse_retry_after(&s, now);
        let _ = super::key::validate(&s);
    }

    #[test]
    fn backoff_stays_within_its_cap(retry in any::<u32>(), unit in any::<f64>(), base in 0u64..100_000, cap in 0u64..100_000) {
        let p = Policy { base_delay_ms: base, max_delay_ms: cap, ..Policy::default() };
        prop_assert!(super::retry::backoff_ms(&p, retry, unit) <= cap);
    }

    #[test]
    fn records_round_trip_and_garbage_is_refused(key in "[!#-&(-+\\--\\[\\]-~]{1,40}", text in "\\PC{0,80}") {
        let r = super::record::Record::new(key, "a".repeat(64), "/x,y".into(), 5, 10);
        prop_assert_eq!(super::record::Record::decode(&r.item_name(), &r.encode()), Some(r.clone()));
        if let Some(d) = super::record::Record::decode(&r.item_name(), &text) {
            prop_assert_eq!(d.encode(), text);
        }
    }
}
