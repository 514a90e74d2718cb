//! `PayButton`: a Pay button (or a fieldset around the form) that cannot
//! start a second payment while one is in flight. It follows the payment's
//! outcome as `checkout` reports it ([`Settled`]), so it states no payment
//! rule of its own.

use crate::browser::endpoint;
use crate::browser::js::{self, Brand, Local};
use crate::browser::objects;
use crate::browser::tabs::{self, PeerWatcher};
use crate::checkout::{self, Settled, Watcher};
use crate::rules::button::shows_paid;
use crate::rules::record::{Record, State};
use crate::rules::text::cat;
use alloc::borrow::ToOwned;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use js_sys::{Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::Element;

/// Elements with a live `PayButton`: one binding per element.
static BOUND: Local<RefCell<Vec<Element>>> = Local(RefCell::new(Vec::new()));

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Pending,
    Paying,
    Succeeded,
    Failed,
    Unknown,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Pending => "pending",
            Phase::Paying => "paying",
            Phase::Succeeded => "succeeded",
            Phase::Failed => "failed",
            Phase::Unknown => "unknown",
        }
    }

    fn default_label(self) -> Option<&'static str> {
        match self {
            Phase::Idle | Phase::Failed => None,
            Phase::Pending => Some("Resume payment"),
            Phase::Paying => Some("Paying…"),
            Phase::Succeeded => Some("Paid"),
            Phase::Unknown => Some("Check payment"),
        }
    }
}

struct Inner {
    element: Element,
    original_label: String,
    labels: JsValue,
    phase: Cell<Phase>,
    in_flight: RefCell<Option<Promise>>,
    /// The `endpoint` option, absolute.
    endpoint: Option<String>,
    /// The fingerprint of the last payment through this button.
    fingerprint: RefCell<Option<String>>,
}

impl Watcher for Inner {
    fn settled(&self, how: Settled) {
        self.in_flight.borrow_mut().take();
        self.show(match how {
            Settled::Succeeded => Phase::Succeeded,
            Settled::Failed => Phase::Failed,
            Settled::Unknown => Phase::Unknown,
        });
    }

    fn paying(&self, fingerprint: &str) {
        *self.fingerprint.borrow_mut() = Some(fingerprint.to_owned());
    }
}

/// Another tab's payment shows here too: the button turns "paid" when its
/// own payment succeeds in another tab (see [`shows_paid`]).
impl PeerWatcher for Inner {
    fn saved_elsewhere(&self, record: &Record, continued: bool) {
        if self.phase.get() == Phase::Paying {
            return;
        }
        let fingerprint = self.fingerprint.borrow().clone();
        if shows_paid(
            fingerprint.as_deref(),
            self.endpoint.as_deref(),
            record,
            continued,
        ) {
            self.show(Phase::Succeeded);
        }
    }

    /// Back from the back/forward cache: the payment's state as storage now
    /// has it (another page of the tab, or another tab, may have paid).
    fn restored(&self) {
        if self.phase.get() == Phase::Paying {
            return;
        }
        let fingerprint = self.fingerprint.borrow().clone();
        let state = match fingerprint {
            Some(fp) => checkout::state_of(&fp),
            None if !checkout::pending(self.endpoint.as_deref()).is_empty() => Some(State::Pending),
            None => None,
        };
        match state {
            Some(State::Succeeded) => self.show(Phase::Succeeded),
            Some(State::Pending) => self.show(Phase::Pending),
            _ => {}
        }
    }
}

impl Inner {
    fn show(&self, phase: Phase) {
        self.phase.set(phase);
        let el = &self.element;
        let _ = el.set_attribute("data-payonce-state", phase.name());
        if matches!(phase, Phase::Paying | Phase::Succeeded) {
            let _ = el.set_attribute("disabled", "");
        } else {
            let _ = el.remove_attribute("disabled");
        }
        let _ = el.set_attribute(
            "aria-busy",
            if phase == Phase::Paying {
                "true"
            } else {
                "false"
            },
        );
        if self.labels.is_null() {
            return;
        }
        let custom = label(&self.labels, phase);
        let label = custom.or_else(|| phase.default_label().map(str::to_owned));
        // Buttons that hold markup (an icon, a price) keep it unless a label is asked for.
        if self.labels.is_object() || el.child_element_count() == 0 {
            el.set_text_content(Some(label.as_deref().unwrap_or(&self.original_label)));
        }
    }
}

