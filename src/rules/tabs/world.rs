//! A model of several tabs of one browser profile paying against one
//! idempotent server, on one clock, driven one step at a time (the shape of
//! quinn's `tests/util.rs` `Pair`): each tab runs the real [`Tabs`] machine
//! and real [`Payment`]s over its own storage; the world performs their
//! effects with a model channel (messages delayed, reordered, lost or
//! duplicated), a model lock manager, timers and a hostile same-origin peer.
//! Two parties real checkouts meet are held to one charge per
//! cart: a tab that stops running for a while and resumes ([`Faults::stall`]),
//! and a tab of another payonce version ([`Faults::old_peer`], [`OldPeer`]).
//!
//! [`World::enabled`] lists what may happen next and [`World::step`] makes it
//! happen, then checks what must hold after every step ([`World::check`]).
//! The property tests pick steps at random; the exhaustive check tries every
//! choice up to a depth.

use super::message::{Message, MAX_MESSAGE, PAY_LOCK, TAB_LOCK, VERSION};
use super::{Effect, Input, ASK_MS, HANDSHAKE_MS};
use crate::rules::error::Code;
use crate::rules::key::KeyRules;
use crate::rules::lifecycle::{resolve, Lookup};
use crate::rules::page::{Begun, Call, Out, Page, Port};
use crate::rules::payment::{self, Failure, Head, Io, Payment};
use crate::rules::record::{fingerprint, State};
use crate::rules::retry::Policy;
use crate::rules::store::tests::FlakyBackend;
use crate::rules::store::{Mirrored, Store};
use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

pub const EP: &str = "https://shop.test/api/charges";
const TTL: u64 = 24 * 60 * 60 * 1000;
/// A payment's deadline for the handshake and its lock (one attempt's timeout).
pub const DEADLINE_MS: u64 = 3000;
/// The longest a payment may wait before choosing its key, in a tab that
/// runs: what the machine promises (see `rules::tabs`).
pub const BOUND_MS: u64 = if DEADLINE_MS > HANDSHAKE_MS {
    DEADLINE_MS
} else {
    HANDSHAKE_MS
} + ASK_MS;

/// Which faults the world may inject.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// Messages lost or duplicated.
    pub lossy: bool,
    /// Tabs frozen (no script runs) and thawed.
    pub freeze: bool,
    /// Tabs reloaded or closed, and pages hidden and shown, at any step
    /// (without it: only while the tab has no payment on the wire).
    pub any_time_lifecycle: bool,
    /// No Web Locks in this browser.
    pub no_locks: bool,
    /// The lock manager will not list its locks.
    pub blind: bool,
    /// A hostile peer posts forged, malformed, replayed and huge messages.
    pub hostile: bool,
    /// The hostile peer holds the payment lock and never lets go.
    pub hold_lock: bool,
    /// Answers lost after the server charged.
    pub lost_answers: bool,
    /// A tab that is alive but does not run for a while (blocked by an
    /// `alert()`, or frozen) and then resumes: it keeps its locks (its tab
    /// lock and its pay locks), hears nothing and answers nothing meanwhile.
    /// Unlike `freeze`, one charge per cart must still hold.
    pub stall: bool,
    /// One more tab, of another payonce version ([`OldPeer`]): it takes the
    /// same locks, and nothing it posts can be read here, nor anything posted
    /// here by it. One charge per cart must still hold wherever the tabs of
    /// this version can tell of it.
    pub old_peer: bool,
}

impl Faults {
    /// Reads `PAYONCE_FAULTS` (field names, comma-separated; `none` for
    /// none): the faults a run is forced to, if set.
    pub fn from_env() -> Option<Faults> {
        let names = std::env::var("PAYONCE_FAULTS").ok()?;
        let mut f = Faults::default();
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "none" => {}
                "lossy" => f.lossy = true,
                "freeze" => f.freeze = true,
                "any_time_lifecycle" => f.any_time_lifecycle = true,
                "no_locks" => f.no_locks = true,
                "blind" => f.blind = true,
                "hostile" => f.hostile = true,
                "hold_lock" => f.hold_lock = true,
                "lost_answers" => f.lost_answers = true,
                "stall" => f.stall = true,
                "old_peer" => f.old_peer = true,
                other => panic!("PAYONCE_FAULTS: {other}? (a field of Faults, or none)"),
            }
        }
        Some(f)
    }

    /// Whether the channel and the locks work, so one charge per cart must hold.
    pub fn working(&self) -> bool {
        !self.lossy
            && !self.freeze
            && !self.any_time_lifecycle
            && !self.no_locks
            && !self.blind
            && !self.hold_lock
    }
}

/// One thing that happens.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The shopper clicks Pay in this tab (cart `cart`).
    Click(usize, u8),
    /// The message at this index of the channel arrives.
    Deliver(usize),
    Lose(usize),
    Duplicate(usize),
    /// The lock request at this index is granted.
    Grant(usize),
    /// The earliest timer fires (the clock moves to it).
    Fire,
    /// The request at this index reaches the server and is answered.
    Answer(usize),
    /// The request at this index reaches the server, which charges; the answer is lost.
    LoseAnswer(usize),
    /// A request of a page that was reloaded reaches the server.
    Orphan(usize),
    Reload(usize),
    Close(usize),
    Hide(usize),
    Show(usize),
    Freeze(usize),
    Thaw(usize),
    /// The hostile peer posts its `n`th kind of forgery to this tab.
    Forge(usize, u8),
}

#[derive(Debug)]
enum PayState {
    /// Waiting for the machine's word to choose its key.
    Waiting,
    /// A request is out (the index in `World::requests`).
    OnWire,
    Done,
}

struct Pay {
    id: u32,
    body: String,
    payment: Option<Payment<()>>,
    state: PayState,
    started: u64,
    /// Its tab was frozen while it waited: the wait bound is not the machine's to keep.
    frozen_meanwhile: bool,
    key: Option<String>,
}

