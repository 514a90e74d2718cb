//! The browser layer: every web-sys and js-sys call lives here.
//!
//! It reads JS input without ever panicking, plugs fetch, sessionStorage,
//! timers and `Math.random` into the core's traits, and turns core results
//! into the JS objects callers see.

pub mod clock;
pub mod convert;
pub mod fetch;
pub mod js;
pub mod storage;
