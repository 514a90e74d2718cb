//! Records kept in a browser storage that may fail, mirrored in memory.
//!
//! sessionStorage survives a reload of the tab (and is copied into a
//! duplicated tab) but not the closing of it, which is the life a checkout's
//! key needs. Every write also goes to an in-memory mirror, so a storage that
//! is missing, disabled, full or throwing costs nothing within the page, and a
//! record wiped from storage by other code on the page is written back.
//!
//! Layout: one item per record, `payonce:v1:<key>`, and nothing else, so a
//! payment costs two storage writes (pending before the request, the outcome
//! after). Storage is read into the mirror once per page load; after that a
//! lookup reads the one item it finds, to see a newer copy written by another
//! copy of payonce in the tab, and the mirror finds it by comparing hashes.
//!
//! Another copy of payonce in a same-origin frame of the tab writes the same
//! storage: the browser's `storage` events name the items it wrote, and a
//! lookup by details reads those first, so no lookup scans all of storage. Two
//! copies in one document get no events from each other: they see each
//! other's records by key, and by details only as of their first read.
//!
//! Every backend call may run page code (a `Storage.prototype` override), and
//! that code may call payonce again: no borrow of the mirror is held across one.

use super::record::{item_name, Record, State, MAX_REV, PREFIX};
use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

/// The most settled records kept, in memory and in storage; past it the
/// oldest go (failed ones first). A pending record is never given up.
pub const MAX_SETTLED: usize = 1000;

/// Where records live. Implementations never fail: a store that cannot write
/// keeps the record in memory for the page. Lookups are by key and by
/// fingerprint, so a payment costs the same however many came before it.
pub trait Store {
    /// The record with this key, if any.
    fn by_key(&self, key: &str) -> Option<Record>;
    /// The live record most recently saved for this fingerprint, if any.
    fn by_fingerprint(&self, fingerprint: &str) -> Option<Record>;
    /// Every readable record (corrupt and foreign items are skipped).
    fn all(&self) -> Vec<Record>;
    /// Writes or replaces the record under its key; says whether storage took
    /// it (memory always does).
    fn save(&self, record: &Record) -> bool;
    /// Deletes the record with this key; says whether there was one.
    fn remove(&self, key: &str) -> bool;
    /// Drops expired records. May do the work only once per page.
    fn sweep(&self, now_ms: u64);
    /// Writes the record with this key back to storage if page code removed
    /// it (or storage holds an older copy): a call ends with its record in
    /// storage. A store with no memory of its own has nothing to write back.
    fn keep(&self, _key: &str) {}
}

/// The reads of a [`Store`], all the tabs machine may do: it asks for writes
/// as effects.
pub trait Records {
    /// The record with this key, if any ([`Store::by_key`]).
    fn record(&self, key: &str) -> Option<Record>;
    /// The live record for this fingerprint, if any ([`Store::by_fingerprint`]).
    fn live(&self, fingerprint: &str) -> Option<Record>;
}

impl<S: Store + ?Sized> Records for S {
    fn record(&self, key: &str) -> Option<Record> {
        self.by_key(key)
    }

    fn live(&self, fingerprint: &str) -> Option<Record> {
        self.by_fingerprint(fingerprint)
    }
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
    /// Names of items other documents of the tab wrote since the last call
    /// (the browser's `storage` events), so they are read without a scan.
    fn written_by_others(&self) -> Vec<String> {
        Vec::new()
    }
}

/// FNV-1a: the mirror compares these before comparing strings.
fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The page's copy of every record, with the hashes of keys and fingerprints
/// in arrays of their own, so a lookup among thousands scans a few kilobytes.
struct Mirror {
    keys: Vec<u64>,
    fingerprints: Vec<u64>,
    records: Vec<Record>,
}

impl Mirror {
    const fn new() -> Self {
        Mirror {
            keys: Vec::new(),
            fingerprints: Vec::new(),
            records: Vec::new(),
        }
    }

    fn find(&self, key: &str) -> Option<usize> {
        let h = hash(key);
        (0..self.keys.len()).find(|&i| self.keys[i] == h && self.records[i].key == key)
    }