struct Tab {
    /// The page's payonce, as the browser runs it (unused by a tab of another version).
    page: Page<()>,
    store: Mirrored<FlakyBackend>,
    /// Bumped by each reload: effects of an older page reach nothing.
    gen: u32,
    alive: bool,
    frozen: bool,
    hidden: bool,
    listening: bool,
    pays: Vec<Pay>,
    next_pay: u32,
    clicks: u32,
    opens: u32,
    /// The live key this tab's storage held for each cart (fingerprint to key).
    knew: HashMap<String, String>,
    /// A tab of another payonce version: it runs this instead of `machine`.
    old: Option<OldPeer>,
}

struct Message_ {
    /// The sender (`usize::MAX`: the hostile peer).
    from: usize,
    to: usize,
    gen: u32,
    text: String,
}

#[derive(Clone)]
struct LockReq {
    /// `None`: the hostile peer.
    tab: Option<(usize, u32)>,
    lock: u32,
    name: String,
    query: bool,
    granted: bool,
}

struct Request {
    tab: usize,
    gen: u32,
    pay: u32,
    key: String,
    body: String,
}

/// The server: keys and charges.
#[derive(Default)]
struct Server {
    keys: HashMap<String, (String, u16)>,
    charges: HashMap<String, Vec<String>>,
}

impl Server {
    fn process(&mut self, key: &str, body: &str) -> Head {
        let head = |status, replayed| Head {
            status,
            retry_after: None,
            replayed,
            html: false,
        };
        if let Some((first, status)) = self.keys.get(key) {
            return if first == body {
                head(*status, true)
            } else {
                head(422, false)
            };
        }
        self.charges
            .entry(body.to_owned())
            .or_default()
            .push(key.to_owned());
        self.keys.insert(key.to_owned(), (body.to_owned(), 201));
        head(201, false)
    }
}

/// What the world gives a tab's page: its storage, the world's clock, and
/// random bytes named by where they were drawn (tab, page, payment), so
/// states reached in a different order compare equal.
struct WorldPort<'a> {
    store: &'a Mirrored<FlakyBackend>,
    now: u64,
    seed: [u8; 5],
    draws: Cell<u8>,
}

impl Port for WorldPort<'_> {
    type Store = Mirrored<FlakyBackend>;

    fn store(&self) -> &Self::Store {
        self.store
    }

    fn now_ms(&self) -> u64 {
        self.now
    }

    fn unit(&self) -> f64 {
        0.5
    }

    fn can_draw(&self) -> bool {
        true
    }

    fn draw(&self) -> Option<[u8; 16]> {
        let n = self.draws.get() + 1;
        self.draws.set(n);
        let [t, g0, g1, p0, p1] = self.seed;
        Some([0xa0, t, g0, g1, p0, p1, 0, n, 0, 0x5e, 0xed, 0, 0, 0, 0, 0])
    }
}

pub fn cart(n: u8) -> String {
    format!("{{\"amount\":{},\"cart\":{n}}}", 1000 + u32::from(n))
}

/// The world.
pub struct World {
    pub faults: Faults,
    /// The channel and locks worked from the start: one charge per cart must hold.
    strict: bool,
    violations: Vec<String>,
    /// Carts for which a key was minted while the tab that knew the first was
    /// closed or hidden: a second charge there is out of any protocol's reach.
    unheard: Vec<String>,
    now: u64,
    tabs: Vec<Tab>,
    channel: Vec<Message_>,
    locks: Vec<LockReq>,
    timers: Vec<(usize, u32, u32, u64)>,
    requests: Vec<Request>,
    orphans: Vec<(String, String)>,
    server: Server,
    policy: Policy,
    /// Bodies a shopper was told were paid.
    told_success: Vec<String>,
    /// Texts the hostile peer heard, for replays.
    heard: Vec<String>,
    pub max_clicks: u32,
    /// Whether tabs may be reloaded (the exhaustive check leaves it out: a
    /// reload is a close and a new tab, which it has).
    pub reloads: bool,
    /// The kinds of forgery the hostile peer uses (see [`World::forge`]).
    pub forgeries: Vec<u8>,
    pub carts: u8,
    /// Steps taken (for the report).
    pub steps: u32,
    /// Payments that ended busy: told not to mint, with no key of their own.
    pub busy: u32,
}

impl World {
    pub fn new(tabs: usize, faults: Faults) -> World {
        let mut w = World {
            faults,
            strict: faults.working(),
            violations: Vec::new(),
            unheard: Vec::new(),
            now: 1_700_000_000_000,
            tabs: Vec::new(),
            channel: Vec::new(),
            locks: Vec::new(),
            timers: Vec::new(),
            requests: Vec::new(),
            orphans: Vec::new(),
            server: Server::default(),
            // One attempt's timeout is the payment's deadline for the handshake and its lock.
            policy: Policy {
                max_retries: 1,
                timeout_ms: DEADLINE_MS,
                ..Policy::default()
            },
            told_success: Vec::new(),
            heard: Vec::new(),
            max_clicks: 2,
            reloads: true,
            forgeries: (0..FORGERIES).collect(),
            carts: 1,
            steps: 0,
            busy: 0,
        };
        if faults.hold_lock {
            w.locks.push(LockReq {
                tab: None,
                lock: 0,
                name: format!("{PAY_LOCK}{}", fingerprint(EP, &cart(0))),
                query: false,
                granted: true,
            });
        }
        let old = usize::from(faults.old_peer);
        for t in 0..tabs + old {
            w.tabs.push(Tab {
                old: (t >= tabs).then(OldPeer::default),
                page: Page::new(),
                store: Mirrored::new(FlakyBackend::default()),
                gen: 0,
                alive: true,
                frozen: false,
                hidden: false,
                listening: false,
                pays: Vec::new(),
                next_pay: 0,
                clicks: 0,
                opens: 0,
                knew: HashMap::new(),
            });
        }
        // A checkout page (with a PayButton) listens from load.
        for t in 0..tabs + old {
            w.open(t);
        }
        w
    }

    fn runs(&self, t: usize) -> bool {
        let tab = &self.tabs[t];
        tab.alive && !tab.frozen
    }

