//! One page's payonce: the tabs machine, every payment of the page and the
//! decisions a call makes around them, composed once. The browser
//! (`crate::checkout` and `crate::browser::tabs`) and the multi-tab test world
//! (`tabs::world`) drive this same [`Page`], so the proofs run the glue that
//! ships.
//!
//! Like the machines it holds, a [`Page`] performs no I/O: it is fed a call
//! ([`Page::begin`]), a payment's input ([`Page::pay`]) or a tabs input
//! ([`Page::tabs`]), and queues what to do ([`Out`], drained by
//! [`Page::poll`]). It runs no page code: events, other tabs' messages, lock
//! requests and timers are handed out for the driver to perform after the
//! call returns.
//!
//! Storage is the one port it calls synchronously ([`Port`]), and why:
//! sessionStorage is synchronous, and a payment's key is chosen by reading it
//! and saved before the request leaves, with no other script in between; a
//! port that answered later would let another call, or another copy of
//! payonce, choose between the read and the write. The store never fails (it
//! keeps a copy in memory), but its backend is page code (a
//! `Storage.prototype` override may run and call payonce again), so the
//! browser keeps the page out of reach while a method runs and refuses what
//! re-enters (see `crate::checkout`).

use super::error::{Code, PayError};
use super::json::MAX_BODY_BYTES;
use super::key::{self, KeyRules};
use super::lifecycle::{resolve, unheard, Lookup};
use super::payment::{self, Body, Event, Io, Outcome, Payment, Request};
use super::record::{Record, State};
use super::retry::Policy;
use super::store::Store;
use super::tabs::{self, Tabs};
use super::text::{cat, hex, num};
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

/// What the page gives the rules synchronously.
pub trait Port {
    /// The store.
    type Store: Store;
    /// The page's records.
    fn store(&self) -> &Self::Store;
    /// The wall clock.
    fn now_ms(&self) -> u64;
    /// A random number in `[0, 1)` (backoff jitter, tab ids): not for keys.
    fn unit(&self) -> f64;
    /// Whether the page has a cryptographic random source.
    fn can_draw(&self) -> bool;
    /// 16 bytes from the page's cryptographic random source (`None`: it has none).
    fn draw(&self) -> Option<[u8; 16]>;
}

/// A call to pay, read and checked by the driver.
pub struct Call {
    /// The caller's endpoint, absolute.
    pub endpoint: String,
    /// The fingerprint of endpoint and body.
    pub fingerprint: String,
    /// The body's length in bytes (the body stays with the driver).
    pub body_len: usize,
    /// The caller's own key, if any.
    pub caller_key: Option<String>,
    /// What a caller's key must look like.
    pub keys: KeyRules,
    /// The retry rules.
    pub policy: Policy,
    /// The caller's signal had fired before the call.
    pub aborted: bool,
}

/// How a call began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Begun {
    /// A new payment with this id: feed it [`payment::Input::Start`] (or
    /// [`payment::Input::Aborted`]) now and after each [`Out::Wake`].
    New(u32),
    /// The payment with this id, already under way, is this call's too (a
    /// double click): its outcome is the answer.
    Joined(u32),
}

/// How a payment ended, for whoever shows it (a `PayButton`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// Paid.
    Succeeded,
    /// The key was retired, or nothing was sent: trying again is a new payment.
    Failed,
    /// The outcome is unknown and the key is kept: trying again resends it.
    Unknown,
}

impl Settled {
    /// How an outcome settles.
    pub fn of<B>(outcome: &Outcome<B>) -> Settled {
        match outcome {
            Ok(_) => Settled::Succeeded,
            Err(e) => Settled::failed(e),
        }
    }

    /// How an error settles.
    pub fn failed<B>(e: &PayError<B>) -> Settled {
        if e.key_kept {
            Settled::Unknown
        } else {
            Settled::Failed
        }
    }
}

