//! One payment's attempts, as a state machine that does no I/O.
//!
//! The machine is fed [`Input`]s (what happened) and answers with the next
//! [`Effect`] (what to do): send the request, read the body, sleep, or the
//! outcome. An interpreter performs the effects: `crate::checkout` with
//! `fetch`, the body's `text()` and timers in the browser, the tests with a
//! model server and a fake clock. Every rule is here, so the tests prove the
//! loop that ships: the record is saved before each request leaves, the same
//! key goes out on every attempt, which answers are retried and for how long,
//! which retire the key, and what the caller is told.
//!
//! The machine performs nothing itself: it asks for each record to be saved
//! ([`Effect::Save`], answered with [`Input::Saved`] before the request may
//! leave) and hands out its [`Event`]s as effects, so no page code runs
//! inside [`Payment::handle`]. [`Payment::step`] is the one loop that performs
//! those saves against a [`Store`] and collects the events, for every driver.

use super::error::{Code, PayError};
use super::record::{Record, State, MAX_ATTEMPTS};
use super::retry::{self, Policy, Verdict};
use super::store::Store;
use super::text::{cat, num};
use alloc::collections::VecDeque;
use alloc::string::String;

/// One attempt's request: the same endpoint and key on every attempt (the
/// body is the interpreter's, unchanged for the whole payment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Where to POST: the caller's endpoint, which the record was matched against.
    pub endpoint: String,
    /// The idempotency key.
    pub key: String,
    /// 1 for the first attempt of this call.
    pub attempt: u32,
    /// How long the attempt may take, body included. The interpreter ends it
    /// with its own timer, whatever the transport does with its abort signal,
    /// and feeds [`Failure::Timeout`].
    pub timeout_ms: u64,
}

/// The status line and the headers payonce reads, before the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// HTTP status (0 for a redirect fetch would not follow).
    pub status: u16,
    /// The raw `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// Whether the server said `Idempotent-Replayed: true`.
    pub replayed: bool,
    /// Whether the body is an HTML page (`Content-Type: text/html` or XHTML).
    pub html: bool,
}

/// Whether a `Content-Type` names an HTML page (`text/html`, XHTML), which a
/// payment API does not answer with but a captive portal or a web server's
/// fallback route does.
pub fn is_html(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("text/html")
        || essence.eq_ignore_ascii_case("application/xhtml+xml")
}

/// What the machine asks of a response body.
pub trait Body {
    /// Whether the body is a page of text rather than data: asked only of a 2xx
    /// labelled HTML, so that JSON a server mislabels still counts.
    fn is_page(&self) -> bool;
}

/// The model servers' bodies: the label alone decides.
#[cfg(test)]
impl Body for () {
    fn is_page(&self) -> bool {
        true
    }
}

#[cfg(test)]
impl Body for u32 {
    fn is_page(&self) -> bool {
        true
    }
}

/// Why an attempt got no HTTP answer (or its body was cut off).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The network failed; the message is the browser's.
    Network(String),
    /// The per-attempt timeout fired.
    Timeout,
    /// The caller aborted.
    Aborted,
}

/// What happened, for [`Payment::handle`].
#[derive(Debug)]
pub enum Input<B> {
    /// Begin the payment.
    Start,
    /// The server answered the attempt just sent.
    Answered(Head),
    /// The answer's body arrived (after [`Effect::ReadBody`]).
    BodyRead(B),
    /// The attempt got no answer, or its body never arrived.
    NoAnswer(Failure),
    /// The wait asked for by [`Effect::Sleep`] is over.
    Slept,
    /// The caller's signal fired (at any stage).
    Aborted,
    /// The record asked for by [`Effect::Save`] was saved; `stored`: storage
    /// took it (memory always does).
    Saved(bool),
}

/// What to do next.
#[derive(Debug)]
pub enum Effect<B> {
    /// Save this record, then feed [`Input::Saved`]. Before each request the
    /// machine asks for nothing else until it is fed that.
    Save(Record),
    /// Tell the caller's observer.
    Event(Event),
    /// Send this request, then feed [`Input::Answered`] or [`Input::NoAnswer`].
    Send(Request),
    /// Read the body, then feed [`Input::BodyRead`] or [`Input::NoAnswer`].
    ReadBody,
    /// Wait this many milliseconds, then feed [`Input::Slept`] (or [`Input::Aborted`]).
    Sleep(u64),
    /// Finished: feed nothing more.
    Done(Outcome<B>),
}

/// How a payment ended.
pub type Outcome<B> = Result<Success<B>, PayError<B>>;

/// A payment that went through.
#[derive(Debug, PartialEq)]
pub struct Success<B> {
    /// The key used.
    pub key: String,
    /// The final status (2xx).
    pub status: u16,
    /// Requests sent in this call.
    pub attempts: u32,
    /// Whether the server replayed an earlier answer.
    pub replayed: bool,
    /// The response body.
    pub body: B,
}

/// What payonce is doing, for logs and UIs.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A request is about to leave.
    Attempt {
        /// The key sent.
        key: String,
        /// 1-based, within this call.
        attempt: u32,
    },
    /// The server answered.
    Response {
        /// 1-based, within this call.
        attempt: u32,
        /// HTTP status.
        status: u16,
        /// `Idempotent-Replayed: true`.
        replayed: bool,
    },
    /// An attempt got no answer.
    NoResponse {
        /// 1-based, within this call.
        attempt: u32,
        /// `network`, `timeout` or `aborted`.
        code: Code,
    },
    /// Waiting before the next attempt.
    Backoff {
        /// The retry about to happen (1 for the first).
        retry: u32,
        /// How long.
        delay_ms: u64,
        /// Why.
        reason: Code,
    },
    /// Storage could not hold the pending record (even after making room):
    /// the payment is safe against repeats while the page stays open, not
    /// across a reload.
    NotSaved {
        /// The key whose record only memory holds.
        key: String,
    },
}

/// Receives [`Event`]s.
pub trait Observer {
    /// Called for each event; must not fail.
    fn event(&self, event: &Event);
}

/// What a payment asks of the world once its saves are done (see [`Payment::step`]).
#[derive(Debug)]
pub enum Io<B> {
    /// Send this request, then feed [`Input::Answered`] or [`Input::NoAnswer`].
    Send(Request),
    /// Read the body, then feed [`Input::BodyRead`] or [`Input::NoAnswer`].
    ReadBody,
    /// Wait this many milliseconds, then feed [`Input::Slept`] (or [`Input::Aborted`]).
    Sleep(u64),
    /// Finished: feed nothing more.
    Done(Outcome<B>),
}

