//! `PayButton`: a Pay button (or a fieldset around the form) that cannot
//! start a second payment while one is in flight.

use crate::browser::js;
use crate::rules::text::cat;
use alloc::borrow::ToOwned;
use alloc::rc::Rc;
use alloc::string::String;
use core::cell::{Cell, RefCell};
use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::Element;

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

#[doc(hidden)]
pub struct Inner {
    element: Element,
    endpoint: Option<String>,
    original_label: String,
    labels: JsValue,
    phase: Cell<Phase>,
    in_flight: RefCell<Option<Promise>>,
}

impl Inner {
    /// The payment ended: `error` is what it rejected with, if it did.
    pub(crate) fn settled(&self, error: Option<&JsValue>) {
        let phase = match error {
            None => Phase::Succeeded,
            Some(e) => {
                let field = |name| js::get(e, name).ok();
                let code = field("code")
                    .and_then(|c| c.as_string())
                    .unwrap_or_default();
                let retryable = field("retryable").and_then(|r| r.as_bool()) == Some(true);
                // A final answer retired the key: trying again is a new payment.
                // Otherwise the outcome is unknown, and trying again resends the same key.
                if !retryable && matches!(code.as_str(), "http" | "key_reused" | "invalid_input") {
                    Phase::Failed
                } else {
                    Phase::Unknown
                }
            }
        };
        self.in_flight.borrow_mut().take();
        self.show(phase);
    }

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
        let custom = js::get(&self.labels, phase.name())
            .ok()
            .and_then(|v| v.as_string());
        let label = custom.or_else(|| phase.default_label().map(str::to_owned));
        // Buttons that hold markup (an icon, a price) keep it unless a label is asked for.
        if self.labels.is_object() || el.child_element_count() == 0 {
            el.set_text_content(Some(label.as_deref().unwrap_or(&self.original_label)));
        }
    }
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
        let element: Element = element.dyn_into().map_err(|v| {
            crate::invalid_input(&cat(&[
                "PayButton needs a button or fieldset element; got ",
                &js::describe(&v),
            ]))
        })?;
        let (endpoint, labels) = if options.is_undefined() || options.is_null() {
            (None, JsValue::UNDEFINED)
        } else {
            let endpoint = js::get(&options, "endpoint")
                .ok()
                .and_then(|e| e.as_string());
            let labels = js::get(&options, "labels").unwrap_or(JsValue::UNDEFINED);
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
            endpoint,
            labels,
            phase: Cell::new(Phase::Idle),
            in_flight: RefCell::new(None),
        });
        let pending = crate::pending_payments(
            inner
                .endpoint
                .as_deref()
                .map_or(JsValue::UNDEFINED, JsValue::from_str),
        );
        inner.show(if pending.length() > 0 {
            Phase::Pending
        } else {
            Phase::Idle
        });
        Ok(PayButton { inner })
    }

    /// Pays through `processPayment`, keeping the button in step.
    pub fn pay(&self, details: JsValue, key: JsValue, options: JsValue) -> Promise {
        if let Some(p) = self.inner.in_flight.borrow().as_ref() {
            return p.clone();
        }
        let payment = crate::process_payment(details, key, options);
        self.inner.show(Phase::Paying);
        let job = crate::checkout::Job::button(Rc::clone(&self.inner), payment);
        let promise = js::drive(job.into());
        *self.inner.in_flight.borrow_mut() = Some(promise.clone());
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
