//! Tabs of one origin paying the same cart: the bindings of the tabs machine
//! (`crate::rules::tabs`, which holds the protocol and every decision) to a
//! `BroadcastChannel`, Web Locks, `setTimeout` and sessionStorage.
//!
//! Each callback from JS (a message, a lock's answer, a timer, `pagehide` and
//! `pageshow`) becomes one [`Input`]; each [`Effect`] the machine queues is
//! performed here, with a few lines of `src/js/tabs.js`. A lone tab pays nothing
//! for this beyond opening the channel at the first payonce call (not at
//! import: that would cost every page load, payment or not). Without
//! BroadcastChannel or Web Locks (or outside a secure context) payonce works
//! per tab.

use super::clock::now_ms;
use super::js::Local;
use super::storage::SessionStore;
use crate::rules::record::Record;
use crate::rules::store::Store;
use crate::rules::tabs::message::{CHANNEL, MAX_LOCK_NAME, MAX_MESSAGE};
use crate::rules::tabs::{Effect, Input, Tabs, MAX_LOCKS_READ};
use crate::rules::text::{cat, hex};
use alloc::collections::VecDeque;
use alloc::rc::{Rc, Weak};
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use js_sys::{Array, Function, JsString, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen(module = "/src/js/tabs.js")]
extern "C" {
    #[wasm_bindgen(js_name = tabsOpen)]
    fn tabs_open(name: &str, tabs: JsValue, listen: bool) -> JsValue;
    #[wasm_bindgen(js_name = tabsPost)]
    fn tabs_post(channel: &JsValue, text: &str);
    #[wasm_bindgen(js_name = tabsClose)]
    fn tabs_close(channel: &JsValue);
    #[wasm_bindgen(js_name = tabsLock)]
    fn tabs_lock(tabs: JsValue, name: &str, id: u32, query: bool);
    #[wasm_bindgen(js_name = tabsTimer)]
    fn tabs_timer(tabs: JsValue, id: u32, ms: f64);
    #[wasm_bindgen(js_name = tabsQuery)]
    fn tabs_query(tabs: JsValue);
    fn deferred() -> Array;
}

/// Told what other tabs did (a `PayButton`).
pub trait PeerWatcher {
    /// Another tab saved this record, and this tab took it; `continued`: it
    /// settles a record this tab held pending.
    fn saved_elsewhere(&self, record: &Record, continued: bool);
    /// The page came back from the back/forward cache (storage was re-read).
    fn restored(&self);
}

/// What performing the effects needs: the JS handles.
struct Binding {
    /// The one JS handle of [`PayonceTabs`], kept for the page's life: a
    /// handle the garbage collector finalises runs script, and script run in
    /// a page in the back/forward cache evicts it.
    handle: JsValue,
    channel: JsValue,
    /// Whether `pagehide`/`pageshow` listeners are on.
    listening: bool,
    /// Granted locks and the functions that release them.
    releases: Vec<(u32, Function)>,
    /// Payments waiting for [`Effect::Choose`], and the functions that resolve their wait.
    waiters: Vec<(u32, Function)>,
    /// What [`Effect::Choose`] said, until the payment takes it ([`turn`]).
    chosen: Vec<(u32, Turn)>,
    watchers: Vec<Weak<dyn PeerWatcher>>,
}

/// A payment's turn to choose its key, as the tabs machine gave it.
pub struct Turn {
    /// The key of a payment of the same details it joins, if any.
    pub joined: Option<String>,
    /// Whether it may mint a new key (see [`Effect::Choose`]).
    pub mint: bool,
}

/// The machine; `None` while it handles an input (an input that arrives then,
/// from page code run by a storage call, waits in [`QUEUE`]).
static MACHINE: Local<RefCell<Option<Tabs>>> = Local(RefCell::new(Some(Tabs::new())));
static QUEUE: Local<RefCell<VecDeque<Input>>> = Local(RefCell::new(VecDeque::new()));
static BINDING: Local<RefCell<Binding>> = Local(RefCell::new(Binding {
    handle: JsValue::UNDEFINED,
    channel: JsValue::UNDEFINED,
    listening: false,
    releases: Vec::new(),
    waiters: Vec::new(),
    chosen: Vec::new(),
    watchers: Vec::new(),
}));

fn binding<R>(f: impl FnOnce(&mut Binding) -> R) -> R {
    BINDING.with(|b| f(&mut b.borrow_mut()))
}

/// A question to the machine; `default` while it is busy handling an input.
fn ask<R>(default: R, f: impl FnOnce(&Tabs) -> R) -> R {
    MACHINE
        .with(|m| m.try_borrow().ok().and_then(|m| m.as_ref().map(f)))
        .unwrap_or(default)
}

