//! Time, sleep and jitter from the browser.

use super::js;
use crate::core::engine::Clock;
use js_sys::Promise;
use web_sys::AbortSignal;

/// `Date.now()`, `setTimeout` and `Math.random()`, with the caller's signal
/// able to cut a backoff short.
pub struct BrowserClock {
    signal: Option<AbortSignal>,
}

impl BrowserClock {
    /// A clock whose sleeps end early when `signal` aborts.
    pub fn new(signal: Option<AbortSignal>) -> Self {
        BrowserClock { signal }
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

impl Clock for BrowserClock {
    fn now_ms(&self) -> u64 {
        now_ms()
    }

    async fn sleep(&self, ms: u64) -> Result<(), ()> {
        if self.signal.as_ref().is_some_and(AbortSignal::aborted) {
            return Err(());
        }
        let mut on_abort = None;
        let promise = Promise::new(&mut |resolve, reject| {
            if js::set_timeout(&resolve, ms as f64).is_err() {
                let _ = resolve.call0(&wasm_bindgen::JsValue::NULL);
            }
            if let Some(signal) = &self.signal {
                let _ = signal.add_event_listener_with_callback("abort", &reject);
            }
            on_abort = Some(reject);
        });
        let result = js::wait(promise).await;
        if let (Some(signal), Some(reject)) = (&self.signal, &on_abort) {
            let _ = signal.remove_event_listener_with_callback("abort", reject);
        }
        result.map(|_| ()).map_err(|_| ())
    }

    fn random(&self) -> f64 {
        js_sys::Math::random()
    }
}
