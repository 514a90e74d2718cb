//! Property tests: random shoppers, networks, servers, storages and clocks
//! against a model of what must hold, driving the same [`Payment`] machine
//! the browser drives. Run natively by `cargo test`.
//!
//! The server here is a faithful IETF Idempotency-Key server: a key is
//! processed once, and every repeat replays the stored answer. Faults hit
//! every effect the machine asks for: the request lost before the server, the
//! answer lost after the server charged, timeouts on either side, the body
//! cut off, the caller aborting before the first request, mid-request,
//! mid-body or mid-wait, 503, 429 with Retry-After, 409. The page may reload
//! between any two effects (the machine and the store's memory are dropped);
//! storage breaks or fills up mid-payment, other code wipes it, and the clock
//! jumps. After every step the model checks: at most one charge per payment,
//! never told success without a charge nor a final no after one, the key never
//! changes while a charge under it may exist, and storage holds nothing but
//! records (key, fingerprint, endpoint, state, times, counters).

use super::error::Code;
use super::json::{canonical, Value};
use super::lifecycle::{resolve, Lookup};
use super::payment::tests::FakeClock;
use super::payment::{Effect, Event, Failure, Head, Input, Observer, Outcome, Payment};
use super::record::{fingerprint, Record, State, PREFIX};
use super::retry::Policy;
use super::store::tests::FlakyBackend;
use super::store::{Mirrored, Store};
use proptest::prelude::*;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};

const EP: &str = "https://shop.test/api/charges";
const TTL: u64 = 24 * 60 * 60 * 1000;
const HOURS_25: i64 = 25 * 60 * 60 * 1000;
const YEAR: i64 = 365 * 24 * 60 * 60 * 1000;

/// What happens to one attempt.
#[derive(Clone, Copy, Debug)]
enum Fault {
    NetDown,
    LostAfterCharge,
    TimeoutBefore,
    TimeoutAfterCharge,
    /// The head arrives, then the body read fails.
    BodyCut(Cut),
    AbortBeforeServer,
    AbortAfterCharge,
    Unavailable,
    RateLimited(u8),
    Conflict,
    /// The request reaches the gateway (and is charged), and fetch never
    /// settles: a page's fetch wrapper dropped the abort signal.
    Hang,
    /// The head arrives, and the body never ends.
    BodyHang,
    /// A layer in front of the gateway (a WAF, an expired login, a proxy)
    /// answers without consulting the key store: 401, 403, or a status outside
    /// the classes HTTP defines.
    Gate(u16),
}

#[derive(Clone, Copy, Debug)]
enum Cut {
    Network,
    Timeout,
    Aborted,
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::NetDown),
        Just(Fault::LostAfterCharge),
        Just(Fault::TimeoutBefore),
        Just(Fault::TimeoutAfterCharge),
        prop_oneof![Just(Cut::Network), Just(Cut::Timeout), Just(Cut::Aborted)]
            .prop_map(Fault::BodyCut),
        Just(Fault::AbortBeforeServer),
        Just(Fault::AbortAfterCharge),
        Just(Fault::Unavailable),
        (0u8..20).prop_map(Fault::RateLimited),
        Just(Fault::Conflict),
        Just(Fault::Hang),
        Just(Fault::BodyHang),
        prop::sample::select(vec![401u16, 403, 600, 999]).prop_map(Fault::Gate),
    ]
}

/// One click on Pay, and what goes wrong around it.
#[derive(Clone, Debug)]
struct Plan {
    /// The order paid (with card 0, the gateway declines it).
    order: u8,
    card: u8,
    /// Hit its attempts in turn.
    faults: Vec<Fault>,
    /// The caller's signal has fired before the call.
    aborted_first: bool,
    /// The caller's signal fires during the first wait between attempts.
    abort_in_wait: bool,
    /// The page dies after this many effects (before the shopper sees the outcome).
    reload_after: Option<u8>,
    /// Storage starts refusing writes after this many effects.
    quota_after: Option<u8>,
}

