//! Tabs of one origin paying the same cart, as a machine that does no I/O.
//!
//! Like quinn-proto's `Endpoint`, [`Tabs`] performs no I/O whatsoever: it is
//! fed an [`Input`] (a peer's message, the lock manager's answer, a timer, the
//! page hidden or shown, a payment starting or ending) and queues the
//! [`Effect`]s to perform (post a message, request or release a lock, start a
//! timer, tell a payment to choose its key or to join another). The browser
//! (`crate::browser::tabs`) performs them with a `BroadcastChannel`, Web Locks
//! and `setTimeout`; the tests perform them with a model of several tabs.
//!
//! The protocol. At the first payonce call a tab listens on the channel, says
//! hello, takes a lock of its own and asks the lock manager which other
//! payonce tabs hold theirs; the others answer `Here` once their payments on
//! the wire hold their locks (and announce those payments' records first).
//! While no other tab is known, a payment chooses its key at once (and takes
//! the lock named after its fingerprint all the same, held while it is on the
//! wire, so that a tab opened later waits for it). Otherwise a payment takes
//! that lock, asks the other tabs for their record of it, and only then
//! chooses its key, joining a payment of the same details that was pending
//! here or elsewhere meanwhile.
//!
//! Evidence, never silence: a payment may mint a new key only on evidence
//! that no other key is live for its details: no other tab is known, or it
//! holds their lock and every other tab answered its ask. A lock not granted
//! in time (another tab's payment of these details is on the wire), a tab
//! that does not answer (blocked by a dialog, frozen in the background) and a
//! tab that speaks another protocol version are no such evidence: then the
//! payment is told it may not mint ([`Effect::Choose`]'s `mint`), and it ends
//! with a retryable error that sends nothing unless it has a key already. A
//! tab is forgotten only when it says goodbye or the lock manager no longer
//! lists its lock.
//!
//! Every wait has its own timer here, whatever the platform does: the
//! handshake ends after [`HANDSHAKE_MS`], a payment's wait for the handshake
//! and its lock ends at its deadline (one attempt's timeout), the ask after
//! [`ASK_MS`], and a lock taken for a payment already on the wire after
//! [`ASK_MS`]. So a payment chooses its key at most
//! `max(deadline, HANDSHAKE_MS) + ASK_MS` after it starts, whatever the other
//! tabs, the channel or the lock manager do.
//!
//! The machine also knows every payment of the page on the wire, so a second
//! call for the same payment (a double click) joins the first ([`Tabs::joinable`]).

pub mod merge;
pub mod message;

use crate::rules::record::{Record, State};
use crate::rules::store::Records;
use crate::rules::text::cat;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use message::{Message, MAX_LOCK_NAME, PAY_LOCK, TAB_LOCK};

/// The longest wait for the other tabs' answers to an ask, and for a lock
/// taken for a payment already on the wire.
pub const ASK_MS: u64 = 1000;
/// The longest wait for the tabs the lock manager named to say `Here`.
pub const HANDSHAKE_MS: u64 = 1000;
/// How long after the handshake a tab that found no other still waits
/// before a payment chooses its key: messages other tabs posted before this
/// tab's lock was granted (a save of the same cart) arrive meanwhile.
pub const SETTLE_MS: u64 = 100;
/// The most other tabs kept: a new one beyond it replaces the one heard from least recently.
pub const MAX_PEERS: usize = 16;
/// How many reports of other tabs' saves are remembered (for payments that waited).
const SEEN: usize = 64;
/// How many forgotten keys are remembered, so no tab lends one back.
const FORGOTTEN: usize = 64;
/// The most lock names read from the lock manager's list.
pub const MAX_LOCKS_READ: usize = 64;