    /// The live record for `fingerprint`: a pending one first (its outcome is
    /// unknown, so its key must be sent again), else the most recently updated.
    fn live(&self, fingerprint: &str) -> Option<usize> {
        let h = hash(fingerprint);
        (0..self.fingerprints.len())
            .filter(|&i| {
                let r = &self.records[i];
                self.fingerprints[i] == h
                    && r.state != State::Failed
                    && r.fingerprint == fingerprint
            })
            .max_by_key(|&i| {
                let r = &self.records[i];
                (r.state == State::Pending, r.updated_ms)
            })
    }

    /// Replaces the record at `at` (as `find` gave it), or appends.
    fn put_at(&mut self, at: Option<usize>, record: Record) {
        match at {
            Some(i) => {
                self.fingerprints[i] = hash(&record.fingerprint);
                self.records[i] = record;
            }
            None => {
                self.keys.push(hash(&record.key));
                self.fingerprints.push(hash(&record.fingerprint));
                self.records.push(record);
            }
        }
    }

    fn take(&mut self, key: &str) -> Option<Record> {
        let i = self.find(key)?;
        self.keys.swap_remove(i);
        self.fingerprints.swap_remove(i);
        Some(self.records.swap_remove(i))
    }

    /// The key of the settled record to give up first for room: a failed one
    /// before a succeeded one (which still turns a repeat into a replay), the
    /// oldest first; never `keep`'s.
    fn first_to_evict(&self, keep: &str) -> Option<String> {
        self.records
            .iter()
            .filter(|r| r.state != State::Pending && r.key != keep)
            .min_by_key(|r| (r.state == State::Succeeded, r.updated_ms, r.rev))
            .map(|r| r.key.clone())
    }

    fn settled(&self) -> usize {
        self.records
            .iter()
            .filter(|r| r.state != State::Pending)
            .count()
    }

    fn clear(&mut self) {
        self.keys.clear();
        self.fingerprints.clear();
        self.records.clear();
    }
}