/// What to do, from [`Page::poll`].
#[derive(Debug)]
pub enum Out<B> {
    /// Perform this effect of the tabs machine (never [`tabs::Effect::Choose`],
    /// which the page takes; [`tabs::Effect::Adopted`] comes out saved, to tell
    /// the page's watchers).
    Tabs(tabs::Effect),
    /// The payment may go on: feed it [`payment::Input::Start`] (its wait for
    /// the other tabs is over).
    Wake(u32),
    /// Send the payment's request.
    Send(u32, Request),
    /// Read the payment's body.
    ReadBody(u32),
    /// Wait, then feed [`payment::Input::Slept`].
    Sleep(u32, u64),
    /// Tell the payment's caller.
    Event(u32, Event),
    /// The payment ended.
    Done(u32, Outcome<B>, Settled),
}

/// Where a payment of the page stands.
enum Stage<B> {
    /// The other tabs are heard before its key is chosen.
    Hearing,
    /// It may choose its key: `joined` is a key of the same details it joins,
    /// `mint` whether it may make a new one.
    Turn {
        joined: Option<String>,
        mint: bool,
    },
    Paying(Box<Payment<B>>),
}

struct Entry<B> {
    id: u32,
    endpoint: String,
    fingerprint: String,
    caller_key: Option<String>,
    policy: Policy,
    stage: Stage<B>,
}

/// One page's payonce. See the module documentation.
pub struct Page<B> {
    tabs: Tabs,
    /// Every payment of the page, waiting for its key or on the wire. Which
    /// a new call joins is the tabs machine's word ([`Tabs::joinable`]).
    payments: Vec<Entry<B>>,
    next: u32,
    /// The last random draw for a key, to refuse a source that repeats.
    last_draw: Option<[u8; 16]>,
    out: VecDeque<Out<B>>,
}

impl<B> Default for Page<B> {
    fn default() -> Self {
        Page::new()
    }
}

impl<B> Page<B> {
    /// A page that has made no payonce call yet.
    pub const fn new() -> Self {
        Page {
            tabs: Tabs::new(),
            payments: Vec::new(),
            next: 0,
            last_draw: None,
            out: VecDeque::new(),
        }
    }

    /// The next thing to do, oldest first.
    pub fn poll(&mut self) -> Option<Out<B>> {
        self.out.pop_front()
    }

    /// The tabs machine, for the tests' questions.
    #[cfg(all(test, not(target_arch = "wasm32")))]
    pub fn tabs_machine(&self) -> &Tabs {
        &self.tabs
    }

    /// Whether a payment with this key is under way in this page.
    pub fn in_flight(&self, key: &str) -> bool {
        self.tabs.with_key(key).is_some()
    }

    /// Forgets a payment's key, so the same details become a new payment:
    /// refused (false) while a payment with it is under way (its outcome
    /// would write the record back).
    pub fn forget(&mut self, key: &str, port: &impl Port) -> bool {
        if self.in_flight(key) {
            return false;
        }
        self.tabs(tabs::Input::Forgot(key.into()), port);
        port.store().remove(key)
    }

    /// Feeds the tabs machine (a message, a lock, a timer, the page hidden
    /// or shown) and takes what it says.
    pub fn tabs(&mut self, input: tabs::Input, port: &impl Port) {
        self.tabs.handle(input, port.now_ms(), port.store());
        self.take_tabs_effects(port);
    }

    /// Opens the channel to the other tabs, at the page's first payonce
    /// call (or a `PayButton`'s creation). Later calls do nothing.
    pub fn open(&mut self, port: &impl Port) {
        if self.tabs.closed() {
            self.tabs(tabs::Input::Open { id: tab_id(port) }, port);
        }
    }

    /// A fresh key from the page's cryptographic random source, refused when
    /// the source is missing or broken ([`key::uuid_v4`]).
    pub fn new_key<E>(&mut self, port: &impl Port) -> Result<String, PayError<E>> {
        let draw = port
            .draw()
            .ok_or_else(|| PayError::invalid("this page has no crypto.getRandomValues"))?;
        let previous = self.last_draw.replace(draw);
        key::uuid_v4(draw, previous.as_ref()).map_err(PayError::invalid)
    }

