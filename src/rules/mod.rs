//! The rules: everything payonce decides, with no browser in sight.
//!
//! Nothing under `rules` imports web-sys, js-sys or wasm-bindgen, so `cargo test`
//! on the host exercises all of it. The heart is [`payment::Payment`], a state
//! machine that takes what happened and says what to do next; the browser
//! (`crate::checkout`) and the tests drive that same machine.

pub mod error;
pub mod header;
pub mod json;
pub mod key;
pub mod lifecycle;
pub mod payment;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod proptests;
pub mod record;
pub mod retry;
pub mod sha256;
pub mod store;
pub mod tabs;
pub mod text;
