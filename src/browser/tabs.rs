//! Tabs of one origin paying the same cart: the tabs machine's effects
//! (`crate::rules::tabs`, which holds the protocol and every decision)
//! performed with a `BroadcastChannel`, Web Locks and `setTimeout`, and the
//! page's watchers told what other tabs did. The machine itself lives in the
//! page's [`Page`](crate::rules::page::Page), driven by `crate::checkout`,
//! which also receives what JS reports back ([`crate::checkout::PayonceTabs`]).
//!
//! A lone tab pays nothing for this beyond opening the channel at the first
//! payonce call (not at import: that would cost every page load, payment or
//! not). Without BroadcastChannel or Web Locks (or outside a secure context)
//! payonce works per tab.

use super::js::Local;
use crate::rules::record::Record;
use crate::rules::tabs::message::{CHANNEL, MAX_LOCK_NAME};
use crate::rules::tabs::{Effect, Input, MAX_LOCKS_READ};
use alloc::rc::{Rc, Weak};
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use js_sys::{Array, Function, JsString};
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
    watchers: Vec<Weak<dyn PeerWatcher>>,
}

static BINDING: Local<RefCell<Binding>> = Local(RefCell::new(Binding {
    handle: JsValue::UNDEFINED,
    channel: JsValue::UNDEFINED,
    listening: false,
    releases: Vec::new(),
    watchers: Vec::new(),
}));

fn binding<R>(f: impl FnOnce(&mut Binding) -> R) -> R {
    BINDING.with(|b| f(&mut b.borrow_mut()))
}

/// Performs one effect of the tabs machine; `handle` makes the one JS
/// handle JS reports to. Returns what to feed the machine at once, if anything.
pub fn perform(effect: Effect, handle: fn() -> JsValue) -> Option<Input> {
    match effect {
        Effect::Listen => {
            let (handle, listen) = binding(|b| {
                if b.handle.is_undefined() {
                    b.handle = handle();
                }
                // `pagehide`/`pageshow` listeners go on once, channel or not.
                (
                    b.handle.clone(),
                    !core::mem::replace(&mut b.listening, true),
                )
            });
            let channel = tabs_open(CHANNEL, handle, listen);
            if channel.is_null() || channel.is_undefined() {
                return Some(Input::Unsupported);
            }
            binding(|b| b.channel = channel);
            return Some(Input::Listening);
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
        // The page takes it (see `crate::rules::page`).
        Effect::Choose { .. } => {}
        // Saved by the page already.
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
    None
}

fn call(f: &Function, arg: &JsValue) {
    let _ = f.call1(&JsValue::UNDEFINED, arg);
}

fn watchers() -> Vec<Rc<dyn PeerWatcher>> {
    binding(|b| b.watchers.iter().filter_map(Weak::upgrade).collect())
}

/// The lock request `id` was granted: `release` releases it.
pub fn granted(id: u32, release: Function) {
    binding(|b| b.releases.push((id, release)));
}

/// Hears what other tabs do, for as long as `watcher` lives.
pub fn watch(watcher: Weak<dyn PeerWatcher>) {
    binding(|b| {
        b.watchers.retain(|w| w.strong_count() > 0);
        b.watchers.push(watcher);
    });
}

/// A string no longer than `max` UTF-16 code units, copied into wasm only then.
pub fn short_string(value: &JsValue, max: usize) -> Option<String> {
    let s = value.dyn_ref::<JsString>()?;
    if s.length() as usize > max {
        return None;
    }
    s.as_string()
}

/// The lock manager's list of held lock names, one per line (`None`: not a list).
pub fn names(held: &JsValue) -> Option<String> {
    held.dyn_ref::<Array>().map(|names| {
        // Joined as it is read (`[..].join` costs a generic routine).
        let mut list = String::new();
        let mut first = true;
        for i in 0..names.length().min(MAX_LOCKS_READ as u32) {
            if let Some(name) = short_string(&names.get(i), MAX_LOCK_NAME) {
                if !core::mem::take(&mut first) {
                    list.push('\n');
                }
                list.push_str(&name);
            }
        }
        list
    })
}