#[derive(Clone, Debug)]
enum Action {
    Pay(Plan),
    Reload,
    BreakStorage(bool),
    Quota(Option<u8>),
    WipeStorage,
    /// Other code on the origin fills storage: no new item fits until `Unfill`.
    Fill,
    Unfill,
    ClockJump(i64),
}

fn action() -> impl Strategy<Value = Action> {
    let pay = (
        (0u8..4, 0u8..3, prop::collection::vec(fault(), 0..5)),
        (prop::bool::weighted(0.05), prop::bool::weighted(0.1)),
        (
            prop::option::weighted(0.2, 0u8..12),
            prop::option::weighted(0.1, 0u8..12),
        ),
    )
        .prop_map(
            |(
                (order, card, faults),
                (aborted_first, abort_in_wait),
                (reload_after, quota_after),
            )| {
                Action::Pay(Plan {
                    order,
                    card,
                    faults,
                    aborted_first,
                    abort_in_wait,
                    reload_after,
                    quota_after,
                })
            },
        );
    prop_oneof![
        6 => pay,
        1 => Just(Action::Reload),
        1 => any::<bool>().prop_map(Action::BreakStorage),
        1 => prop::option::of(0u8..4).prop_map(Action::Quota),
        1 => Just(Action::WipeStorage),
        1 => Just(Action::Fill),
        1 => Just(Action::Unfill),
        // Small jumps, and jumps across the key lifetime both ways: 25 h, a year.
        1 => (-1_800_000i64..1_800_000).prop_map(Action::ClockJump),
        1 => prop::sample::select(vec![-HOURS_25, HOURS_25, TTL as i64 + 1, YEAR]).prop_map(Action::ClockJump),
    ]
}

/// The gateway, keyed by idempotency key; charges counted per request body.
#[derive(Default)]
struct Server {
    keys: RefCell<HashMap<String, (String, u16)>>,
    /// Per body: the keys it was charged under, in order.
    charges: RefCell<HashMap<String, Vec<String>>>,
}

impl Server {
    fn process(&self, key: &str, body: &str) -> Head {
        let answer = |status, replayed| Head {
            status,
            retry_after: None,
            replayed,
            html: false,
        };
        if let Some((first, status)) = self.keys.borrow().get(key) {
            return if first == body {
                answer(*status, true)
            } else {
                answer(422, false)
            };
        }
        let status = if body.contains("\"card\":0") {
            402
        } else {
            self.charges
                .borrow_mut()
                .entry(body.to_owned())
                .or_default()
                .push(key.to_owned());
            201
        };
        self.keys
            .borrow_mut()
            .insert(key.to_owned(), (body.to_owned(), status));
        answer(status, false)
    }
}

/// The shopper, the page and the gateway, and what the shopper was told.
struct World {
    server: Server,
    clock: FakeClock,
    store: Mirrored<FlakyBackend>,
    policy: Policy,
    told_success: HashSet<String>,
    /// Keys whose payment the shopper was told the server refused.
    told_declined: HashSet<String>,
    /// Keys payonce recorded as succeeded, with the latest end of life seen:
    /// a repeat after such a record is gone (its lifetime over, or given up to
    /// make room in a full storage) is a new payment by design.
    settled: RefCell<HashMap<String, u64>>,
    /// Storage has been full (or refused writes) at some point.
    ever_full: bool,
    /// Succeeded keys whose record may since have gone by design.
    lapsed: RefCell<HashSet<String>>,
    /// Keys whose pending record the page was told storage could not hold
    /// (the payment is safe only while the page stays open).
    not_saved: RefCell<HashSet<String>>,
    /// Other code wiped storage, and payonce has not written it back yet.
    wiped: bool,
    /// Fingerprint to body, for every payment tried.
    bodies: HashMap<String, String>,
    minted: u32,
}

/// Hears the machine's events: which keys the page was told are not saved.
struct Events<'a>(&'a RefCell<HashSet<String>>);

impl Observer for Events<'_> {
    fn event(&self, event: Event<'_>) {
        let text = format!("{event:?}");
        if text.starts_with("NotSaved") {
            let key = text.split('"').nth(1).unwrap_or_default().to_owned();
            self.0.borrow_mut().insert(key);
        }
    }
}

