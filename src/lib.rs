//! payonce: a shopper clicks "Pay" and is charged exactly once.
//!
//! This file holds only what JavaScript sees. The rules live in `rules`
//! (pure Rust, tested natively), with the payment state machine at their
//! heart; the browser plumbing lives in `browser`; `checkout` drives the
//! machine with fetch and timers, and `button` is the PayButton.
//!
//! The shipped wasm is `no_std`: Rust's std would bring its panic and
//! formatting machinery, which was a third of the module. Feature `std` links
//! it back for the browser tests.
#![cfg_attr(all(target_arch = "wasm32", not(feature = "std")), no_std)]
#![deny(missing_docs)]

extern crate alloc;

#[cfg(target_arch = "wasm32")]
mod browser;
#[cfg(target_arch = "wasm32")]
mod checkout;
// On the host only the tests use the rules (the browser layer is wasm32-only);
// the wasm32 build still flags anything unused.
#[cfg(target_arch = "wasm32")]
mod button;
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod rules;

#[cfg(target_arch = "wasm32")]
pub use button::PayButton;
#[cfg(target_arch = "wasm32")]
pub use exports::*;

#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
// SAFETY: without the atomics target feature the module runs on one thread, so the
// allocator is never entered from two threads at once.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

/// A panic is a bug (every input error is an `Err`); it ends the call with a
/// wasm trap, which JS sees as a `RuntimeError`, and carries no message text.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(target_arch = "wasm32")]
mod exports {
    //! Everything JavaScript calls.
    use crate::browser::endpoint;
    use crate::browser::objects;
    use crate::browser::storage::SessionStore;
    use crate::checkout;
    use alloc::string::String;
    use js_sys::{Array, Promise};
    use wasm_bindgen::prelude::*;

    /// Pays once. See `payonce.d.ts` for the contract.
    #[wasm_bindgen(js_name = processPayment, skip_typescript)]
    pub fn process_payment(details: JsValue, key: JsValue, options: JsValue) -> Promise {
        checkout::pay(&details, &key, &options, None)
    }

    /// A fresh idempotency key (UUID v4), for apps that manage keys themselves.
    #[wasm_bindgen(js_name = newIdempotencyKey, skip_typescript)]
    pub fn new_idempotency_key() -> Result<String, JsValue> {
        checkout::new_key().map_err(objects::error_to_js)
    }

    /// The payments whose outcome is still unknown, for the page to show after a reload.
    #[wasm_bindgen(js_name = pendingPayments, skip_typescript)]
    pub fn pending_payments(endpoint: JsValue) -> Array {
        // An endpoint no payment could have used has no pending payments.
        let endpoint = if endpoint.is_undefined() || endpoint.is_null() {
            None
        } else {
            match endpoint::endpoint(&endpoint) {
                Ok(e) => Some(e),
                Err(_) => return Array::new(),
            }
        };
        objects::records_to_js(&checkout::pending(endpoint.as_deref())).unchecked_into()
    }

    /// Forgets a payment's key, so the same details become a new payment.
    /// A payment still on the wire cannot be forgotten (its outcome would
    /// write the record back): that gives `false`.
    #[wasm_bindgen(js_name = forgetPayment, skip_typescript)]
    pub fn forget_payment(key: JsValue) -> bool {
        key.as_string().is_some_and(|key| checkout::forget(&key))
    }

    /// Whether `value` is an error thrown by payonce (the entry module exports
    /// `src/js/values.js`'s own; this is for the browser tests).
    #[doc(hidden)]
    pub fn is_payment_error(value: JsValue) -> bool {
        crate::browser::js::is_payment_error(&value)
    }

    /// Drops everything payonce holds in memory, as a page reload does; storage stays.
    /// For tests of reload behaviour; not part of the JS API.
    #[doc(hidden)]
    pub fn simulate_reload() {
        SessionStore::drop_memory();
        checkout::forget_in_flight();
    }
}
