//! The rules: everything payonce decides, with no browser in sight.
//!
//! Nothing under `rules` imports web-sys, js-sys or wasm-bindgen, so `cargo test`
//! on the host exercises all of it. The browser layer (`crate::browser`) plugs
//! fetch, sessionStorage, timers and randomness into the traits in [`engine`].

pub mod engine;
pub mod error;
pub mod json;
pub mod key;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod proptests;
pub mod record;
pub mod retry;
pub mod sha256;
pub mod store;
pub mod text;
