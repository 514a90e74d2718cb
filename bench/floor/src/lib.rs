//! The smallest module that does what payonce must do on every payment: write
//! the key to sessionStorage, send the POST with it, write the outcome. No
//! validation, no retries, no errors worth the name: a floor, not a client.
#![no_std]
extern crate alloc;

use alloc::string::String;
use wasm_bindgen::prelude::*;

#[global_allocator]
// SAFETY: the module runs on one thread.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

fn storage() -> Result<web_sys::Storage, JsValue> {
    web_sys::window()
        .ok_or(JsValue::NULL)?
        .session_storage()?
        .ok_or(JsValue::NULL)
}

/// Writes the key, then sends the payment; the caller awaits the promise.
#[wasm_bindgen]
pub fn send(endpoint: String, body: String, key: String) -> Result<js_sys::Promise, JsValue> {
    storage()?.set_item(&key, "pending")?;
    let headers = web_sys::Headers::new()?;
    headers.set("Content-Type", "application/json")?;
    headers.set("Idempotency-Key", &key)?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(&body));
    Ok(web_sys::window()
        .ok_or(JsValue::NULL)?
        .fetch_with_str_and_init(&endpoint, &init))
}

/// Writes the outcome.
#[wasm_bindgen]
pub fn settle(key: String, ok: bool) -> Result<(), JsValue> {
    storage()?.set_item(&key, if ok { "succeeded" } else { "failed" })
}