    fn on_wire(&self, t: usize) -> bool {
        self.tabs[t]
            .pays
            .iter()
            .any(|p| !matches!(p.state, PayState::Done))
    }

    fn grantable(&self, i: usize) -> bool {
        let r = &self.locks[i];
        !r.granted
            && r.tab
                .is_some_and(|(t, g)| self.runs(t) && self.tabs[t].gen == g)
            && !self.locks.iter().any(|o| o.granted && o.name == r.name)
            && !self.locks[..i]
                .iter()
                .any(|o| !o.granted && o.name == r.name)
    }

    fn deliverable(&self, i: usize) -> bool {
        let m = &self.channel[i];
        self.runs(m.to)
    }

    /// What may happen next.
    pub fn enabled(&self) -> Vec<Action> {
        let mut out = Vec::new();
        let working = self.faults.working();
        for t in 0..self.tabs.len() {
            let tab = &self.tabs[t];
            if self.runs(t) && !tab.hidden && tab.clicks < self.max_clicks {
                for c in 0..self.carts {
                    out.push(Action::Click(t, c));
                }
            }
        }
        for i in 0..self.channel.len() {
            // A channel delivers one sender's messages in order (a lost or
            // duplicated one aside).
            let m = &self.channel[i];
            let earlier = self.channel[..i]
                .iter()
                .any(|o| o.to == m.to && o.from == m.from);
            if earlier {
                if self.faults.lossy {
                    out.push(Action::Lose(i));
                }
                continue;
            }
            if self.deliverable(i) {
                out.push(Action::Deliver(i));
            }
            if self.faults.lossy {
                out.push(Action::Lose(i));
                out.push(Action::Duplicate(i));
            }
        }
        let mut grants = false;
        for i in 0..self.locks.len() {
            if self.grantable(i) {
                grants = true;
                out.push(Action::Grant(i));
            }
        }
        // With a working channel and lock manager, messages and free locks
        // arrive before any timer fires.
        let quiet = !working || (!grants && !(0..self.channel.len()).any(|i| self.deliverable(i)));
        if quiet && self.next_timer().is_some() {
            out.push(Action::Fire);
        }
        for (i, r) in self.requests.iter().enumerate() {
            if self.runs(r.tab) && self.tabs[r.tab].gen == r.gen {
                out.push(Action::Answer(i));
                if self.faults.lost_answers {
                    out.push(Action::LoseAnswer(i));
                }
            }
        }
        for i in 0..self.orphans.len() {
            out.push(Action::Orphan(i));
        }
        for t in 0..self.tabs.len() {
            let tab = &self.tabs[t];
            // The tab of another version stays open, runs and is left alone.
            if !tab.alive || tab.old.is_some() {
                continue;
            }
            let lifecycle = self.faults.any_time_lifecycle || !self.on_wire(t);
            if lifecycle && !tab.frozen {
                if self.reloads {
                    out.push(Action::Reload(t));
                }
                out.push(Action::Close(t));
                if tab.hidden {
                    out.push(Action::Show(t));
                } else {
                    out.push(Action::Hide(t));
                }
            }
            if self.faults.freeze || self.faults.stall {
                out.push(if tab.frozen {
                    Action::Thaw(t)
                } else {
                    Action::Freeze(t)
                });
            }
            if self.faults.hostile && self.runs(t) {
                for &k in &self.forgeries {
                    out.push(Action::Forge(t, k));
                }
            }
        }
        out
    }