/// Feeds the machine `input` and performs every effect it queues.
fn feed(input: Input) {
    QUEUE.with(|q| q.borrow_mut().push_back(input));
    let Some(mut machine) = MACHINE.with(|m| m.borrow_mut().take()) else {
        return;
    };
    while let Some(input) = QUEUE.with(|q| q.borrow_mut().pop_front()) {
        machine.handle(input, now_ms(), &SessionStore);
        while let Some(effect) = machine.poll() {
            perform(effect);
        }
    }
    MACHINE.with(|m| *m.borrow_mut() = Some(machine));
}

fn perform(effect: Effect) {
    match effect {
        Effect::Listen => {
            let (handle, listen) = binding(|b| {
                if b.handle.is_undefined() {
                    b.handle = PayonceTabs.into();
                }
                // `pagehide`/`pageshow` listeners go on once, channel or not.
                (
                    b.handle.clone(),
                    !core::mem::replace(&mut b.listening, true),
                )
            });
            let channel = tabs_open(CHANNEL, handle, listen);
            if channel.is_null() || channel.is_undefined() {
                QUEUE.with(|q| q.borrow_mut().push_back(Input::Unsupported));
            } else {
                binding(|b| b.channel = channel);
                QUEUE.with(|q| q.borrow_mut().push_back(Input::Listening));
            }
        }
        Effect::Post(text) => {
            let channel = binding(|b| b.channel.clone());
            if !channel.is_undefined() {
                tabs_post(&channel, &text);
            }
        }
        Effect::Close => {
            let channel = binding(|b| core::mem::replace(&mut b.channel, JsValue::UNDEFINED));
            if !channel.is_undefined() {
                tabs_close(&channel);
            }
        }
        Effect::Lock { lock, name, query } => {
            tabs_lock(binding(|b| b.handle.clone()), &name, lock, query);
        }
        Effect::Release(lock) => {
            let release = binding(|b| {
                let at = b.releases.iter().position(|(l, _)| *l == lock)?;
                Some(b.releases.swap_remove(at).1)
            });
            if let Some(release) = release {
                call(&release, &JsValue::UNDEFINED);
            }
        }
        Effect::Timer { timer, ms } => {
            tabs_timer(binding(|b| b.handle.clone()), timer, ms as f64);
        }
        Effect::Query => tabs_query(binding(|b| b.handle.clone())),
        Effect::Choose {
            payment,
            joined,
            mint,
        } => {
            let waiter = binding(|b| {
                b.chosen.push((payment, Turn { joined, mint }));
                let at = b.waiters.iter().position(|(p, _)| *p == payment)?;
                Some(b.waiters.swap_remove(at).1)
            });
            if let Some(resolve) = waiter {
                call(&resolve, &JsValue::UNDEFINED);
            }
        }
        Effect::Adopted { record, continued } => {
            for w in watchers() {
                w.saved_elsewhere(&record, continued);
            }
        }
        Effect::Restored => {
            for w in watchers() {
                w.restored();
            }
        }
    }
}

fn call(f: &Function, arg: &JsValue) {
    let _ = f.call1(&JsValue::UNDEFINED, arg);
}

