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
//!
//! Beside them, the parties real checkouts meet, each drawn per
//! case ([`Parties`]; `PAYONCE_PARTIES=resend,already-used,header,page-wipes`
//! or `none` forces a set, `already-used-declared` for a page that declares
//! that server's 422): a transport that sends one request twice (the browser
//! resends a POST whose reused connection closed before any answer: the
//! first copy is charged, the second may meet a gate), a server that answers
//! every repeat of a finished key with 422, a server whose fingerprint covers
//! a header the page refreshes between clicks, and page code that clears
//! storage or removes payonce's items at any step, a reload included. With
//! that last party the checks read storage without writing it (see
//! [`Audited`]), so that no check writes back what page code removed.

use super::error::Code;
use super::json::{canonical, Value};
use super::lifecycle::{resolve, Lookup};
use super::payment::tests::FakeClock;
use super::payment::{Event, Failure, Head, Input, Io, Observer, Outcome, Payment};
use super::record::{fingerprint, item_name, Record, State, PREFIX};
use super::retry::{Dialect, Policy, Statuses};
use super::store::tests::FlakyBackend;
use super::store::{Backend, Mirrored, Store, Unavailable};
use proptest::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::Deref;

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
    /// answers without consulting the key store: 401, 403, 407, or a status
    /// outside the classes HTTP defines.
    Gate(u16),
    /// The transport sends the request twice, and payonce sees one attempt:
    /// the first copy reaches the gateway (and is charged), then the reused
    /// connection closes before any answer and the browser resends the POST.
    /// The second copy reaches the gateway (`None`: a replay) or meets a
    /// layer in front of it (`Some(status)`, as [`Fault::Gate`]).
    Resent(Option<u16>),
}

#[derive(Clone, Copy, Debug)]
enum Cut {
    Network,
    Timeout,
    Aborted,
}

/// The statuses a layer in front of the key store answers with.
fn gate() -> impl Strategy<Value = u16> {
    prop::sample::select(vec![401u16, 403, 407])
}

fn fault(resend: bool) -> BoxedStrategy<Fault> {
    let base = prop_oneof![
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
        prop::sample::select(vec![401u16, 403, 407, 600, 999]).prop_map(Fault::Gate),
    ];
    if !resend {
        return base.boxed();
    }
    prop_oneof![
        13 => base,
        3 => prop::option::of(gate()).prop_map(Fault::Resent),
    ]
    .boxed()
}

/// How the gateway treats a repeat of a key it has finished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Mode {
    /// The IETF draft: a repeat with the same body replays the stored answer.
    #[default]
    Replay,
    /// Every repeat of a finished key is refused with 422 ("already used").
    /// `declared`: the page declares it (`options.dialect`: 422 means finished).
    AlreadyUsed { declared: bool },
    /// The fingerprint covers a header the page changes between clicks (an
    /// Authorization refreshed): a repeat with the same key and body but
    /// another header is refused with 422.
    HeaderFingerprint,
}

/// The parties of one case, beside the faults every case meets.
#[derive(Clone, Copy, Debug, Default)]
struct Parties {
    /// A transport that sends one request twice ([`Fault::Resent`]).
    resend: bool,
    server: Mode,
    /// Page code clears storage or removes payonce's items at any step of a
    /// payment, a reload right after included.
    page_wipes: bool,
}

fn parties() -> BoxedStrategy<Parties> {
    if let Ok(names) = std::env::var("PAYONCE_PARTIES") {
        let mut p = Parties::default();
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "none" => {}
                "resend" => p.resend = true,
                "already-used" => p.server = Mode::AlreadyUsed { declared: false },
                "already-used-declared" => p.server = Mode::AlreadyUsed { declared: true },
                "header" => p.server = Mode::HeaderFingerprint,
                "page-wipes" => p.page_wipes = true,
                other => panic!(
                    "PAYONCE_PARTIES: {other}? (none, resend, already-used, already-used-declared, header, page-wipes)"
                ),
            }
        }
        return Just(p).boxed();
    }
    (
        prop::bool::weighted(0.25),
        prop::sample::select(vec![
            Mode::Replay,
            Mode::Replay,
            Mode::Replay,
            Mode::AlreadyUsed { declared: false },
            Mode::AlreadyUsed { declared: true },
            Mode::HeaderFingerprint,
        ]),
        prop::bool::weighted(0.25),
    )
        .prop_map(|(resend, server, page_wipes)| Parties {
            resend,
            server,
            page_wipes,
        })
        .boxed()
}