/// What happened, for [`Tabs::handle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The page's first payonce call: listen, with this random tab id.
    Open {
        /// 1 to 32 lowercase letters and digits.
        id: String,
    },
    /// The channel is open ([`Effect::Listen`] worked).
    Listening,
    /// No channel or Web Locks here: payonce works per tab.
    Unsupported,
    /// A message on the channel (already refused if longer than [`message::MAX_MESSAGE`]).
    Message(String),
    /// The lock asked for by [`Effect::Lock`] was granted. For the tab's own
    /// lock, `held` lists the names of the locks held on the origin, one per
    /// line, or is `None` when the lock manager would not say.
    Granted {
        /// The request's id.
        lock: u32,
        /// The lock manager's list, for the tab's own lock.
        held: Option<String>,
    },
    /// The lock request failed.
    Refused {
        /// The request's id.
        lock: u32,
    },
    /// The timer started by [`Effect::Timer`] fired.
    Fired {
        /// The timer's id.
        timer: u32,
    },
    /// `pagehide`: the page may enter the back/forward cache.
    PageHide,
    /// `pageshow` from the back/forward cache (storage was read again): listen
    /// again, with a new id.
    PageShow {
        /// The new tab id.
        id: String,
    },
    /// A payment starts: it may not choose its key before [`Effect::Choose`].
    PaymentStarts {
        /// The payment's id in this page.
        payment: u32,
        /// Its fingerprint.
        fingerprint: String,
        /// The caller's key, if any.
        caller_key: Option<String>,
        /// The longest its start waits for the handshake and its lock.
        deadline_ms: u64,
        /// Choose at once (the caller already aborted).
        hurry: bool,
    },
    /// The payment chose this key (after [`Effect::Choose`]).
    KeyChosen {
        /// The payment's id.
        payment: u32,
        /// Its key.
        key: String,
    },
    /// The payment is over.
    PaymentEnds {
        /// The payment's id.
        payment: u32,
    },
    /// The lock manager's list asked for by [`Effect::Query`]: the names of
    /// the locks held on the origin, one per line, or `None` when it would not say.
    Listed(Option<String>),
    /// This tab saved the record.
    Saved(Record),
    /// `forgetPayment(key)` dropped this key here.
    Forgot(String),
}

/// What to do, from [`Tabs::poll`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Open the channel; then feed [`Input::Listening`] or [`Input::Unsupported`].
    Listen,
    /// Post this text on the channel.
    Post(String),
    /// Close the channel.
    Close,
    /// Request the Web Lock `name`; feed [`Input::Granted`] or [`Input::Refused`]
    /// (a request that never settles is ended by the machine's own timers).
    Lock {
        /// The request's id.
        lock: u32,
        /// The lock's name.
        name: String,
        /// Read the lock manager's list once granted (the tab's own lock).
        query: bool,
    },
    /// Release the granted lock `lock` (or, if it is not granted yet, release it once it is).
    Release(u32),
    /// Ask the lock manager which locks are held; feed [`Input::Listed`].
    Query,
    /// Feed [`Input::Fired`] after `ms`.
    Timer {
        /// The timer's id.
        timer: u32,
        /// The delay.
        ms: u64,
    },
    /// The payment may choose its key now; `joined` is the key of a payment
    /// of the same details that was pending here or in another tab meanwhile.
    Choose {
        /// The payment's id.
        payment: u32,
        /// The key it joins, if any.
        joined: Option<String>,
        /// Whether it may mint a new key: false without evidence that no other
        /// tab holds a live key for its details (see the module documentation).
        mint: bool,
    },
    /// A record another tab saved is newer than this tab's copy: save it
    /// to the store, then tell the page. `continued`: it settles a payment
    /// this tab held pending.
    Adopted {
        /// The record.
        record: Record,
        /// Whether it settles a record this tab held pending.
        continued: bool,
    },
    /// The page came back from the back/forward cache.
    Restored,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not opened yet (or reopening after the back/forward cache).
    Closed,
    /// Waiting for the channel to open.
    Listening,
    /// No BroadcastChannel or Web Locks: payonce works per tab.
    Unsupported,
    /// Said hello; waiting for the lock manager and the other tabs' answers.
    Starting,
    Open,
    /// The page is hidden (maybe in the back/forward cache): nothing is held.
    Hidden,
}

/// Where a payment of this page stands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stage {
    /// Waiting for the handshake.
    Ready,
    /// Waiting for its lock.
    Locking,
    /// Waiting for these tabs' answers.
    Asking(Vec<String>),
    /// Told to choose: on the wire.
    Wire,
}

/// A lock this machine asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lock {
    None,
    /// Requested; not granted yet.
    Requested(u32),
    Held(u32),
}

#[derive(Clone, Debug)]
struct Pay {
    id: u32,
    fingerprint: String,
    /// The caller's key, then the chosen one.
    key: Option<String>,
    stage: Stage,
    lock: Lock,
    /// Its deadline passed: it waits for nothing but the ask.
    late: bool,
    /// The key of this tab's pending record of these details when it started.
    pending: Option<String>,
    /// Reports of other tabs' saves from this index on came while it waited.
    seen_from: u64,
    /// The tabs it asked for their record of its details (empty: it asked none).
    asked: Vec<String>,
    /// Some evidence is missing: its lock was not granted in time, or a tab
    /// did not answer its ask.
    unheard: bool,
    /// Its ask went unanswered: the lock manager is asked which of the silent
    /// tabs are still there.
    confirming: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    Handshake,
    Deadline(u32),
    Ask(u32),
    /// A lock for a payment on the wire, asked for because a tab appeared.
    Relock(u32),
    /// [`SETTLE_MS`] after the handshake.
    Settle,
    /// [`ASK_MS`] for the lock manager's list after an ask went unanswered.
    Confirm(u32),
}