fn watchers() -> Vec<Rc<dyn PeerWatcher>> {
    binding(|b| b.watchers.iter().filter_map(Weak::upgrade).collect())
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

/// Opens the channel at the first payonce call of the page. Later calls do nothing.
pub fn open() {
    if ask(false, Tabs::closed) {
        feed(Input::Open { id: new_id() });
    }
}

/// The payment of this page a new call joins (see [`Tabs::joinable`]).
pub fn joinable(fingerprint: &str, caller_key: Option<&str>) -> Result<Option<u32>, ()> {
    ask(Ok(None), |t| t.joinable(fingerprint, caller_key))
}

/// The payment of this page on the wire with this key, if any.
pub fn in_flight(key: &str) -> Option<u32> {
    ask(None, |t| t.with_key(key))
}

/// A payment starts. `Some(turn)` if it may choose its key at once;
/// otherwise [`chosen`] settles when it may, and [`turn`] says how.
pub fn start(
    payment: u32,
    fingerprint: &str,
    caller_key: Option<&str>,
    deadline_ms: u64,
    hurry: bool,
) -> Option<Turn> {
    feed(Input::PaymentStarts {
        payment,
        fingerprint: fingerprint.into(),
        caller_key: caller_key.map(String::from),
        deadline_ms,
        hurry,
    });
    turn(payment)
}

/// The payment's turn, once the machine has given it.
pub fn turn(payment: u32) -> Option<Turn> {
    binding(|b| {
        let at = b.chosen.iter().position(|(p, _)| *p == payment)?;
        Some(b.chosen.swap_remove(at).1)
    })
}

/// Settles once the payment may choose its key (then [`turn`] says how).
pub fn chosen(payment: u32) -> Promise {
    binding(|b| {
        if b.chosen.iter().any(|(p, _)| *p == payment) {
            return Promise::resolve(&JsValue::UNDEFINED);
        }
        let pair = deferred();
        b.waiters.push((payment, pair.get(1).unchecked_into()));
        pair.get(0).unchecked_into()
    })
}

/// The payment chose this key.
pub fn key_chosen(payment: u32, key: &str) {
    feed(Input::KeyChosen {
        payment,
        key: key.into(),
    });
}

/// The payment is over: its lock, if any, is released.
pub fn end(payment: u32) {
    binding(|b| {
        b.waiters.retain(|(p, _)| *p != payment);
        b.chosen.retain(|(p, _)| *p != payment);
    });
    feed(Input::PaymentEnds { payment });
}

/// `forgetPayment(key)` dropped the key here: the other tabs drop it too.
pub fn forgot(key: &str) {
    feed(Input::Forgot(key.into()));
}

/// Hears what other tabs do, for as long as `watcher` lives.
pub fn watch(watcher: Weak<dyn PeerWatcher>) {
    binding(|b| {
        b.watchers.retain(|w| w.strong_count() > 0);
        b.watchers.push(watcher);
    });
}

/// The page's store, telling the tabs machine each record it saves.
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
        feed(Input::Saved(record.clone()));
        stored
    }

    fn remove(&self, key: &str) -> bool {
        SessionStore.remove(key)
    }

    fn sweep(&self, now_ms: u64) {
        SessionStore.sweep(now_ms);
    }
}

/// A string no longer than `max` UTF-16 code units, copied into wasm only then.
fn short_string(value: &JsValue, max: usize) -> Option<String> {
    let s = value.dyn_ref::<JsString>()?;
    if s.length() as usize > max {
        return None;
    }
    s.as_string()
}

/// The lock manager's list of held lock names, one per line (`None`: not a list).
fn names(held: &JsValue) -> Option<String> {
    held.dyn_ref::<Array>().map(|names| {
        let mut list = Vec::new();
        for i in 0..names.length().min(MAX_LOCKS_READ as u32) {
            if let Some(name) = short_string(&names.get(i), MAX_LOCK_NAME) {
                list.push(name);
            }
        }
        list.join("\n")
    })
}

/// What the JS side reports to (see `src/js/tabs.js`). Not part of the API.
#[doc(hidden)]
#[wasm_bindgen(js_name = PayonceTabs, skip_typescript)]
pub struct PayonceTabs;

#[doc(hidden)]
#[wasm_bindgen(js_class = PayonceTabs)]
impl PayonceTabs {
    /// A message from another tab (anything; read only if it is a short string).
    pub fn message(&self, data: JsValue) {
        if let Some(text) = short_string(&data, MAX_MESSAGE) {
            feed(Input::Message(text));
        }
    }

    /// The lock request `id` was granted (`release` is the function that
    /// releases it) or refused (`release` null). For the tab's own lock,
    /// `held` is the array of the names of the locks held on the origin, or
    /// null when the lock manager would not say.
    pub fn locked(&self, id: u32, release: JsValue, held: JsValue) {
        let Ok(release) = release.dyn_into::<Function>() else {
            feed(Input::Refused { lock: id });
            return;
        };
        binding(|b| b.releases.push((id, release)));
        feed(Input::Granted {
            lock: id,
            held: names(&held),
        });
    }

    /// The timer `id` fired.
    pub fn fired(&self, id: u32) {
        feed(Input::Fired { timer: id });
    }

    /// The lock manager's list after [`Effect::Query`]: the names of the held
    /// locks, or null when it would not say.
    pub fn listed(&self, held: JsValue) {
        feed(Input::Listed(names(&held)));
    }

    /// `pagehide` (`shown` false), or `pageshow` from the back/forward cache.
    /// Before the page goes (a reload, a navigation), every record page code
    /// removed from storage is written back, so the next page finds it.
    pub fn page(&self, shown: bool) {
        if shown {
            SessionStore::reread();
            feed(Input::PageShow { id: new_id() });
        } else {
            SessionStore::write_back();
            feed(Input::PageHide);
        }
    }
}