/// Where the machine stands, so an input out of order is refused, not obeyed.
#[derive(Debug)]
enum Stage<B> {
    /// Nothing sent yet in this call.
    Ready,
    /// The record is being saved; the request leaves once it is.
    Saving,
    /// The settled record is being saved; then this is the outcome.
    Settling(Outcome<B>),
    /// A request is on the wire.
    Sending,
    /// The head is in; the body is being read.
    Reading(Head),
    /// Waiting between attempts.
    Sleeping,
    /// The outcome was given.
    Done,
}

/// One payment's attempts. Made from the record [`super::lifecycle::resolve`] chose.
pub struct Payment<B> {
    record: Record,
    attempt: u32,
    policy: Policy,
    stage: Stage<B>,
    /// The observer has heard [`Event::NotSaved`] in this call.
    told_not_saved: bool,
    effects: VecDeque<Effect<B>>,
}

impl<B: Body> Payment<B> {
    /// A payment for `record` (whose endpoint is the caller's).
    pub fn new(record: Record, policy: Policy) -> Self {
        Payment {
            record,
            attempt: 0,
            policy,
            stage: Stage::Ready,
            told_not_saved: false,
            effects: VecDeque::new(),
        }
    }

    /// The next effect, oldest first.
    pub fn poll(&mut self) -> Option<Effect<B>> {
        self.effects.pop_front()
    }

    /// Feeds `input` and performs what the machine asks of storage (each save
    /// answered at once) until it asks for I/O, which is returned; `saved` is
    /// told of every record saved (the tabs machine announces them), `event`
    /// of every event. `None`: the input asked for nothing (out of order).
    pub fn step(
        &mut self,
        input: Input<B>,
        now_ms: u64,
        unit: f64,
        store: &impl Store,
        mut saved: impl FnMut(&Record),
        mut event: impl FnMut(Event),
    ) -> Option<Io<B>> {
        self.handle(input, now_ms, unit);
        while let Some(effect) = self.poll() {
            match effect {
                Effect::Save(record) => {
                    let stored = store.save(&record);
                    saved(&record);
                    self.handle(Input::Saved(stored), now_ms, unit);
                }
                Effect::Event(e) => event(e),
                Effect::Send(req) => return Some(Io::Send(req)),
                Effect::ReadBody => return Some(Io::ReadBody),
                Effect::Sleep(ms) => return Some(Io::Sleep(ms)),
                Effect::Done(outcome) => return Some(Io::Done(outcome)),
            }
        }
        None
    }

    /// Takes what happened; what to do next is queued for [`Payment::poll`].
    /// `now_ms` is the wall clock, `unit` a random number in `[0, 1)` for the
    /// backoff's jitter.
    pub fn handle(&mut self, input: Input<B>, now_ms: u64, unit: f64) {
        let next = self.next(input, now_ms, unit);
        self.effects.push_back(next);
    }

    fn event(&mut self, event: Event) {
        self.effects.push_back(Effect::Event(event));
    }

    fn next(&mut self, input: Input<B>, now_ms: u64, unit: f64) -> Effect<B> {
        match (core::mem::replace(&mut self.stage, Stage::Done), input) {
            (Stage::Ready, Input::Start) | (Stage::Sleeping, Input::Slept) => self.save(now_ms),
            (Stage::Saving, Input::Saved(stored)) => self.send(stored),
            (Stage::Settling(outcome), Input::Saved(_)) => Effect::Done(outcome),
            // Nothing leaves, and nothing is written, once the caller has aborted.
            (Stage::Ready | Stage::Sleeping, Input::Aborted) => {
                Effect::Done(Err(self.failure(Code::Aborted, None, None, false)))
            }
            (Stage::Sending, Input::Answered(head)) => {
                self.event(Event::Response {
                    attempt: self.attempt,
                    status: head.status,
                    replayed: head.replayed,
                });
                self.stage = Stage::Reading(head);
                Effect::ReadBody
            }
            (Stage::Reading(head), Input::BodyRead(body)) => {
                self.answered(head, body, now_ms, unit)
            }
            // The status is the server's answer; a final no stands without its
            // body (a paid payment stays paid: it waits for an answer that says so).
            (Stage::Reading(head), Input::NoAnswer(_) | Input::Aborted)
                if self.record.state != State::Succeeded
                    && matches!(
                        retry::classify(head.status, &self.policy.dialect),
                        Verdict::Definitive(_) | Verdict::Finished
                    ) =>
            {
                match retry::classify(head.status, &self.policy.dialect) {
                    Verdict::Finished => Effect::Done(Err(self.finished(&head, None))),
                    _ => self.refused(&head, None, now_ms),
                }
            }
            (Stage::Sending | Stage::Reading(_), Input::NoAnswer(failure)) => {
                self.no_answer(failure, unit)
            }
            (Stage::Sending | Stage::Reading(_), Input::Aborted) => {
                self.no_answer(Failure::Aborted, unit)
            }
            // An interpreter bug. The safe reading: the outcome is unknown, the key is kept.
            (_, _) => Effect::Done(Err(self.failure(Code::Network, None, None, true))),
        }
    }

    /// Starts the next attempt: the record is saved before anything leaves.
    fn save(&mut self, now_ms: u64) -> Effect<B> {
        self.attempt += 1;
        self.record.attempts = self.record.attempts.saturating_add(1).min(MAX_ATTEMPTS);
        self.record.updated_ms = now_ms;
        self.stage = Stage::Saving;
        Effect::Save(self.record.clone())
    }

    /// The record is saved (`stored`: storage took it): the request leaves.
    fn send(&mut self, stored: bool) -> Effect<B> {
        if !stored && !self.told_not_saved {
            self.told_not_saved = true;
            self.event(Event::NotSaved {
                key: self.record.key.clone(),
            });
        }
        self.event(Event::Attempt {
            key: self.record.key.clone(),
            attempt: self.attempt,
        });
        self.stage = Stage::Sending;
        Effect::Send(Request {
            endpoint: self.record.endpoint.clone(),
            key: self.record.key.clone(),
            attempt: self.attempt,
            timeout_ms: self.policy.timeout_ms,
        })
    }

