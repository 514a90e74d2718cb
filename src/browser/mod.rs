//! The browser layer: every web-sys and js-sys call lives here.
//!
//! It reads caller input without ever panicking, one file per thing read
//! (`details`, `options`, `endpoint`, `headers`, with `read` for the string
//! copying they share), sends requests (`fetch`), keeps records in
//! sessionStorage (`storage`), reads the clock (`clock`), coordinates with
//! other tabs (`tabs`), builds the JS objects callers see (`objects`) and
//! declares the raw JS imports (`js`). It makes no
//! payment decision: those are in `crate::rules`.

pub mod clock;
pub mod details;
pub mod endpoint;
pub mod fetch;
pub mod headers;
pub mod js;
pub mod objects;
pub mod options;
mod read;
pub mod storage;
pub mod tabs;
