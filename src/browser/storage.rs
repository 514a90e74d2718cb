//! Records in `sessionStorage`, mirrored in memory.
//!
//! sessionStorage survives a reload of the tab (and is copied into a
//! duplicated tab) but not the closing of it, which is the life a checkout's
//! key needs. Every write also goes to an in-memory mirror, so a storage that
//! is missing, disabled, full or throwing costs nothing within the page, and
//! a record wiped from storage by other code on the page is written back.

use crate::core::engine::Store;
use crate::core::record::{Record, PREFIX};
use std::cell::RefCell;
use wasm_bindgen::JsCast;
use web_sys::Storage;

thread_local! {
    static MEMORY: RefCell<Vec<Record>> = const { RefCell::new(Vec::new()) };
}

/// The page's session storage, if it can be reached at all.
fn session() -> Option<Storage> {
    let storage = super::js::get(&js_sys::global(), "sessionStorage").ok()?;
    if storage.is_null() || storage.is_undefined() {
        return None;
    }
    Some(storage.unchecked_into())
}

/// The store payonce uses in the browser.
pub struct SessionStore;

impl SessionStore {
    /// Forgets the in-memory mirror, as a page reload would.
    pub fn drop_memory() {
        MEMORY.with(|m| m.borrow_mut().clear());
    }

    fn stored() -> Vec<Record> {
        let mut out = Vec::new();
        let Some(storage) = session() else { return out };
        let Ok(len) = storage.length() else {
            return out;
        };
        let names: Vec<String> = (0..len)
            .filter_map(|i| storage.key(i).ok().flatten())
            .filter(|name| name.starts_with(PREFIX))
            .collect();
        for name in names {
            let Ok(Some(value)) = storage.get_item(&name) else {
                continue;
            };
            match Record::decode(&name, &value) {
                Some(record) => out.push(record),
                // Corrupt, or from another version: not ours to trust, so not kept.
                None => {
                    let _ = storage.remove_item(&name);
                }
            }
        }
        out
    }

    fn write(record: &Record) {
        if let Some(storage) = session() {
            let _ = storage.set_item(&record.item_name(), &record.encode());
        }
    }
}

impl Store for SessionStore {
    fn load(&self) -> Vec<Record> {
        let mut records = Self::stored();
        MEMORY.with(|memory| {
            for mine in memory.borrow().iter() {
                match records.iter_mut().find(|theirs| theirs.key == mine.key) {
                    Some(theirs) if theirs == mine || theirs.updated_ms > mine.updated_ms => {}
                    // Ours is newer, or storage lost it (quota, cleared by other code): write it back.
                    Some(theirs) => {
                        Self::write(mine);
                        *theirs = mine.clone();
                    }
                    None => {
                        Self::write(mine);
                        records.push(mine.clone());
                    }
                }
            }
        });
        records
    }

    fn save(&self, record: &Record) {
        MEMORY.with(|m| {
            let mut m = m.borrow_mut();
            match m.iter_mut().find(|r| r.key == record.key) {
                Some(r) => *r = record.clone(),
                None => m.push(record.clone()),
            }
        });
        Self::write(record);
    }

    fn remove(&self, key: &str) {
        MEMORY.with(|m| m.borrow_mut().retain(|r| r.key != key));
        if let Some(storage) = session() {
            let _ = storage.remove_item(&format!("{PREFIX}{key}"));
        }
    }
}