/// A reload drops the page's memory; storage keeps what it holds. Records that
/// other code wiped from storage, before payonce wrote them back, cannot survive
/// a reload, nor can records in a storage that throws on every read, and no
/// client can help that: the model does not reload then. Anything else may be
/// lost to a reload only if the page was told.
fn reload(world: &mut World) -> bool {
    let backend = world.store.backend();
    if backend.broken.get() || (world.wiped && !world.store.backend_holds_everything()) {
        return false;
    }
    world.wiped = false;
    world.store.drop_memory();
    true
}

fn details(order: u8, card: u8) -> String {
    canonical(&Value::Object(vec![
        ("order".into(), Value::Number(order.to_string())),
        (
            "amount".into(),
            Value::Number((1000 + u32::from(order)).to_string()),
        ),
        ("card".into(), Value::Number(card.to_string())),
    ]))
}

impl World {
    fn new() -> Self {
        World {
            server: Server::default(),
            clock: FakeClock::at(1_700_000_000_000),
            store: Mirrored::new(FlakyBackend::default()),
            policy: Policy::default(),
            told_success: HashSet::new(),
            told_declined: HashSet::new(),
            settled: RefCell::default(),
            ever_full: false,
            lapsed: RefCell::default(),
            not_saved: RefCell::default(),
            wiped: false,
            bodies: HashMap::new(),
            minted: 0,
        }
    }