/// The caller's label for `phase`: an own string property of `labels` (the
/// `labels` option, when it is an object).
fn label(labels: &JsValue, phase: Phase) -> Option<String> {
    if !labels.is_object() {
        return None;
    }
    js::own(labels, phase.name()).ok()?.as_string()
}

/// Binds a Pay button to payonce. See `payonce.d.ts`.
#[wasm_bindgen(js_name = PayButton, skip_typescript)]
pub struct PayButton {
    inner: Rc<Inner>,
}

#[wasm_bindgen(js_class = PayButton)]
impl PayButton {
    /// Binds `element`; on page load it shows a payment left pending by a reload.
    #[wasm_bindgen(constructor)]
    pub fn new(element: JsValue, options: JsValue) -> Result<PayButton, JsValue> {
        let element = payable(element)?;
        if BOUND.with(|b| b.borrow().iter().any(|e| Object::is(e, &element))) {
            return Err(objects::invalid_input(
                "this element already has a PayButton; call free() on that one before binding another",
            ));
        }
        let (endpoint, labels) = if options.is_undefined() || options.is_null() {
            (None, JsValue::UNDEFINED)
        } else {
            // Own properties only: what page code put on Object.prototype is not an option.
            let endpoint = js::own(&options, "endpoint").unwrap_or(JsValue::UNDEFINED);
            let endpoint = if endpoint.is_undefined() || endpoint.is_null() {
                None
            } else {
                let e = endpoint::endpoint(&endpoint).map_err(|m| objects::invalid_input(&m))?;
                Some(e)
            };
            let labels = js::own(&options, "labels").unwrap_or(JsValue::UNDEFINED);
            let labels = if labels.as_bool() == Some(false) {
                JsValue::NULL
            } else {
                labels
            };
            (endpoint, labels)
        };
        let inner = Rc::new(Inner {
            original_label: element.text_content().unwrap_or_default(),
            element,
            labels,
            phase: Cell::new(Phase::Idle),
            in_flight: RefCell::new(None),
            endpoint,
            fingerprint: RefCell::new(None),
        });
        // A checkout page with a button hears other tabs from the start.
        checkout::open();
        tabs::watch(Rc::downgrade(&inner) as alloc::rc::Weak<dyn PeerWatcher>);
        let pending = !checkout::pending(inner.endpoint.as_deref()).is_empty();
        inner.show(if pending { Phase::Pending } else { Phase::Idle });
        BOUND.with(|b| b.borrow_mut().push(inner.element.clone()));
        Ok(PayButton { inner })
    }

    /// Pays through `processPayment`, keeping the button in step.
    pub fn pay(&self, details: JsValue, key: JsValue, options: JsValue) -> Promise {
        if let Some(p) = self.inner.in_flight.borrow().clone() {
            return p;
        }
        self.inner.show(Phase::Paying);
        let watcher: Rc<dyn Watcher> = self.inner.clone();
        let promise = checkout::pay(&details, &key, &options, Some(watcher));
        // A payment that failed before starting has already settled the button.
        if self.inner.phase.get() == Phase::Paying {
            *self.inner.in_flight.borrow_mut() = Some(promise.clone());
        }
        promise
    }

    /// `'idle' | 'pending' | 'paying' | 'succeeded' | 'failed' | 'unknown'`.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> String {
        self.inner.phase.get().name().to_owned()
    }

    /// Back to idle, for a new order (pair it with `forgetPayment`).
    pub fn reset(&self) {
        if self.inner.phase.get() != Phase::Paying {
            self.inner.show(Phase::Idle);
        }
    }
}

impl Drop for PayButton {
    fn drop(&mut self) {
        let element = &self.inner.element;
        BOUND.with(|b| b.borrow_mut().retain(|e| !Object::is(e, element)));
    }
}

/// The element, if it is an HTML `<button>` or `<fieldset>` (the two that
/// `disabled` works on for a whole checkout action).
fn payable(value: JsValue) -> Result<Element, JsValue> {
    let refuse = |what: &str| {
        objects::invalid_input(&cat(&[
            "PayButton needs a <button> or <fieldset> element; got ",
            what,
        ]))
    };
    // An element of this page or of a same-origin frame.
    if !js::is(Brand::Element, &value) {
        return Err(refuse(&js::describe(&value)));
    }
    let element: &Element = value.unchecked_ref();
    let html = element.namespace_uri().as_deref() == Some("http://www.w3.org/1999/xhtml");
    let name = element.local_name();
    if html && (name == "button" || name == "fieldset") {
        Ok(element.clone())
    } else {
        Err(refuse(&cat(&["<", &name, ">"])))
    }
}