    fn next_timer(&self) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, &(t, g, _, at)) in self.timers.iter().enumerate() {
            if !self.runs(t) || self.tabs[t].gen != g {
                continue;
            }
            if best.is_none_or(|b| at < self.timers[b].3) {
                best = Some(i);
            }
        }
        best
    }

    /// Makes `action` happen, then checks every property.
    pub fn step(&mut self, action: &Action) -> Result<(), String> {
        self.steps += 1;
        match *action {
            Action::Click(t, c) => self.click(t, c),
            Action::Deliver(i) => {
                let m = self.channel.remove(i);
                if self.tabs[m.to].alive
                    && self.tabs[m.to].gen == m.gen
                    && self.tabs[m.to].listening
                {
                    self.feed(m.to, Input::Message(m.text));
                }
            }
            Action::Lose(i) => {
                self.channel.remove(i);
            }
            Action::Duplicate(i) => {
                let m = &self.channel[i];
                let copy = Message_ {
                    from: m.from,
                    to: m.to,
                    gen: m.gen,
                    text: m.text.clone(),
                };
                self.channel.push(copy);
            }
            Action::Grant(i) => {
                self.locks[i].granted = true;
                let r = self.locks[i].clone();
                let (t, _) = r.tab.expect("a tab's request");
                let held = (r.query && !self.faults.blind).then(|| self.held_names());
                self.feed(t, Input::Granted { lock: r.lock, held });
            }
            Action::Fire => {
                let i = self.next_timer().expect("a timer");
                let (t, _, timer, at) = self.timers.swap_remove(i);
                self.now = self.now.max(at);
                self.feed(t, Input::Fired { timer });
            }
            Action::Answer(i) => {
                let r = self.requests.remove(i);
                let head = self.server.process(&r.key, &r.body);
                self.drive(r.tab, r.pay, payment::Input::Answered(head));
            }
            Action::LoseAnswer(i) => {
                let r = self.requests.remove(i);
                self.server.process(&r.key, &r.body);
                self.drive(r.tab, r.pay, payment::Input::NoAnswer(Failure::Timeout));
            }
            Action::Orphan(i) => {
                let (key, body) = self.orphans.remove(i);
                self.server.process(&key, &body);
            }
            Action::Reload(t) => {
                self.page_dies(t);
                let tab = &mut self.tabs[t];
                tab.store.drop_memory();
                tab.gen += 1;
                tab.page = Page::new();
                tab.next_pay = 0;
                tab.hidden = false;
                tab.clicks = 0;
                tab.opens = 0;
                self.open(t);
            }
            Action::Close(t) => {
                self.page_dies(t);
                self.tabs[t].alive = false;
            }
            Action::Hide(t) => {
                self.tabs[t].hidden = true;
                self.feed(t, Input::PageHide);
            }
            Action::Show(t) => {
                self.tabs[t].hidden = false;
                self.tabs[t].store.reread();
                let id = self.tab_id(t, "s");
                self.feed(t, Input::PageShow { id });
            }
            Action::Freeze(t) => {
                self.tabs[t].frozen = true;
                for p in &mut self.tabs[t].pays {
                    p.frozen_meanwhile = true;
                }
            }
            Action::Thaw(t) => self.tabs[t].frozen = false,
            Action::Forge(t, k) => self.forge(t, k),
        }
        for (t, tab) in self.tabs.iter_mut().enumerate() {
            for c in 0..self.carts {
                let fp = fingerprint(EP, &cart(c));
                // A tab never drops a key of its own unless the server refused it.
                if let Some(key) = tab.knew.get(&fp) {
                    if tab.store.by_key(key).is_none() {
                        self.violations
                            .push(format!("tab {t} dropped the key {key} it held for a cart"));
                    }
                }
                if let Some(r) = tab
                    .store
                    .by_fingerprint(&fp)
                    .filter(|r| r.is_live(self.now))
                {
                    tab.knew.insert(fp, r.key);
                }
            }
        }
        self.check()
    }

    /// Tab ids and keys are named by where they were made, so states reached
    /// in a different order compare equal.
    fn tab_id(&mut self, t: usize, tag: &str) -> String {
        let tab = &mut self.tabs[t];
        tab.opens += 1;
        format!("t{t}{tag}{}x{}", tab.gen, tab.opens)
    }

    fn open(&mut self, t: usize) {
        if self.tabs[t].page.tabs_machine().closed() {
            let id = self.tab_id(t, "g");
            self.feed(t, Input::Open { id });
        }
    }

    /// `pagehide`, then nothing of the page runs again: its locks go, its
    /// requests already sent may still reach the server.
    fn page_dies(&mut self, t: usize) {
        if !self.tabs[t].hidden {
            self.feed(t, Input::PageHide);
        }
        let gen = self.tabs[t].gen;
        self.locks
            .retain(|l| l.tab.is_none_or(|(lt, lg)| lt != t || lg != gen));
        self.timers.retain(|&(tt, _, _, _)| tt != t);
        let (mine, others): (Vec<Request>, Vec<Request>) =
            self.requests.drain(..).partition(|r| r.tab == t);
        self.requests = others;
        self.orphans
            .extend(mine.into_iter().map(|r| (r.key, r.body)));
        let tab = &mut self.tabs[t];
        tab.pays.clear();
        tab.listening = false;
        tab.frozen = false;
    }

    fn click(&mut self, t: usize, c: u8) {
        self.tabs[t].clicks += 1;
        self.open(t);
        let body = cart(c);
        let fp = fingerprint(EP, &body);
        let id = self.tabs[t].next_pay;
        if self.tabs[t].old.is_none() {
            self.begin(t, id, body, fp);
            return;
        }
        self.tabs[t].next_pay += 1;
        let now = self.now;
        self.tabs[t].pays.push(Pay {
            id,
            body,
            payment: None,
            state: PayState::Waiting,
            started: now,
            frozen_meanwhile: false,
            key: None,
        });
        self.feed(
            t,
            Input::PaymentStarts {
                payment: id,
                fingerprint: fp,
                caller_key: None,
                deadline_ms: DEADLINE_MS,
                hurry: false,
            },
        );
    }

    /// A click in a tab of this version: the call begins on the page (a
    /// double click joins the payment under way).
    fn begin(&mut self, t: usize, id: u32, body: String, fp: String) {
        let call = Call {
            endpoint: EP.into(),
            fingerprint: fp.clone(),
            body_len: body.len(),
            caller_key: None,
            keys: KeyRules::default(),
            policy: self.policy,
            aborted: false,
        };
        let (begun, minted) = self.on_page(t, id, |page, port| page.begin(call, port));
        match begun {
            Ok(Begun::Joined(_)) => {}
            Ok(Begun::New(got)) => {
                assert_eq!(got, id, "the world numbers payments as the page does");
                let tab = &mut self.tabs[t];
                tab.next_pay += 1;
                tab.pays.push(Pay {
                    id,
                    body: body.clone(),
                    payment: None,
                    state: PayState::Waiting,
                    started: self.now,
                    frozen_meanwhile: false,
                    key: None,
                });
                if minted {
                    self.minted(t, &fp, &body);
                }
                self.take_outs(t);
                self.pay_input(t, id, payment::Input::Start);
            }
            Err(_) => {
                self.busy += 1;
                self.take_outs(t);
            }
        }
    }

    /// Runs `f` on tab `t`'s page with the world as its port; also says
    /// whether it minted a key (for payment `id`).
    fn on_page<R>(
        &mut self,
        t: usize,
        id: u32,
        f: impl FnOnce(&mut Page<()>, &WorldPort<'_>) -> R,
    ) -> (R, bool) {
        let tab = &mut self.tabs[t];
        let port = WorldPort {
            store: &tab.store,
            now: self.now,
            seed: [
                t as u8,
                tab.gen as u8,
                (tab.gen >> 8) as u8,
                id as u8,
                (id >> 8) as u8,
            ],
            draws: Cell::new(0),
        };
        let r = f(&mut tab.page, &port);
        (r, port.draws.get() > 0)
    }

    /// Feeds payment `id` of tab `t` and performs what its page queues.
    fn pay_input(&mut self, t: usize, id: u32, input: payment::Input<()>) {
        let (_, minted) = self.on_page(t, id, |page, port| page.pay(id, input, port));
        if minted {
            if let Some(p) = self.tabs[t].pays.iter().find(|p| p.id == id) {
                let body = p.body.clone();
                self.minted(t, &fingerprint(EP, &body), &body);
            }
        }
        self.take_outs(t);
    }

    /// Performs what tab `t`'s page queued, as the browser does.
    fn take_outs(&mut self, t: usize) {
        let mut later = Vec::new();
        while let Some(out) = self.tabs[t].page.poll() {
            later.push(out);
        }
        let mut queue = Vec::new();
        for out in later {
            match out {
                Out::Tabs(effect) => self.perform(t, effect, &mut queue),
                Out::Wake(id) => self.pay_input(t, id, payment::Input::Start),
                Out::Send(id, req) => {
                    let gen = self.tabs[t].gen;
                    if let Some(pay) = self.tabs[t].pays.iter_mut().find(|p| p.id == id) {
                        pay.state = PayState::OnWire;
                        pay.key = Some(req.key.clone());
                        let body = pay.body.clone();
                        self.requests.push(Request {
                            tab: t,
                            gen,
                            pay: id,
                            key: req.key,
                            body,
                        });
                    }
                }
                Out::ReadBody(id) => self.pay_input(t, id, payment::Input::BodyRead(())),
                Out::Sleep(id, _) => self.pay_input(t, id, payment::Input::Slept),
                Out::Event(..) => {}
                Out::Done(id, outcome, _) => {
                    let tab = &mut self.tabs[t];
                    let Some(at) = tab.pays.iter().position(|p| p.id == id) else {
                        continue;
                    };
                    let pay = tab.pays.remove(at);
                    match outcome {
                        Ok(_) => self.told_success.push(pay.body),
                        // No evidence that no other key is live: nothing was sent.
                        Err(e) if e.code == Code::Conflict && e.attempts == 0 => self.busy += 1,
                        Err(_) => {}
                    }
                }
            }
        }
        for input in queue {
            self.feed(t, input);
        }
    }

    /// Feeds tab `t`'s tabs machine and performs every effect it queues.
    fn feed(&mut self, t: usize, input: Input) {
        if self.tabs[t].old.is_none() {
            self.on_page(t, 0, |page, port| page.tabs(input, port));
            self.take_outs(t);
            return;
        }
        let mut queue = vec![input];
        while let Some(input) = queue.pop() {
            let tab = &mut self.tabs[t];
            let mut effects = Vec::new();
            let mut chosen = Vec::new();
            if let Some(old) = &mut tab.old {
                old.handle(input);
                effects.extend(old.effects.drain(..));
                chosen.append(&mut old.chosen);
            }
            for e in effects {
                self.perform(t, e, &mut queue);
            }
            // By its own rules, it may always mint.
            for id in chosen {
                self.choose(t, id, None, true);
            }
        }
    }

    fn perform(&mut self, t: usize, effect: Effect, queue: &mut Vec<Input>) {
        let gen = self.tabs[t].gen;
        match effect {
            Effect::Listen => {
                if self.faults.no_locks {
                    queue.push(Input::Unsupported);
                } else {
                    self.tabs[t].listening = true;
                    queue.push(Input::Listening);
                }
            }
            Effect::Post(text) => {
                if !self.tabs[t].listening {
                    return;
                }
                if self.faults.hostile && self.heard.len() < 16 {
                    self.heard.push(text.clone());
                }
                for to in 0..self.tabs.len() {
                    let other = &self.tabs[to];
                    // (The tab of another version reads none of it.)
                    if to != t && other.alive && other.listening && other.old.is_none() {
                        self.channel.push(Message_ {
                            from: t,
                            to,
                            gen: other.gen,
                            text: text.clone(),
                        });
                    }
                }
            }
            Effect::Close => self.tabs[t].listening = false,
            Effect::Lock { lock, name, query } => self.locks.push(LockReq {
                tab: Some((t, gen)),
                lock,
                name,
                query,
                granted: false,
            }),
            Effect::Release(lock) => self
                .locks
                .retain(|l| !(l.granted && l.lock == lock && l.tab == Some((t, gen)))),
            Effect::Timer { timer, ms } => self.timers.push((t, gen, timer, self.now + ms)),
            Effect::Query => {
                let held = (!self.faults.blind).then(|| self.held_names());
                queue.push(Input::Listed(held));
            }
            // The page takes these: a choice, and a record it saved.
            Effect::Choose { .. } | Effect::Adopted { .. } | Effect::Restored => {}
        }
    }

    /// The lock manager's list: every granted lock's name, one per line.
    fn held_names(&self) -> String {
        self.locks
            .iter()
            .filter(|l| l.granted)
            .map(|l| l.name.clone())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A payment of the tab of another version chooses its key, by that
    /// release's own glue: a key of its own, else a new one.
    fn choose(&mut self, t: usize, id: u32, joined: Option<String>, mint: bool) {
        let Some(at) = self.tabs[t].pays.iter().position(|p| p.id == id) else {
            return;
        };
        let body = self.tabs[t].pays[at].body.clone();
        let fp = fingerprint(EP, &body);
        let minted = format!("key-t{t}g{}p{id}", self.tabs[t].gen);
        let lookup = Lookup {
            now_ms: self.now,
            ttl_ms: TTL,
            endpoint: EP,
            fingerprint: &fp,
            caller_key: None,
            joined: joined.as_deref(),
        };
        let record = match resolve::<()>(&self.tabs[t].store, &lookup, || {
            if mint {
                Ok(minted)
            } else {
                Err(crate::rules::lifecycle::unheard())
            }
        }) {
            Ok(record) => record,
            // No evidence that no other key is live: the payment sends nothing.
            Err(_) => {
                self.busy += 1;
                self.tabs[t].pays.remove(at);
                self.feed(t, Input::PaymentEnds { payment: id });
                return;
            }
        };
        let key = record.key.clone();
        if key == format!("key-t{t}g{}p{id}", self.tabs[t].gen) {
            self.minted(t, &fp, &body);
        }
        let pay = &mut self.tabs[t].pays[at];
        pay.key = Some(key.clone());
        pay.payment = Some(Payment::new(record, self.policy));
        self.feed(t, Input::KeyChosen { payment: id, key });
        self.drive(t, id, payment::Input::Start);
    }

    /// Feeds a payment: on the page in a tab of this version, else by the
    /// other version's glue ([`World::drive_old`]).
    fn drive(&mut self, t: usize, id: u32, input: payment::Input<()>) {
        if self.tabs[t].old.is_none() {
            self.pay_input(t, id, input);
        } else {
            self.drive_old(t, id, input);
        }
    }

    /// Runs a payment of the tab of another version until it sends a request or ends.
    fn drive_old(&mut self, t: usize, id: u32, input: payment::Input<()>) {
        let mut input = input;
        loop {
            let Some(at) = self.tabs[t].pays.iter().position(|p| p.id == id) else {
                return;
            };
            let tab = &mut self.tabs[t];
            let mut saved = Vec::new();
            let pay = &mut tab.pays[at];
            let Some(payment) = pay.payment.as_mut() else {
                return;
            };
            let effect = payment.step(
                input,
                self.now,
                0.5,
                &tab.store,
                |r| saved.push(r.clone()),
                |_| {},
            );
            let Some(effect) = effect else { return };
            let next = match effect {
                Io::Send(req) => {
                    self.requests.push(Request {
                        tab: t,
                        gen: tab.gen,
                        pay: id,
                        key: req.key,
                        body: pay.body.clone(),
                    });
                    pay.state = PayState::OnWire;
                    None
                }
                Io::ReadBody => Some(payment::Input::BodyRead(())),
                Io::Sleep(_) => Some(payment::Input::Slept),
                Io::Done(outcome) => {
                    pay.state = PayState::Done;
                    if let Ok(ok) = &outcome {
                        let body = pay.body.clone();
                        let _ = ok;
                        self.told_success.push(body);
                    }
                    tab.pays.remove(at);
                    for r in saved {
                        self.feed(t, Input::Saved(r));
                    }
                    self.feed(t, Input::PaymentEnds { payment: id });
                    return;
                }
            };
            for r in saved {
                self.feed(t, Input::Saved(r));
            }
            match next {
                Some(i) => input = i,
                None => return,
            }
        }
    }

    fn forge(&mut self, t: usize, kind: u8) {
        let to = t;
        let gen = self.tabs[t].gen;
        let fp = fingerprint(EP, &cart(0));
        let record = |key: &str, state: &str, at: u64| {
            format!(
                "payonce:v1:{key}\t1,{state},{fp},{at},{at},{},1,1,{EP}",
                at + TTL
            )
        };
        let late = self.now + 60_000;
        // The tab's own record of cart 0, if any, to forge against.
        let theirs = self.tabs[t].store.by_fingerprint(&fp).map(|r| r.key);
        let texts: Vec<String> = match kind {
            // A failure reported for the key this tab holds.
            0 => theirs
                .map(|k| format!("2\tsaved\tevil1\t{}", record(&k, "f", late)))
                .into_iter()
                .collect(),
            // A later record with a new key for a cart this tab holds.
            1 => theirs
                .map(|_| format!("2\tsaved\tevil1\t{}", record("forged-key", "p", late)))
                .into_iter()
                .collect(),
            // Malformed, another version, huge, a flood of made-up tabs.
            2 => vec![
                "2\tsaved\tevil1\tpayonce:v1:x\t1,s,zz".into(),
                format!("1\tsaved\tevil1\t{}", record("old-version", "s", late)),
                format!(
                    "2\tsaved\tevil1\t{}{}",
                    record("huge", "s", late),
                    "x".repeat(MAX_MESSAGE)
                ),
                "2\tanswer\tevil1\tnobody".into(),
            ],
            3 => (0..40).map(|i| format!("2\thello\tevil{i}")).collect(),
            // A replay of something a tab said earlier.
            4 => self.heard.last().cloned().into_iter().collect(),
            // "Forget" the key this tab holds.
            _ => theirs
                .map(|k| {
                    Message::Forget {
                        from: "evil1",
                        key: &k,
                    }
                    .encode()
                })
                .into_iter()
                .collect(),
        };
        for text in texts {
            self.channel.push(Message_ {
                from: usize::MAX,
                to,
                gen,
                text,
            });
        }
    }

    /// A new key was minted for `fp` in tab `t`: no other tab open and
    /// listening may know a key of that cart (a record, or a payment of it on
    /// the wire). A tab that was closed or in the back/forward cache meanwhile
    /// cannot be heard, and no protocol can help that.
    fn minted(&mut self, t: usize, fp: &str, body: &str) {
        // A tab retires a key it held only on evidence nothing was charged under it.
        if let Some(key) = self.tabs[t].knew.get(fp) {
            let kept = self.tabs[t].store.by_key(key);
            let charged = self.server.keys.get(key).is_some_and(|(_, s)| *s == 201)
                || self.requests.iter().any(|r| r.key == *key)
                || self.orphans.iter().any(|(k, _)| k == key);
            if charged || kept.is_none_or(|r| r.state != State::Failed) {
                self.violations.push(format!(
                    "tab {t} minted a new key for a cart it held under {key}"
                ));
            }
        }
        let earlier = self.server.charges.contains_key(body)
            || self.requests.iter().any(|r| r.body == body)
            || self.orphans.iter().any(|(_, b)| b == body);
        if earlier {
            self.unheard.push(body.to_owned());
        }
        // The tab of another version hears no tab of this one: out of this protocol's reach.
        if self.tabs[t].old.is_some() {
            return;
        }
        for (u, other) in self.tabs.iter().enumerate() {
            if u == t || !other.alive || other.hidden || !other.listening {
                continue;
            }
            let known = other
                .store
                .by_fingerprint(fp)
                .filter(|r| r.is_live(self.now))
                .map(|r| r.key)
                .or_else(|| {
                    other
                        .pays
                        .iter()
                        .find(|p| fingerprint(EP, &p.body) == fp && p.key.is_some())
                        .and_then(|p| p.key.clone())
                });
            if let Some(key) = known {
                if self.strict {
                    self.violations.push(format!(
                        "tab {t} minted a key for a cart tab {u} holds under {key}"
                    ));
                }
            }
        }
    }

    /// What must hold between any two steps.
    pub fn check(&self) -> Result<(), String> {
        if let Some(v) = self.violations.first() {
            return Err(v.clone());
        }
        for body in &self.told_success {
            if !self.server.charges.contains_key(body) {
                return Err(format!("told success with no charge: {body}"));
            }
        }
        // At most one charge per cart, unless the second key was minted where
        // no open tab could have told of the first (checked in `minted`).
        if self.strict {
            for (body, keys) in &self.server.charges {
                if keys.len() > 1 && !self.unheard.contains(body) {
                    return Err(format!(
                        "charged {} times for {body} (keys {keys:?})",
                        keys.len()
                    ));
                }
            }
        }
        for (t, tab) in self.tabs.iter().enumerate() {
            if !tab.alive {
                continue;
            }
            for p in &tab.pays {
                if !matches!(p.state, PayState::Waiting) || p.frozen_meanwhile {
                    continue;
                }
                if self.now > p.started + BOUND_MS {
                    return Err(format!(
                        "tab {t}'s payment waited {} ms to choose its key (bound {BOUND_MS})",
                        self.now - p.started
                    ));
                }
                // It ends on the machine's own timer, whatever else happens.
                let timer = self
                    .timers
                    .iter()
                    .any(|&(tt, g, _, at)| tt == t && g == tab.gen && at <= p.started + BOUND_MS);
                if !timer {
                    return Err(format!("tab {t}'s payment waits with no timer to end it"));
                }
            }
        }
        Ok(())
    }

    /// Lets the tabs' handshakes finish, in one order (the property tests try the others).
    pub fn handshake(&mut self) -> Result<(), String> {
        loop {
            let next = self
                .enabled()
                .into_iter()
                .find(|a| matches!(a, Action::Deliver(_) | Action::Grant(_) | Action::Fire));
            let Some(a) = next else { return Ok(()) };
            self.step(&a)?;
        }
    }

    /// Lets everything settle (no more faults): every payment must end.
    pub fn drain(&mut self) -> Result<(), String> {
        self.faults = Faults {
            lost_answers: false,
            ..Faults::default()
        };
        for t in 0..self.tabs.len() {
            if self.tabs[t].frozen {
                self.tabs[t].frozen = false;
            }
        }
        for _ in 0..10_000 {
            let next = self.enabled().into_iter().find(|a| {
                matches!(
                    a,
                    Action::Deliver(_)
                        | Action::Grant(_)
                        | Action::Answer(_)
                        | Action::Orphan(_)
                        | Action::Fire
                )
            });
            let Some(a) = next else { break };
            self.step(&a)?;
        }
        for (t, tab) in self.tabs.iter().enumerate() {
            if tab.alive && !tab.pays.is_empty() {
                return Err(format!("tab {t} has a payment that never ends"));
            }
        }
        Ok(())
    }

    /// A summary of the state, equal for states that behave the same.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = write!(s, "{}|", self.now);
        for tab in &self.tabs {
            let _ = write!(
                s,
                "[{:?}{:?}{}{}{}{}{} {:?} pays:",
                tab.page.tabs_machine(),
                tab.old,
                tab.gen,
                tab.alive,
                tab.frozen,
                tab.hidden,
                tab.listening,
                tab.store.all()
            );
            for p in &tab.pays {
                let _ = write!(s, "{}{:?}{:?}{};", p.id, p.state, p.key, p.started);
            }
            let _ = write!(s, "]");
        }
        for m in &self.channel {
            let _ = write!(s, "m{}{}{}", m.to, m.gen, m.text);
        }
        for l in &self.locks {
            let _ = write!(s, "l{:?}{}{}{}", l.tab, l.lock, l.name, l.granted);
        }
        let _ = write!(s, "{:?}", self.timers);
        for r in &self.requests {
            let _ = write!(s, "r{}{}{}{}", r.tab, r.gen, r.pay, r.key);
        }
        let _ = write!(s, "{:?}", self.orphans);
        let mut charges: Vec<_> = self.server.charges.iter().collect();
        charges.sort();
        let _ = write!(s, "{charges:?}{:?}", self.told_success);
        s
    }
}

