//! Tabs of one origin paying the same cart: the channel, the locks, and the
//! records other tabs report (the messages and the rules are in
//! `crate::rules::tabs`).
//!
//! A lone tab pays nothing for this: at the first payonce call the tab opens
//! the channel, says hello, takes a lock of its own and asks the lock manager
//! which other payonce tabs hold theirs. Until they have all answered (or one
//! attempt's timeout has passed) a payment waits; after that, while no other
//! tab is known, a payment runs exactly as it does without tabs, and saves
//! tell nobody. With other tabs, a payment takes the lock named after its
//! fingerprint before choosing its key, asks the others for their record of
//! it, and announces each record it saves; a tab that learns of another while
//! its own payment is on the wire takes that payment's lock before it
//! answers, so the newcomer's payment waits for it.
//!
//! Without BroadcastChannel or Web Locks (or outside a secure context)
//! nothing here runs, and payonce works per tab. On `pagehide` the tab says
//! goodbye, closes the channel and drops its own lock, so the page can enter
//! the back/forward cache; a `pageshow` from the cache opens them again and
//! re-reads storage.

use super::clock::now_ms;
use super::js::Local;
use super::storage::SessionStore;
use crate::rules::record::Record;
use crate::rules::store::Store;
use crate::rules::tabs::{self as rules, Message, CHANNEL, PAY_LOCK, TAB_LOCK};
use crate::rules::text::{cat, hex};
use alloc::rc::Weak;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen(module = "/src/driver.js")]
extern "C" {
    #[wasm_bindgen(js_name = tabsOpen)]
    fn tabs_open(name: &str, tabs: JsValue, listen: bool) -> JsValue;
    #[wasm_bindgen(js_name = tabsPost)]
    fn tabs_post(channel: &JsValue, text: &str);
    #[wasm_bindgen(js_name = tabsClose)]
    fn tabs_close(channel: &JsValue);
    #[wasm_bindgen(js_name = tabsStart)]
    fn tabs_start(tabs: JsValue, name: &str);
    #[wasm_bindgen(js_name = tabsLock)]
    fn tabs_lock(tabs: JsValue, name: &str, id: u32);
    fn lock(name: &str, ms: f64) -> Promise;
    fn deferred() -> Array;
    /// `promise`, or undefined after `ms`, whichever settles first.
    pub fn within(promise: &Promise, ms: f64) -> Promise;
}

/// Told what other tabs did (a `PayButton`).
pub trait PeerWatcher {
    /// Another tab saved this record, and this tab took it.
    fn saved_elsewhere(&self, record: &Record);
    /// The page came back from the back/forward cache (storage was re-read).
    fn restored(&self);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not opened yet (or reopening after the back/forward cache).
    Closed,
    /// No BroadcastChannel or Web Locks here: payonce works per tab.
    Unsupported,
    /// Said hello; waiting for the lock manager and the other tabs' answers.
    Starting,
    Open,
    /// The page is hidden (maybe in the back/forward cache): nothing is held.
    Hidden,
}

/// A payment of this tab on the wire, and the lock it holds, if any.
struct Held {
    id: u32,
    fingerprint: String,
    release: Option<Function>,
    locking: bool,
}

/// An `Ask` waiting for the other tabs' answers.
struct Asking {
    id: u32,
    waiting: Vec<String>,
    resolve: Function,
}

struct Tabs {
    phase: Phase,
    listening: bool,
    me: String,
    /// The one JS handle of [`PayonceTabs`], kept for the page's life: a
    /// handle the garbage collector finalises runs script, and script run in
    /// a page in the back/forward cache evicts it.
    handle: JsValue,
    channel: JsValue,
    presence: Option<Function>,
    peers: Vec<String>,
    /// Tabs the lock manager named that have not answered yet (`None`: it has not told).
    expected: Option<Vec<String>>,
    answered: Vec<String>,
    ready: Option<(Promise, Function)>,
    held: Vec<Held>,
    /// Tabs owed a `Here` once this tab's payments hold their locks.
    owed: Vec<String>,
    asks: Vec<Asking>,
    /// (fingerprint, key, when) of records other tabs saved, newest last.
    seen: Vec<(String, String, u64)>,
    watchers: Vec<Weak<dyn PeerWatcher>>,
    next: u32,
}