/// A [`Store`] over a [`Backend`], with an in-memory mirror for the page.
pub struct Mirrored<B> {
    backend: B,
    memory: RefCell<Mirror>,
    /// Storage has been read into the mirror since the page loaded.
    loaded: Cell<bool>,
    swept: Cell<bool>,
    /// Keys deleted while storage refused to delete them: a copy storage
    /// still holds is deleted when next seen, never read back.
    gone: RefCell<Vec<String>>,
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
            memory: RefCell::new(Mirror::new()),
            loaded: Cell::new(false),
            swept: Cell::new(false),
            gone: RefCell::new(Vec::new()),
        }
    }

    /// Forgets the mirror, as a page reload does.
    pub fn drop_memory(&self) {
        self.memory.borrow_mut().clear();
        self.gone.borrow_mut().clear();
        self.loaded.set(false);
        self.swept.set(false);
    }

    /// Reads storage again at the next lookup, keeping the mirror: a page
    /// restored from the back/forward cache missed what other pages of the
    /// tab wrote meanwhile (the higher revision of each record wins).
    pub fn reread(&self) {
        self.loaded.set(false);
    }

    /// The backend, for tests that break it.
    #[cfg(test)]
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The record stored under `key`; a corrupt item, or one payonce deleted
    /// while storage refused to, is deleted.
    fn stored(&self, key: &str) -> Option<Record> {
        let name = item_name(key);
        if self.gone.borrow().iter().any(|k| k == key) {
            if self.backend.remove(&name).is_ok() {
                self.gone.borrow_mut().retain(|k| k != key);
            }
            return None;
        }
        let value = self.backend.get(&name).ok().flatten()?;
        let record = Record::decode(&name, &value);
        if record.is_none() && Record::is_this_version(&value) {
            // Corrupt: not ours to trust, so not kept. A record of another
            // version (a rollback, a page mixing releases) is left alone.
            let _ = self.backend.remove(&name);
        }
        record
    }

    fn write(&self, record: &Record) -> bool {
        self.backend
            .set(&record.item_name(), &record.encode())
            .is_ok()
    }

    /// Drops a settled record from storage and memory, for room. A storage
    /// that cannot remove it gains no room: then nothing is dropped.
    fn evict(&self, keep: &str) -> bool {
        let Some(key) = self.memory.borrow().first_to_evict(keep) else {
            return false;
        };
        if self.backend.remove(&item_name(&key)).is_err() {
            return false;
        }
        self.memory.borrow_mut().take(&key);
        true
    }

    /// Settles memory's and storage's copies of one record: the higher
    /// revision wins (the wall clock can jump back), and a copy storage lacks
    /// or has older is written back.
    fn reconcile(&self, key: &str, theirs: Option<Record>) -> Option<Record> {
        let mine = {
            let memory = self.memory.borrow();
            memory.find(key).map(|i| memory.records[i].clone())
        };
        match (mine, theirs) {
            // Newer in storage: another copy of payonce in this tab, or a same-origin frame.
            // Kept in memory too, so that other code clearing storage later loses nothing.
            (Some(mine), Some(theirs)) if theirs.rev > mine.rev => Some(self.remember(theirs)),
            (None, Some(theirs)) => Some(self.remember(theirs)),
            (Some(mine), theirs) => {
                if theirs.as_ref() != Some(&mine) {
                    let _ = self.write(&mine);
                }
                Some(mine)
            }
            (None, None) => None,
        }
    }

    /// Puts `record` into the mirror, replacing the copy with its key.
    fn remember(&self, record: Record) -> Record {
        let mut memory = self.memory.borrow_mut();
        let at = memory.find(&record.key);
        memory.put_at(at, record.clone());
        record
    }

    /// Writes back every record memory holds whose item storage no longer
    /// has, or has in an older copy: page code cleared storage or removed
    /// payonce's items, or storage refused a write. Called before the page
    /// goes (`pagehide`: a reload must find the record) and when a payment
    /// call ends, not only at payonce's next storage call.
    pub fn write_back(&self) {
        let keys: Vec<String> = self
            .memory
            .borrow()
            .records
            .iter()
            .map(|r| r.key.clone())
            .collect();
        for key in keys {
            let theirs = self.stored(&key);
            self.reconcile(&key, theirs);
        }
    }

    /// Reads every record in storage into the mirror (writing back what
    /// storage lost). Returns whether storage could be read.
    fn load(&self) -> bool {
        let Ok(names) = self.backend.names() else {
            return false;
        };
        let mut seen = Vec::new();
        for name in &names {
            if let Some(key) = name.strip_prefix(PREFIX) {
                let theirs = self.stored(key);
                if theirs.is_some() {
                    seen.push(hash(key));
                }
                self.reconcile(key, theirs);
            }
        }
        super::text::sort_by(&mut seen, |a, b| a < b);
        // Records storage lost (or never took): written back.
        let lost: Vec<Record> = self
            .memory
            .borrow()
            .records
            .iter()
            .filter(|r| seen.binary_search(&hash(&r.key)).is_err())
            .cloned()
            .collect();
        for r in &lost {
            let _ = self.write(r);
        }
        self.loaded.set(true);
        true
    }

    /// Reads storage into the mirror, once per page.
    fn ensure_loaded(&self) {
        if !self.loaded.get() {
            self.load();
        }
    }

    /// Whether the mirror holds every record the backend holds, so that other
    /// code clearing the backend loses nothing.
    #[cfg(all(test, not(target_arch = "wasm32")))]
    pub fn memory_holds_everything(&self) -> bool {
        let stored: Vec<Record> = self
            .backend
            .names()
            .unwrap_or_default()
            .iter()
            .filter_map(|n| n.strip_prefix(PREFIX))
            .filter_map(|key| self.stored(key))
            .collect();
        let memory = self.memory.borrow();
        stored
            .iter()
            .all(|r| memory.find(&r.key).is_some_and(|i| memory.records[i] == *r))
    }

    /// Whether the backend holds every record the mirror holds, so that a
    /// reload (which drops the mirror) loses nothing.
    #[cfg(all(test, not(target_arch = "wasm32")))]
    pub fn backend_holds_everything(&self) -> bool {
        let mine = self.memory.borrow().records.clone();
        mine.iter().all(|r| self.stored(&r.key).as_ref() == Some(r))
    }
}

impl<B: Backend> Store for Mirrored<B> {
    fn by_key(&self, key: &str) -> Option<Record> {
        self.ensure_loaded();
        let theirs = self.stored(key);
        self.reconcile(key, theirs)
    }

