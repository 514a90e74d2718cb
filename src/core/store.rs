//! Records kept in a browser storage that may fail, mirrored in memory.
//!
//! sessionStorage survives a reload of the tab (and is copied into a
//! duplicated tab) but not the closing of it, which is the life a checkout's
//! key needs. Every write also goes to an in-memory mirror, so a storage that
//! is missing, disabled, full or throwing costs nothing within the page, and a
//! record wiped from storage by other code on the page is written back.

use super::engine::Store;
use super::record::{Record, PREFIX};
use std::cell::RefCell;

/// The storage refused or could not be reached; the mirror carries on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

/// The raw storage under the mirror. Any call may fail.
pub trait Backend {
    /// Every `(name, value)` item whose name starts with [`PREFIX`].
    fn items(&self) -> Result<Vec<(String, String)>, Unavailable>;
    /// Writes one item.
    fn set(&self, name: &str, value: &str) -> Result<(), Unavailable>;
    /// Deletes one item.
    fn remove(&self, name: &str) -> Result<(), Unavailable>;
}

/// A [`Store`] over a [`Backend`], with an in-memory mirror for the page.
pub struct Mirrored<B> {
    backend: B,
    memory: RefCell<Vec<Record>>,
}

impl<B: Backend> Mirrored<B> {
    /// A store with an empty mirror, as at page load.
    pub const fn new(backend: B) -> Self {
        Mirrored {
            backend,
            memory: RefCell::new(Vec::new()),
        }
    }

    /// Forgets the mirror, as a page reload does.
    pub fn drop_memory(&self) {
        self.memory.borrow_mut().clear();
    }

    /// The backend, for tests that break it.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Whether the mirror holds every record the backend holds, so that other
    /// code clearing the backend loses nothing.
    pub fn memory_holds_everything(&self) -> bool {
        let memory = self.memory.borrow();
        self.stored().iter().all(|r| memory.contains(r))
    }

    /// Whether the backend holds every record the mirror holds, so that a
    /// reload (which drops the mirror) loses nothing.
    pub fn backend_holds_everything(&self) -> bool {
        let stored: Vec<(String, String)> = self.backend.items().unwrap_or_default();
        self.memory.borrow().iter().all(|r| {
            stored
                .iter()
                .any(|(name, value)| *name == r.item_name() && *value == r.encode())
        })
    }

    fn stored(&self) -> Vec<Record> {
        let mut out = Vec::new();
        for (name, value) in self.backend.items().unwrap_or_default() {
            match Record::decode(&name, &value) {
                Some(record) => out.push(record),
                // Corrupt, or from another version: not ours to trust, so not kept.
                None => {
                    let _ = self.backend.remove(&name);
                }
            }
        }
        out
    }
}

impl<B: Backend> Store for Mirrored<B> {
    fn load(&self) -> Vec<Record> {
        let stored = self.stored();
        let mut memory = self.memory.borrow_mut();
        for theirs in &stored {
            match memory.iter_mut().find(|mine| mine.key == theirs.key) {
                // Storage is newer (another copy of payonce in this tab, a same-origin frame): adopt it.
                Some(mine) if theirs.rev > mine.rev => *mine = theirs.clone(),
                Some(_) => {}
                // Kept in memory too, so that other code clearing storage later loses nothing.
                None => memory.push(theirs.clone()),
            }
        }
        for mine in memory.iter() {
            // Ours is newer, or storage lost it (quota, cleared by other code): write it back.
            if !stored.contains(mine) {
                let _ = self.backend.set(&mine.item_name(), &mine.encode());
            }
        }
        memory.clone()
    }

    fn save(&self, record: &Record) {
        let mut memory = self.memory.borrow_mut();
        let mut record = record.clone();
        let slot = memory.iter_mut().find(|r| r.key == record.key);
        record.rev = record
            .rev
            .max(slot.as_ref().map_or(0, |r| r.rev))
            .wrapping_add(1);
        let _ = self.backend.set(&record.item_name(), &record.encode());
        match slot {
            Some(r) => *r = record,
            None => memory.push(record),
        }
    }