static TABS: Local<RefCell<Tabs>> = Local(RefCell::new(Tabs {
    phase: Phase::Closed,
    listening: false,
    me: String::new(),
    handle: JsValue::UNDEFINED,
    channel: JsValue::UNDEFINED,
    presence: None,
    peers: Vec::new(),
    expected: None,
    answered: Vec::new(),
    ready: None,
    held: Vec::new(),
    owed: Vec::new(),
    asks: Vec::new(),
    seen: Vec::new(),
    watchers: Vec::new(),
    next: 0,
}));

/// How many reports of other tabs' saves are remembered for [`seen_since`].
const SEEN: usize = 16;

fn with<R>(f: impl FnOnce(&mut Tabs) -> R) -> R {
    TABS.with(|t| f(&mut t.borrow_mut()))
}

impl Tabs {
    fn post(&self, message: &Message<'_>) {
        if matches!(self.phase, Phase::Starting | Phase::Open) {
            tabs_post(&self.channel, &message.encode());
        }
    }

    fn add_peer(&mut self, id: &str) {
        if id != self.me && !self.peers.iter().any(|p| p == id) {
            self.peers.push(id.into());
        }
    }

    /// Marks `id` as having answered; the handshake is over once everyone the
    /// lock manager named has. Returns the function resolving `ready`, if so.
    fn answered_by(&mut self, id: &str) -> Option<Function> {
        if !self.answered.iter().any(|a| a == id) {
            self.answered.push(id.into());
        }
        if let Some(expected) = &mut self.expected {
            expected.retain(|e| e != id);
        }
        self.check_ready()
    }

    fn check_ready(&mut self) -> Option<Function> {
        if self.phase == Phase::Starting && self.expected.as_ref().is_some_and(Vec::is_empty) {
            self.phase = Phase::Open;
            return self.ready.take().map(|(_, resolve)| resolve);
        }
        None
    }

    /// Drops `id` from the asks' waiting lists; returns the asks now complete.
    fn heard_from(&mut self, id: &str) -> Vec<Function> {
        for ask in &mut self.asks {
            ask.waiting.retain(|w| w != id);
        }
        let mut done = Vec::new();
        self.asks.retain(|ask| {
            if ask.waiting.is_empty() {
                done.push(ask.resolve.clone());
            }
            !ask.waiting.is_empty()
        });
        done
    }

    /// Requests the locks of this tab's payments that hold none, and says
    /// `Here` to the tabs owed it once none is still being locked.
    fn lock_payments(&mut self) {
        for h in &mut self.held {
            if h.release.is_none() && !h.locking {
                h.locking = true;
                tabs_lock(self.handle.clone(), &cat(&[PAY_LOCK, &h.fingerprint]), h.id);
            }
        }
        if self.held.iter().all(|h| !h.locking) {
            for to in core::mem::take(&mut self.owed) {
                self.post(&Message::Here {
                    from: &self.me,
                    to: &to,
                });
            }
        }
    }
}

fn call(f: &Function) {
    let _ = f.call0(&JsValue::UNDEFINED);
}

fn new_id() -> String {
    let part = || {
        hex(
            (js_sys::Math::random() * 4_503_599_627_370_496.0) as u64,
            13,
        )
    };
    cat(&[&part(), &part()])
}