/// The tabs protocol of one page. See the module documentation.
#[derive(Clone, Debug)]
pub struct Tabs {
    phase: Phase,
    me: String,
    /// Other tabs, least recently heard first.
    peers: Vec<String>,
    /// Tabs the lock manager named that have not said `Here` (`None`: it has not told).
    expected: Option<Vec<String>>,
    /// The lock manager would not list the locks: other tabs may exist unseen,
    /// so every payment takes its lock and asks.
    blind: bool,
    /// More tabs spoke than [`MAX_PEERS`]: one that was dropped to make room
    /// may hold a key, so no payment mints until the lock manager's list says
    /// which tabs are there.
    overflowed: bool,
    /// The tab's own lock.
    presence: Lock,
    /// [`SETTLE_MS`] have passed since the handshake ended.
    settled: bool,
    payments: Vec<Pay>,
    /// Tabs owed a `Here` once this tab's payments hold their locks.
    owed: Vec<String>,
    /// (fingerprint, key, sequence number) of records other tabs saved, newest last.
    seen: VecDeque<(String, String, u64)>,
    seen_count: u64,
    forgotten: VecDeque<String>,
    /// (key, tab id): keys other tabs forgot, not lent back to them.
    forgotten_by: VecDeque<(String, String)>,
    timers: Vec<(u32, Timer)>,
    next: u32,
    effects: VecDeque<Effect>,
}

impl Default for Tabs {
    fn default() -> Self {
        Tabs::new()
    }
}

impl Tabs {
    /// A page that has not opened the channel yet.
    pub const fn new() -> Tabs {
        Tabs {
            phase: Phase::Closed,
            me: String::new(),
            peers: Vec::new(),
            expected: None,
            blind: false,
            overflowed: false,
            presence: Lock::None,
            settled: false,
            payments: Vec::new(),
            owed: Vec::new(),
            seen: VecDeque::new(),
            seen_count: 0,
            forgotten: VecDeque::new(),
            forgotten_by: VecDeque::new(),
            timers: Vec::new(),
            next: 0,
            effects: VecDeque::new(),
        }
    }