/// How many kinds of forgery the hostile peer knows.
pub const FORGERIES: u8 = 6;

impl World {
    /// A one-line view of each tab, for debugging traces.
    pub fn brief(&self) -> String {
        let mut s = String::new();
        for (t, tab) in self.tabs.iter().enumerate() {
            if let Some(old) = &tab.old {
                let _ = writeln!(
                    s,
                    "  t{t} (another version) {old:?} store={:?}",
                    tab.store
                        .all()
                        .iter()
                        .map(|r| (&r.key, r.state))
                        .collect::<Vec<_>>()
                );
                continue;
            }
            let m = tab.page.tabs_machine();
            let _ = writeln!(
                s,
                "  t{t} alive={} hidden={} listen={} {:?} me={} peers={:?} exp={:?} pays={:?} store={:?}",
                tab.alive,
                tab.hidden,
                tab.listening,
                m.phase,
                m.me,
                m.peers,
                m.expected,
                m.payments.iter().map(|p| (p.id, &p.stage, p.lock, &p.key)).collect::<Vec<_>>(),
                tab.store.all().iter().map(|r| (&r.key, r.state)).collect::<Vec<_>>()
            );
        }
        let _ = write!(
            s,
            "  locks={:?}\n  chan={:?}",
            self.locks
                .iter()
                .map(|l| (l.tab, l.lock, &l.name[..14], l.granted))
                .collect::<Vec<_>>(),
            self.channel
                .iter()
                .map(|m| (m.to, &m.text[..m.text.len().min(40)]))
                .collect::<Vec<_>>()
        );
        s
    }
}

