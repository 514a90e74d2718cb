//! The browser layer: every web-sys and js-sys call lives here.
//!
//! It reads JS input without ever panicking (`convert`), sends requests
//! (`fetch`), keeps records in sessionStorage (`storage`), reads the clock
//! (`clock`), coordinates with other tabs (`tabs`) and declares the raw JS imports (`js`). It makes no payment
//! decision: those are in `crate::rules`.

pub mod clock;
pub mod convert;
pub mod fetch;
pub mod js;
pub mod storage;
pub mod tabs;