    fn answered(&mut self, head: Head, body: B, now_ms: u64, unit: f64) -> Effect<B> {
        let verdict = retry::classify(head.status, &self.policy.dialect);
        // A payment recorded as paid stays paid whatever a later answer says
        // (a server that refuses repeats of a finished key, a fingerprint that
        // covers a header the page changed): the caller is told it is paid, with
        // that answer. A new order of the same details goes through `forgetPayment`.
        if self.record.state == State::Succeeded
            && (verdict != Verdict::Success || (head.html && body.is_page()))
        {
            return Effect::Done(Ok(Success {
                key: self.record.key.clone(),
                status: head.status,
                attempts: self.attempt,
                replayed: true,
                body,
            }));
        }
        let code = match verdict {
            // Not the payment server's answer, most likely: the outcome is unknown.
            Verdict::Success if head.html && body.is_page() && !self.policy.accept_html => {
                let mut err = self.failure(Code::Http, Some(&head), Some(body), true);
                err.message = messages::html(head.status);
                return Effect::Done(Err(err));
            }
            Verdict::Success => {
                let paid = Success {
                    key: self.record.key.clone(),
                    status: head.status,
                    attempts: self.attempt,
                    replayed: head.replayed,
                    body,
                };
                return self.settle(State::Succeeded, now_ms, Ok(paid));
            }
            Verdict::Definitive(_) => return self.refused(&head, Some(body), now_ms),
            // A redirect will redirect again; an odd status may not come back.
            Verdict::Unknown(code) => {
                let retryable = code != Code::Redirect;
                return Effect::Done(Err(self.failure(code, Some(&head), Some(body), retryable)));
            }
            Verdict::Finished => return Effect::Done(Err(self.finished(&head, Some(body)))),
            // A failure the server stored and replays: every retry gets it again.
            // It does not say nothing was charged (a 5xx may come after the
            // charge), so the key is kept.
            Verdict::Retry(code) if head.replayed => {
                let mut err = self.failure(code, Some(&head), Some(body), false);
                err.message = messages::stored_failure(head.status);
                return Effect::Done(Err(err));
            }
            Verdict::Retry(code) => code,
        };
        let retry_after_ms = head
            .retry_after
            .as_deref()
            .and_then(|v| retry::parse_retry_after(v, now_ms));
        self.again(code, retry_after_ms, unit, Some((head, body)))
    }

    /// "A request with this key already finished", without its status: the
    /// outcome is unknown, the key kept, and retrying will not tell.
    fn finished(&self, head: &Head, body: Option<B>) -> PayError<B> {
        let mut err = self.failure(Code::Http, Some(head), body, false);
        err.message = messages::finished(head.status);
        err
    }

    /// A refusal. It retires the key only on evidence that nothing was charged
    /// under it: the server replays a refusal it stored for this key, or the
    /// payment server itself refused the only request ever sent with the key.
    /// Not evidence: a refusal after an earlier request with this key whose
    /// outcome is unknown (in this call or before it); "this key was used with
    /// other details" at any time, which says the server saw the key before
    /// (the browser itself may have sent the first request twice, the first
    /// copy charged and its answer lost); and a status a layer in front of
    /// the key store answers without looking at the key ([`is_gate`]), for the
    /// same reason. Then the key is kept and the outcome stays unknown.
    fn refused(&mut self, head: &Head, body: Option<B>, now_ms: u64) -> Effect<B> {
        let code = match retry::classify(head.status, &self.policy.dialect) {
            Verdict::Definitive(code) => code,
            _ => Code::Http,
        };
        let first_ever = self.record.attempts <= 1;
        let from_the_server = !is_gate(head.status) && code != Code::KeyReused;
        if !(head.replayed || (first_ever && from_the_server)) {
            // Retrying is useful after a gate (once signed in, say), not after a mismatch.
            let retryable = code != Code::KeyReused;
            let mut err = self.failure(code, Some(head), body, retryable);
            err.message = match (code, first_ever) {
                (Code::KeyReused, true) => messages::mismatch(head.status),
                (Code::KeyReused, false) => messages::mismatch_after_unknown(head.status),
                (_, true) => messages::gate(head.status),
                (_, false) => messages::refused_after_unknown(head.status),
            };
            return Effect::Done(Err(err));
        }
        let mut err = self.failure(code, Some(head), body, false);
        err.key_kept = false;
        err.message = messages::refused(code, head.status);
        self.settle(State::Failed, now_ms, Err(err))
    }

    fn no_answer(&mut self, failure: Failure, unit: f64) -> Effect<B> {
        let (code, cause) = match failure {
            Failure::Aborted => (Code::Aborted, None),
            Failure::Timeout => (Code::Timeout, None),
            Failure::Network(cause) => (Code::Network, Some(cause)),
        };
        self.event(Event::NoResponse {
            attempt: self.attempt,
            code,
        });
        if code == Code::Aborted {
            return Effect::Done(Err(self.failure(code, None, None, false)));
        }
        match (cause, self.attempt > self.policy.max_retries) {
            (Some(cause), true) => {
                let mut err = self.failure(code, None, None, true);
                err.message = cat(&[&err.message, " (browser said: ", &cause, ")"]);
                Effect::Done(Err(err))
            }
            _ => self.again(code, None, unit, None),
        }
    }

    /// Waits and tries again, or gives up when the retries or the server's
    /// patience are spent.
    fn again(
        &mut self,
        code: Code,
        retry_after_ms: Option<u64>,
        unit: f64,
        answer: Option<(Head, B)>,
    ) -> Effect<B> {
        let attempt = self.attempt;
        match retry::delay_ms(&self.policy, attempt, retry_after_ms, unit) {
            Some(delay_ms) if attempt <= self.policy.max_retries => {
                self.event(Event::Backoff {
                    retry: attempt,
                    delay_ms,
                    reason: code,
                });
                self.stage = Stage::Sleeping;
                Effect::Sleep(delay_ms)
            }
            _ => {
                let (head, body) = match answer {
                    Some((head, body)) => (Some(head), Some(body)),
                    None => (None, None),
                };
                Effect::Done(Err(self.failure(code, head.as_ref(), body, true)))
            }
        }
    }

    /// The record settles: it is saved, then `outcome` is given.
    fn settle(&mut self, state: State, now_ms: u64, outcome: Outcome<B>) -> Effect<B> {
        self.record.settle(state, now_ms, self.policy.key_ttl_ms);
        self.stage = Stage::Settling(outcome);
        Effect::Save(self.record.clone())
    }

    /// The error for an outcome in which the key is kept (see `answered` for
    /// the one that retires it).
    fn failure(
        &self,
        code: Code,
        head: Option<&Head>,
        body: Option<B>,
        retryable: bool,
    ) -> PayError<B> {
        let status = head.map(|h| h.status);
        let retry_after_ms = head
            .and_then(|h| h.retry_after.as_deref())
            .and_then(|v| retry::parse_retry_after(v, self.record.updated_ms));
        PayError {
            code,
            message: messages::kept(code, status, self.attempt, retry_after_ms, &self.policy),
            status,
            retryable,
            key: Some(self.record.key.clone()),
            key_kept: true,
            attempts: self.attempt,
            body,
            retry_after_ms,
        }
    }
}