    /// Drops every payment from memory, as a reload of the page does (their
    /// locks are released; storage keeps their records).
    pub fn reload(&mut self, port: &impl Port) {
        let ids: Vec<u32> = self.payments.iter().map(|p| p.id).collect();
        for id in ids {
            self.end(id, port);
        }
        self.out.retain(|o| matches!(o, Out::Tabs(_)));
    }

    fn take_tabs_effects(&mut self, port: &impl Port) {
        while let Some(effect) = self.tabs.poll() {
            match effect {
                tabs::Effect::Choose {
                    payment,
                    joined,
                    mint,
                } => {
                    if let Some(p) = self.entry_mut(payment) {
                        if let Stage::Hearing = p.stage {
                            p.stage = Stage::Turn { joined, mint };
                            self.out.push_back(Out::Wake(payment));
                        }
                    }
                }
                tabs::Effect::Adopted { record, continued } => {
                    port.store().save(&record);
                    self.out
                        .push_back(Out::Tabs(tabs::Effect::Adopted { record, continued }));
                }
                other => self.out.push_back(Out::Tabs(other)),
            }
        }
    }

    fn end(&mut self, id: u32, port: &impl Port) {
        self.payments.retain(|p| p.id != id);
        self.tabs(tabs::Input::PaymentEnds { payment: id }, port);
    }

    fn entry_mut(&mut self, id: u32) -> Option<&mut Entry<B>> {
        self.payments.iter_mut().find(|p| p.id == id)
    }
}

impl<B: Body> Page<B> {
    /// A call to pay: refused at once (nothing sent), joined to the payment
    /// of the page already under way for it, or a new payment.
    pub fn begin(&mut self, call: Call, port: &impl Port) -> Result<Begun, PayError<B>> {
        if call.body_len > MAX_BODY_BYTES {
            return Err(PayError::invalid(cat(&[
                "payment details are ",
                &num(call.body_len as u64),
                " bytes as JSON; the limit is ",
                &num(MAX_BODY_BYTES as u64),
            ])));
        }
        if let Some(key) = &call.caller_key {
            call.keys.check(key).map_err(PayError::invalid)?;
        }
        match self
            .tabs
            .joinable(&call.fingerprint, call.caller_key.as_deref())
        {
            Err(()) => {
                let mut err = PayError::new(
                    Code::KeyReused,
                    "this idempotency key is in flight for a different payment; use a new key for a new payment",
                );
                err.key = call.caller_key;
                return Err(err);
            }
            Ok(Some(id)) => return Ok(Begun::Joined(id)),
            Ok(None) => {}
        }
        if call.caller_key.is_none() && !port.can_draw() {
            return Err(PayError::invalid(
                "this page has no crypto.getRandomValues, so payonce cannot make a safe key; pass one yourself",
            ));
        }
        self.open(port);
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        self.payments.push(Entry {
            id,
            endpoint: call.endpoint,
            fingerprint: call.fingerprint.clone(),
            caller_key: call.caller_key.clone(),
            policy: call.policy,
            stage: Stage::Hearing,
        });
        self.tabs(
            tabs::Input::PaymentStarts {
                payment: id,
                fingerprint: call.fingerprint,
                caller_key: call.caller_key,
                deadline_ms: call.policy.timeout_ms,
                hurry: call.aborted,
            },
            port,
        );
        // Told at once that it may choose (no other tab is known): it does
        // now, so a refusal is the call's answer.
        let turn_now = self
            .payments
            .iter()
            .any(|p| p.id == id && matches!(p.stage, Stage::Turn { .. }));
        if turn_now {
            self.out.retain(|o| !matches!(o, Out::Wake(w) if *w == id));
            if let Err(err) = self.choose(id, port) {
                self.end(id, port);
                return Err(err);
            }
        }
        Ok(Begun::New(id))
    }