    /// The next effect to perform, oldest first.
    pub fn poll(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// Whether this page knows no other payonce tab, so a payment chooses its
    /// key at once. False while the handshake runs.
    pub fn alone(&self) -> bool {
        match self.phase {
            Phase::Starting | Phase::Listening => false,
            Phase::Open => self.peers.is_empty() && !self.blind,
            Phase::Closed | Phase::Unsupported | Phase::Hidden => true,
        }
    }

    /// Whether the channel is still to be opened.
    pub fn closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The payment of this page a new call joins (a double click): the one
    /// with the caller's key, or without one, the one with these details.
    /// `Err(())` if the caller's key is on the wire for other details.
    pub fn joinable(&self, fingerprint: &str, caller_key: Option<&str>) -> Result<Option<u32>, ()> {
        let found = self.payments.iter().find(|p| match caller_key {
            Some(k) => p.key.as_deref() == Some(k),
            None => p.fingerprint == fingerprint,
        });
        match found {
            Some(p) if p.fingerprint != fingerprint => Err(()),
            found => Ok(found.map(|p| p.id)),
        }
    }

    /// The payment of this page on the wire with this key, if any.
    pub fn with_key(&self, key: &str) -> Option<u32> {
        self.payments
            .iter()
            .find(|p| p.key.as_deref() == Some(key))
            .map(|p| p.id)
    }

    /// How many other tabs this page knows.
    #[cfg(all(test, not(target_arch = "wasm32")))]
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// How many payments of this page wait to choose their key.
    #[cfg(all(test, not(target_arch = "wasm32")))]
    pub fn waiting(&self) -> usize {
        self.payments
            .iter()
            .filter(|p| p.stage != Stage::Wire)
            .count()
    }

    /// Takes what happened; the effects are queued for [`Tabs::poll`].
    /// `store` is this tab's own storage, read only: a record to write comes
    /// out as [`Effect::Adopted`].
    pub fn handle(&mut self, input: Input, now_ms: u64, store: &impl Records) {
        match input {
            Input::Open { id } => {
                if self.phase == Phase::Closed && message::is_id(&id) {
                    self.me = id;
                    self.phase = Phase::Listening;
                    self.effects.push_back(Effect::Listen);
                }
            }
            Input::Listening => {
                if self.phase != Phase::Listening {
                    return;
                }
                self.phase = Phase::Starting;
                self.peers.clear();
                self.expected = None;
                self.blind = false;
                self.settled = false;
                self.owed.clear();
                let me = self.me.clone();
                self.post(&Message::Hello { from: &me });
                let lock = self.lock(cat(&[TAB_LOCK, &me]), true);
                self.presence = Lock::Requested(lock);
                self.timer(Timer::Handshake, HANDSHAKE_MS);
            }
            Input::Unsupported => {
                if self.phase == Phase::Listening {
                    self.phase = Phase::Unsupported;
                    self.advance_all();
                }
            }
            Input::Message(text) => self.message(&text, now_ms, store),
            Input::Granted { lock, held } => self.granted(lock, held.as_deref(), store),
            Input::Refused { lock } => self.refused(lock, store),
            Input::Fired { timer } => self.fired(timer, store),
            Input::PageHide => self.hide(),
            Input::PageShow { id } => {
                if self.phase == Phase::Hidden {
                    self.phase = Phase::Closed;
                }
                self.handle(Input::Open { id }, now_ms, store);
                self.effects.push_back(Effect::Restored);
            }
            Input::PaymentStarts {
                payment,
                fingerprint,
                caller_key,
                deadline_ms,
                hurry,
            } => {
                let pending = match caller_key {
                    Some(_) => None,
                    None => store
                        .live(&fingerprint)
                        .filter(|r| r.state == State::Pending)
                        .map(|r| r.key),
                };
                self.payments.push(Pay {
                    id: payment,
                    fingerprint,
                    key: caller_key,
                    stage: Stage::Ready,
                    lock: Lock::None,
                    late: hurry,
                    pending,
                    seen_from: self.seen_count,
                    asked: Vec::new(),
                    unheard: false,
                    confirming: false,
                });
                if !hurry {
                    self.timer(Timer::Deadline(payment), deadline_ms);
                }
                self.advance(payment);
            }
            Input::KeyChosen { payment, key } => {
                if let Some(p) = self.pay_mut(payment) {
                    p.key = Some(key);
                }
            }
            Input::PaymentEnds { payment } => {
                if let Some(at) = self.payments.iter().position(|p| p.id == payment) {
                    let p = self.payments.swap_remove(at);
                    self.drop_lock(p.lock);
                    self.pay_owed(store);
                }
            }
            // Every save is announced, even by a tab that knows no other: a tab
            // that opened a moment ago may not have been heard yet.
            Input::Saved(record) => {
                if matches!(self.phase, Phase::Starting | Phase::Open) {
                    let (name, value) = (record.item_name(), record.encode());
                    let me = self.me.clone();
                    self.post(&Message::Saved {
                        from: &me,
                        name: &name,
                        value: &value,
                    });
                }
            }
            Input::Listed(held) => self.listed(held.as_deref()),
            Input::Forgot(key) => {
                self.remember_forgotten(&key);
                if matches!(self.phase, Phase::Starting | Phase::Open) {
                    let me = self.me.clone();
                    self.post(&Message::Forget {
                        from: &me,
                        key: &key,
                    });
                }
            }
        }
    }

    fn message(&mut self, text: &str, now_ms: u64, store: &impl Records) {
        if !matches!(self.phase, Phase::Starting | Phase::Open) {
            return;
        }
        let Some(message) = Message::parse(text) else {
            // A tab of another protocol version (an older payonce left open
            // across a deploy): what it holds cannot be read, so it is a tab
            // whose silence proves nothing, like one that does not answer.
            if let Some(from) = message::sender_of_other_version(text) {
                self.add_peer(from);
            }
            return;
        };
        let me = self.me.clone();
        match message {
            Message::Hello { from } => {
                if self.add_peer(from) && !self.owed.iter().any(|o| o == from) {
                    if self.owed.len() >= MAX_PEERS {
                        self.owed.remove(0);
                    }
                    self.owed.push(from.into());
                }
                self.lock_payments(store);
            }
            Message::Here { from, to } if to == me => {
                self.add_peer(from);
                self.answered_by(from);
            }
            Message::Bye { from } => {
                self.peers.retain(|p| p != from);
                self.owed.retain(|p| p != from);
                self.answered_by(from);
                self.heard_from(from, None);
            }
            Message::Ask { from, fingerprint } => {
                self.add_peer(from);
                let found = store.live(fingerprint).filter(|r| {
                    !self
                        .forgotten_by
                        .iter()
                        .any(|(key, by)| *key == r.key && by == from)
                });
                let item = found.as_ref().map(|r| (r.item_name(), r.encode()));
                self.post(&Message::Answer {
                    from: &me,
                    to: from,
                    fingerprint,
                    item: item.as_ref().map(|(n, v)| (n.as_str(), v.as_str())),
                });
            }
            Message::Answer {
                from,
                to,
                fingerprint,
                item,
            } if to == me => {
                if let Some((name, value)) = item {
                    if let Some((record, continued)) = self.adopt(name, value, now_ms, store) {
                        self.effects
                            .push_back(Effect::Adopted { record, continued });
                    }
                }
                self.heard_from(from, Some(fingerprint));
            }
            Message::Saved { from, name, value } => {
                self.add_peer(from);
                if let Some((record, continued)) = self.adopt(name, value, now_ms, store) {
                    self.effects
                        .push_back(Effect::Adopted { record, continued });
                }
            }
            // This tab no longer lends the key to the tab that forgot it. It
            // keeps its record and lends it to the others: a forged `forget`
            // must not make another tab pay a cart again.
            Message::Forget { from, key } => {
                self.add_peer(from);
                if self.forgotten_by.len() >= FORGOTTEN {
                    self.forgotten_by.pop_front();
                }
                self.forgotten_by.push_back((key.into(), from.into()));
            }
            Message::Here { .. } | Message::Answer { .. } => {}
        }
    }

    /// Takes a record another tab reported, if [`merge::takes_over`] says so.
    /// Returns it, and whether it settles a record this tab held pending.
    fn adopt(
        &mut self,
        name: &str,
        value: &str,
        now_ms: u64,
        store: &impl Records,
    ) -> Option<(Record, bool)> {
        let theirs = message::record_of(name, value)?;
        if self.forgotten.iter().any(|k| *k == theirs.key) {
            return None;
        }
        let mine = store.record(&theirs.key);
        let current = store.live(&theirs.fingerprint);
        if !merge::takes_over(mine.as_ref(), current.as_ref(), &theirs, now_ms) {
            return None;
        }
        let continued = mine.is_some_and(|m| m.state == State::Pending);
        if self.seen.len() >= SEEN {
            self.seen.pop_front();
        }
        self.seen_count += 1;
        self.seen.push_back((
            theirs.fingerprint.clone(),
            theirs.key.clone(),
            self.seen_count,
        ));
        Some((theirs, continued))
    }

    fn remember_forgotten(&mut self, key: &str) {
        if self.forgotten.iter().any(|k| k == key) {
            return;
        }
        if self.forgotten.len() >= FORGOTTEN {
            self.forgotten.pop_front();
        }
        self.forgotten.push_back(key.into());
    }

    /// Notes `id` as heard from; says whether it is a known peer now.
    fn add_peer(&mut self, id: &str) -> bool {
        if id == self.me {
            return false;
        }
        if let Some(at) = self.peers.iter().position(|p| p == id) {
            let p = self.peers.remove(at);
            self.peers.push(p);
            return true;
        }
        if self.peers.len() >= MAX_PEERS {
            self.peers.remove(0);
            self.overflowed = true;
        }
        self.peers.push(id.into());
        true
    }

    /// `id` said `Here` (or left): the handshake is over once every tab the
    /// lock manager named has.
    fn answered_by(&mut self, id: &str) {
        if let Some(expected) = &mut self.expected {
            expected.retain(|e| e != id);
        }
        self.check_ready();
    }

    fn check_ready(&mut self) {
        if self.phase == Phase::Starting && self.expected.as_ref().is_some_and(Vec::is_empty) {
            self.phase = Phase::Open;
            self.timer(Timer::Settle, SETTLE_MS);
            self.advance_all();
        }
    }

    /// Ends the handshake: tabs the lock manager named but that never said
    /// `Here` (hung) count as present, so payments take their locks but no
    /// longer wait for the handshake.
    fn handshake_over(&mut self) {
        if self.phase == Phase::Starting {
            self.expected = Some(Vec::new());
            self.check_ready();
        }
    }

    /// `id` answered the ask about `fingerprint` (or, with `None`, left):
    /// asks waiting only for it are over. A page that left without answering
    /// gave no evidence: its tab may be reloading, its storage and keys intact,
    /// and its next page not heard yet.
    fn heard_from(&mut self, id: &str, fingerprint: Option<&str>) {
        let mut done = Vec::new();
        for p in &mut self.payments {
            if fingerprint.is_some_and(|fp| fp != p.fingerprint) {
                continue;
            }
            if let Stage::Asking(waiting) = &mut p.stage {
                if fingerprint.is_none() && waiting.iter().any(|w| w == id) {
                    p.unheard = true;
                }
                waiting.retain(|w| w != id);
                if waiting.is_empty() {
                    done.push(p.id);
                }
            }
        }
        for id in done {
            self.choose(id);
        }
    }

    fn granted(&mut self, lock: u32, held: Option<&str>, store: &impl Records) {
        if self.presence == Lock::Requested(lock) {
            if !matches!(self.phase, Phase::Starting | Phase::Open) {
                // Hidden meanwhile: the lock is not kept.
                self.presence = Lock::None;
                self.effects.push_back(Effect::Release(lock));
                return;
            }
            self.presence = Lock::Held(lock);
            match held {
                Some(held) => {
                    let mut others = Vec::new();
                    for name in held.split('\n').take(MAX_LOCKS_READ) {
                        let Some(id) = name.strip_prefix(TAB_LOCK) else {
                            continue;
                        };
                        if name.len() <= MAX_LOCK_NAME && message::is_id(id) && id != self.me {
                            self.add_peer(id);
                            others.push(String::from(id));
                        }
                    }
                    if self.expected.is_none() {
                        self.expected = Some(others);
                    }
                }
                // The lock manager would not list its locks (page code holds
                // locks with huge names, say): coordination stays on, blind.
                None => {
                    self.blind = true;
                    self.expected = Some(Vec::new());
                }
            }
            self.check_ready();
            return;
        }
        let Some(at) = self
            .payments
            .iter()
            .position(|p| p.lock == Lock::Requested(lock))
        else {
            // Nobody waits for it any more.
            self.effects.push_back(Effect::Release(lock));
            return;
        };
        let p = &mut self.payments[at];
        p.lock = Lock::Held(lock);
        let (id, locking) = (p.id, p.stage == Stage::Locking);
        if !matches!(self.phase, Phase::Starting | Phase::Open) {
            // Hidden meanwhile: a held lock keeps a page out of the cache.
            self.payments[at].lock = Lock::None;
            self.effects.push_back(Effect::Release(lock));
        }
        if locking {
            self.ask(id);
        } else {
            self.pay_owed(store);
        }
    }

    fn refused(&mut self, lock: u32, store: &impl Records) {
        if self.presence == Lock::Requested(lock) {
            self.presence = Lock::None;
            if matches!(self.phase, Phase::Starting | Phase::Open) {
                // Web Locks refused (a sandboxed frame): per tab, as without them.
                self.effects.push_back(Effect::Close);
                self.phase = Phase::Unsupported;
                self.peers.clear();
                self.owed.clear();
                self.advance_all();
            }
            return;
        }
        let Some(p) = self
            .payments
            .iter_mut()
            .find(|p| p.lock == Lock::Requested(lock))
        else {
            return;
        };
        p.lock = Lock::None;
        let (id, locking) = (p.id, p.stage == Stage::Locking);
        if locking {
            self.ask(id);
        } else {
            self.pay_owed(store);
        }
    }

    fn fired(&mut self, timer: u32, store: &impl Records) {
        let Some(at) = self.timers.iter().position(|(t, _)| *t == timer) else {
            return;
        };
        let (_, what) = self.timers.swap_remove(at);
        match what {
            Timer::Handshake => self.handshake_over(),
            Timer::Settle => {
                self.settled = true;
                self.advance_all();
            }
            Timer::Deadline(id) => {
                let Some(p) = self.pay_mut(id) else { return };
                p.late = true;
                match p.stage {
                    Stage::Ready => {
                        self.handshake_over();
                        self.advance(id);
                    }
                    // Its lock request stays: a late grant still holds it. Not
                    // granted in time: another tab may have these details on the wire.
                    Stage::Locking => {
                        p.unheard = true;
                        self.ask(id);
                    }
                    Stage::Asking(_) | Stage::Wire => {}
                }
            }
            Timer::Ask(id) => {
                let Some(p) = self.pay_mut(id) else { return };
                if let Stage::Asking(_) = &p.stage {
                    // A tab that did not answer (blocked by a dialog, frozen in
                    // the background) may hold a live key: it stays known, and
                    // the lock manager is asked whether it is still there.
                    p.confirming = true;
                    self.effects.push_back(Effect::Query);
                    self.timer(Timer::Confirm(id), ASK_MS);
                }
            }
            Timer::Confirm(id) => {
                let Some(p) = self.pay_mut(id) else { return };
                if matches!(p.stage, Stage::Asking(_)) && p.confirming {
                    p.unheard = true;
                    self.choose(id);
                }
            }
            Timer::Relock(id) => {
                if let Some(p) = self.pay_mut(id) {
                    if let Lock::Requested(lock) = p.lock {
                        // Given up: released if it is granted later.
                        p.lock = Lock::None;
                        self.effects.push_back(Effect::Release(lock));
                    }
                }
                self.pay_owed(store);
            }
        }
    }

    fn hide(&mut self) {
        if !matches!(self.phase, Phase::Starting | Phase::Open) {
            return;
        }
        let me = self.me.clone();
        self.post(&Message::Bye { from: &me });
        self.effects.push_back(Effect::Close);
        self.phase = Phase::Hidden;
        self.peers.clear();
        self.owed.clear();
        // Every lock: a held lock keeps a page out of the cache, and a payment
        // goes on with its key if the page comes back.
        let presence = core::mem::replace(&mut self.presence, Lock::None);
        self.drop_lock(presence);
        // A payment still waiting waits on (for its lock again once the page
        // is shown, or for its own timers): a hidden page runs no script.
        let mut locks = Vec::new();
        for p in &mut self.payments {
            locks.push(core::mem::replace(&mut p.lock, Lock::None));
            if p.stage == Stage::Locking {
                p.stage = Stage::Ready;
            }
        }
        for l in locks {
            self.drop_lock(l);
        }
    }

    fn drop_lock(&mut self, lock: Lock) {
        if let Lock::Requested(l) | Lock::Held(l) = lock {
            self.effects.push_back(Effect::Release(l));
        }
    }

    fn advance_all(&mut self) {
        let ids: Vec<u32> = self.payments.iter().map(|p| p.id).collect();
        for id in ids {
            self.advance(id);
        }
    }

    /// Moves a payment on as far as it can go now.
    fn advance(&mut self, id: u32) {
        // Alone, a payment goes at once, but not in the moment after the
        // handshake: a save another tab posted may still be on its way.
        let lone = self.alone();
        let alone = lone && (self.phase != Phase::Open || self.settled);
        let settling = lone && !alone;
        let listening = matches!(self.phase, Phase::Starting | Phase::Open);
        let starting = matches!(self.phase, Phase::Starting | Phase::Listening);
        let Some(p) = self.pay_mut(id) else { return };
        match &p.stage {
            Stage::Ready if alone => {
                self.choose(id);
                self.lock_on_wire(id);
            }
            Stage::Ready if p.late => self.ask(id),
            Stage::Ready if starting || settling => {}
            Stage::Ready => {
                p.stage = Stage::Locking;
                let name = cat(&[PAY_LOCK, &p.fingerprint]);
                let lock = self.lock(name, false);
                if let Some(p) = self.pay_mut(id) {
                    p.lock = Lock::Requested(lock);
                }
            }
            Stage::Locking | Stage::Asking(_) if !listening => self.choose(id),
            Stage::Locking | Stage::Asking(_) | Stage::Wire => {}
        }
    }

    /// The lock manager's list: a tab whose own lock is gone has closed (or
    /// crashed) without a goodbye, and is forgotten; a tab lock of a tab not
    /// heard yet (a page that just loaded) is a tab. A payment whose ask went
    /// unanswered chooses now: with evidence if every silent tab has gone and
    /// no unheard tab appeared, without it otherwise.
    fn listed(&mut self, held: Option<&str>) {
        let Some(held) = held else {
            // The lock manager would not say: the silent stay silent.
            let ids: Vec<u32> = self
                .payments
                .iter()
                .filter(|p| p.confirming)
                .map(|p| p.id)
                .collect();
            for id in ids {
                if let Some(p) = self.pay_mut(id) {
                    p.unheard = true;
                }
                self.choose(id);
            }
            return;
        };
        let listed: Vec<&str> = held
            .split('\n')
            .take(MAX_LOCKS_READ)
            .filter(|name| name.len() <= MAX_LOCK_NAME)
            .filter_map(|name| name.strip_prefix(TAB_LOCK))
            .filter(|id| message::is_id(id) && *id != self.me)
            .collect();
        let before = self.peers.clone();
        self.peers.retain(|p| listed.contains(&p.as_str()));
        // The list names every tab there is: room again, unless it alone overflows.
        self.overflowed = false;
        let mut appeared = false;
        for id in &listed {
            if !before.iter().any(|p| p == id) {
                appeared = true;
                self.add_peer(id);
            }
        }
        let mut ready = Vec::new();
        let peers = self.peers.clone();
        for p in &mut self.payments {
            if !p.confirming {
                continue;
            }
            if let Stage::Asking(waiting) = &mut p.stage {
                waiting.retain(|w| peers.contains(w));
                p.unheard |= appeared || !waiting.is_empty();
                ready.push(p.id);
            }
        }
        for id in ready {
            self.choose(id);
        }
    }

    /// Asks the other tabs for their record of the payment's details.
    fn ask(&mut self, id: u32) {
        let open = self.phase == Phase::Open;
        let peers = self.peers.clone();
        let me = self.me.clone();
        let Some(p) = self.pay_mut(id) else { return };
        if !open || peers.is_empty() {
            self.choose(id);
            return;
        }
        p.asked = peers.clone();
        p.stage = Stage::Asking(peers);
        let fingerprint = p.fingerprint.clone();
        self.post(&Message::Ask {
            from: &me,
            fingerprint: &fingerprint,
        });
        self.timer(Timer::Ask(id), ASK_MS);
    }

    /// Tells the payment to choose its key.
    fn choose(&mut self, id: u32) {
        let Some(at) = self.payments.iter().position(|p| p.id == id) else {
            return;
        };
        let since = self.payments[at].seen_from;
        let fingerprint = self.payments[at].fingerprint.clone();
        let seen = self
            .seen
            .iter()
            .rev()
            .find(|(fp, _, n)| *fp == fingerprint && *n > since)
            .map(|(_, key, _)| key.clone());
        // Every tab known now must be one it asked: a tab dropped from a full
        // list and heard of again, or one that appeared meanwhile, was not.
        let unasked = {
            let p = &self.payments[at];
            !p.asked.is_empty() && self.peers.iter().any(|q| !p.asked.contains(q))
        };
        let p = &mut self.payments[at];
        if p.stage == Stage::Wire {
            return;
        }
        p.stage = Stage::Wire;
        let joined = p.pending.take().or(seen);
        // Asked without holding the lock, another tab may be choosing at the same moment.
        let mint = !p.unheard
            && !unasked
            && !self.overflowed
            && (p.asked.is_empty() || matches!(p.lock, Lock::Held(_)));
        if self.overflowed {
            self.effects.push_back(Effect::Query);
        }
        self.effects.push_back(Effect::Choose {
            payment: id,
            joined,
            mint,
        });
    }

    /// A lone tab's payment on the wire takes its lock all the same, so that
    /// a tab opened meanwhile finds it held even if this tab cannot answer
    /// (blocked by a dialog, frozen). Given up after [`ASK_MS`] if not granted.
    fn lock_on_wire(&mut self, id: u32) {
        if self.phase != Phase::Open {
            return;
        }
        let Some(p) = self.pay_mut(id) else { return };
        if p.stage != Stage::Wire || p.lock != Lock::None {
            return;
        }
        let name = cat(&[PAY_LOCK, &p.fingerprint]);
        let lock = self.lock(name, false);
        if let Some(p) = self.pay_mut(id) {
            p.lock = Lock::Requested(lock);
        }
        self.timer(Timer::Relock(id), ASK_MS);
    }

    /// Requests the locks of this tab's payments on the wire that hold none,
    /// so a newcomer's payment of the same details waits for them.
    fn lock_payments(&mut self, store: &impl Records) {
        let mut want = Vec::new();
        for p in &self.payments {
            if p.stage == Stage::Wire && p.lock == Lock::None {
                want.push((p.id, cat(&[PAY_LOCK, &p.fingerprint])));
            }
        }
        for (id, name) in want {
            let lock = self.lock(name, false);
            if let Some(p) = self.pay_mut(id) {
                p.lock = Lock::Requested(lock);
            }
            self.timer(Timer::Relock(id), ASK_MS);
        }
        self.pay_owed(store);
    }

    /// Once no payment on the wire is still being locked, announces their
    /// records and says `Here` to the tabs owed it.
    fn pay_owed(&mut self, store: &impl Records) {
        if self.owed.is_empty()
            || self
                .payments
                .iter()
                .any(|p| p.stage == Stage::Wire && matches!(p.lock, Lock::Requested(_)))
        {
            return;
        }
        let me = self.me.clone();
        let keys: Vec<String> = self
            .payments
            .iter()
            .filter(|p| p.stage == Stage::Wire)
            .filter_map(|p| p.key.clone())
            .collect();
        for key in keys {
            if let Some(r) = store.record(&key) {
                let (name, value) = (r.item_name(), r.encode());
                self.post(&Message::Saved {
                    from: &me,
                    name: &name,
                    value: &value,
                });
            }
        }
        for to in core::mem::take(&mut self.owed) {
            self.post(&Message::Here { from: &me, to: &to });
        }
    }

    fn pay_mut(&mut self, id: u32) -> Option<&mut Pay> {
        self.payments.iter_mut().find(|p| p.id == id)
    }

    fn post(&mut self, m: &Message<'_>) {
        self.effects.push_back(Effect::Post(m.encode()));
    }

    fn next_id(&mut self) -> u32 {
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        id
    }

    fn lock(&mut self, name: String, query: bool) -> u32 {
        let lock = self.next_id();
        self.effects.push_back(Effect::Lock { lock, name, query });
        lock
    }

    fn timer(&mut self, what: Timer, ms: u64) {
        let timer = self.next_id();
        self.timers.push((timer, what));
        self.effects.push_back(Effect::Timer { timer, ms });
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod world;