/// Whether a status is one a layer in front of the payment server's key
/// store sends without looking at the key (a login, an access check, a proxy's
/// authentication), so it says nothing about what was charged under it.
pub fn is_gate(status: u16) -> bool {
    matches!(status, 401 | 403 | 407)
}

/// What the caller is told, one sentence per way a payment ends.
mod messages {
    use super::*;

    const KEPT: &str =
        "the outcome is unknown and the key is kept, so paying again with the same details is safe";
    const RETIRED: &str = "the key is retired, so the next try is a new payment";

    /// The server's final answer (the key is retired).
    pub fn refused(code: Code, status: u16) -> String {
        match code {
            Code::KeyReused => cat(&[
                "the server says this idempotency key was already used for different payment details (",
                &num(u64::from(status)),
                "); ",
                RETIRED,
            ]),
            _ => cat(&[
                "the server refused the payment with status ",
                &num(u64::from(status)),
                "; ",
                RETIRED,
            ]),
        }
    }

    /// A refusal after an earlier attempt whose outcome is unknown (the key is kept).
    pub fn refused_after_unknown(status: u16) -> String {
        cat(&[
            "the server refused with status ",
            &num(u64::from(status)),
            " after an earlier attempt with this key whose outcome is unknown, so that attempt may have been charged (a login or firewall in front of the payment server may have answered); ",
            KEPT,
        ])
    }

    /// "This key was used with other details" to the first request sent with
    /// it (the key is kept).
    pub fn mismatch(status: u16) -> String {
        cat(&[
            "the server says this idempotency key was already used for different payment details (",
            &num(u64::from(status)),
            "); the key is kept, since the server has seen it and a request with it may have been charged (the browser may resend a request by itself): check the order, then use a new key or forgetPayment for a new payment",
        ])
    }

    /// "This key was used with other details" after an earlier attempt with
    /// the key whose outcome is unknown (the key is kept).
    pub fn mismatch_after_unknown(status: u16) -> String {
        cat(&[
            "the server says this idempotency key was already used for different payment details (",
            &num(u64::from(status)),
            ") after an earlier attempt with it whose outcome is unknown, so that attempt may have been charged; the key is kept, so paying again cannot charge twice: check the order before starting a new one with forgetPayment",
        ])
    }

    /// A gate's refusal of the first request sent with the key (the key is kept).
    pub fn gate(status: u16) -> String {
        cat(&[
            "the server refused with status ",
            &num(u64::from(status)),
            ", which a login or firewall in front of the payment server answers without looking at the key (even to a request the browser sent twice, the first one charged); ",
            KEPT,
        ])
    }

    /// A request with this key finished, and the server does not say how.
    pub fn finished(status: u16) -> String {
        cat(&[
            "the server says a request with this key already finished (",
            &num(u64::from(status)),
            ") without replaying its status, so the outcome is unknown and trying again will not tell; the key is kept, so paying again cannot charge twice: check the order",
        ])
    }

    /// A failure the server stored for this key and replays.
    pub fn stored_failure(status: u16) -> String {
        cat(&[
            "the server replays an error it stored for this key (",
            &num(u64::from(status)),
            "), so every try with this key gets the same answer; the first request may or may not have been charged, so the key is kept: check the order before starting a new payment with forgetPayment",
        ])
    }

    /// A 2xx whose body is an HTML page: most likely not the payment server.
    pub fn html(status: u16) -> String {
        cat(&[
            "the answer (status ",
            &num(u64::from(status)),
            ") was an HTML page, not the payment server's: a Wi-Fi login page (captive portal) or a web server's fallback route may have answered; ",
            KEPT,
            " (pass acceptHtml: true if the server answers payments with HTML)",
        ])
    }