/// A tab of another payonce version, left open across a deploy. It takes the
/// same locks as this version: `payonce:tab:<id>` while it is open, and the
/// cart's pay lock by its own rules. It speaks a protocol version this one
/// cannot read (its messages fail to parse here), and reads nothing this one
/// posts. Its rules, in short those of a release before a lone tab took its
/// payment's lock and before silence stopped counting as evidence: the lock
/// manager's list, when its own tab lock is granted, tells it whether other
/// tabs exist. If so, a payment takes the cart's pay lock (waiting until its
/// deadline at most), asks the others (nobody can answer it) and after
/// [`ASK_MS`] forgets them; alone, it takes no pay lock and chooses its key
/// at once, minting one if it holds none.
#[derive(Clone, Debug, Default)]
pub struct OldPeer {
    me: String,
    listening: bool,
    /// Its tab lock: requested, then granted.
    tab_lock: Option<(u32, bool)>,
    /// It thinks other tabs exist.
    others: bool,
    /// Its payments waiting to choose: (payment, fingerprint, pay lock).
    waiting: Vec<(u32, String, Option<u32>)>,
    /// Payments on the wire, and the pay lock each holds or asked for.
    wire: Vec<(u32, Option<u32>)>,
    /// (timer, payment, what): a deadline (false) or an ask (true).
    timers: Vec<(u32, u32, bool)>,
    next: u32,
    effects: VecDeque<Effect>,
    /// Payments to choose their key now.
    chosen: Vec<u32>,
}