/// What page code removes from storage.
#[derive(Clone, Copy, Debug)]
enum Wipe {
    /// `sessionStorage.clear()`, or removing every `payonce:` item.
    All,
    /// `removeItem` of this payment's record.
    This,
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
    /// The page refreshed a header it sends (its Authorization) since the last Pay.
    new_headers: bool,
    /// Page code wipes storage after this many effects (then the page reloads, if set).
    wipe: Option<(u8, Wipe, bool)>,
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

fn action(parties: Parties) -> impl Strategy<Value = Action> {
    let new_headers = if parties.server == Mode::HeaderFingerprint {
        prop::bool::weighted(0.3).boxed()
    } else {
        Just(false).boxed()
    };
    let wipe = if parties.page_wipes {
        prop::option::weighted(
            0.25,
            (
                1u8..12,
                prop_oneof![Just(Wipe::All), Just(Wipe::This)],
                any::<bool>(),
            ),
        )
        .boxed()
    } else {
        Just(None).boxed()
    };
    let pay = (
        (
            0u8..4,
            0u8..3,
            prop::collection::vec(fault(parties.resend), 0..5),
        ),
        (prop::bool::weighted(0.05), prop::bool::weighted(0.1)),
        (
            prop::option::weighted(0.2, 0u8..12),
            prop::option::weighted(0.1, 0u8..12),
        ),
        (new_headers, wipe),
    )
        .prop_map(
            |(
                (order, card, faults),
                (aborted_first, abort_in_wait),
                (reload_after, quota_after),
                (new_headers, wipe),
            )| {
                Action::Pay(Plan {
                    order,
                    card,
                    faults,
                    aborted_first,
                    abort_in_wait,
                    reload_after,
                    quota_after,
                    new_headers,
                    wipe,
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
    mode: Mode,
    /// Per key: the body, the page's header generation, the status.
    keys: RefCell<HashMap<String, (String, u32, u16)>>,
    /// Per body: the keys it was charged under, in order.
    charges: RefCell<HashMap<String, Vec<String>>>,
}

impl Server {
    /// One request: `headers` is the generation of the headers the page sent.
    fn process(&self, key: &str, body: &str, headers: u32) -> Head {
        let answer = |status, replayed| Head {
            status,
            retry_after: None,
            replayed,
            html: false,
        };
        if let Some((first, generation, status)) = self.keys.borrow().get(key) {
            let same =
                first == body && (self.mode != Mode::HeaderFingerprint || *generation == headers);
            return if same && !matches!(self.mode, Mode::AlreadyUsed { .. }) {
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
            .insert(key.to_owned(), (body.to_owned(), headers, status));
        answer(status, false)
    }
}

/// The storage under the model's store. With the page-wipes party, the
/// model's own reads (its checks) must not change it: while `peeking`, it
/// refuses every write and removal, so that a check never writes back what
/// page code wiped; only payonce's own calls may. (Without the party the
/// checks' reads go through, as they always did: a check's `Store::all`
/// writes back every record storage lacks or holds older, which hid every
/// wipe from a reload.)
#[derive(Default)]
struct Audited {
    inner: FlakyBackend,
    read_only_checks: bool,
    peeking: Cell<bool>,
}

impl Deref for Audited {
    type Target = FlakyBackend;
    fn deref(&self) -> &FlakyBackend {
        &self.inner
    }
}

impl Backend for Audited {
    fn names(&self) -> Result<Vec<String>, Unavailable> {
        self.inner.names()
    }
    fn get(&self, name: &str) -> Result<Option<String>, Unavailable> {
        self.inner.get(name)
    }
    fn set(&self, name: &str, value: &str) -> Result<(), Unavailable> {
        if self.read_only_checks && self.peeking.get() {
            return Err(Unavailable);
        }
        self.inner.set(name, value)
    }
    fn remove(&self, name: &str) -> Result<(), Unavailable> {
        if self.read_only_checks && self.peeking.get() {
            return Err(Unavailable);
        }
        self.inner.remove(name)
    }
    fn written_by_others(&self) -> Vec<String> {
        self.inner.written_by_others()
    }
}

/// Runs a read of the model (not payonce's) on the store: storage keeps what it holds.
fn peek<R>(store: &Mirrored<Audited>, read: impl FnOnce(&Mirrored<Audited>) -> R) -> R {
    store.backend().peeking.set(true);
    let r = read(store);
    store.backend().peeking.set(false);
    r
}

/// `pagehide`, which fires before every reload: payonce writes back the
/// records page code removed (`browser::tabs`, [`Mirrored::write_back`]).
fn pagehide(store: &Mirrored<Audited>) {
    store.write_back();
}

/// The shopper, the page and the gateway, and what the shopper was told.
struct World {
    server: Server,
    clock: FakeClock,
    store: Mirrored<Audited>,
    policy: Policy,
    parties: Parties,
    /// The generation of the headers the page sends (bumped when it refreshes them).
    headers: u32,
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
    fn event(&self, event: &Event) {
        let text = format!("{event:?}");
        if text.starts_with("NotSaved") {
            let key = text.split('"').nth(1).unwrap_or_default().to_owned();
            self.0.borrow_mut().insert(key);
        }
    }
}

/// A reload drops the page's memory; storage keeps what it holds. Records in
/// a storage that throws on every read cannot survive a reload, and no client
/// can help that: the model does not reload then. Records that other code
/// wiped from storage: `pagehide` fires first, and payonce may write them back
/// then. Without the page-wipes party, the model waits until payonce has; with
/// it, the reload goes ahead unless storage refuses the writes (a quota, a
/// full storage), which no client can help either. Anything else may be lost
/// to a reload only if the page was told.
fn reload(world: &mut World) -> bool {
    let backend = world.store.backend();
    if backend.broken.get() {
        return false;
    }
    pagehide(&world.store);
    if world.wiped && !peek(&world.store, Mirrored::backend_holds_everything) {
        let takes_writes = backend.quota_left.get().is_none() && backend.capacity.get().is_none();
        if !(world.parties.page_wipes && takes_writes) {
            return false;
        }
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
    fn new(parties: Parties) -> Self {
        World {
            server: Server {
                mode: parties.server,
                ..Server::default()
            },
            clock: FakeClock::at(1_700_000_000_000),
            store: Mirrored::new(Audited {
                read_only_checks: parties.page_wipes,
                ..Audited::default()
            }),
            policy: Policy {
                // A page that knows its server says what its 422 means.
                dialect: match parties.server {
                    Mode::AlreadyUsed { declared: true } => Dialect {
                        mismatch: Statuses::default(),
                        finished: Statuses::of(&[422]),
                        ..Dialect::default()
                    },
                    _ => Dialect::default(),
                },
                ..Policy::default()
            },
            parties,
            headers: 0,
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
            for r in peek(&self.store, Store::all) {
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
        let live: Vec<Record> = peek(&self.store, Store::all)
            .into_iter()
            .filter(|r| r.is_live(now))
            .collect();
        // One pending key per payment, and a lookup finds it before any settled one.
        let pending: Vec<&Record> = live.iter().filter(|r| r.state == State::Pending).collect();
        let fps: HashSet<_> = pending.iter().map(|r| r.fingerprint.clone()).collect();
        prop_assert_eq!(fps.len(), pending.len(), "two pending keys for one payment");
        for r in &pending {
            let found = peek(&self.store, |s| s.by_fingerprint(&r.fingerprint)).map(|f| f.key);
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
            new_headers,
            wipe,
            ..
        } = plan;
        if *new_headers {
            self.headers += 1;
        }
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
            let effect = payment
                .step(
                    input,
                    self.clock.now.get(),
                    0.5,
                    &self.store,
                    |_| {},
                    |e| events.event(&e),
                )
                .expect("an effect for every input");
            steps += 1;
            input = match effect {
                Io::Send(req) => {
                    sent += 1;
                    prop_assert_eq!(req.endpoint.as_str(), EP);
                    prop_assert_eq!(
                        req.key.as_str(),
                        key.as_str(),
                        "the key changed within a payment"
                    );
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
                        // A refusal of a payment payonce recorded as paid, whose
                        // body never arrives, is no final answer: the payment
                        // stays paid and waits for an answer that says so.
                        let paid = self.settled.borrow().contains_key(&key);
                        let read = matches!(fate, Some(Input::BodyRead(())));
                        final_answer = (400..500).contains(&head.status)
                            && ![408, 409, 425, 429].contains(&head.status)
                            && (read || !paid);
                    }
                    body_fate = fate;
                    input
                }
                Io::ReadBody => body_fate.take().expect("a body to read"),
                Io::Sleep(ms) => {
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
                Io::Done(outcome) => {
                    // As `checkout` ends a call: what page code removed meanwhile is written back.
                    self.store.write_back();
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
            if let Some((at, how, then_reload)) = *wipe {
                if at == steps && peek(&self.store, Mirrored::memory_holds_everything) {
                    self.wipe(how, &key);
                    self.check()?;
                    if then_reload && reload(self) {
                        return Ok(None);
                    }
                }
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
        // Every copy of one call's requests carries the headers of its Pay.
        let process = || self.server.process(key, body, self.headers);
        match fault {
            None => answered(process()),
            Some(Fault::NetDown) => (Input::NoAnswer(Failure::Network("down".into())), None),
            Some(Fault::TimeoutBefore) => (Input::NoAnswer(Failure::Timeout), None),
            Some(Fault::AbortBeforeServer) => (Input::Aborted, None),
            Some(Fault::LostAfterCharge) => {
                process();
                (Input::NoAnswer(Failure::Network("reset".into())), None)
            }
            Some(Fault::TimeoutAfterCharge) => {
                process();
                (Input::NoAnswer(Failure::Timeout), None)
            }
            Some(Fault::AbortAfterCharge) => {
                process();
                (Input::NoAnswer(Failure::Aborted), None)
            }
            Some(Fault::BodyCut(cut)) => {
                let head = process();
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
            Some(Fault::Resent(second)) => {
                process();
                match second {
                    None => answered(process()),
                    Some(status) => answered(head(status, None)),
                }
            }
            Some(Fault::Hang) => {
                process();
                hang();
                (Input::NoAnswer(Failure::Timeout), None)
            }
            Some(Fault::BodyHang) => {
                let head = process();
                hang();
                (
                    Input::Answered(head),
                    Some(Input::NoAnswer(Failure::Timeout)),
                )
            }
        }
    }

    /// Other code on the page wipes payonce's records from storage (a storage
    /// that throws throws at it too).
    fn wipe(&mut self, how: Wipe, key: &str) {
        let backend = self.store.backend();
        if backend.broken.get() {
            return;
        }
        match how {
            Wipe::All => backend.items.borrow_mut().clear(),
            Wipe::This => {
                backend.items.borrow_mut().remove(&item_name(key));
            }
        }
        self.wiped = true;
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
                // Told paid: charged under that key (a 201, or a later answer to
                // a payment recorded as paid, which stays paid).
                let charged = self
                    .server
                    .charges
                    .borrow()
                    .values()
                    .flatten()
                    .any(|k| *k == ok.key);
                prop_assert!(
                    charged,
                    "told paid under {} with no charge under it",
                    ok.key
                );
                prop_assert!(
                    ok.status == 201
                        || (ok.replayed
                            && (self.told_success.contains(body)
                                || self.settled.borrow().contains_key(&ok.key))),
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
                let next = peek(&self.store, |s| {
                    resolve::<()>(s, &lookup, || Ok("after-decline".into())).unwrap()
                });
                prop_assert_eq!(next.key, "after-decline");
            }
            Err(e) => {
                // KeyReused with the key kept: only the server's 422 (no caller
                // key here, so never the lookup's).
                prop_assert!(
                    (e.code != Code::KeyReused || e.status == Some(422))
                        && e.code != Code::InvalidInput,
                    "{:?}",
                    e.code
                );
                // Not retryable with the key kept: a redirect, an abort, a
                // "used with other details" after an attempt whose outcome is
                // unknown, or a status the page declared as "already finished".
                let finished = e
                    .status
                    .is_some_and(|s| self.policy.dialect.finished.contains(s));
                prop_assert!(
                    e.retryable
                        || finished
                        || matches!(e.code, Code::Aborted | Code::Redirect | Code::KeyReused),
                    "{:?}",
                    e.code
                );
            }
        }
        self.check()
    }
}

/// One case: the actions in turn, checking after each.
fn run(parties: Parties, actions: &[Action]) -> Result<(), TestCaseError> {
    let mut world = World::new(parties);
    for action in actions {
        match action {
            Action::Pay(plan) => {
                let body = details(plan.order, plan.card);
                let outcome = world.pay(&body, plan)?;
                world.store.backend().quota_left.set(None);
                if let Some(outcome) = outcome {
                    let fp = fingerprint(EP, &body);
                    let key = peek(&world.store, |s| s.by_fingerprint(&fp)).map(|r| r.key);
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
                if !broken || peek(&world.store, Mirrored::memory_holds_everything) {
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
                if peek(&world.store, Mirrored::memory_holds_everything) {
                    world.wipe(Wipe::All, "");
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
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn exactly_once_whatever_happens(
        (parties, actions) in parties().prop_flat_map(|p| (Just(p), prop::collection::vec(action(p), 1..30)))
    ) {
        run(parties, &actions)?;
    }
}

/// The model's parties in the cases their properties shrank to on the
/// code they were found on (and the wipe right before a reload, written out):
/// each must hold once the rules meet these parties.
mod parties_found {
    use super::*;

    fn pay(order: u8, card: u8, faults: Vec<Fault>) -> Action {
        Action::Pay(Plan {
            order,
            card,
            faults,
            aborted_first: false,
            abort_in_wait: false,
            reload_after: None,
            quota_after: None,
            new_headers: false,
            wipe: None,
        })
    }

    fn with(action: Action, change: impl FnOnce(&mut Plan)) -> Action {
        let Action::Pay(mut plan) = action else {
            unreachable!()
        };
        change(&mut plan);
        Action::Pay(plan)
    }

    fn holds(parties: Parties, actions: &[Action]) {
        if let Err(e) = run(parties, actions) {
            panic!("{parties:?} {actions:#?}\n{e}");
        }
    }

    #[test]
    fn a_request_resent_unseen_that_meets_a_gate_is_no_refusal() {
        let resend = Parties {
            resend: true,
            ..Parties::default()
        };
        for status in [401, 403, 407] {
            holds(
                resend,
                &[
                    pay(0, 1, vec![Fault::Resent(Some(status))]),
                    pay(0, 1, vec![]),
                ],
            );
        }
    }

    #[test]
    fn a_server_that_answers_repeats_422_never_retires_a_key_that_charged() {
        let already_used = Parties {
            server: Mode::AlreadyUsed { declared: false },
            ..Parties::default()
        };
        holds(
            already_used,
            &[pay(0, 1, vec![Fault::Hang]), pay(0, 1, vec![])],
        );
        holds(
            already_used,
            &[pay(0, 1, vec![Fault::LostAfterCharge]), pay(0, 1, vec![])],
        );
        // Paid, then paid again: the 422 is told as paid, not as a refusal.
        holds(already_used, &[pay(0, 1, vec![]), pay(0, 1, vec![])]);
    }

    #[test]
    fn a_header_refreshed_between_clicks_never_retires_a_key_that_charged() {
        let header = Parties {
            server: Mode::HeaderFingerprint,
            ..Parties::default()
        };
        let refreshed = |a| with(a, |p| p.new_headers = true);
        holds(
            header,
            &[
                pay(0, 2, vec![Fault::AbortAfterCharge]),
                refreshed(pay(0, 2, vec![Fault::NetDown])),
            ],
        );
        holds(
            header,
            &[
                pay(0, 2, vec![]),
                refreshed(pay(0, 2, vec![])),
                pay(0, 2, vec![]),
            ],
        );
    }

    #[test]
    fn a_wipe_then_a_reload_keeps_the_key() {
        let wipes = Parties {
            page_wipes: true,
            ..Parties::default()
        };
        // Right before the reload, while the request's answer is still out.
        for how in [Wipe::All, Wipe::This] {
            holds(
                wipes,
                &[
                    with(pay(0, 2, vec![Fault::LostAfterCharge]), |p| {
                        p.wipe = Some((1, how, true));
                    }),
                    pay(0, 2, vec![]),
                ],
            );
        }
        // As shrunk: between two payments, then a reload during another one.
        holds(
            wipes,
            &[
                pay(0, 2, vec![]),
                Action::WipeStorage,
                with(pay(1, 0, vec![Fault::Unavailable]), |p| {
                    p.reload_after = Some(1);
                }),
                pay(0, 2, vec![]),
            ],
        );
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