    /// Any other end: the outcome may be unknown, and the key is kept.
    pub fn kept(
        code: Code,
        status: Option<u16>,
        attempts: u32,
        retry_after_ms: Option<u64>,
        policy: &Policy,
    ) -> String {
        let n = num(u64::from(attempts));
        let tries: &[&str] = if attempts == 1 {
            &["1 attempt"]
        } else {
            &[&n, " attempts"]
        };
        // "<head> after <n attempts>; <tail>"
        let after = |head: &[&str], tail: &str| cat(&[&cat(head), &cat(tries), "; ", tail]);
        match code {
            Code::Timeout if status.is_some() => {
                after(&["the server timed out (408) after "], KEPT)
            }
            Code::Timeout => after(
                &["no answer within ", &num(policy.timeout_ms), " ms after "],
                KEPT,
            ),
            Code::Conflict => after(
                &["the server is still processing an earlier request with this key (409) after "],
                "wait, then pay again with the same details",
            ),
            Code::RateLimited => match retry_after_ms {
                Some(ms) if ms > policy.max_retry_after_ms => cat(&[
                    "the server is rate limiting (429) and asked to wait ",
                    &num(ms),
                    " ms, longer than maxRetryAfterMs (",
                    &num(policy.max_retry_after_ms),
                    " ms); ",
                    KEPT,
                ]),
                _ => after(&["the server is rate limiting (429) after "], KEPT),
            },
            Code::Http => after(
                &[
                    "the server answered ",
                    &num(u64::from(status.unwrap_or(0))),
                    " after ",
                ],
                KEPT,
            ),
            Code::Redirect => cat(&[
                "the server answered with a redirect, which payonce does not follow for payments; ",
                KEPT,
            ]),
            Code::Aborted => cat(&["the payment was aborted by the caller's signal; ", KEPT]),
            Code::Network | Code::KeyReused | Code::InvalidInput => after(
                &["the payment request could not reach the server after "],
                KEPT,
            ),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! The machine driven by a scripted server and a fake clock: the test
    //! interpreter, and the rules it shows one by one.
    use super::*;
    use crate::rules::lifecycle::{resolve, Lookup};
    use crate::rules::record::fingerprint;
    use crate::rules::store::tests::MemStore;
    use std::cell::{Cell, RefCell};
    use std::collections::VecDeque;

    /// One scripted answer: `(status, Retry-After, replayed)` or no answer.
    pub type Scripted = Result<(u16, Option<&'static str>, bool), Failure>;

    /// Plays a script of answers; the body of each is the attempt number.
    #[derive(Default)]
    pub struct Server {
        pub script: RefCell<VecDeque<Scripted>>,
        pub sent: RefCell<Vec<(String, String)>>,
    }

    impl Server {
        pub fn new(script: Vec<Scripted>) -> Self {
            Server {
                script: RefCell::new(script.into()),
                sent: RefCell::default(),
            }
        }
    }

    pub struct FakeClock {
        pub now: Cell<u64>,
        pub sleeps: RefCell<Vec<u64>>,
        pub abort_on_sleep: Cell<bool>,
    }

    impl FakeClock {
        pub fn at(now: u64) -> Self {
            FakeClock {
                now: Cell::new(now),
                sleeps: RefCell::default(),
                abort_on_sleep: Cell::new(false),
            }
        }
    }

    #[derive(Default)]
    pub struct Log(pub RefCell<Vec<String>>);

    impl Observer for Log {
        fn event(&self, e: &Event) {
            self.0.borrow_mut().push(format!("{e:?}"));
        }
    }

    /// An observer that ignores everything.
    pub struct Silent;

    impl Observer for Silent {
        fn event(&self, _: &Event) {}
    }

    /// One input, with the machine's saves performed against `s` (by
    /// [`Payment::step`]), to the I/O it asks for next.
    pub fn h<B: Body>(p: &mut Payment<B>, input: Input<B>, s: &MemStore) -> Io<B> {
        p.step(input, 1000, 0.5, s, |_| {}, |_| {})
            .expect("an effect for every input")
    }

    /// The test interpreter: performs each effect against the script.
    pub fn drive(
        mut payment: Payment<u32>,
        server: &Server,
        clock: &FakeClock,
        store: &MemStore,
        observer: &impl Observer,
    ) -> Outcome<u32> {
        let mut input = Input::Start;
        let mut body = None;
        loop {
            let io = payment.step(
                input,
                clock.now.get(),
                0.5,
                store,
                |_| {},
                |e| observer.event(&e),
            );
            input = match io.expect("an effect for every input") {
                Io::Send(req) => {
                    server.sent.borrow_mut().push((req.endpoint, req.key));
                    let answer = server
                        .script
                        .borrow_mut()
                        .pop_front()
                        .expect("script ran out");
                    match answer {
                        Ok((status, retry_after, replayed)) => {
                            body = Some(req.attempt);
                            Input::Answered(Head {
                                status,
                                retry_after: retry_after.map(Into::into),
                                replayed,
                                html: false,
                            })
                        }
                        Err(failure) => Input::NoAnswer(failure),
                    }
                }
                Io::ReadBody => Input::BodyRead(body.take().expect("a body to read")),
                Io::Sleep(ms) => {
                    clock.sleeps.borrow_mut().push(ms);
                    clock.now.set(clock.now.get() + ms);
                    if clock.abort_on_sleep.get() {
                        Input::Aborted
                    } else {
                        Input::Slept
                    }
                }
                Io::Done(outcome) => return outcome,
            }
        }
    }

    const EP: &str = "https://shop.test/api/charges";
    const BODY: &str = r#"{"amount":5000,"currency":"usd"}"#;
    const TTL: u64 = 86_400_000;

    fn fp() -> String {
        fingerprint(EP, BODY)
    }

    fn lookup<'a>(now_ms: u64, fingerprint: &'a str, caller_key: Option<&'a str>) -> Lookup<'a> {
        Lookup {
            now_ms,
            ttl_ms: TTL,
            endpoint: EP,
            fingerprint,
            caller_key,
            joined: None,
        }
    }

    fn start(
        s: &MemStore,
        now: u64,
        key: Option<&str>,
        mint: &'static str,
    ) -> Result<Payment<u32>, PayError<u32>> {
        let fp = fp();
        let record = resolve(s, &lookup(now, &fp, key), || Ok(mint.to_owned()))?;
        Ok(Payment::new(record, Policy::default()))
    }

    fn pay(
        t: &Server,
        c: &FakeClock,
        s: &MemStore,
        key: Option<&str>,
        mint: &'static str,
    ) -> Outcome<u32> {
        drive(start(s, c.now.get(), key, mint)?, t, c, s, &Silent)
    }

    /// Starts `p` and gives it a 200 head (an HTML page's, or not): the
    /// machine then asks for the body.
    fn answer_200<B: Body + core::fmt::Debug>(p: &mut Payment<B>, s: &MemStore, html: bool) {
        assert!(matches!(h::<B>(p, Input::Start, s), Io::Send(_)));
        let head = Head {
            status: 200,
            retry_after: None,
            replayed: false,
            html,
        };
        assert!(matches!(h::<B>(p, Input::Answered(head), s), Io::ReadBody));
    }

    #[test]
    fn success_first_time() {
        let (t, c, s) = (
            Server::new(vec![Ok((201, None, false))]),
            FakeClock::at(1000),
            MemStore::default(),
        );
        let ok = pay(&t, &c, &s, None, "k1").unwrap();
        assert_eq!(
            (
                ok.key.as_str(),
                ok.status,
                ok.attempts,
                ok.replayed,
                ok.body
            ),
            ("k1", 201, 1, false, 1)
        );
        assert_eq!(
            t.sent.borrow().as_slice(),
            [(EP.to_owned(), "k1".to_owned())]
        );
        let rec = &s.all()[0];
        assert_eq!((rec.state, rec.attempts), (State::Succeeded, 1));
        assert!(c.sleeps.borrow().is_empty());
    }

    #[test]
    fn the_record_is_saved_before_the_request_leaves() {
        let s = MemStore::default();
        let mut p = start(&s, 1000, None, "k1").unwrap();
        assert!(
            s.all().is_empty(),
            "nothing is written before the payment starts"
        );
        match h::<u32>(&mut p, Input::Start, &s) {
            Io::Send(req) => assert_eq!(
                (req.endpoint.as_str(), req.key.as_str(), req.attempt),
                (EP, "k1", 1)
            ),
            other => panic!("{other:?}"),
        }
        let saved = s.all();
        assert_eq!((saved[0].state, saved[0].attempts), (State::Pending, 1));
    }

    #[test]
    fn an_abort_before_the_first_send_writes_nothing() {
        let s = MemStore::default();
        let mut p = start(&s, 1000, None, "k1").unwrap();
        match h::<u32>(&mut p, Input::Aborted, &s) {
            Io::Done(Err(e)) => {
                assert_eq!((e.code, e.attempts, e.key_kept), (Code::Aborted, 0, true))
            }
            other => panic!("{other:?}"),
        }
        assert!(s.all().is_empty(), "{:?}", s.all());
    }

    #[test]
    fn an_abort_while_reading_the_body_keeps_the_key() {
        let s = MemStore::default();
        let mut p = start(&s, 1000, None, "k1").unwrap();
        answer_200::<u32>(&mut p, &s, false);
        match h::<u32>(&mut p, Input::Aborted, &s) {
            Io::Done(Err(e)) => assert_eq!((e.code, e.attempts), (Code::Aborted, 1)),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.all()[0].state, State::Pending);
    }

    #[test]
    fn a_final_no_stands_when_its_body_is_lost() {
        for lost in [Input::NoAnswer(Failure::Timeout), Input::Aborted] {
            let s = MemStore::default();
            let mut p = start(&s, 1000, None, "k1").unwrap();
            let _ = h::<u32>(&mut p, Input::Start, &s);
            let head = Head {
                status: 402,
                retry_after: None,
                replayed: false,
                html: false,
            };
            assert!(matches!(
                h::<u32>(&mut p, Input::Answered(head), &s),
                Io::ReadBody
            ));
            match h::<u32>(&mut p, lost, &s) {
                Io::Done(Err(e)) => assert_eq!(
                    (e.code, e.status, e.key_kept, e.body),
                    (Code::Http, Some(402), false, None)
                ),
                other => panic!("{other:?}"),
            }
            assert_eq!(s.all()[0].state, State::Failed);
        }
    }

    #[test]
    fn inputs_out_of_order_end_with_the_key_kept() {
        let s = MemStore::default();
        for input in [
            Input::Slept,
            Input::BodyRead(1),
            Input::Answered(Head {
                status: 200,
                retry_after: None,
                replayed: false,
                html: false,
            }),
        ] {
            let mut p = start(&s, 1000, None, "k1").unwrap();
            match h::<u32>(&mut p, input, &s) {
                Io::Done(Err(e)) => assert!(e.key_kept && e.retryable, "{e:?}"),
                other => panic!("{other:?}"),
            }
        }
        let mut p = start(&s, 1000, None, "k1").unwrap();
        let t = Server::new(vec![Ok((200, None, false))]);
        let c = FakeClock::at(1000);
        let _ = drive(start(&s, 1000, None, "k1").unwrap(), &t, &c, &s, &Silent);
        let _ = h::<u32>(&mut p, Input::Start, &s);
        let _ = h::<u32>(&mut p, Input::NoAnswer(Failure::Timeout), &s);
        assert!(matches!(
            h::<u32>(&mut p, Input::Start, &s),
            Io::Done(Err(_))
        ));
    }

    #[test]
    fn retries_503_then_succeeds_with_the_same_key() {
        let t = Server::new(vec![
            Ok((503, None, false)),
            Ok((503, None, false)),
            Ok((200, None, true)),
        ]);
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let ok = pay(&t, &c, &s, None, "k1").unwrap();
        assert_eq!((ok.attempts, ok.replayed), (3, true));
        let sent = t.sent.borrow();
        assert!(
            sent.iter().all(|r| r == &sent[0]),
            "same request every time"
        );
        assert_eq!(c.sleeps.borrow().as_slice(), [375, 750]);
    }

    #[test]
    fn network_errors_and_timeouts_are_retried() {
        let t = Server::new(vec![
            Err(Failure::Network("reset".into())),
            Err(Failure::Timeout),
            Ok((200, None, false)),
        ]);
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let log = Log::default();
        let ok = drive(start(&s, 1000, None, "k1").unwrap(), &t, &c, &s, &log).unwrap();
        assert_eq!(ok.attempts, 3);
        let log = log.0.borrow();
        assert_eq!(log.len(), 8, "{log:?}");
        assert!(
            log[1].contains("Network") && log[4].contains("Timeout"),
            "{log:?}"
        );
        assert!(
            log[2].contains("Backoff") && log[2].contains("delay_ms: 375"),
            "{log:?}"
        );
    }

    #[test]
    fn retries_exhausted_keep_the_key_pending() {
        let t = Server::new(vec![Ok((500, None, false)); 3]);
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let err = pay(&t, &c, &s, None, "k1").unwrap_err();
        assert_eq!(
            (
                err.code,
                err.status,
                err.attempts,
                err.retryable,
                err.key_kept
            ),
            (Code::Http, Some(500), 3, true, true)
        );
        assert_eq!(err.body, Some(3));
        assert!(err.message.contains("key is kept"), "{}", err.message);
        assert_eq!(s.all()[0].state, State::Pending);
        // The shopper clicks again: same key, no new one minted.
        let t2 = Server::new(vec![Ok((200, None, true))]);
        let ok = pay(&t2, &c, &s, None, "k2").unwrap();
        assert_eq!(ok.key, "k1");
        assert_eq!(s.all()[0].attempts, 4);
    }

    #[test]
    fn network_failure_after_the_last_retry_names_the_browsers_reason() {
        let t = Server::new(vec![Err(Failure::Network("Failed to fetch".into())); 3]);
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let err = pay(&t, &c, &s, None, "k1").unwrap_err();
        assert_eq!(
            (err.code, err.attempts, err.retryable),
            (Code::Network, 3, true)
        );
        assert!(
            err.message.ends_with("(browser said: Failed to fetch)"),
            "{}",
            err.message
        );
    }

    #[test]
    fn conflict_that_outlives_retries_is_conflict() {
        let t = Server::new(vec![Ok((409, None, false)); 3]);
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let err = pay(&t, &c, &s, None, "k1").unwrap_err();
        assert_eq!(
            (err.code, err.status, err.retryable),
            (Code::Conflict, Some(409), true)
        );
    }

    #[test]
    fn definitive_4xx_is_not_retried_and_retires_the_key() {
        for status in [400, 402, 404, 405, 410, 417] {
            let t = Server::new(vec![Ok((status, None, false))]);
            let (c, s) = (FakeClock::at(1000), MemStore::default());
            let err = pay(&t, &c, &s, None, "k1").unwrap_err();
            assert_eq!(
                (err.status, err.attempts, err.retryable, err.key_kept),
                (Some(status), 1, false, false)
            );
            assert_eq!(err.code, Code::Http);
            assert!(err.message.contains("key is retired"), "{}", err.message);
            assert_eq!(s.all()[0].state, State::Failed);
            // The next try is a new payment with a new key.
            let t2 = Server::new(vec![Ok((200, None, false))]);
            assert_eq!(pay(&t2, &c, &s, None, "k2").unwrap().key, "k2");
        }
    }

    #[test]
    fn a_refusal_after_an_unknown_outcome_keeps_the_key() {
        // The first attempt may have been charged; a login or firewall then says no.
        for status in [401, 402, 403, 404] {
            let t = Server::new(vec![Err(Failure::Timeout), Ok((status, None, false))]);
            let (c, s) = (FakeClock::at(1000), MemStore::default());
            let err = pay(&t, &c, &s, None, "k1").unwrap_err();
            assert_eq!(
                (
                    err.code,
                    err.status,
                    err.attempts,
                    err.retryable,
                    err.key_kept
                ),
                (Code::Http, Some(status), 2, true, true)
            );
            assert!(
                err.message.contains("may have been charged"),
                "{}",
                err.message
            );
            assert_eq!(s.all()[0].state, State::Pending);
            let t2 = Server::new(vec![Ok((200, None, true))]);
            assert_eq!(pay(&t2, &c, &s, None, "k2").unwrap().key, "k1");
        }
    }

    #[test]
    fn a_refusal_in_a_later_call_keeps_a_key_an_earlier_call_left_unknown() {
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let lost = Server::new(vec![Err(Failure::Network("reset".into())); 3]);
        assert!(pay(&lost, &c, &s, None, "k1").unwrap_err().key_kept);
        let gate = Server::new(vec![Ok((401, None, false))]);
        let err = pay(&gate, &c, &s, None, "k2").unwrap_err();
        assert_eq!(
            (err.key.as_deref(), err.key_kept, err.retryable),
            (Some("k1"), true, true)
        );
        assert_eq!(s.all()[0].state, State::Pending);
    }

    #[test]
    fn a_refusal_of_a_repeat_leaves_a_paid_payment_paid() {
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        pay(
            &Server::new(vec![Ok((201, None, false))]),
            &c,
            &s,
            None,
            "k1",
        )
        .unwrap();
        // Whatever a repeat is answered (a firewall, "already used", a stored
        // failure), the payment stays paid and the caller is told so.
        for (status, replayed) in [
            (403, false),
            (422, false),
            (409, false),
            (503, true),
            (400, false),
        ] {
            let ok = pay(
                &Server::new(vec![Ok((status, None, replayed))]),
                &c,
                &s,
                None,
                "k2",
            )
            .unwrap();
            assert_eq!(
                (ok.key.as_str(), ok.status, ok.replayed, ok.attempts),
                ("k1", status, true, 1)
            );
            assert_eq!(s.all()[0].state, State::Succeeded);
        }
        let again = pay(
            &Server::new(vec![Ok((201, None, true))]),
            &c,
            &s,
            None,
            "k3",
        );
        assert_eq!(again.unwrap().key, "k1");
    }

    #[test]
    fn a_refusal_the_key_store_replays_retires_the_key_after_an_unknown() {
        // The server stored a refusal for this key: nothing was charged under it.
        for status in [402, 403, 422] {
            let t = Server::new(vec![Err(Failure::Timeout), Ok((status, None, true))]);
            let (c, s) = (FakeClock::at(1000), MemStore::default());
            let err = pay(&t, &c, &s, None, "k1").unwrap_err();
            assert_eq!((err.key_kept, err.retryable), (false, false), "{status}");
            assert_eq!(s.all()[0].state, State::Failed);
        }
    }

    #[test]
    fn other_details_after_an_unknown_outcome_keep_the_key() {
        // The first attempt was charged and its answer lost; a fetch wrapper
        // then changed the body (or the server fingerprints a header the page
        // refreshed), and the repeat is told "other details". The server saw
        // the key before: the key is kept, so no new key charges again.
        for status in [422, 417] {
            let mut policy = Policy::default();
            policy.dialect.mismatch = crate::rules::retry::Statuses::of(&[417, 422]);
            let t = Server::new(vec![Err(Failure::Timeout), Ok((status, None, false))]);
            let (c, s) = (FakeClock::at(1000), MemStore::default());
            let record =
                resolve::<u32>(&s, &lookup(1000, &fp(), None), || Ok("k1".to_owned())).unwrap();
            let err = drive(Payment::new(record, policy), &t, &c, &s, &Silent).unwrap_err();
            assert_eq!(
                (err.code, err.key_kept, err.retryable, err.attempts),
                (Code::KeyReused, true, false, 2),
                "{status}"
            );
            assert!(
                err.message.contains("may have been charged"),
                "{}",
                err.message
            );
            assert_eq!(s.all()[0].state, State::Pending);
            let again = Server::new(vec![Ok((201, None, true))]);
            assert_eq!(pay(&again, &c, &s, None, "k2").unwrap().key, "k1");
        }
    }

    #[test]
    fn other_details_on_the_first_request_keep_the_key() {
        // A fresh random key the server says it saw with other details: only a
        // copy the browser resent (the first one charged) explains that.
        let t = Server::new(vec![Ok((422, None, false))]);
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let err = pay(&t, &c, &s, None, "k1").unwrap_err();
        assert_eq!(
            (err.code, err.key_kept, err.retryable, err.attempts),
            (Code::KeyReused, true, false, 1)
        );
        assert!(err.message.contains("the key is kept"), "{}", err.message);
        assert_eq!(s.all()[0].state, State::Pending);
    }

    #[test]
    fn a_gate_s_refusal_of_the_first_request_keeps_the_key() {
        // The browser may have sent the first request twice (a reused
        // connection closed before any answer): the first copy charged, the
        // second met a firewall or an expired login. payonce saw one request.
        for status in [401, 403, 407] {
            let t = Server::new(vec![Ok((status, None, false))]);
            let (c, s) = (FakeClock::at(1000), MemStore::default());
            let err = pay(&t, &c, &s, None, "k1").unwrap_err();
            assert_eq!(
                (err.code, err.key_kept, err.retryable, err.attempts),
                (Code::Http, true, true, 1),
                "{status}"
            );
            assert!(err.message.contains("key is kept"), "{}", err.message);
            assert_eq!(s.all()[0].state, State::Pending);
            let again = Server::new(vec![Ok((201, None, true))]);
            assert_eq!(pay(&again, &c, &s, None, "k2").unwrap().key, "k1");
        }
    }

    #[test]
    fn a_stored_failure_the_server_replays_ends_the_call_with_the_key_kept() {
        for status in [500, 503, 429, 409] {
            let t = Server::new(vec![Ok((status, None, true))]);
            let (c, s) = (FakeClock::at(1000), MemStore::default());
            let err = pay(&t, &c, &s, None, "k1").unwrap_err();
            assert_eq!(
                (err.status, err.key_kept, err.retryable, err.attempts),
                (Some(status), true, false, 1),
                "{status}"
            );
            assert!(
                err.message.contains("replays an error it stored"),
                "{}",
                err.message
            );
            assert_eq!(s.all()[0].state, State::Pending);
        }
    }

    #[test]
    fn a_finished_request_answered_without_its_status_is_an_unknown_outcome() {
        // django-idempotency-key answers a repeat of a finished request 409.
        let mut policy = Policy::default();
        policy.dialect.finished = crate::rules::retry::Statuses::of(&[409]);
        policy.dialect.in_progress = crate::rules::retry::Statuses::of(&[]);
        let t = Server::new(vec![Err(Failure::Timeout), Ok((409, None, false))]);
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let record =
            resolve::<u32>(&s, &lookup(1000, &fp(), None), || Ok("k1".to_owned())).unwrap();
        let err = drive(Payment::new(record, policy), &t, &c, &s, &Silent).unwrap_err();
        assert_eq!(
            (
                err.code,
                err.status,
                err.key_kept,
                err.retryable,
                err.attempts
            ),
            (Code::Http, Some(409), true, false, 2)
        );
        assert!(err.message.contains("already finished"), "{}", err.message);
        assert_eq!(s.all()[0].state, State::Pending);
    }

    #[test]
    fn too_early_is_retried() {
        let t = Server::new(vec![Ok((425, None, false)), Ok((201, None, false))]);
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let ok = pay(&t, &c, &s, None, "k1").unwrap();
        assert_eq!((ok.status, ok.attempts), (201, 2));
    }

    #[test]
    fn a_status_outside_http_s_classes_is_an_unknown_outcome() {
        for status in [600, 999, 1000, 100, 199] {
            let t = Server::new(vec![Ok((status, None, false))]);
            let (c, s) = (FakeClock::at(1000), MemStore::default());
            let err = pay(&t, &c, &s, None, "k1").unwrap_err();
            assert_eq!(
                (err.code, err.attempts, err.retryable, err.key_kept),
                (Code::Http, 1, true, true),
                "{status}"
            );
            assert_eq!(s.all()[0].state, State::Pending);
        }
    }

    #[test]
    fn an_html_page_is_not_the_payment_server_s_answer_unless_the_caller_says_so() {
        for accept_html in [false, true] {
            let s = MemStore::default();
            let fp = fp();
            let record = resolve::<u32>(&s, &lookup(1000, &fp, None), || Ok("k1".into())).unwrap();
            let policy = Policy {
                accept_html,
                ..Policy::default()
            };
            let mut p = Payment::new(record, policy);
            answer_200::<u32>(&mut p, &s, true);
            match h(&mut p, Input::BodyRead(7u32), &s) {
                Io::Done(Ok(ok)) if accept_html => assert_eq!(ok.status, 200),
                Io::Done(Err(e)) if !accept_html => {
                    assert_eq!(
                        (e.code, e.status, e.key_kept, e.retryable),
                        (Code::Http, Some(200), true, true)
                    );
                    assert!(e.message.contains("captive portal"), "{}", e.message);
                    assert_eq!(s.all()[0].state, State::Pending);
                }
                other => panic!("{accept_html}: {other:?}"),
            }
        }
        // JSON a server labels HTML is still its answer.
        #[derive(Debug)]
        struct Data;
        impl Body for Data {
            fn is_page(&self) -> bool {
                false
            }
        }
        let s = MemStore::default();
        let record = resolve::<Data>(&s, &lookup(1000, &fp(), None), || Ok("k2".into())).unwrap();
        let mut p = Payment::new(record, Policy::default());
        answer_200::<Data>(&mut p, &s, true);
        assert!(matches!(
            h(&mut p, Input::BodyRead(Data), &s),
            Io::Done(Ok(_))
        ));
        assert!(
            is_html("text/html; charset=utf-8")
                && is_html(" TEXT/HTML")
                && is_html("application/xhtml+xml")
        );
        assert!(!is_html("application/json") && !is_html("text/htmlx") && !is_html(""));
    }

    #[test]
    fn a_pending_record_storage_cannot_hold_is_told_once() {
        let s = MemStore::default();
        s.backend().broken.set(true);
        let log = Log::default();
        let t = Server::new(vec![Err(Failure::Timeout), Ok((201, None, false))]);
        let c = FakeClock::at(1000);
        drive(start(&s, 1000, None, "k1").unwrap(), &t, &c, &s, &log).unwrap();
        let events = log.0.borrow();
        let told: Vec<_> = events
            .iter()
            .filter(|e| e.starts_with("NotSaved"))
            .collect();
        assert_eq!(told, [r#"NotSaved { key: "k1" }"#], "{events:?}");
        assert!(
            events[0].starts_with("NotSaved"),
            "told before the request leaves: {events:?}"
        );
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let t = Server::new(vec![Ok((429, Some("2"), false)), Ok((200, None, false))]);
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        pay(&t, &c, &s, None, "k1").unwrap();
        assert_eq!(c.sleeps.borrow().as_slice(), [2000]);

        let t = Server::new(vec![Ok((429, Some("31536000"), false))]);
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let err = pay(&t, &c, &s, None, "k1").unwrap_err();
        assert_eq!(
            (err.code, err.attempts, err.retry_after_ms),
            (Code::RateLimited, 1, Some(31_536_000_000))
        );
        assert!(c.sleeps.borrow().is_empty(), "never waits a year");
        assert!(err.message.contains("maxRetryAfterMs"), "{}", err.message);
    }

    #[test]
    fn redirect_stops_without_retiring_the_key() {
        let t = Server::new(vec![Ok((0, None, false))]);
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        let err = pay(&t, &c, &s, None, "k1").unwrap_err();
        assert_eq!(
            (err.code, err.attempts, err.retryable, err.key_kept),
            (Code::Redirect, 1, false, true)
        );
        assert_eq!(s.all()[0].state, State::Pending);
    }

    #[test]
    fn abort_during_backoff_stops_and_keeps_the_key() {
        let t = Server::new(vec![Ok((503, None, false))]);
        let (c, s) = (FakeClock::at(1000), MemStore::default());
        c.abort_on_sleep.set(true);
        let err = pay(&t, &c, &s, None, "k1").unwrap_err();
        assert_eq!((err.code, err.attempts), (Code::Aborted, 1));
        assert_eq!(s.all()[0].state, State::Pending);
    }

    #[test]
    fn attempts_stop_counting_at_the_bound_storage_accepts() {
        let s = MemStore::default();
        let mut record =
            resolve::<u32>(&s, &lookup(1000, &fp(), None), || Ok("k1".into())).unwrap();
        record.attempts = MAX_ATTEMPTS;
        let t = Server::new(vec![Ok((200, None, false))]);
        drive(
            Payment::new(record, Policy::default()),
            &t,
            &FakeClock::at(1000),
            &s,
            &Silent,
        )
        .unwrap();
        assert_eq!(
            s.all()[0].attempts,
            MAX_ATTEMPTS,
            "written, and still readable"
        );
    }
}