impl OldPeer {
    /// A message of its version: this version's format under another version number.
    fn post(&mut self, m: &Message<'_>) {
        let text = m.encode();
        let body = text.strip_prefix(VERSION).unwrap_or(&text);
        self.effects.push_back(Effect::Post(format!("1{body}")));
    }

    fn id(&mut self) -> u32 {
        self.next += 1;
        self.next
    }

    fn timer(&mut self, payment: u32, ask: bool, ms: u64) {
        let timer = self.id();
        self.timers.push((timer, payment, ask));
        self.effects.push_back(Effect::Timer { timer, ms });
    }

    fn lock(&mut self, name: String, query: bool) -> u32 {
        let lock = self.id();
        self.effects.push_back(Effect::Lock { lock, name, query });
        lock
    }

    fn choose(&mut self, payment: u32) {
        if let Some(at) = self.waiting.iter().position(|w| w.0 == payment) {
            let (_, _, lock) = self.waiting.remove(at);
            self.timers.retain(|t| t.1 != payment);
            self.wire.push((payment, lock));
            self.chosen.push(payment);
        }
    }

    /// Moves a waiting payment on, once its tab lock is granted (or there are no locks).
    fn advance(&mut self, payment: u32) {
        let ready = !self.listening || self.tab_lock.is_some_and(|(_, granted)| granted);
        let Some(at) = self.waiting.iter().position(|w| w.0 == payment) else {
            return;
        };
        if !ready || self.waiting[at].2.is_some() {
            return;
        }
        if !self.listening || !self.others {
            self.choose(payment);
            return;
        }
        let name = format!("{PAY_LOCK}{}", self.waiting[at].1);
        let lock = self.lock(name, false);
        self.waiting[at].2 = Some(lock);
    }