/// Opens the channel at the first payonce call of the page (not at import:
/// that would cost every page load, payment or not). Later calls do nothing.
pub fn open() {
    let Some((listen, handle)) = with(|t| {
        (t.phase == Phase::Closed).then(|| {
            let listen = !t.listening;
            t.phase = Phase::Starting;
            if t.handle.is_undefined() {
                t.handle = PayonceTabs.into();
            }
            (listen, t.handle.clone())
        })
    }) else {
        return;
    };
    let channel = tabs_open(CHANNEL, handle.clone(), listen);
    if channel.is_null() || channel.is_undefined() {
        with(|t| t.phase = Phase::Unsupported);
        return;
    }
    let pair = deferred();
    let promise: Promise = pair.get(0).unchecked_into();
    let resolve: Function = pair.get(1).unchecked_into();
    let me = new_id();
    with(|t| {
        t.listening = true;
        t.channel = channel;
        t.me = me.clone();
        t.peers.clear();
        t.expected = None;
        t.answered.clear();
        t.owed.clear();
        t.ready = Some((promise, resolve));
        t.post(&Message::Hello { from: &me });
    });
    tabs_start(handle, &cat(&[TAB_LOCK, &me]));
}

/// While the handshake runs: the promise that settles when it is over.
pub fn ready() -> Option<Promise> {
    with(|t| {
        (t.phase == Phase::Starting)
            .then(|| t.ready.as_ref().map(|(p, _)| p.clone()))
            .flatten()
    })
}

/// Ends the handshake for a payment that waited as long as it may: a tab the
/// lock manager named but that never answered (hung) counts as present, so
/// later payments take the locks but no longer wait for the handshake.
pub fn handshake_over() {
    let resolve = with(|t| {
        if t.phase != Phase::Starting {
            return None;
        }
        t.phase = Phase::Open;
        t.expected = Some(Vec::new());
        t.ready.take().map(|(_, r)| r)
    });
    if let Some(resolve) = resolve {
        call(&resolve);
    }
}

/// Whether this tab knows no other payonce tab, so a payment runs as it does
/// without tabs. False while the handshake runs.
pub fn alone() -> bool {
    with(|t| match t.phase {
        Phase::Starting => false,
        Phase::Open => t.peers.is_empty(),
        Phase::Closed | Phase::Unsupported | Phase::Hidden => true,
    })
}

/// Requests the lock for a payment of these details; resolves with the
/// function that releases it, or rejects after `ms`.
pub fn lock_payment(fingerprint: &str, ms: f64) -> Promise {
    lock(&cat(&[PAY_LOCK, fingerprint]), ms)
}

/// Asks the other tabs for their record of this payment. The promise settles
/// when every known tab has answered (and has taken in what they reported).
pub fn ask(fingerprint: &str) -> Option<(u32, Promise)> {
    with(|t| {
        if t.phase != Phase::Open || t.peers.is_empty() {
            return None;
        }
        let pair = deferred();
        let id = t.next;
        t.next = t.next.wrapping_add(1);
        t.asks.push(Asking {
            id,
            waiting: t.peers.clone(),
            resolve: pair.get(1).unchecked_into(),
        });
        t.post(&Message::Ask {
            from: &t.me,
            fingerprint,
        });
        Some((id, pair.get(0).unchecked_into()))
    })
}

/// Ends the ask `id` once its wait is over: the tabs that did not answer
/// (hung, or frozen in the background) are forgotten until they speak again,
/// so they do not hold up every later payment of this tab.
pub fn answers_over(id: u32) {
    with(|t| {
        let Some(at) = t.asks.iter().position(|a| a.id == id) else {
            return;
        };
        let silent = t.asks.swap_remove(at).waiting;
        t.peers.retain(|p| !silent.contains(p));
    });
}

/// The key of the newest record another tab saved for these details at or
/// after `since_ms`: a payment that was on the wire there while this one waited.
pub fn seen_since(fingerprint: &str, since_ms: u64) -> Option<String> {
    with(|t| {
        t.seen
            .iter()
            .rev()
            .find(|(fp, _, at)| fp == fingerprint && *at >= since_ms)
            .map(|(_, key, _)| key.clone())
    })
}

/// Notes a payment of this tab on the wire (and the lock it holds, if any),
/// so it takes its lock if another tab appears; [`end`] releases it. Costs a
/// push when this tab is alone, and nothing without tabs.
pub fn begin(fingerprint: &str, release: Option<Function>) -> Option<u32> {
    with(|t| {
        if release.is_none() && !matches!(t.phase, Phase::Starting | Phase::Open) {
            return None;
        }
        let id = t.next;
        t.next = t.next.wrapping_add(1);
        t.held.push(Held {
            id,
            fingerprint: fingerprint.into(),
            release,
            locking: false,
        });
        Some(id)
    })
}