    /// What a payment of these details looks for, now.
    fn lookup<'a>(&self, fingerprint: &'a str) -> Lookup<'a> {
        Lookup {
            now_ms: self.clock.now.get(),
            ttl_ms: TTL,
            endpoint: EP,
            fingerprint,
            caller_key: None,
            joined: None,
        }
    }

    /// What must hold between any two steps.
    fn check(&self) -> Result<(), TestCaseError> {
        // Whatever payonce has recorded as succeeded (in memory or storage).
        {
            let mut settled = self.settled.borrow_mut();
            for r in self.store.all() {
                if r.state == State::Succeeded {
                    let end = settled.entry(r.key).or_default();
                    *end = (*end).max(r.expires_ms);
                }
            }
        }
        let charges = self.server.charges.borrow();
        let now = self.clock.now.get();
        // Keys whose record may be gone by design (latched: the clock may go back).
        for (key, &end) in self.settled.borrow().iter() {
            if self.ever_full || now > end {
                self.lapsed.borrow_mut().insert(key.clone());
            }
        }
        let settled = self.lapsed.borrow();
        let not_saved = self.not_saved.borrow();
        for (body, keys) in charges.iter() {
            // A second charge is a bug unless the earlier one was known to have
            // succeeded (and its record has since gone), or the page was told
            // that its pending record could not be stored.
            for earlier in &keys[..keys.len() - 1] {
                prop_assert!(
                    settled.contains(earlier) || not_saved.contains(earlier),
                    "charged {} times for {} (keys {:?})",
                    keys.len(),
                    body,
                    keys
                );
            }
        }
        for body in &self.told_success {
            prop_assert!(
                charges.contains_key(body),
                "told success with no charge: {}",
                body
            );
        }
        for key in &self.told_declined {
            prop_assert!(
                !charges.values().flatten().any(|k| k == key),
                "told declined but charged under {}",
                key
            );
        }
        // Storage holds records and nothing else: no details, bodies or headers.
        for (name, value) in self.store.backend().items.borrow().iter() {
            prop_assert!(name.starts_with(PREFIX), "foreign item {}", name);
            let r = Record::decode(name, value);
            prop_assert!(r.is_some(), "unreadable item {} = {}", name, value);
            prop_assert_eq!(r.unwrap().endpoint, EP);
            prop_assert!(
                !value.contains("amount") && !value.contains('{'),
                "details in storage: {}",
                value
            );
        }
        // The key never changes while a charge under it may exist.
        let live: Vec<Record> = self
            .store
            .all()
            .into_iter()
            .filter(|r| r.is_live(now))
            .collect();
        // One pending key per payment, and a lookup finds it before any settled one.
        let pending: Vec<&Record> = live.iter().filter(|r| r.state == State::Pending).collect();
        let fps: HashSet<_> = pending.iter().map(|r| r.fingerprint.clone()).collect();
        prop_assert_eq!(fps.len(), pending.len(), "two pending keys for one payment");
        for r in &pending {
            let found = self.store.by_fingerprint(&r.fingerprint).map(|f| f.key);
            prop_assert_eq!(
                found.as_ref(),
                Some(&r.key),
                "a lookup passed over the pending key"
            );
        }
        for r in &live {
            let last = self
                .bodies
                .get(&r.fingerprint)
                .and_then(|b| charges.get(b))
                .and_then(|keys| keys.last());
            // (Unless the page was told that key's record could not be stored.)
            if let Some(key) = last.filter(|k| !settled.contains(*k) && !not_saved.contains(*k)) {
                prop_assert_eq!(
                    &r.key,
                    key,
                    "charged under one key, the record holds another"
                );
            }
        }
        Ok(())
    }

    /// Runs one payment to its end, or until the page dies. Checks after every step.
    fn pay(&mut self, body: &str, plan: &Plan) -> Result<Option<Outcome<()>>, TestCaseError> {
        let Plan {
            faults,
            aborted_first,
            abort_in_wait,
            reload_after,
            quota_after,
            ..
        } = plan;
        let fp = fingerprint(EP, body);
        self.bodies.insert(fp.clone(), body.to_owned());
        let lookup = self.lookup(&fp);
        let minted = &mut self.minted;
        let record = resolve::<()>(&self.store, &lookup, || {
            *minted += 1;
            Ok(format!("key-{minted}"))
        })
        .expect("no caller key, so no key_reused");
        let key = record.key.clone();
        let mut payment = Payment::new(record, self.policy);
        let mut faults: VecDeque<Fault> = faults.iter().copied().collect();
        let mut input = if *aborted_first {
            Input::Aborted
        } else {
            Input::Start
        };
        let mut body_fate: Option<Input<()>> = None;
        let (mut steps, mut sent, mut waits) = (0u8, 0u32, 0u32);
        let started = self.clock.now.get();
        // The server's final word (a 4xx other than 408, 409, 429) ends the call.
        let mut final_answer = false;
        loop {
            let events = Events(&self.not_saved);
            let effect = payment.handle(input, self.clock.now.get(), 0.5, &self.store, &events);
            steps += 1;
            input = match effect {
                Effect::Send(req) => {
                    sent += 1;
                    prop_assert_eq!(req.endpoint, EP);
                    prop_assert_eq!(req.key, key.as_str(), "the key changed within a payment");
                    prop_assert!(
                        sent <= self.policy.max_retries + 1,
                        "{} requests in one call",
                        sent
                    );
                    prop_assert!(!final_answer, "sent again after the server's final answer");
                    prop_assert!(
                        req.timeout_ms <= self.policy.timeout_ms,
                        "an attempt may take {} ms",
                        req.timeout_ms
                    );
                    let (input, fate) =
                        self.attempt(&key, body, faults.pop_front(), req.timeout_ms);
                    if let Input::Answered(head) = &input {
                        final_answer = (400..500).contains(&head.status)
                            && ![408, 409, 429].contains(&head.status);
                    }
                    body_fate = fate;
                    input
                }
                Effect::ReadBody => body_fate.take().expect("a body to read"),
                Effect::Sleep(ms) => {
                    prop_assert!(
                        ms <= self.policy.max_delay_ms.max(self.policy.max_retry_after_ms),
                        "slept {} ms",
                        ms
                    );
                    self.clock.now.set(self.clock.now.get() + ms);
                    waits += 1;
                    if *abort_in_wait && waits == 1 {
                        Input::Aborted
                    } else {
                        Input::Slept
                    }
                }
                Effect::Done(outcome) => {
                    let took = self.clock.now.get() - started;
                    prop_assert!(
                        took <= self.policy.longest_call_ms(),
                        "the call took {} ms",
                        took
                    );
                    self.check()?;
                    return Ok(Some(outcome));
                }
            };
            self.check()?;
            if *quota_after == Some(steps) {
                self.ever_full = true;
                self.store.backend().quota_left.set(Some(0));
            }
            if *reload_after == Some(steps) && reload(self) {
                // The page died before the shopper saw anything.
                return Ok(None);
            }
        }
    }

    /// One request through the faulty network; what the machine is told, and
    /// what its body read will give.
    fn attempt(
        &self,
        key: &str,
        body: &str,
        fault: Option<Fault>,
        timeout_ms: u64,
    ) -> (Input<()>, Option<Input<()>>) {
        // Only the machine's own deadline ends a wait the transport never ends.
        let hang = || self.clock.now.set(self.clock.now.get() + timeout_ms);
        let head = |status: u16, retry_after: Option<String>| Head {
            status,
            retry_after,
            replayed: false,
            html: false,
        };
        let answered = |head: Head| (Input::Answered(head), Some(Input::BodyRead(())));
        match fault {
            None => answered(self.server.process(key, body)),
            Some(Fault::NetDown) => (Input::NoAnswer(Failure::Network("down".into())), None),
            Some(Fault::TimeoutBefore) => (Input::NoAnswer(Failure::Timeout), None),
            Some(Fault::AbortBeforeServer) => (Input::Aborted, None),
            Some(Fault::LostAfterCharge) => {
                self.server.process(key, body);
                (Input::NoAnswer(Failure::Network("reset".into())), None)
            }
            Some(Fault::TimeoutAfterCharge) => {
                self.server.process(key, body);
                (Input::NoAnswer(Failure::Timeout), None)
            }
            Some(Fault::AbortAfterCharge) => {
                self.server.process(key, body);
                (Input::NoAnswer(Failure::Aborted), None)
            }
            Some(Fault::BodyCut(cut)) => {
                let head = self.server.process(key, body);
                let fate = match cut {
                    Cut::Network => Input::NoAnswer(Failure::Network("reset mid-body".into())),
                    Cut::Timeout => Input::NoAnswer(Failure::Timeout),
                    Cut::Aborted => Input::Aborted,
                };
                (Input::Answered(head), Some(fate))
            }
            Some(Fault::Unavailable) => answered(head(503, None)),
            Some(Fault::Conflict) => answered(head(409, None)),
            Some(Fault::RateLimited(secs)) => answered(head(429, Some(secs.to_string()))),
            Some(Fault::Gate(status)) => answered(head(status, None)),
            Some(Fault::Hang) => {
                self.server.process(key, body);
                hang();
                (Input::NoAnswer(Failure::Timeout), None)
            }
            Some(Fault::BodyHang) => {
                let head = self.server.process(key, body);
                hang();
                (
                    Input::Answered(head),
                    Some(Input::NoAnswer(Failure::Timeout)),
                )
            }
        }
    }

    /// What the shopper is told, checked against what happened.
    fn told(
        &mut self,
        body: &str,
        key: Option<&str>,
        outcome: Outcome<()>,
    ) -> Result<(), TestCaseError> {
        let fp = fingerprint(EP, body);
        match outcome {
            Ok(ok) => {
                // A payment recorded as paid stays paid, whatever a repeat is answered.
                prop_assert!(
                    ok.status == 201 || (ok.replayed && self.told_success.contains(body)),
                    "{:?}",
                    ok
                );
                prop_assert_eq!(Some(ok.key.as_str()), key);
                self.told_success.insert(body.to_owned());
            }
            Err(e) if !e.key_kept => {
                prop_assert!(
                    matches!(e.code, Code::Http | Code::KeyReused)
                        && e.status.is_some_and(|s| (400..500).contains(&s))
                        && !e.retryable,
                    "{:?}",
                    e
                );
                self.told_declined
                    .insert(e.key.clone().expect("a refused payment has a key"));
                // A final answer retires the key: the next try is a new payment.
                let lookup = self.lookup(&fp);
                let next =
                    resolve::<()>(&self.store, &lookup, || Ok("after-decline".into())).unwrap();
                prop_assert_eq!(next.key, "after-decline");
            }
            Err(e) => {
                prop_assert!(e.code != Code::InvalidInput, "{:?}", e.code);
                // Not retryable with the key kept: a redirect, an abort, or a
                // "used with other details" after an attempt whose outcome is unknown.
                prop_assert!(
                    e.retryable
                        || matches!(e.code, Code::Aborted | Code::Redirect | Code::KeyReused),
                    "{:?}",
                    e.code
                );
            }
        }
        self.check()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn exactly_once_whatever_happens(actions in prop::collection::vec(action(), 1..30)) {
        let mut world = World::new();
        for action in actions {
            match &action {
                Action::Pay(plan) => {
                    let body = details(plan.order, plan.card);
                    let outcome = world.pay(&body, plan)?;
                    world.store.backend().quota_left.set(None);
                    if let Some(outcome) = outcome {
                        let key = world.store.by_fingerprint(&fingerprint(EP, &body)).map(|r| r.key);
                        let key = match &outcome {
                            Ok(ok) => Some(ok.key.clone()),
                            Err(_) => key,
                        };
                        world.told(&body, key.as_deref(), outcome)?;
                    }
                }
                Action::Reload => {
                    reload(&mut world);
                }
                // Storage starts throwing. Right after a reload, before payonce has read it,
                // the records in it are out of reach of any client: skipped, as for a wipe.
                Action::BreakStorage(broken) => {
                    if !broken || world.store.memory_holds_everything() {
                        world.store.backend().broken.set(*broken);
                    }
                }
                Action::Quota(left) => {
                    world.ever_full |= left.is_some();
                    world.store.backend().quota_left.set(left.map(u32::from));
                }
                // Other code on the page clears sessionStorage. Right after a reload, before
                // payonce has read storage, that loses records no client can keep: skipped.
                Action::WipeStorage => {
                    if world.store.memory_holds_everything() {
                        world.store.backend().items.borrow_mut().clear();
                        world.wiped = true;
                    }
                }
                Action::Fill => {
                    world.ever_full = true;
                    let backend = world.store.backend();
                    backend.capacity.set(Some(backend.items.borrow().len()));
                }
                Action::Unfill => world.store.backend().capacity.set(None),
                Action::ClockJump(delta) => {
                    let now = world.clock.now.get() as i64 + *delta;
                    world.clock.now.set(now as u64);
                }
            }
            world.check()?;
        }
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| Value::Number(n.to_string())),
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

/// `v` as JSON.stringify writes it: members in their order, canonical escapes.
fn stringified(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(stringified).collect();
            format!("[{}]", items.join(","))
        }
        Value::Object(members) => {
            let members: Vec<String> = members
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}:{}",
                        canonical(&Value::String(k.clone())),
                        stringified(v)
                    )
                })
                .collect();
            format!("{{{}}}", members.join(","))
        }
        other => canonical(other),
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
    fn stringified_details_read_back_as_the_same_data_within_the_limit(v in json_value(), cut in 0usize..400) {
        // The text JSON.stringify writes: members in the page's order, canonical escapes.
        let text = stringified(&v);
        let read = super::json::parse(&text, text.len());
        prop_assert_eq!(read.as_ref().map(canonical), Ok(canonical(&v)));
        prop_assert_eq!(canonical(&v).len(), text.len());
        let limit = text.len().saturating_sub(cut % (text.len() + 1));
        let within = super::json::parse(&text, limit);
        prop_assert_eq!(within.is_ok(), limit >= text.len(), "limit {} for {} bytes", limit, text.len());
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
        let r = super::record::Record::new(key, "a".repeat(64), "https://x.test/y,z".into(), 5, 10);
        prop_assert_eq!(super::record::Record::decode(&r.item_name(), &r.encode()), Some(r.clone()));
        if let Some(d) = super::record::Record::decode(&r.item_name(), &text) {
            prop_assert_eq!(d.encode(), text);
        }
    }
}