    /// Asks the others (who cannot read it), then waits for answers that never come.
    fn ask(&mut self, payment: u32) {
        let Some(w) = self.waiting.iter().find(|w| w.0 == payment) else {
            return;
        };
        let fingerprint = w.1.clone();
        let me = self.me.clone();
        self.post(&Message::Ask {
            from: &me,
            fingerprint: &fingerprint,
        });
        self.timer(payment, true, ASK_MS);
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Open { id } => {
                if self.me.is_empty() {
                    self.me = id;
                    self.effects.push_back(Effect::Listen);
                }
            }
            Input::Listening => {
                self.listening = true;
                let me = self.me.clone();
                self.post(&Message::Hello { from: &me });
                let lock = self.lock(format!("{TAB_LOCK}{me}"), true);
                self.tab_lock = Some((lock, false));
            }
            Input::Unsupported => {
                self.listening = false;
                let ids: Vec<u32> = self.waiting.iter().map(|w| w.0).collect();
                for id in ids {
                    self.choose(id);
                }
            }
            Input::Granted { lock, held } => {
                if self.tab_lock == Some((lock, false)) {
                    self.tab_lock = Some((lock, true));
                    let mine = format!("{TAB_LOCK}{}", self.me);
                    self.others = held.is_none_or(|held| {
                        held.lines()
                            .any(|name| name.starts_with(TAB_LOCK) && name != mine)
                    });
                    let ids: Vec<u32> = self.waiting.iter().map(|w| w.0).collect();
                    for id in ids {
                        self.advance(id);
                    }
                } else if let Some(w) = self.waiting.iter().find(|w| w.2 == Some(lock)) {
                    let id = w.0;
                    self.ask(id);
                } else if !self.wire.iter().any(|w| w.1 == Some(lock)) {
                    self.effects.push_back(Effect::Release(lock));
                }
            }
            Input::Refused { lock } => {
                if let Some(w) = self.waiting.iter().find(|w| w.2 == Some(lock)) {
                    let id = w.0;
                    self.choose(id);
                }
            }
            Input::Fired { timer } => {
                let Some(at) = self.timers.iter().position(|t| t.0 == timer) else {
                    return;
                };
                let (_, payment, ask) = self.timers.remove(at);
                if ask {
                    // Nobody answered: the others are forgotten.
                    self.others = false;
                }
                self.choose(payment);
            }
            Input::PaymentStarts {
                payment,
                fingerprint,
                deadline_ms,
                ..
            } => {
                self.waiting.push((payment, fingerprint, None));
                self.timer(payment, false, deadline_ms);
                self.advance(payment);
            }
            Input::PaymentEnds { payment } => {
                if let Some(at) = self.wire.iter().position(|w| w.0 == payment) {
                    if let (_, Some(lock)) = self.wire.remove(at) {
                        self.effects.push_back(Effect::Release(lock));
                    }
                }
            }
            Input::Saved(record) => {
                if self.listening {
                    let (name, value) = (record.item_name(), record.encode());
                    let me = self.me.clone();
                    self.post(&Message::Saved {
                        from: &me,
                        name: &name,
                        value: &value,
                    });
                }
            }
            // It reads nothing of this version's, and its page is left alone.
            Input::Message(_)
            | Input::Listed(_)
            | Input::PageHide
            | Input::PageShow { .. }
            | Input::KeyChosen { .. }
            | Input::Forgot(_) => {}
        }
    }
}
