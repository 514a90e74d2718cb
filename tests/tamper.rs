//! Browser tests of what the page around payonce can do to it: records
//! planted in sessionStorage, storage methods that call back into payonce,
//! signals aborted early, keys forgotten mid-flight, elements that are not
//! buttons. The real module in a real browser, with a recording `fetch`.
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(inline_js = r#"
const real = { setItem: Storage.prototype.setItem };
export function v(src) { return new Function('return (' + src + ')')(); }
export function fresh() {
  Storage.prototype.setItem = real.setItem;
  sessionStorage.clear();
}
// Records every request; answers 200 at once, or holds it until release().
let held = [];
export function recordFetch(hold, status, headers) {
  const calls = [];
  globalThis.fetch = (url, init) => {
    const h = {};
    new Headers(init.headers).forEach((val, name) => { h[name] = val; });
    calls.push({ url: String(url), headers: h, body: init.body });
    const respond = () => new Response('{"id":"ch_1"}', { status: status || 200, headers: headers || {} });
    if (!hold) return Promise.resolve(respond());
    return new Promise((resolve) => held.push(() => resolve(respond())));
  };
  return calls;
}
export function release() { held.splice(0).forEach((f) => f()); }
export async function fingerprint(endpoint, body) {
  const data = new TextEncoder().encode(new URL(endpoint, location.href).href + '\n' + body);
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
  return Array.from(hash, (b) => b.toString(16).padStart(2, '0')).join('');
}
export function plant(key, value) { sessionStorage.setItem('payonce:v1:' + key, value); }
export function item(key) { return sessionStorage.getItem('payonce:v1:' + key); }
export function absolute(path) { return new URL(path, location.href).href; }
// Page code that calls back into payonce from inside a storage write, once per write;
// what the call threw (a wasm trap) is kept for the test to see.
const thrown = [];
export function reenterOnWrite(callback) {
  let inside = false;
  thrown.length = 0;
  Storage.prototype.setItem = function (name, value) {
    if (!inside) {
      inside = true;
      try { callback(name); } catch (e) { thrown.push(String(e)); } finally { inside = false; }
    }
    return real.setItem.call(this, name, value);
  };
}
export function reentryThrew() { return thrown.join('\n'); }
export function element(html) {
  const host = document.createElement('div');
  host.innerHTML = html;
  return host.firstElementChild;
}
// Page code (or a library) that writes payonce's option names onto Object.prototype,
// and fetch's RequestInit members that would change the request. What a fetch sees
// is read the way fetch reads its init: through [[Get]], prototype chain included.
// Two groups: payonce's option names (and a PayButton's labels), and fetch's own members.
const POLLUTION = {
  headers: { Authorization: 'Bearer attacker-token' },
  idempotencyHeader: 'X-Other-Key',
  keyTtlMs: 1,
  timeoutMs: 1,
  maxRetries: 0,
  retryDelayMs: 60000,
  quotedKey: true,
  credentials: 'omit',
  endpoint: 'https://attacker.example/pay',
  labels: { idle: 'Paid \u2713' },
  idle: 'Paid \u2713',
  [Symbol.iterator]: function* () { yield ['Authorization', 'Bearer attacker-token']; },
};
const FETCH_POLLUTION = {
  mode: 'no-cors',
  integrity: 'sha256-AAAA',
  keepalive: true,
  referrerPolicy: 'unsafe-url',
  method: 'GET',
};
export function pollute(group) {
  const with_ = group === 'fetch' ? FETCH_POLLUTION : POLLUTION;
  for (const k of Reflect.ownKeys(with_)) {
    Object.defineProperty(Object.prototype, k, { value: with_[k], writable: true, configurable: true, enumerable: false });
  }
}
export function unpollute() {
  for (const k of [...Reflect.ownKeys(POLLUTION), ...Reflect.ownKeys(FETCH_POLLUTION)]) delete Object.prototype[k];
}
// A fetch that answers 503 the first time and 200 after 20 ms from then on, recording
// the RequestInit members fetch would read.
export function initFetch() {
  const calls = [];
  globalThis.fetch = (url, init) => {
    const h = {};
    new Headers(init.headers).forEach((val, name) => { h[name] = val; });
    const read = {};
    for (const m of ['method', 'mode', 'integrity', 'keepalive', 'referrerPolicy', 'credentials', 'cache', 'redirect']) read[m] = init[m];
    calls.push({ url: String(url), headers: h, body: init.body, init: read, nullPrototype: Object.getPrototypeOf(init) === null });
    const status = calls.length === 1 ? 503 : 200;
    return new Promise((resolve, reject) => {
      init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
      setTimeout(() => resolve(new Response('{"id":"ch_1"}', { status })), 20);
    });
  };
  return calls;
}
// A same-origin frame's window: its AbortSignal, URL, Headers and elements are of
// another realm (instanceof this page's classes is false for them).
// Page code that replaces the URL class after payonce loaded (a polyfill, a library).
const RealURL = globalThis.URL;
export function replaceUrl() {
  globalThis.URL = function () { throw new TypeError('page code replaced URL'); };
}
export function restoreUrl() { globalThis.URL = RealURL; }
export function frameWindow() {
  const f = document.createElement('iframe');
  document.body.append(f);
  return f.contentWindow;
}
"#)]
extern "C" {
    fn v(src: &str) -> JsValue;
    fn fresh();
    #[wasm_bindgen(js_name = recordFetch)]
    fn record_fetch(hold: bool, status: u16, headers: JsValue) -> Array;
    fn release();
    fn fingerprint(endpoint: &str, body: &str) -> Promise;
    fn plant(key: &str, value: &str);
    fn item(key: &str) -> Option<String>;
    fn absolute(path: &str) -> String;
    #[wasm_bindgen(js_name = reenterOnWrite)]
    fn reenter_on_write(callback: &Function);
    #[wasm_bindgen(js_name = reentryThrew)]
    fn reentry_threw() -> String;
    fn element(html: &str) -> JsValue;
    fn pollute(group: &str);
    fn unpollute();
    #[wasm_bindgen(js_name = initFetch)]
    fn init_fetch() -> Array;
    #[wasm_bindgen(js_name = frameWindow)]
    fn frame_window() -> JsValue;
    #[wasm_bindgen(js_name = replaceUrl)]
    fn replace_url();
    #[wasm_bindgen(js_name = restoreUrl)]
    fn restore_url();
}

const DETAILS: &str = "{ amount: 1, currency: 'usd' }";
const BODY: &str = r#"{"amount":1,"currency":"usd"}"#;

fn get(target: &JsValue, name: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

fn s(target: &JsValue, name: &str) -> String {
    get(target, name).as_string().unwrap_or_default()
}

fn options(extra: &str) -> JsValue {
    v(&format!(
        "{{ endpoint: '/api/charges', maxRetries: 0, {extra} }}"
    ))
}

async fn settle(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

fn start() {
    fresh();
    payonce::simulate_reload();
}

#[wasm_bindgen_test]
async fn a_planted_record_never_decides_where_a_payment_goes() {
    let now = js_sys::Date::now() as u64;
    let ours = absolute("/api/charges");
    let fp = JsFuture::from(fingerprint("/api/charges", BODY))
        .await
        .unwrap()
        .as_string()
        .unwrap();
    // Other origins, other paths of ours, other schemes, credentials: each planted as
    // a record that matches this payment's fingerprint exactly.
    let planted_endpoints = [
        "http://127.0.0.1:1/api/charges?stolen=1".to_owned(),
        "https://evil.example/collect".to_owned(),
        format!("{ours}?stolen=1"),
        absolute("/api/other"),
        "javascript:alert(1)".to_owned(),
        "data:application/json,{}".to_owned(),
        "http://user:secret@127.0.0.1:1/api/charges".to_owned(),
        format!("{ours}#frag"),
    ];
    for endpoint in &planted_endpoints {
        for caller_key in [false, true] {
            start();
            let value = format!("1,p,{fp},{now},{now},{},1,1,{endpoint}", now + 1_000_000);
            plant("planted-key", &value);
            let calls = record_fetch(false, 200, JsValue::UNDEFINED);
            let key = if caller_key {
                JsValue::from_str("planted-key")
            } else {
                JsValue::UNDEFINED
            };
            let result = settle(payonce::process_payment(
                v(DETAILS),
                key,
                options("headers: { Authorization: 'Bearer secret' }"),
            ))
            .await
            .unwrap_or_else(|e| panic!("{endpoint}: {}", s(&e, "message")));
            assert_eq!(calls.length(), 1, "{endpoint}");
            let call = calls.get(0);
            assert_eq!(
                s(&call, "url"),
                ours,
                "planted {endpoint}, caller key {caller_key}"
            );
            if !caller_key {
                assert_ne!(
                    s(&result, "key"),
                    "planted-key",
                    "a planted record lent its key"
                );
            }
            // The record payonce keeps names the caller's endpoint.
            let kept = item(&s(&result, "key")).unwrap_or_default();
            assert!(kept.ends_with(&format!(",{ours}")), "{kept}");
        }
    }
}

#[wasm_bindgen_test]
async fn planted_records_out_of_range_are_not_trusted() {
    let now = js_sys::Date::now() as u64;
    let fp = JsFuture::from(fingerprint("/api/charges", BODY))
        .await
        .unwrap()
        .as_string()
        .unwrap();
    let ours = absolute("/api/charges");
    let week = 7 * 24 * 60 * 60 * 1000u64;
    let planted = [
        // A revision that would wrap, counters payonce never reaches, lifetimes it never grants.
        format!("1,p,{fp},{now},{now},{},1,4294967295,{ours}", now + 1000),
        format!("1,p,{fp},{now},{now},{},4294967295,1,{ours}", now + 1000),
        format!("1,p,{fp},{now},{now},{},1,1,{ours}", now + week + 1),
        format!("1,p,{fp},{now},{now},{},1,1,{ours}", now),
        format!("1,p,{fp},{now},{now},99999999999999999999,1,1,{ours}"),
    ];
    for value in &planted {
        start();
        plant("planted-key", value);
        let calls = record_fetch(false, 200, JsValue::UNDEFINED);
        let result = settle(payonce::process_payment(
            v(DETAILS),
            JsValue::UNDEFINED,
            options(""),
        ))
        .await
        .unwrap();
        assert_ne!(s(&result, "key"), "planted-key", "trusted {value}");
        assert_eq!(calls.length(), 1);
        assert_eq!(
            item("planted-key"),
            None,
            "an untrusted item is removed: {value}"
        );
    }
}

#[wasm_bindgen_test]
async fn page_code_inside_a_storage_write_can_call_payonce_again() {
    // Every export, re-entered from inside the write of the record.
    type Reentry = (&'static str, Box<dyn Fn()>);
    let reentries: [Reentry; 4] = [
        (
            "pendingPayments",
            Box::new(|| {
                payonce::pending_payments(JsValue::UNDEFINED);
            }),
        ),
        (
            "forgetPayment",
            Box::new(|| {
                payonce::forget_payment(JsValue::from_str("some-key"));
            }),
        ),
        (
            "processPayment",
            Box::new(|| {
                let _ = payonce::process_payment(
                    v("{ amount: 2, currency: 'usd' }"),
                    JsValue::UNDEFINED,
                    options(""),
                );
            }),
        ),
        (
            "processPayment, same details",
            Box::new(|| {
                let _ = payonce::process_payment(v(DETAILS), JsValue::UNDEFINED, options(""));
            }),
        ),
    ];
    for (what, reenter) in reentries {
        start();
        let calls = record_fetch(false, 200, JsValue::UNDEFINED);
        let callback = Closure::<dyn Fn()>::new(reenter);
        reenter_on_write(callback.as_ref().unchecked_ref());
        let result = settle(payonce::process_payment(
            v(DETAILS),
            JsValue::UNDEFINED,
            options(""),
        ))
        .await
        .unwrap_or_else(|e| panic!("{what}: {}", s(&e, "message")));
        assert_eq!(get(&result, "status").as_f64(), Some(200.0), "{what}");
        assert_eq!(reentry_threw(), "", "{what} threw inside the storage write");
        fresh();
        // Give a re-entered payment time to finish; then nothing was sent twice for one body.
        JsFuture::from(Promise::resolve(&JsValue::NULL))
            .await
            .unwrap();
        let bodies: Vec<String> = calls.iter().map(|c| s(&c, "body")).collect();
        let mut unique = bodies.clone();
        unique.dedup();
        assert_eq!(unique.len(), bodies.len(), "{what}: {bodies:?}");
        drop(callback);
    }
}

#[wasm_bindgen_test]
async fn a_payment_begun_from_inside_payonce_s_storage_write_is_refused_and_sends_nothing() {
    // Page code behind Storage.prototype.setItem starts another payment while
    // payonce saves the first one's record, before its request leaves: payonce
    // is choosing and saving a key then, so the second call is told to try
    // again (conflict, retryable, nothing sent), and the first goes on.
    start();
    let calls = record_fetch(false, 200, JsValue::UNDEFINED);
    let inner: std::rc::Rc<std::cell::RefCell<Option<Promise>>> = Default::default();
    let keep = inner.clone();
    let callback = Closure::<dyn Fn()>::new(move || {
        if keep.borrow().is_none() {
            let p = payonce::process_payment(
                v("{ amount: 2, currency: 'usd' }"),
                JsValue::UNDEFINED,
                options(""),
            );
            *keep.borrow_mut() = Some(p);
        }
    });
    reenter_on_write(callback.as_ref().unchecked_ref());
    let result = settle(payonce::process_payment(
        v(DETAILS),
        JsValue::UNDEFINED,
        options(""),
    ))
    .await
    .expect("the outer payment goes through");
    assert_eq!(get(&result, "status").as_f64(), Some(200.0));
    fresh();
    let second = inner.borrow_mut().take().expect("page code called payonce");
    let err = settle(second).await.expect_err("refused");
    assert_eq!(
        (
            s(&err, "code"),
            get(&err, "retryable").as_bool(),
            get(&err, "attempts").as_f64()
        ),
        ("conflict".to_string(), Some(true), Some(0.0)),
        "{}",
        s(&err, "message")
    );
    assert_eq!(calls.length(), 1, "only the outer payment was sent");
    drop(callback);
}

#[wasm_bindgen_test]
async fn page_code_in_on_event_and_in_getters_can_call_payonce_again() {
    start();
    let calls = record_fetch(false, 200, JsValue::UNDEFINED);
    let reenter = Closure::<dyn Fn(JsValue)>::new(|_event: JsValue| {
        payonce::pending_payments(JsValue::UNDEFINED);
        payonce::forget_payment(JsValue::from_str("other"));
        let _ = payonce::process_payment(v(DETAILS), JsValue::UNDEFINED, options(""));
    });
    let getter = Closure::<dyn Fn() -> JsValue>::new(|| {
        payonce::pending_payments(JsValue::UNDEFINED);
        JsValue::from_str("/api/charges")
    });
    let opts = options("");
    Reflect::set(&opts, &"onEvent".into(), reenter.as_ref()).unwrap();
    let descriptor = v("{ enumerable: true }");
    Reflect::set(&descriptor, &"get".into(), getter.as_ref()).unwrap();
    js_sys::Object::define_property(
        opts.unchecked_ref::<js_sys::Object>(),
        &JsValue::from_str("endpoint"),
        descriptor.unchecked_ref(),
    );
    let result = settle(payonce::process_payment(
        v(DETAILS),
        JsValue::UNDEFINED,
        opts,
    ))
    .await
    .unwrap_or_else(|e| panic!("{}", s(&e, "message")));
    assert_eq!(get(&result, "status").as_f64(), Some(200.0));
    assert_eq!(
        calls.length(),
        1,
        "the re-entered calls joined the payment on the wire"
    );
}

#[wasm_bindgen_test]
async fn details_made_in_another_frame_are_plain_data_too() {
    start();
    let calls = record_fetch(false, 200, JsValue::UNDEFINED);
    // A same-origin frame's objects and arrays have that frame's prototypes.
    let details = v("(() => {
        const f = document.createElement('iframe');
        document.body.append(f);
        const W = f.contentWindow;
        const o = new W.Object();
        o.amount = 1;
        o.currency = 'usd';
        o.items = W.Array.from([W.Object.assign(new W.Object(), { sku: 'a' })]);
        return o;
    })()");
    let result = settle(payonce::process_payment(
        details,
        JsValue::UNDEFINED,
        options(""),
    ))
    .await
    .unwrap_or_else(|e| panic!("{}", s(&e, "message")));
    assert_eq!(get(&result, "status").as_f64(), Some(200.0));
    assert_eq!(
        s(&calls.get(0), "body"),
        r#"{"amount":1,"currency":"usd","items":[{"sku":"a"}]}"#
    );
    // Still refused: a class instance, and an object whose prototype is a bare object.
    for (bad, name) in [
        ("new (class Basket {})()", "a Basket"),
        ("new Error('e')", "an Error"),
    ] {
        let err = settle(payonce::process_payment(
            v(&format!("{{ x: {bad} }}")),
            JsValue::UNDEFINED,
            options(""),
        ))
        .await
        .unwrap_err();
        assert!(s(&err, "message").contains(name), "{}", s(&err, "message"));
    }
    let err = settle(payonce::process_payment(
        v("{ x: Object.create(Object.create(null)) }"),
        JsValue::UNDEFINED,
        options(""),
    ))
    .await
    .unwrap_err();
    assert_eq!(s(&err, "code"), "invalid_input");
}

#[wasm_bindgen_test]
async fn a_payment_on_the_wire_cannot_be_forgotten() {
    start();
    let calls = record_fetch(true, 200, JsValue::UNDEFINED);
    let payment = payonce::process_payment(v(DETAILS), JsValue::UNDEFINED, options(""));
    JsFuture::from(Promise::resolve(&JsValue::NULL))
        .await
        .unwrap();
    let key = s(&get(&calls.get(0), "headers"), "idempotency-key");
    assert!(!key.is_empty());
    assert!(
        !payonce::forget_payment(JsValue::from_str(&key)),
        "forgot a payment in flight"
    );
    release();
    let result = settle(payment).await.unwrap();
    assert_eq!(s(&result, "key"), key);
    // The key is still the payment's: paying again replays it.
    let again = record_fetch(false, 200, JsValue::UNDEFINED);
    let second = settle(payonce::process_payment(
        v(DETAILS),
        JsValue::UNDEFINED,
        options(""),
    ))
    .await
    .unwrap();
    assert_eq!(s(&second, "key"), key);
    assert_eq!(again.length(), 1);
    // Settled, it can be forgotten, and that sticks.
    assert!(payonce::forget_payment(JsValue::from_str(&key)));
    assert_eq!(item(&key), None);
    let third = settle(payonce::process_payment(
        v(DETAILS),
        JsValue::UNDEFINED,
        options(""),
    ))
    .await
    .unwrap();
    assert_ne!(s(&third, "key"), key);
}

#[wasm_bindgen_test]
async fn an_already_aborted_signal_sends_and_writes_nothing() {
    start();
    let calls = record_fetch(false, 200, JsValue::UNDEFINED);
    let err = settle(payonce::process_payment(
        v(DETAILS),
        JsValue::UNDEFINED,
        options("signal: AbortSignal.abort()"),
    ))
    .await
    .unwrap_err();
    assert_eq!(s(&err, "code"), "aborted");
    assert_eq!(get(&err, "attempts").as_f64(), Some(0.0));
    assert_eq!(calls.length(), 0);
    assert_eq!(
        payonce::pending_payments(JsValue::UNDEFINED).length(),
        0,
        "a pending record with nothing sent"
    );
}

#[wasm_bindgen_test]
async fn page_code_that_replaces_url_after_load_changes_no_endpoint() {
    start();
    let calls = record_fetch(false, 200, JsValue::UNDEFINED);
    replace_url();
    // The options (and so the endpoint) are read before processPayment returns.
    let paid = payonce::process_payment(
        v(DETAILS),
        JsValue::UNDEFINED,
        v("{ endpoint: '/api/charges/replaced-url#frag', maxRetries: 0 }"),
    );
    restore_url();
    let result = settle(paid).await.expect("paid");
    assert_eq!(get(&result, "status").as_f64(), Some(200.0));
    assert_eq!(
        s(&calls.get(0), "url"),
        absolute("/api/charges/replaced-url")
    );
}

#[wasm_bindgen_test]
async fn retry_after_ms_is_always_a_safe_integer() {
    for header in [
        "99999999999999999999",
        "18446744073709551616",
        "9007199254740",
    ] {
        start();
        record_fetch(false, 429, v(&format!("{{ 'Retry-After': '{header}' }}")));
        let err = settle(payonce::process_payment(
            v(DETAILS),
            JsValue::UNDEFINED,
            options(""),
        ))
        .await
        .unwrap_err();
        let ms = get(&err, "retryAfterMs");
        let safe = js_sys::Number::is_safe_integer(&ms);
        assert!(safe, "Retry-After {header} gave retryAfterMs {ms:?}");
    }
}

#[wasm_bindgen_test]
fn pay_button_takes_a_button_or_fieldset_and_one_binding_each() {
    start();
    for bad in [
        "<div>Pay</div>",
        "<a href='#'>Pay</a>",
        "<svg xmlns='http://www.w3.org/2000/svg'><button/></svg>",
        "<input type='submit'>",
    ] {
        let el = element(bad);
        let el = if bad.starts_with("<svg") {
            el.dyn_ref::<web_sys::Element>()
                .unwrap()
                .first_element_child()
                .unwrap()
                .into()
        } else {
            el
        };
        let err = payonce::PayButton::new(el, JsValue::UNDEFINED)
            .err()
            .unwrap_or_else(|| panic!("accepted {bad}"));
        assert_eq!(s(&err, "code"), "invalid_input", "{bad}");
    }
    for good in ["<button>Pay</button>", "<fieldset></fieldset>"] {
        let el = element(good);
        let first = payonce::PayButton::new(el.clone(), JsValue::UNDEFINED).expect(good);
        let err = payonce::PayButton::new(el.clone(), JsValue::UNDEFINED)
            .err()
            .expect("a second binding on the same element");
        assert_eq!(s(&err, "code"), "invalid_input");
        assert!(
            s(&err, "message").contains("free()"),
            "{}",
            s(&err, "message")
        );
        drop(first);
        payonce::PayButton::new(el, JsValue::UNDEFINED).expect("rebinding after free()");
    }
    // Its endpoint option is checked as processPayment checks one.
    for endpoint in [
        "'javascript:alert(1)'",
        "'http://user:pw@shop.test/pay'",
        "42",
    ] {
        let err = payonce::PayButton::new(
            element("<button>Pay</button>"),
            v(&format!("{{ endpoint: {endpoint} }}")),
        )
        .err()
        .unwrap_or_else(|| panic!("accepted endpoint {endpoint}"));
        assert_eq!(s(&err, "code"), "invalid_input", "{endpoint}");
    }
    payonce::PayButton::new(
        element("<button>Pay</button>"),
        v("{ endpoint: new URL('/api/charges', location.href) }"),
    )
    .expect("a URL object");
}

/// Pays `details` with `options` while Object.prototype carries payonce's option
/// names (`group` "options") or fetch's RequestInit members ("fetch"); the
/// prototype is clean again before anything is asserted.
async fn pay_polluted(group: &str, details: &str, options: &str) -> Result<JsValue, JsValue> {
    let (details, options) = (v(details), v(options));
    pollute(group);
    let outcome = settle(payonce::process_payment(
        details,
        JsValue::UNDEFINED,
        options,
    ))
    .await;
    unpollute();
    outcome
}

#[wasm_bindgen_test]
async fn options_and_headers_ignore_a_polluted_object_prototype() {
    start();
    let calls = init_fetch();
    let options = "{ endpoint: '/api/charges', retryDelayMs: 1, maxRetryDelayMs: 5, headers: { 'X-Trace': 't1' } }";
    let first = pay_polluted("options", DETAILS, options)
        .await
        .unwrap_or_else(|e| panic!("{}", s(&e, "message")));
    // maxRetries and timeoutMs are the defaults: the 503 is retried, the 20 ms answer waited for.
    assert_eq!(get(&first, "status").as_f64(), Some(200.0));
    assert_eq!(calls.length(), 2);
    let key = s(&first, "key");
    for call in calls.iter() {
        let headers = get(&call, "headers");
        assert_eq!(
            s(&headers, "authorization"),
            "",
            "an inherited header was sent"
        );
        assert_eq!(s(&headers, "x-trace"), "t1");
        assert_eq!(
            s(&headers, "idempotency-key"),
            key,
            "the key went under another name"
        );
        assert_eq!(s(&headers, "x-other-key"), "");
        assert_eq!(s(&call, "url"), absolute("/api/charges"));
        assert_eq!(s(&get(&call, "init"), "credentials"), "same-origin");
    }
    // keyTtlMs is the default day: the same details an instant later are the same payment.
    let second = pay_polluted("options", DETAILS, options).await.unwrap();
    assert_eq!(
        s(&second, "key"),
        key,
        "an inherited keyTtlMs expired the key"
    );
    assert_eq!(calls.length(), 3);
}

#[wasm_bindgen_test]
async fn fetch_gets_an_init_that_inherits_nothing() {
    start();
    let calls = init_fetch();
    let options = "{ endpoint: '/api/charges', retryDelayMs: 1, maxRetryDelayMs: 5 }";
    pay_polluted("fetch", DETAILS, options)
        .await
        .unwrap_or_else(|e| panic!("{}", s(&e, "message")));
    assert_eq!(calls.length(), 2);
    for call in calls.iter() {
        let init = get(&call, "init");
        assert_eq!(s(&init, "method"), "POST");
        assert_eq!(s(&init, "mode"), "cors", "fetch read an inherited mode");
        assert_eq!(
            s(&init, "integrity"),
            "",
            "fetch read an inherited integrity"
        );
        assert_eq!(get(&init, "keepalive").as_bool(), Some(false));
        assert_eq!(s(&init, "referrerPolicy"), "");
        assert_eq!(s(&init, "credentials"), "same-origin");
        assert_eq!(s(&init, "cache"), "no-store");
        assert_eq!(s(&init, "redirect"), "manual");
        assert_eq!(get(&call, "nullPrototype").as_bool(), Some(true));
    }
}

#[wasm_bindgen_test]
fn pay_button_labels_and_options_ignore_a_polluted_object_prototype() {
    start();
    let plain = element("<button>Pay</button>");
    let labelled = element("<button>Pay</button>");
    pollute("options");
    let first = payonce::PayButton::new(plain.clone(), v("{}"));
    let second = payonce::PayButton::new(labelled.clone(), v("{ labels: { paying: 'Wait' } }"));
    unpollute();
    let first = first.unwrap_or_else(|e| panic!("{}", s(&e, "message")));
    let _second = second.unwrap_or_else(|e| panic!("{}", s(&e, "message")));
    assert_eq!(first.state(), "idle");
    for el in [&plain, &labelled] {
        let text = el.dyn_ref::<web_sys::Node>().unwrap().text_content();
        assert_eq!(
            text.as_deref(),
            Some("Pay"),
            "an idle button reads another label"
        );
    }
}

#[wasm_bindgen_test]
async fn a_signal_url_headers_and_button_from_another_frame_are_taken() {
    start();
    let calls = record_fetch(false, 200, JsValue::UNDEFINED);
    let w = frame_window();
    let make = |src: &str| {
        Function::new_with_args("W", &format!("return {src};"))
            .call1(&JsValue::NULL, &w)
            .unwrap()
    };
    let options = make(
        "{ endpoint: new W.URL('/api/charges', location.href), signal: new W.AbortController().signal, \
           headers: new W.Headers({ 'X-Trace': 'frame' }), maxRetries: 0 }",
    );
    let result = settle(payonce::process_payment(
        v(DETAILS),
        JsValue::UNDEFINED,
        options,
    ))
    .await
    .unwrap_or_else(|e| panic!("{}", s(&e, "message")));
    assert_eq!(get(&result, "status").as_f64(), Some(200.0));
    assert_eq!(s(&calls.get(0), "url"), absolute("/api/charges"));
    assert_eq!(s(&get(&calls.get(0), "headers"), "x-trace"), "frame");
    // The other frame's signal is heard: aborted, nothing more is sent.
    let err = settle(payonce::process_payment(
        v("{ amount: 2, currency: 'usd' }"),
        JsValue::UNDEFINED,
        make("{ endpoint: '/api/charges', signal: W.AbortSignal.abort() }"),
    ))
    .await
    .unwrap_err();
    assert_eq!(s(&err, "code"), "aborted", "{}", s(&err, "message"));
    assert_eq!(calls.length(), 1);
    // A pending payment's endpoint may be asked with the other frame's URL.
    let pending = payonce::pending_payments(make("new W.URL('/api/charges', location.href)"));
    assert_eq!(pending.length(), 0);
    // Its button binds, and its endpoint option may be its URL.
    let button = make("W.document.body.appendChild(W.document.createElement('button'))");
    let bound = payonce::PayButton::new(
        button,
        make("{ endpoint: new W.URL('/api/charges', location.href) }"),
    )
    .unwrap_or_else(|e| panic!("{}", s(&e, "message")));
    assert_eq!(bound.state(), "idle");
    // What only looks like one is still refused, by the platform's own brand checks.
    for (fake, why) in [
        (
            "{ endpoint: '/api/charges', signal: { aborted: false, addEventListener() {} } }",
            "AbortSignal",
        ),
        (
            "{ endpoint: { href: '/api/charges', toString() { return '/api/charges'; } } }",
            "options.endpoint",
        ),
        (
            "{ endpoint: '/api/charges', signal: new Proxy(AbortSignal.abort(), {}) }",
            "AbortSignal",
        ),
    ] {
        let err = settle(payonce::process_payment(
            v(DETAILS),
            JsValue::UNDEFINED,
            v(fake),
        ))
        .await
        .unwrap_err();
        assert_eq!(s(&err, "code"), "invalid_input", "{fake}");
        assert!(
            s(&err, "message").contains(why),
            "{fake}: {}",
            s(&err, "message")
        );
    }
    let err = payonce::PayButton::new(
        v("Object.create(HTMLButtonElement.prototype)"),
        JsValue::UNDEFINED,
    )
    .err()
    .expect("an object that only inherits from HTMLButtonElement");
    assert_eq!(s(&err, "code"), "invalid_input");
}
