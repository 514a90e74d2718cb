//! Records kept in a browser storage that may fail, mirrored in memory.
//!
//! sessionStorage survives a reload of the tab (and is copied into a
//! duplicated tab) but not the closing of it, which is the life a checkout's
//! key needs. Every write also goes to an in-memory mirror, so a storage that
//! is missing, disabled, full or throwing costs nothing within the page, and a
//! record wiped from storage by other code on the page is written back.
//!
//! Layout: one item per record, `payonce:v1:<key>`, and one index item per
//! live payment, `payonce:fp:<fingerprint>` holding its key, so that finding a
//! payment's key is two reads however many payments the tab has made.

use super::engine::Store;
use super::record::{Record, State, PREFIX};
use super::text::cat;
use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

/// Names of the fingerprint index items.
pub const INDEX_PREFIX: &str = "payonce:fp:";

/// The name of the index item for a fingerprint.
fn index_name(fingerprint: &str) -> String {
    cat(&[INDEX_PREFIX, fingerprint])
}

/// The storage refused or could not be reached; the mirror carries on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

/// The raw storage under the mirror. Any call may fail.
pub trait Backend {
    /// The names of every item that starts with `payonce:`.
    fn names(&self) -> Result<Vec<String>, Unavailable>;
    /// Reads one item.
    fn get(&self, name: &str) -> Result<Option<String>, Unavailable>;
    /// Writes one item.
    fn set(&self, name: &str, value: &str) -> Result<(), Unavailable>;
    /// Deletes one item.
    fn remove(&self, name: &str) -> Result<(), Unavailable>;
}

/// A [`Store`] over a [`Backend`], with an in-memory mirror for the page.
pub struct Mirrored<B> {
    backend: B,
    memory: RefCell<Vec<Record>>,
    swept: Cell<bool>,
}

impl<B: Backend + Default> Default for Mirrored<B> {
    fn default() -> Self {
        Mirrored::new(B::default())
    }
}

impl<B: Backend> Mirrored<B> {
    /// A store with an empty mirror, as at page load.
    pub const fn new(backend: B) -> Self {
        Mirrored {
            backend,
            memory: RefCell::new(Vec::new()),
            swept: Cell::new(false),
        }
    }

    /// Forgets the mirror, as a page reload does.
    pub fn drop_memory(&self) {
        self.memory.borrow_mut().clear();
        self.swept.set(false);
    }

    /// The backend, for tests that break it.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The record stored under `key`; a corrupt item is deleted.
    fn stored(&self, key: &str) -> Option<Record> {
        let name = cat(&[PREFIX, key]);
        let value = self.backend.get(&name).ok().flatten()?;
        let record = Record::decode(&name, &value);
        if record.is_none() {
            // Corrupt, or from another version: not ours to trust, so not kept.
            let _ = self.backend.remove(&name);
        }
        record
    }

    /// Writes a record and keeps its index entry in step. `before` is the
    /// copy this page last wrote: the index is touched only when the record is
    /// new here or changes between live and failed (storage writes are the
    /// dearest part of a payment).
    fn write(&self, record: &Record, before: Option<&Record>) {
        let _ = self.backend.set(&record.item_name(), &record.encode());
        let was_live =
            before.is_some_and(|b| b.state != State::Failed && b.fingerprint == record.fingerprint);
        if record.state == State::Failed {
            if before.is_none() || was_live {
                self.unindex(&record.fingerprint, &record.key);
            }
        } else if !was_live {
            let _ = self
                .backend
                .set(&index_name(&record.fingerprint), &record.key);
        }
    }

    /// Deletes the index item for `fingerprint` if it still points at `key`.
    fn unindex(&self, fingerprint: &str, key: &str) {
        let index = index_name(fingerprint);
        if self.backend.get(&index).ok().flatten().as_deref() == Some(key) {
            let _ = self.backend.remove(&index);
        }
    }

    /// Settles memory's and storage's copies of one record: the higher
    /// revision wins (the wall clock can jump back), and a copy storage lacks
    /// or has older is written back.
    fn reconcile(&self, key: &str, theirs: Option<Record>) -> Option<Record> {
        let mut memory = self.memory.borrow_mut();
        match (memory.iter_mut().find(|r| r.key == key), theirs) {
            // Newer in storage: another copy of payonce in this tab, or a same-origin frame.
            (Some(mine), Some(theirs)) if theirs.rev > mine.rev => {
                *mine = theirs.clone();
                Some(theirs)
            }
            (Some(mine), theirs) => {
                if theirs.as_ref() != Some(mine) {
                    self.write(mine, None);
                }
                Some(mine.clone())
            }
            // Kept in memory too, so that other code clearing storage later loses nothing.
            (None, Some(theirs)) => {
                memory.push(theirs.clone());
                Some(theirs)
            }
            (None, None) => None,
        }
    }

    /// Whether the mirror holds every record the backend holds, so that other
    /// code clearing the backend loses nothing.
    pub fn memory_holds_everything(&self) -> bool {
        let memory = self.memory.borrow();
        self.backend
            .names()
            .unwrap_or_default()
            .iter()
            .filter_map(|n| n.strip_prefix(PREFIX))
            .all(|key| match self.stored(key) {
                Some(r) => memory.contains(&r),
                None => true,
            })
    }