/// The payment is over: its lock, if any, is released.
pub fn end(id: u32) {
    let release = with(|t| {
        let at = t.held.iter().position(|h| h.id == id)?;
        t.held.swap_remove(at).release
    });
    if let Some(release) = release {
        call(&release);
    }
}

/// Hears what other tabs do, for as long as `watcher` lives.
pub fn watch(watcher: Weak<dyn PeerWatcher>) {
    with(|t| {
        t.watchers.retain(|w| w.strong_count() > 0);
        t.watchers.push(watcher);
    });
}

/// The page's store, telling other tabs (when there are any) each record it saves.
pub struct TabStore;

impl Store for TabStore {
    fn by_key(&self, key: &str) -> Option<Record> {
        SessionStore.by_key(key)
    }

    fn by_fingerprint(&self, fingerprint: &str) -> Option<Record> {
        SessionStore.by_fingerprint(fingerprint)
    }

    fn all(&self) -> Vec<Record> {
        SessionStore.all()
    }

    fn save(&self, record: &Record) -> bool {
        let stored = SessionStore.save(record);
        with(|t| {
            if t.phase == Phase::Open && !t.peers.is_empty() {
                let (name, value) = (record.item_name(), record.encode());
                t.post(&Message::Saved {
                    from: &t.me,
                    name: &name,
                    value: &value,
                });
            }
        });
        stored
    }

    fn remove(&self, key: &str) -> bool {
        SessionStore.remove(key)
    }

    fn sweep(&self, now_ms: u64) {
        SessionStore.sweep(now_ms);
    }
}

/// Takes a record another tab reported, if it is one payonce could have
/// written and it is newer than this tab's copy.
fn adopt(name: &str, value: &str) -> Option<Record> {
    let theirs = rules::record_of(name, value)?;
    let now = now_ms();
    // Storage calls may run page code: no borrow of the tabs is held across them.
    let mine = SessionStore.by_key(&theirs.key);
    if !rules::takes_over(mine.as_ref(), &theirs, now) {
        return None;
    }
    let _ = SessionStore.save(&theirs);
    with(|t| {
        if t.seen.len() >= SEEN {
            // Kept short: the older half goes.
            let mut n = 0;
            t.seen.retain(|_| {
                n += 1;
                n > SEEN / 2
            });
        }
        t.seen
            .push((theirs.fingerprint.clone(), theirs.key.clone(), now));
    });
    Some(theirs)
}

fn watchers() -> Vec<alloc::rc::Rc<dyn PeerWatcher>> {
    with(|t| t.watchers.iter().filter_map(Weak::upgrade).collect())
}

/// What the JS side reports to (see `driver.js`). Not part of the API.
#[doc(hidden)]
#[wasm_bindgen(js_name = PayonceTabs, skip_typescript)]
pub struct PayonceTabs;

#[doc(hidden)]
#[wasm_bindgen(js_class = PayonceTabs)]
impl PayonceTabs {
    /// A message from another tab.
    pub fn message(&self, text: String) {
        let Some(message) = Message::parse(&text) else {
            return;
        };
        let me = with(|t| t.me.clone());
        let mut resolve = Vec::new();
        match message {
            Message::Hello { from } => with(|t| {
                t.add_peer(from);
                t.owed.push(from.into());
                t.lock_payments();
            }),
            Message::Here { from, to } if to == me => with(|t| {
                t.add_peer(from);
                resolve.extend(t.answered_by(from));
            }),
            Message::Bye { from } => with(|t| {
                t.peers.retain(|p| p != from);
                resolve.extend(t.answered_by(from));
                resolve.extend(t.heard_from(from));
            }),
            Message::Ask { from, fingerprint } => {
                with(|t| t.add_peer(from));
                let found = SessionStore.by_fingerprint(fingerprint);
                let item = found.as_ref().map(|r| (r.item_name(), r.encode()));
                with(|t| {
                    t.post(&Message::Answer {
                        from: &me,
                        to: from,
                        item: item.as_ref().map(|(n, v)| (n.as_str(), v.as_str())),
                    })
                });
            }
            Message::Answer { from, to, item } if to == me => {
                if let Some((name, value)) = item {
                    adopt(name, value);
                }
                resolve.extend(with(|t| t.heard_from(from)));
            }
            Message::Saved { from, name, value } => {
                with(|t| t.add_peer(from));
                if let Some(record) = adopt(name, value) {
                    for w in watchers() {
                        w.saved_elsewhere(&record);
                    }
                }
            }
            Message::Here { .. } | Message::Answer { .. } => {}
        }
        for f in &resolve {
            call(f);
        }
    }