    fn by_fingerprint(&self, fingerprint: &str) -> Option<Record> {
        self.ensure_loaded();
        for name in self.backend.written_by_others() {
            if let Some(key) = name.strip_prefix(PREFIX) {
                self.by_key(key);
            }
        }
        let key = {
            let memory = self.memory.borrow();
            let i = memory.live(fingerprint)?;
            memory.records[i].key.clone()
        };
        self.by_key(&key)
            .filter(|r| r.fingerprint == fingerprint && r.state != State::Failed)
    }

    fn all(&self) -> Vec<Record> {
        // A fresh read: other code may have written or wiped storage meanwhile.
        self.load();
        self.memory.borrow().records.clone()
    }

    fn save(&self, record: &Record) -> bool {
        let mut record = record.clone();
        let before = {
            let memory = self.memory.borrow();
            memory
                .find(&record.key)
                .map_or(0, |i| memory.records[i].rev)
        };
        record.rev = record.rev.max(before).saturating_add(1).min(MAX_REV);
        self.gone.borrow_mut().retain(|k| *k != record.key);
        // Memory first: if the write runs page code that reads payonce's
        // records, it sees this one.
        self.remember(record.clone());
        while self.memory.borrow().settled() > MAX_SETTLED && self.evict(&record.key) {}
        if self.write(&record) {
            return true;
        }
        // A pending record must survive a reload: settled ones make room for it.
        while record.state == State::Pending && self.evict(&record.key) {
            if self.write(&record) {
                return true;
            }
        }
        // A refusal storage will not take: its pending copy there must not come
        // back after a reload as a second live key for the payment.
        if record.state == State::Failed {
            let _ = self.backend.remove(&record.item_name());
        }
        false
    }

    fn remove(&self, key: &str) -> bool {
        // Memory's copy, else storage's; no reconciling, which could write
        // back the record about to be deleted.
        let mine = self.memory.borrow_mut().take(key);
        let known = mine.is_some() || self.stored(key).is_some();
        if self.backend.remove(&item_name(key)).is_err() {
            let mut gone = self.gone.borrow_mut();
            if gone.len() >= MAX_SETTLED {
                gone.remove(0);
            }
            gone.push(key.to_owned());
        }
        known
    }

    /// Expired records are dropped on the first payment of each page load;
    /// after that, lookups skip them without a scan.
    fn sweep(&self, now_ms: u64) {
        if self.swept.get() {
            return;
        }
        // Storage that cannot be read now is swept on a later payment.
        self.swept.set(self.load());
        let expired: Vec<String> = self
            .memory
            .borrow()
            .records
            .iter()
            .filter(|r| r.is_expired(now_ms))
            .map(|r| r.key.clone())
            .collect();
        for key in &expired {
            self.remove(key);
        }
    }

