//! `sessionStorage` as the core's storage backend.

use super::js::{self, Local};
use crate::rules::record::Record;
use crate::rules::store::{Backend, Mirrored, Store, Unavailable};
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use wasm_bindgen::JsCast;
use web_sys::Storage;

/// The page's sessionStorage. It may be missing or throw on access
/// (disabled, sandboxed): then it is looked up again on the next call.
/// Once found, the object is kept: the `window.sessionStorage` getter is
/// one of the dearer calls a payment makes.
pub struct SessionBackend;

static SESSION: Local<RefCell<Option<Storage>>> = Local(RefCell::new(None));

fn session() -> Result<Storage, Unavailable> {
    if let Some(found) = SESSION.with(|s| s.borrow().clone()) {
        return Ok(found);
    }
    let storage = js::get(&js::page(), "sessionStorage").map_err(|_| Unavailable)?;
    if storage.is_null() || storage.is_undefined() {
        return Err(Unavailable);
    }
    let storage: Storage = storage.unchecked_into();
    SESSION.with(|s| *s.borrow_mut() = Some(storage.clone()));
    Ok(storage)
}

impl Backend for SessionBackend {
    fn names(&self) -> Result<Vec<String>, Unavailable> {
        let storage = session()?;
        let len = storage.length().map_err(|_| Unavailable)?;
        Ok((0..len)
            .filter_map(|i| storage.key(i).ok().flatten())
            .filter(|name| name.starts_with("payonce:"))
            .collect())
    }

    fn get(&self, name: &str) -> Result<Option<String>, Unavailable> {
        session()?.get_item(name).map_err(|_| Unavailable)
    }

    fn written_by_others(&self) -> Vec<String> {
        let names = js::take_written();
        if names.is_empty() {
            return Vec::new();
        }
        names.split('\n').map(String::from).collect()
    }

    fn set(&self, name: &str, value: &str) -> Result<(), Unavailable> {
        session()?.set_item(name, value).map_err(|_| Unavailable)
    }

    fn remove(&self, name: &str) -> Result<(), Unavailable> {
        session()?.remove_item(name).map_err(|_| Unavailable)
    }
}

static STORE: Local<Mirrored<SessionBackend>> = Local(Mirrored::new(SessionBackend));

/// The page's store: sessionStorage mirrored in memory.
pub struct SessionStore;

impl SessionStore {
    /// Forgets the in-memory mirror, as a page reload would.
    pub fn drop_memory() {
        STORE.with(Mirrored::drop_memory);
    }

    /// Reads storage again at the next lookup (see [`Mirrored::reread`]).
    pub fn reread() {
        STORE.with(Mirrored::reread);
    }

    /// Writes back what page code removed (see [`Mirrored::write_back`]).
    pub fn write_back() {
        STORE.with(Mirrored::write_back);
    }
}

impl Store for SessionStore {
    fn by_key(&self, key: &str) -> Option<Record> {
        STORE.with(|s| s.by_key(key))
    }

    fn by_fingerprint(&self, fingerprint: &str) -> Option<Record> {
        STORE.with(|s| s.by_fingerprint(fingerprint))
    }

    fn all(&self) -> Vec<Record> {
        STORE.with(Store::all)
    }

    fn sweep(&self, now_ms: u64) {
        STORE.with(|s| s.sweep(now_ms));
    }

    fn save(&self, record: &Record) -> bool {
        STORE.with(|s| s.save(record))
    }

    fn remove(&self, key: &str) -> bool {
        STORE.with(|s| s.remove(key))
    }

    fn keep(&self, key: &str) {
        STORE.with(|s| s.keep(key));
    }
}