    /// Feeds the payment `id`. Before its key is chosen, the input waits for
    /// its turn ([`Out::Wake`]), which a payment in its turn takes now.
    pub fn pay(&mut self, id: u32, input: payment::Input<B>, port: &impl Port) {
        let Some(at) = self.payments.iter().position(|p| p.id == id) else {
            return;
        };
        match self.payments[at].stage {
            Stage::Hearing => return,
            Stage::Turn { .. } => {
                if let Err(err) = self.choose(id, port) {
                    self.finish(id, Err(err), port);
                    return;
                }
            }
            Stage::Paying(_) => {}
        }
        let Some(p) = self.entry_mut(id) else { return };
        let Stage::Paying(payment) = &mut p.stage else {
            return;
        };
        let (mut saved, mut events) = (Vec::new(), Vec::new());
        let io = payment.step(
            input,
            port.now_ms(),
            port.unit(),
            port.store(),
            |r| saved.push(r.clone()),
            |e| events.push(e),
        );
        for event in events {
            self.out.push_back(Out::Event(id, event));
        }
        for record in saved {
            self.tabs(tabs::Input::Saved(record), port);
        }
        match io {
            Some(Io::Send(req)) => self.out.push_back(Out::Send(id, req)),
            Some(Io::ReadBody) => self.out.push_back(Out::ReadBody(id)),
            Some(Io::Sleep(ms)) => self.out.push_back(Out::Sleep(id, ms)),
            Some(Io::Done(outcome)) => self.finish(id, outcome, port),
            None => {}
        }
    }

    /// The payment chooses its record, and so its key (see [`resolve`]): a
    /// new key only where the tabs machine found evidence that no other is live.
    fn choose(&mut self, id: u32, port: &impl Port) -> Result<(), PayError<B>> {
        let Some(at) = self.payments.iter().position(|p| p.id == id) else {
            return Ok(());
        };
        let (joined, mint) = match &self.payments[at].stage {
            Stage::Turn { joined, mint } => (joined.clone(), *mint),
            _ => return Ok(()),
        };
        let p = &self.payments[at];
        let draws = &mut self.last_draw;
        let record = resolve(
            port.store(),
            &Lookup {
                now_ms: port.now_ms(),
                ttl_ms: p.policy.key_ttl_ms,
                endpoint: &p.endpoint,
                fingerprint: &p.fingerprint,
                caller_key: p.caller_key.as_deref(),
                joined: joined.as_deref(),
            },
            || {
                if !mint {
                    return Err(unheard());
                }
                let draw = port
                    .draw()
                    .ok_or_else(|| PayError::invalid("this page has no crypto.getRandomValues"))?;
                let previous = draws.replace(draw);
                key::uuid_v4(draw, previous.as_ref()).map_err(PayError::invalid)
            },
        )?;
        let key = record.key.clone();
        let policy = p.policy;
        self.payments[at].stage = Stage::Paying(Box::new(Payment::new(record, policy)));
        self.tabs(tabs::Input::KeyChosen { payment: id, key }, port);
        Ok(())
    }

    /// The payment ended: its record is in storage when its caller is told
    /// (page code may have removed it meanwhile), and it leaves the tabs machine.
    fn finish(&mut self, id: u32, outcome: Outcome<B>, port: &impl Port) {
        let key = match &outcome {
            Ok(ok) => Some(ok.key.as_str()),
            Err(e) => e.key.as_deref(),
        };
        if let Some(key) = key {
            port.store().keep(key);
        }
        let settled = Settled::of(&outcome);
        self.end(id, port);
        self.out.push_back(Out::Done(id, outcome, settled));
    }
}

/// A random tab id for the tabs machine.
pub fn tab_id(port: &impl Port) -> String {
    let part = || hex((port.unit() * 4_503_599_627_370_496.0) as u64, 13);
    cat(&[&part(), &part()])
}

/// The payments whose outcome is unknown, oldest first, of one endpoint or
/// all (for `pendingPayments`).
pub fn pending(store: &impl Store, endpoint: Option<&str>) -> Vec<Record> {
    let mut records: Vec<Record> = store
        .all()
        .into_iter()
        .filter(|r| r.state == State::Pending)
        .filter(|r| endpoint.is_none_or(|e| e == r.endpoint))
        .collect();
    super::text::sort_by(&mut records, |a, b| a.created_ms < b.created_ms);
    records
}