    /// Whether the backend holds every record the mirror holds, so that a
    /// reload (which drops the mirror) loses nothing.
    pub fn backend_holds_everything(&self) -> bool {
        self.memory.borrow().iter().all(|r| {
            self.stored(&r.key).as_ref() == Some(r)
                && (r.state == State::Failed
                    || self
                        .backend
                        .get(&index_name(&r.fingerprint))
                        .ok()
                        .flatten()
                        .is_some())
        })
    }
}

impl<B: Backend> Store for Mirrored<B> {
    fn by_key(&self, key: &str) -> Option<Record> {
        let theirs = self.stored(key);
        self.reconcile(key, theirs)
    }

    fn by_fingerprint(&self, fingerprint: &str) -> Option<Record> {
        let index = index_name(fingerprint);
        let indexed = self.backend.get(&index).ok().flatten();
        let remembered = self
            .memory
            .borrow()
            .iter()
            .filter(|r| r.fingerprint == fingerprint && r.state != State::Failed)
            .max_by_key(|r| r.updated_ms)
            .map(|r| r.key.clone());
        let mut best: Option<Record> = None;
        for key in [indexed.clone(), remembered].into_iter().flatten() {
            if let Some(r) = self.by_key(&key) {
                let better = best.as_ref().is_none_or(|b| r.updated_ms > b.updated_ms);
                if r.fingerprint == fingerprint && r.state != State::Failed && better {
                    best = Some(r);
                }
            }
        }
        match &best {
            Some(r) if indexed.as_deref() != Some(r.key.as_str()) => {
                let _ = self.backend.set(&index, &r.key);
            }
            None if indexed.is_some() => {
                let _ = self.backend.remove(&index);
            }
            _ => {}
        }
        best
    }

    fn all(&self) -> Vec<Record> {
        let names = self.backend.names().unwrap_or_default();
        let mut keys: Vec<String> = names
            .iter()
            .filter_map(|n| n.strip_prefix(PREFIX))
            .map(str::to_owned)
            .collect();
        for r in self.memory.borrow().iter() {
            if !keys.contains(&r.key) {
                keys.push(r.key.clone());
            }
        }
        let records: Vec<Record> = keys.iter().filter_map(|k| self.by_key(k)).collect();
        // Index items that point nowhere live are stale.
        for name in names.iter().filter(|n| n.starts_with(INDEX_PREFIX)) {
            let fingerprint = name.strip_prefix(INDEX_PREFIX).unwrap_or_default();
            let key = self.backend.get(name).ok().flatten();
            let live = records.iter().any(|r| {
                Some(&r.key) == key.as_ref()
                    && r.fingerprint == fingerprint
                    && r.state != State::Failed
            });
            if !live {
                let _ = self.backend.remove(name);
            }
        }
        records
    }

    fn save(&self, record: &Record) {
        let mut memory = self.memory.borrow_mut();
        let mut record = record.clone();
        let slot = memory.iter_mut().find(|r| r.key == record.key);
        record.rev = record
            .rev
            .max(slot.as_ref().map_or(0, |r| r.rev))
            .wrapping_add(1);
        self.write(&record, slot.as_deref());
        match slot {
            Some(r) => *r = record,
            None => memory.push(record),
        }
    }

    fn remove(&self, key: &str) -> bool {
        // Memory's copy, else storage's: only its fingerprint is needed, so no
        // reconciling (which could write back the record about to be deleted).
        let mine = {
            let mut memory = self.memory.borrow_mut();
            let at = memory.iter().position(|r| r.key == key);
            at.map(|i| memory.remove(i))
        };
        let known = mine.or_else(|| self.stored(key));
        let _ = self.backend.remove(&cat(&[PREFIX, key]));
        if let Some(r) = &known {
            self.unindex(&r.fingerprint, key);
        }
        known.is_some()
    }

