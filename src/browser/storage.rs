//! `sessionStorage` as the core's storage backend.

use super::js;
use crate::core::engine::Store;
use crate::core::record::{Record, PREFIX};
use crate::core::store::{Backend, Mirrored, Unavailable};
use wasm_bindgen::JsCast;
use web_sys::Storage;

/// The page's sessionStorage, looked up on every call: it may be missing,
/// throw on access (disabled, sandboxed), or be swapped by other code.
pub struct SessionBackend;

fn session() -> Result<Storage, Unavailable> {
    let storage = js::get(&js_sys::global(), "sessionStorage").map_err(|_| Unavailable)?;
    if storage.is_null() || storage.is_undefined() {
        return Err(Unavailable);
    }
    Ok(storage.unchecked_into())
}

impl Backend for SessionBackend {
    fn items(&self) -> Result<Vec<(String, String)>, Unavailable> {
        let storage = session()?;
        let len = storage.length().map_err(|_| Unavailable)?;
        let names: Vec<String> = (0..len)
            .filter_map(|i| storage.key(i).ok().flatten())
            .filter(|name| name.starts_with(PREFIX))
            .collect();
        Ok(names
            .into_iter()
            .filter_map(|name| {
                let value = storage.get_item(&name).ok().flatten()?;
                Some((name, value))
            })
            .collect())
    }

    fn set(&self, name: &str, value: &str) -> Result<(), Unavailable> {
        session()?.set_item(name, value).map_err(|_| Unavailable)
    }

    fn remove(&self, name: &str) -> Result<(), Unavailable> {
        session()?.remove_item(name).map_err(|_| Unavailable)
    }
}

thread_local! {
    static STORE: Mirrored<SessionBackend> = const { Mirrored::new(SessionBackend) };
}

/// The page's store: sessionStorage mirrored in memory.
pub struct SessionStore;

impl SessionStore {
    /// Forgets the in-memory mirror, as a page reload would.
    pub fn drop_memory() {
        STORE.with(Mirrored::drop_memory);
    }
}

impl Store for SessionStore {
    fn load(&self) -> Vec<Record> {
        STORE.with(Store::load)
    }

    fn save(&self, record: &Record) {
        STORE.with(|s| s.save(record));
    }

    fn remove(&self, key: &str) {
        STORE.with(|s| s.remove(key));
    }
}