    fn keep(&self, key: &str) {
        if self.memory.borrow().find(key).is_some() {
            let theirs = self.stored(key);
            self.reconcile(key, theirs);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rules::record::State;
    use std::cell::Cell;
    use std::collections::BTreeMap;

    /// A storage that can be switched off, fill up, or be wiped.
    #[derive(Default)]
    pub struct FlakyBackend {
        pub items: RefCell<BTreeMap<String, String>>,
        /// Items "another document" wrote, as storage events would report them.
        pub others: RefCell<Vec<String>>,
        pub broken: Cell<bool>,
        pub quota_left: Cell<Option<u32>>,
        /// Full: no new item fits while the store holds this many.
        pub capacity: Cell<Option<usize>>,
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
            let full = self
                .capacity
                .get()
                .is_some_and(|c| self.items.borrow().len() >= c);
            if full && !self.items.borrow().contains_key(name) {
                return Err(Unavailable);
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
        fn written_by_others(&self) -> Vec<String> {
            self.others.borrow_mut().drain(..).collect()
        }
    }

    /// The store the machine's tests run on.
    pub type MemStore = Mirrored<FlakyBackend>;

    fn record(key: &str, rev: u32) -> Record {
        let mut r = Record::new(
            key.into(),
            "0".repeat(64),
            "https://shop.test/pay".into(),
            1000,
            10_000,
        );
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
            "https://shop.test/pay".into(),
            1000,
            10_000,
        );
        r.state = State::Succeeded;
        r
    }

    #[test]
    fn after_the_first_read_a_payment_is_found_with_one_read_however_many_there_are() {
        let store = Mirrored::new(Counting {
            inner: FlakyBackend::default(),
            reads: Cell::new(0),
        });
        for i in 0..1000 {
            let mut r = paid(&format!("k{i}"), 'a');
            r.fingerprint = format!("{i:064x}");
            store.save(&r);
        }
        assert_eq!(
            store.backend().inner.items.borrow().len(),
            1000,
            "one item each"
        );
        store.drop_memory();
        store.sweep(1000); // the page's one read of everything
        store.backend().reads.set(0);
        let found = store
            .by_fingerprint(&format!("{:064x}", 777))
            .expect("found");
        assert_eq!(found.key, "k777");
        assert_eq!(store.backend().reads.get(), 1, "one read");
        assert!(store.by_fingerprint(&"f".repeat(64)).is_none());
        assert_eq!(store.backend().reads.get(), 1, "a miss reads nothing");
    }

    #[test]
    fn a_failed_payment_is_found_by_its_key_not_its_details() {
        let store = Mirrored::new(FlakyBackend::default());
        let mut r = paid("k1", 'a');
        store.save(&r);
        assert_eq!(
            store.by_fingerprint(&r.fingerprint).map(|r| r.key),
            Some("k1".into())
        );
        r.state = State::Failed;
        store.save(&r);
        assert_eq!(store.by_fingerprint(&r.fingerprint), None);
        store.drop_memory();
        assert_eq!(
            store.by_fingerprint(&r.fingerprint),
            None,
            "after a reload too"
        );
        assert_eq!(
            store.by_key("k1").map(|r| r.state),
            Some(State::Failed),
            "but its key is still known"
        );
        assert!(store.remove("k1"));
        assert!(store.backend().items.borrow().is_empty());
        assert!(!store.remove("k1"), "nothing left to remove");
        // A record only storage knows (after a reload) is removed too.
        store.save(&paid("k2", 'c'));
        store.drop_memory();
        assert!(store.remove("k2"));
        assert!(store.backend().items.borrow().is_empty());
    }

    #[test]
    fn a_payment_saved_before_a_reload_is_found_by_its_details_after_it() {
        let store = Mirrored::new(FlakyBackend::default());
        let older = paid("k1", 'a');
        let mut newer = paid("k2", 'a');
        newer.updated_ms += 5;
        store.save(&older);
        store.save(&newer);
        store.drop_memory();
        assert_eq!(
            store.by_fingerprint(&older.fingerprint).map(|r| r.key),
            Some("k2".into()),
            "the most recently updated live record wins"
        );
    }

    #[test]
    fn a_page_restored_from_the_cache_sees_what_other_pages_wrote_meanwhile() {
        let store = Mirrored::new(FlakyBackend::default());
        store.sweep(1000); // this page reads storage (empty), then is frozen
        let theirs = paid("theirs", 'a');
        store
            .backend()
            .items
            .borrow_mut()
            .insert(theirs.item_name(), theirs.encode());
        assert_eq!(store.by_fingerprint(&theirs.fingerprint), None);
        store.reread();
        assert_eq!(
            store.by_fingerprint(&theirs.fingerprint).map(|r| r.key),
            Some("theirs".into())
        );
    }

    #[test]
    fn a_payment_another_frame_started_after_this_copy_read_storage_is_found_by_its_details() {
        let store = Mirrored::new(FlakyBackend::default());
        store.sweep(1000); // this copy reads storage (empty)
        let theirs = paid("theirs", 'a');
        store
            .backend()
            .items
            .borrow_mut()
            .insert(theirs.item_name(), theirs.encode());
        assert_eq!(
            store.by_fingerprint(&theirs.fingerprint),
            None,
            "unseen without the browser's word"
        );
        store.backend().others.borrow_mut().push(theirs.item_name());
        assert_eq!(
            store.by_fingerprint(&theirs.fingerprint).map(|r| r.key),
            Some("theirs".into())
        );
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
    fn a_record_deleted_while_storage_refused_stays_deleted_when_it_recovers() {
        let store = Mirrored::new(FlakyBackend::default());
        store.save(&record("k1", 0));
        store.backend().broken.set(true);
        assert!(store.remove("k1"));
        store.backend().broken.set(false);
        assert_eq!(store.by_key("k1"), None);
        assert!(store.all().is_empty());
        assert!(
            store.backend().items.borrow().is_empty(),
            "deleted once storage allowed it"
        );
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
            1,
            "written back once there was room"
        );
        store.backend().items.borrow_mut().clear();
        assert_eq!(store.all().len(), 1);
        assert_eq!(store.backend().items.borrow().len(), 1);
    }

    #[test]
    fn write_back_restores_what_page_code_removed_without_waiting_for_a_lookup() {
        let store = Mirrored::new(FlakyBackend::default());
        store.save(&record("k1", 0));
        store.save(&record("k2", 0));
        store.backend().items.borrow_mut().clear();
        store.write_back();
        let names: Vec<String> = store.backend().items.borrow().keys().cloned().collect();
        assert_eq!(names, ["payonce:v1:k1", "payonce:v1:k2"]);
        // Storage that throws: nothing to do, nothing lost in memory.
        store.backend().broken.set(true);
        store.write_back();
        store.backend().broken.set(false);
        assert_eq!(store.all().len(), 2);
    }

    #[test]
    fn a_record_of_another_version_is_left_alone_and_a_corrupt_one_is_dropped() {
        let backend = FlakyBackend::default();
        let fp = "0".repeat(64);
        for (key, value) in [
            (
                "newer",
                format!("2,p,{fp},1000,1000,2000,1,1,https://shop.test/pay,extra"),
            ),
            (
                "newstate",
                format!("1,x,{fp},1000,1000,2000,1,1,https://shop.test/pay"),
            ),
            ("corrupt", format!("1,p,{fp},oops")),
        ] {
            backend
                .items
                .borrow_mut()
                .insert(format!("payonce:v1:{key}"), value);
        }
        let store = Mirrored::new(backend);
        assert!(store.all().is_empty(), "none reads back here");
        let names: Vec<String> = store.backend().items.borrow().keys().cloned().collect();
        assert_eq!(names, ["payonce:v1:newer", "payonce:v1:newstate"]);
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
            .insert(format!("{PREFIX}bad"), "1,p,garbage".into());
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

    fn settled(key: &str, updated_ms: u64, state: State) -> Record {
        let mut r = paid(key, 'a');
        r.state = state;
        r.updated_ms = updated_ms;
        r
    }

    #[test]
    fn a_full_storage_gives_up_settled_records_oldest_first_for_a_pending_one() {
        let store = MemStore::default();
        store.save(&settled("old-paid", 1, State::Succeeded));
        store.save(&settled("new-paid", 3, State::Succeeded));
        store.save(&settled("declined", 2, State::Failed));
        let backend = store.backend();
        backend.capacity.set(Some(3));
        let mut pending = paid("pending", 'b');
        pending.state = State::Pending;
        assert!(store.save(&pending), "room was made");
        let names: Vec<String> = backend.items.borrow().keys().cloned().collect();
        assert_eq!(
            names,
            [
                "payonce:v1:new-paid",
                "payonce:v1:old-paid",
                "payonce:v1:pending"
            ]
        );
        assert!(store.by_key("declined").is_none(), "gone from memory too");
        // A settled record makes no room for another.
        assert!(!store.save(&settled("another", 4, State::Succeeded)));
        assert_eq!(backend.items.borrow().len(), 3);
        // Nothing left to give: said so, and memory keeps it for the page.
        backend.capacity.set(Some(2));
        let mut second = paid("second", 'c');
        second.state = State::Pending;
        assert!(store.save(&second), "the two paid ones went");
        let mut third = paid("third", 'd');
        third.state = State::Pending;
        assert!(!store.save(&third));
        assert_eq!(
            store.by_key("third").map(|r| r.key).as_deref(),
            Some("third")
        );
        assert!(
            store.by_key("pending").is_some(),
            "a pending record is never given up"
        );
    }

    #[test]
    fn settled_records_are_bounded_and_the_oldest_go() {
        let store = MemStore::default();
        for i in 0..MAX_SETTLED as u64 + 5 {
            store.save(&settled(&format!("k{i}"), 10 + i, State::Succeeded));
        }
        assert_eq!(store.all().len(), MAX_SETTLED);
        assert_eq!(store.backend().items.borrow().len(), MAX_SETTLED);
        for i in 0..5 {
            assert!(store.by_key(&format!("k{i}")).is_none(), "k{i}");
        }
        assert!(store.by_key("k5").is_some());
    }
}