    /// Expired records are dropped on the first payment of each page load;
    /// after that, lookups skip them without a scan.
    fn sweep(&self, now_ms: u64) {
        if self.swept.replace(true) {
            return;
        }
        for r in self.all() {
            if r.is_expired(now_ms) {
                self.remove(&r.key);
            }
        }
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
        fn names(&self) -> Result<Vec<String>, Unavailable> {
            if self.broken.get() {
                return Err(Unavailable);
            }
            Ok(self
                .items
                .borrow()
                .keys()
                .filter(|k| k.starts_with("payonce:"))
                .cloned()
                .collect())
        }
        fn get(&self, name: &str) -> Result<Option<String>, Unavailable> {
            if self.broken.get() {
                return Err(Unavailable);
            }
            Ok(self.items.borrow().get(name).cloned())
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

    /// Counts reads, to check that lookups do not scan.
    struct Counting {
        inner: FlakyBackend,
        reads: Cell<u32>,
    }

    impl Backend for Counting {
        fn names(&self) -> Result<Vec<String>, Unavailable> {
            self.reads.set(self.reads.get() + 1000);
            self.inner.names()
        }
        fn get(&self, name: &str) -> Result<Option<String>, Unavailable> {
            self.reads.set(self.reads.get() + 1);
            self.inner.get(name)
        }
        fn set(&self, name: &str, value: &str) -> Result<(), Unavailable> {
            self.inner.set(name, value)
        }
        fn remove(&self, name: &str) -> Result<(), Unavailable> {
            self.inner.remove(name)
        }
    }

    fn paid(key: &str, fp: char) -> Record {
        let mut r = Record::new(
            key.into(),
            fp.to_string().repeat(64),
            "/pay".into(),
            1000,
            10_000,
        );
        r.state = State::Succeeded;
        r
    }

    #[test]
    fn finding_a_payment_reads_a_few_items_however_many_there_are() {
        let store = Mirrored::new(Counting {
            inner: FlakyBackend::default(),
            reads: Cell::new(0),
        });
        for i in 0..1000 {
            let mut r = paid(&format!("k{i}"), 'a');
            r.fingerprint = format!("{i:064x}");
            store.save(&r);
        }
        store.drop_memory();
        store.backend().reads.set(0);
        let found = store
            .by_fingerprint(&format!("{:064x}", 777))
            .expect("indexed");
        assert_eq!(found.key, "k777");
        assert!(
            store.backend().reads.get() <= 3,
            "{} reads",
            store.backend().reads.get()
        );
        assert!(store.by_fingerprint(&"f".repeat(64)).is_none());
    }

    #[test]
    fn the_index_follows_the_state() {
        let store = Mirrored::new(FlakyBackend::default());
        let mut r = paid("k1", 'a');
        store.save(&r);
        assert_eq!(
            store.by_fingerprint(&r.fingerprint).map(|r| r.key),
            Some("k1".into())
        );
        r.state = State::Failed;
        store.save(&r);
        assert_eq!(
            store.by_fingerprint(&r.fingerprint),
            None,
            "a failed payment is not found by its details"
        );
        assert!(!store
            .backend()
            .items
            .borrow()
            .keys()
            .any(|k| k.starts_with(INDEX_PREFIX)));
        assert_eq!(
            store.by_key("k1").map(|r| r.state),
            Some(State::Failed),
            "but its key is still known"
        );
        assert!(store.remove("k1"));
        assert!(store.backend().items.borrow().is_empty());
        assert!(!store.remove("k1"), "nothing left to remove");
        // A record only storage knows (after a reload) goes with its index.
        store.save(&paid("k2", 'c'));
        store.drop_memory();
        assert!(store.remove("k2"));
        assert!(store.backend().items.borrow().is_empty());
    }

    #[test]
    fn a_lost_index_is_rebuilt_from_memory_and_a_stale_one_dropped() {
        let store = Mirrored::new(FlakyBackend::default());
        let r = paid("k1", 'a');
        store.save(&r);
        store
            .backend()
            .items
            .borrow_mut()
            .retain(|k, _| !k.starts_with(INDEX_PREFIX));
        assert_eq!(
            store.by_fingerprint(&r.fingerprint).map(|r| r.key),
            Some("k1".into())
        );
        assert!(store
            .backend()
            .items
            .borrow()
            .contains_key(&format!("{INDEX_PREFIX}{}", r.fingerprint)));
        store
            .backend()
            .items
            .borrow_mut()
            .insert(format!("{INDEX_PREFIX}{}", "b".repeat(64)), "nobody".into());
        store.all();
        assert!(!store
            .backend()
            .items
            .borrow()
            .contains_key(&format!("{INDEX_PREFIX}{}", "b".repeat(64))));
    }

    #[test]
    fn survives_a_reload_through_the_backend() {
        let store = Mirrored::new(FlakyBackend::default());
        store.save(&record("k1", 0));
        store.drop_memory();
        assert_eq!(store.all(), vec![record("k1", 1)]);
    }

    #[test]
    fn a_broken_backend_costs_nothing_within_the_page() {
        let store = Mirrored::new(FlakyBackend::default());
        store.backend().broken.set(true);
        store.save(&record("k1", 0));
        assert_eq!(store.all(), vec![record("k1", 1)]);
        store.remove("k1");
        assert!(store.all().is_empty());
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
        assert_eq!(store.all().len(), 1);
        assert_eq!(
            store.backend().items.borrow().len(),
            2,
            "record and index written back once there was room"
        );
        store.backend().items.borrow_mut().clear();
        assert_eq!(store.all().len(), 1);
        assert_eq!(store.backend().items.borrow().len(), 2);
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
        assert_eq!(store.all(), vec![newer.clone()]);
        // A write storage refused is newer than storage's copy, whatever the clock says.
        store.backend().quota_left.set(Some(0));
        let mut mine = newer.clone();
        mine.state = State::Failed;
        mine.updated_ms = 0;
        store.save(&mine);
        assert_eq!(store.all()[0].state, State::Failed);
        let items = store.backend().items.borrow();
        assert!(!items.contains_key(&format!("{PREFIX}bad")));
        assert!(items.contains_key("other"));
    }
}