    fn remove(&self, key: &str) {
        self.memory.borrow_mut().retain(|r| r.key != key);
        let _ = self.backend.remove(&format!("{PREFIX}{key}"));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::core::record::State;
    use std::cell::Cell;
    use std::collections::BTreeMap;

    /// A storage that can be switched off, fill up, or be wiped.
    #[derive(Default)]
    pub struct FlakyBackend {
        pub items: RefCell<BTreeMap<String, String>>,
        pub broken: Cell<bool>,
        pub quota_left: Cell<Option<u32>>,
    }

    impl Backend for FlakyBackend {
        fn items(&self) -> Result<Vec<(String, String)>, Unavailable> {
            if self.broken.get() {
                return Err(Unavailable);
            }
            Ok(self
                .items
                .borrow()
                .iter()
                .filter(|(k, _)| k.starts_with(PREFIX))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect())
        }
        fn set(&self, name: &str, value: &str) -> Result<(), Unavailable> {
            if self.broken.get() {
                return Err(Unavailable);
            }
            if let Some(left) = self.quota_left.get() {
                if left == 0 {
                    return Err(Unavailable);
                }
                self.quota_left.set(Some(left - 1));
            }
            self.items
                .borrow_mut()
                .insert(name.to_owned(), value.to_owned());
            Ok(())
        }
        fn remove(&self, name: &str) -> Result<(), Unavailable> {
            if self.broken.get() {
                return Err(Unavailable);
            }
            self.items.borrow_mut().remove(name);
            Ok(())
        }
    }

    fn record(key: &str, rev: u32) -> Record {
        let mut r = Record::new(key.into(), "0".repeat(64), "/pay".into(), 1000, 10_000);
        r.rev = rev;
        r
    }

    #[test]
    fn survives_a_reload_through_the_backend() {
        let store = Mirrored::new(FlakyBackend::default());
        store.save(&record("k1", 0));
        store.drop_memory();
        assert_eq!(store.load(), vec![record("k1", 1)]);
    }

    #[test]
    fn a_broken_backend_costs_nothing_within_the_page() {
        let store = Mirrored::new(FlakyBackend::default());
        store.backend().broken.set(true);
        store.save(&record("k1", 0));
        assert_eq!(store.load(), vec![record("k1", 1)]);
        store.remove("k1");
        assert!(store.load().is_empty());
    }

    #[test]
    fn a_wiped_or_full_backend_is_written_back() {
        let store = Mirrored::new(FlakyBackend::default());
        store.backend().quota_left.set(Some(0));
        store.save(&record("k1", 0));
        assert!(
            store.backend().items.borrow().is_empty(),
            "quota refused the write"
        );
        store.backend().quota_left.set(None);
        assert_eq!(store.load().len(), 1);
        assert_eq!(
            store.backend().items.borrow().len(),
            1,
            "written back once there was room"
        );
        store.backend().items.borrow_mut().clear();
        assert_eq!(store.load().len(), 1);
        assert_eq!(store.backend().items.borrow().len(), 1);
    }

    #[test]
    fn the_newer_record_wins_whatever_the_clock_says() {
        let store = Mirrored::new(FlakyBackend::default());
        store.save(&record("k1", 0));
        // Written by another copy of payonce in the tab, with a clock set back.
        let mut newer = record("k1", 2);
        newer.updated_ms = 1;
        newer.state = State::Succeeded;
        store
            .backend()
            .items
            .borrow_mut()
            .insert(newer.item_name(), newer.encode());
        store
            .backend()
            .items
            .borrow_mut()
            .insert(format!("{PREFIX}bad"), "garbage".into());
        store
            .backend()
            .items
            .borrow_mut()
            .insert("other".into(), "theirs".into());
        assert_eq!(store.load(), vec![newer.clone()]);
        // A write storage refused is newer than storage's copy, whatever the clock says.
        store.backend().quota_left.set(Some(0));
        let mut mine = newer.clone();
        mine.state = State::Failed;
        mine.updated_ms = 0;
        store.save(&mine);
        assert_eq!(store.load()[0].state, State::Failed);
        let items = store.backend().items.borrow();
        assert!(!items.contains_key(&format!("{PREFIX}bad")));
        assert!(items.contains_key("other"));
    }
}