    /// The lock manager took this tab's own lock (`release` is null if it
    /// refused) and names every lock held: the other payonce tabs.
    pub fn started(&self, release: JsValue, held: String) {
        let release = release.dyn_into::<Function>().ok();
        let (drop_lock, resolve) = with(|t| {
            if !matches!(t.phase, Phase::Starting | Phase::Open) {
                // Hidden meanwhile: the lock is not kept.
                return (release, None);
            }
            if release.is_none() {
                // Web Locks refused (a sandboxed frame): per tab, as without them.
                tabs_close(&t.channel);
                t.phase = Phase::Unsupported;
                t.peers.clear();
                return (None, t.ready.take().map(|(_, r)| r));
            }
            t.presence = release;
            let others: Vec<String> = held
                .split('\n')
                .filter_map(|name| name.strip_prefix(TAB_LOCK))
                .filter(|id| rules::is_id(id) && *id != t.me)
                .map(String::from)
                .collect();
            for id in &others {
                t.add_peer(id);
            }
            let answered = &t.answered;
            t.expected = Some(
                others
                    .into_iter()
                    .filter(|id| !answered.contains(id))
                    .collect(),
            );
            (None, t.check_ready())
        });
        if let Some(release) = drop_lock {
            call(&release);
        }
        if let Some(resolve) = resolve {
            call(&resolve);
        }
    }

    /// A payment already on the wire got its lock (`release` is null if refused).
    pub fn locked(&self, id: u32, release: JsValue) {
        let release = release.dyn_into::<Function>().ok();
        let orphan = with(|t| {
            let orphan = match t.held.iter_mut().find(|h| h.id == id) {
                Some(h) => {
                    h.locking = false;
                    h.release = release;
                    None
                }
                None => release,
            };
            t.lock_payments();
            orphan
        });
        // The payment ended while its lock was on the way.
        if let Some(release) = orphan {
            call(&release);
        }
    }

    /// `pagehide` (`shown` false), or `pageshow` from the back/forward cache.
    pub fn page(&self, shown: bool) {
        if shown {
            SessionStore::reread();
            with(|t| {
                if t.phase == Phase::Hidden {
                    t.phase = Phase::Closed;
                }
            });
            open();
            for w in watchers() {
                w.restored();
            }
            return;
        }
        let (release, resolve) = with(|t| {
            if !matches!(t.phase, Phase::Starting | Phase::Open) {
                return (Vec::new(), Vec::new());
            }
            t.post(&Message::Bye { from: &t.me });
            tabs_close(&t.channel);
            t.phase = Phase::Hidden;
            t.peers.clear();
            let mut resolve: Vec<Function> = t.asks.drain(..).map(|a| a.resolve).collect();
            resolve.extend(t.ready.take().map(|(_, r)| r));
            // A payment's lock too: a held lock keeps a page out of the cache, and
            // the payment goes on with its key if the page comes back.
            let mut release: Vec<Function> =
                t.held.iter_mut().filter_map(|h| h.release.take()).collect();
            release.extend(t.presence.take());
            (release, resolve)
        });
        for f in &release {
            call(f);
        }
        for f in &resolve {
            call(f);
        }
    }
}
