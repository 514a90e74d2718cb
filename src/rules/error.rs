//! One error type for every way a payment can fail, each with a stable code.

use alloc::string::String;
use core::fmt;

/// What went wrong, as a stable lowercase code that JS callers switch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// The caller passed something payonce cannot send; nothing was sent.
    InvalidInput,
    /// The key is already bound to other payment details (client check or a 422).
    KeyReused,
    /// The request never got an HTTP answer (offline, DNS, connection reset, CORS).
    Network,
    /// An attempt took longer than `timeoutMs`.
    Timeout,
    /// The server answered with a status that is not a success.
    Http,
    /// The server is still processing an earlier request with this key (409),
    /// or another tab may be paying the same details and gave no evidence in
    /// time that it is not (nothing was sent).
    Conflict,
    /// The server asked us to slow down (429).
    RateLimited,
    /// The caller's `AbortSignal` fired.
    Aborted,
    /// The server redirected the payment request; payonce does not follow it.
    Redirect,
}

impl Code {
    /// The code as JS sees it.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidInput => "invalid_input",
            Code::KeyReused => "key_reused",
            Code::Network => "network",
            Code::Timeout => "timeout",
            Code::Http => "http",
            Code::Conflict => "conflict",
            Code::RateLimited => "rate_limited",
            Code::Aborted => "aborted",
            Code::Redirect => "redirect",
        }
    }
}

/// A failed payment. `B` is the response body type (a `JsValue` in the browser).
#[derive(Clone, Debug, PartialEq)]
pub struct PayError<B> {
    /// What kind of failure this is.
    pub code: Code,
    /// A lowercase sentence saying what happened and what to do.
    pub message: String,
    /// The last HTTP status, when the server answered.
    pub status: Option<u16>,
    /// Whether calling again with the same details is safe and may succeed.
    /// Always safe with payonce (the key is kept); this says whether it is *useful*.
    pub retryable: bool,
    /// The idempotency key used, once one was chosen.
    pub key: Option<String>,
    /// Whether the key is kept because the outcome may be unknown (paying
    /// again resends it); `false` when the server's final answer retired it,
    /// or when nothing was sent.
    pub key_kept: bool,
    /// How many requests left the browser.
    pub attempts: u32,
    /// The last response body, when there was one.
    pub body: Option<B>,
    /// The server's Retry-After, in milliseconds, when it sent one.
    pub retry_after_ms: Option<u64>,
}

impl<B> PayError<B> {
    /// An error raised before anything was sent.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self::with_message(code, message.into())
    }

    /// [`PayError::new`]'s one body: built at every `?`, so not inlined into each.
    #[inline(never)]
    fn with_message(code: Code, message: String) -> Self {
        PayError {
            code,
            message,
            status: None,
            retryable: false,
            key: None,
            key_kept: false,
            attempts: 0,
            body: None,
            retry_after_ms: None,
        }
    }

    /// Bad input from the caller: nothing was sent.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidInput, message)
    }
}

impl<B> fmt::Display for PayError<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
