//! The rules: everything payonce decides, with no browser in sight.
//!
//! Nothing under `rules` imports web-sys, js-sys or wasm-bindgen, so `cargo test`
//! on the host exercises all of it. The heart is two state machines that take
//! what happened and say what to do next: [`payment::Payment`] (one payment's
//! attempts) and [`tabs::Tabs`] (tabs of one origin paying the same cart); the
//! browser (`crate::checkout`, `crate::browser::tabs`) and the tests drive
//! those same machines.

pub mod error;
pub mod header;
pub mod json;
pub mod key;
pub mod lifecycle;
pub mod page;
pub mod payment;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod proptests;
pub mod record;
pub mod retry;
pub mod sha256;
pub mod store;
pub mod tabs;
pub mod text;
