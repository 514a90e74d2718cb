//! The rules: everything payonce decides, with no browser in sight.
//!
//! Nothing under `rules` imports web-sys, js-sys or wasm-bindgen, so `cargo test`
//! on the host exercises all of it. The heart is two state machines that take
//! what happened and queue what to do next, performing nothing themselves:
//! [`payment::Payment`] (one payment's attempts) and [`tabs::Tabs`] (tabs of one
//! origin paying the same cart). [`page::Page`] composes them with the
//! decisions a call makes around them; the browser (`crate::checkout`) and the
//! multi-tab test world drive that same `Page`.
//!
//! Where the rules meet the page, one port is synchronous: storage
//! ([`store::Store`], through [`page::Port`]). sessionStorage is synchronous,
//! and a key is chosen by reading it and saved before its request leaves with
//! no other script in between; the store is fallible underneath (it keeps a
//! copy in memory when storage refuses). The machines only read it (the tabs
//! machine through [`store::Records`]); the page writes what they ask for.

pub mod button;
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
