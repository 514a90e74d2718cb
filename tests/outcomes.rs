//! Browser tests of the outcomes the real world makes unknown: a layer in front
//! of the server that refuses, a status no server sends, an HTML page, a fetch
//! or a body that never ends, a full storage, a broken random source. Each
//! runs the real module in the browser against a scripted `fetch`.
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(inline_js = r#"
const real = {
  fetch: globalThis.fetch,
  setItem: Storage.prototype.setItem,
  text: Response.prototype.text,
  getRandomValues: Crypto.prototype.getRandomValues,
};
export function v(src) { return new Function('return (' + src + ')')(); }
export function reset() {
  globalThis.fetch = real.fetch;
  Storage.prototype.setItem = real.setItem;
  Response.prototype.text = real.text;
  Crypto.prototype.getRandomValues = real.getRandomValues;
  delete crypto.getRandomValues;
  sessionStorage.clear();
}
// A scripted fetch: each step is {status, body, headers, lost: true (charged, answer
// lost: a network error), hang: true (never settles and ignores its signal),
// clear: true (page code clears sessionStorage while the request is out)}.
export function script(steps) {
  const calls = [];
  const queue = steps.slice();
  globalThis.fetch = (url, init) => {
    calls.push({ key: new Headers(init.headers).get('idempotency-key'), signal: init.signal });
    const step = queue.length ? queue.shift() : {};
    if (step.clear) sessionStorage.clear();
    if (step.hang) return new Promise(() => {});
    if (step.lost) return Promise.reject(new TypeError('Failed to fetch'));
    const response = new Response(step.body ?? '{"ok":true}', {
      status: step.status && step.status < 600 ? step.status : 200,
      headers: step.headers || { 'content-type': 'application/json' },
    });
    // A status no HTTP server sends (fetch's Response cannot be made with one).
    if (step.status >= 600) Object.defineProperty(response, 'status', { value: step.status });
    return Promise.resolve(response);
  };
  return calls;
}
// `promise`'s outcome as {ok, value}, or {hung: true} if it has not settled after `ms`.
export function settles(promise, ms) {
  return Promise.race([
    promise.then((value) => ({ ok: true, value }), (value) => ({ ok: false, value })),
    new Promise((r) => setTimeout(() => r({ hung: true }), ms)),
  ]);
}
export function bodiesNeverEnd() {
  Response.prototype.text = () => new Promise(() => {});
}
// Fills sessionStorage with other code's items until not one more character fits.
export function fillStorage() {
  let n = 0;
  for (let size = 1 << 20; size >= 1; size >>= 1) {
    const chunk = 'x'.repeat(size);
    for (;;) {
      try { real.setItem.call(sessionStorage, 'other:' + n++, chunk); } catch { break; }
    }
  }
}
export function payonceItems() {
  const out = [];
  for (let i = 0; i < sessionStorage.length; i++) {
    const k = sessionStorage.key(i);
    if (k.startsWith('payonce:')) out.push(k.slice('payonce:v1:'.length) + '=' + sessionStorage.getItem(k));
  }
  return out.sort().join('\n');
}
export function getItem(k) { return sessionStorage.getItem(k); }
export function setItem(k, val) { sessionStorage.setItem(k, val); }
// The page going away (a reload, a navigation), then coming back from the cache.
export function clearStorage() { sessionStorage.clear(); }
export function pageHide() { dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true })); }
export function pageShow() { dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true })); }
export function zeroRandom() {
  crypto.getRandomValues = (a) => a.fill(0);
}
export function throwingRandom() {
  crypto.getRandomValues = () => { throw new Error('no entropy'); };
}
export function realRandom() {
  delete crypto.getRandomValues;
}
"#)]
extern "C" {
    fn v(src: &str) -> JsValue;
    fn reset();
    fn script(steps: JsValue) -> Array;
    fn settles(p: &Promise, ms: u32) -> Promise;
    #[wasm_bindgen(js_name = bodiesNeverEnd)]
    fn bodies_never_end();
    #[wasm_bindgen(js_name = fillStorage)]
    fn fill_storage();
    #[wasm_bindgen(js_name = payonceItems)]
    fn payonce_items() -> String;
    #[wasm_bindgen(js_name = zeroRandom)]
    fn zero_random();
    #[wasm_bindgen(js_name = throwingRandom)]
    fn throwing_random();
    #[wasm_bindgen(js_name = realRandom)]
    fn real_random();
    #[wasm_bindgen(js_name = clearStorage)]
    fn clear_storage();
    #[wasm_bindgen(js_name = pageHide)]
    fn page_hide();
    #[wasm_bindgen(js_name = pageShow)]
    fn page_show();
    #[wasm_bindgen(js_name = getItem)]
    fn get_item(k: &str) -> Option<String>;
    #[wasm_bindgen(js_name = setItem)]
    fn set_item(k: &str, val: &str);
}

const CART: &str = "{ amount: 5000, currency: 'usd', cart: 'c-1' }";

fn get(target: &JsValue, path: &str) -> JsValue {
    path.split('.').fold(target.clone(), |cur, name| {
        Reflect::get(&cur, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
    })
}

fn s(target: &JsValue, path: &str) -> String {
    get(target, path).as_string().unwrap_or_default()
}

fn fresh(steps: &str) -> Array {
    reset();
    payonce::simulate_reload();
    script(v(steps))
}

/// Pays and waits at most `ms` for the outcome: `Ok(result)`, `Err(error)`, or a
/// failed test if the payment has not settled by then.
async fn pay_within(details: &str, options: &str, ms: u32) -> Result<JsValue, JsValue> {
    pay_with(details, JsValue::UNDEFINED, options, ms).await
}

/// The same with the caller's own key.
async fn pay_key_within(details: &str, key: &str, options: &str) -> Result<JsValue, JsValue> {
    pay_with(details, JsValue::from_str(key), options, 5000).await
}

async fn pay_with(details: &str, key: JsValue, options: &str, ms: u32) -> Result<JsValue, JsValue> {
    let options = v(&format!(
        "{{ endpoint: '/api/charges', retryDelayMs: 1, maxRetryDelayMs: 5, {options} }}"
    ));
    let p = payonce::process_payment(v(details), key, options);
    let outcome = JsFuture::from(settles(&p, ms)).await.unwrap();
    assert!(
        get(&outcome, "hung").is_undefined(),
        "the payment had not settled after {ms} ms"
    );
    let value = get(&outcome, "value");
    if get(&outcome, "ok").is_truthy() {
        Ok(value)
    } else {
        Err(value)
    }
}

fn pending_keys() -> Vec<String> {
    payonce::pending_payments(JsValue::UNDEFINED)
        .iter()
        .map(|r| s(&r, "key"))
        .collect()
}

#[wasm_bindgen_test]
async fn a_fetch_that_ignores_its_signal_still_ends_on_payonce_s_timer() {
    let calls = fresh("[{ hang: true }, { hang: true }]");
    let e = pay_within(CART, "timeoutMs: 100, maxRetries: 1", 5000)
        .await
        .expect_err("timed out");
    assert_eq!(s(&e, "code"), "timeout");
    assert_eq!(get(&e, "attempts"), JsValue::from(2));
    assert_eq!(calls.length(), 2);
    assert_eq!(get(&calls.get(0), "signal.aborted"), JsValue::TRUE);
    assert_eq!(
        pending_keys(),
        [s(&e, "key")],
        "outcome unknown: the key is kept"
    );
    // The next try sends the same key.
    let calls = script(v("[{}]"));
    let r = pay_within(CART, "", 5000).await.expect("paid");
    assert_eq!(s(&r, "key"), s(&e, "key"));
    assert_eq!(s(&calls.get(0), "key"), s(&e, "key"));
}

#[wasm_bindgen_test]
async fn a_body_that_never_ends_still_ends_on_payonce_s_timer() {
    fresh("[{}, {}]");
    bodies_never_end();
    let e = pay_within(CART, "timeoutMs: 100, maxRetries: 1", 5000)
        .await
        .expect_err("timed out");
    assert_eq!(s(&e, "code"), "timeout");
    assert_eq!(pending_keys(), [s(&e, "key")]);
}

#[wasm_bindgen_test]
async fn the_caller_s_abort_ends_a_wait_the_fetch_ignores() {
    fresh("[]");
    let controller = web_sys::AbortController::new().unwrap();
    let options = v("{ endpoint: '/api/charges', timeoutMs: 60000 }");
    Reflect::set(&options, &"signal".into(), &controller.signal()).unwrap();
    let calls = script(v("[{ hang: true }]"));
    let p = payonce::process_payment(v(CART), JsValue::UNDEFINED, options);
    let aborted = settles(&p, 5000);
    // Once the request is on the wire.
    for _ in 0..500 {
        if calls.length() > 0 {
            break;
        }
        JsFuture::from(settles(&Promise::new(&mut |_, _| {}), 10))
            .await
            .unwrap();
    }
    assert_eq!(calls.length(), 1);
    controller.abort();
    let outcome = JsFuture::from(aborted).await.unwrap();
    assert!(
        get(&outcome, "hung").is_undefined(),
        "the abort did not end the payment"
    );
    assert_eq!(s(&get(&outcome, "value"), "code"), "aborted");
    assert_eq!(pending_keys().len(), 1);
}

#[wasm_bindgen_test]
async fn a_refusal_after_an_unknown_outcome_keeps_the_key() {
    // The first attempt was charged and its answer lost; a firewall or an expired
    // login then refuses the retry without looking at the key.
    for status in [401, 403] {
        let calls = fresh(&format!("[{{ lost: true }}, {{ status: {status} }}]"));
        let e = pay_within(CART, "", 5000).await.expect_err("refused");
        assert_eq!(s(&e, "code"), "http");
        assert_eq!(get(&e, "status"), JsValue::from(status));
        assert_eq!(get(&e, "retryable"), JsValue::TRUE, "paying again is safe");
        assert!(
            s(&e, "message").contains("may have been charged"),
            "{}",
            s(&e, "message")
        );
        assert_eq!(pending_keys(), [s(&e, "key")]);
        assert_eq!(s(&calls.get(0), "key"), s(&calls.get(1), "key"));
        let calls = script(v(
            "[{ headers: { 'content-type': 'application/json', 'Idempotent-Replayed': 'true' } }]",
        ));
        let r = pay_within(CART, "", 5000).await.expect("replayed");
        assert_eq!(
            s(&calls.get(0), "key"),
            s(&e, "key"),
            "the same key, not a second charge"
        );
        assert_eq!(get(&r, "replayed"), JsValue::TRUE);
    }
}

#[wasm_bindgen_test]
async fn a_gate_s_refusal_of_the_first_request_keeps_the_key() {
    // The browser may have sent the first request twice (a reused connection
    // closed before any answer): the first copy charged, the second met a
    // firewall or an expired login. A 401/403 is no evidence nothing was charged.
    for status in [401, 403] {
        let calls = fresh(&format!("[{{ status: {status} }}]"));
        let e = pay_within(CART, "", 5000).await.expect_err("refused");
        assert_eq!(get(&e, "retryable"), JsValue::TRUE, "{status}");
        assert!(
            s(&e, "message").contains("key is kept"),
            "{}",
            s(&e, "message")
        );
        assert_eq!(pending_keys(), [s(&e, "key")], "{status}");
        let again = script(v(
            "[{ headers: { 'content-type': 'application/json', 'Idempotent-Replayed': 'true' } }]",
        ));
        pay_within(CART, "", 5000).await.expect("replayed");
        assert_eq!(s(&again.get(0), "key"), s(&e, "key"), "the same key");
        assert_eq!(calls.length(), 1);
    }
}

#[wasm_bindgen_test]
async fn a_refusal_of_the_first_request_ever_still_retires_the_key() {
    let calls = fresh("[{ status: 402 }, {}]");
    let e = pay_within(CART, "", 5000).await.expect_err("refused");
    assert_eq!(get(&e, "retryable"), JsValue::FALSE);
    assert!(pending_keys().is_empty());
    pay_within(CART, "", 5000).await.expect("paid");
    assert_ne!(
        s(&calls.get(1), "key"),
        s(&e, "key"),
        "nothing was charged: a new payment"
    );
}

#[wasm_bindgen_test]
async fn a_status_no_server_sends_is_an_unknown_outcome() {
    for status in [600, 999] {
        fresh(&format!("[{{ lost: true }}, {{ status: {status} }}]"));
        let e = pay_within(CART, "", 5000).await.expect_err("unknown");
        assert_eq!(get(&e, "status"), JsValue::from(status));
        assert_eq!(get(&e, "retryable"), JsValue::TRUE);
        assert_eq!(pending_keys(), [s(&e, "key")]);
    }
}

#[wasm_bindgen_test]
async fn an_html_page_with_200_is_not_taken_for_a_payment() {
    let html = "{ status: 200, body: '<html><title>Hotel Wi-Fi login</title></html>', headers: { 'content-type': 'text/html; charset=utf-8' } }";
    fresh(&format!("[{html}]"));
    let e = pay_within(CART, "", 5000).await.expect_err("not paid");
    assert_eq!(s(&e, "code"), "http");
    assert_eq!(get(&e, "status"), JsValue::from(200));
    assert!(
        s(&e, "message").contains("captive portal"),
        "{}",
        s(&e, "message")
    );
    assert_eq!(
        pending_keys(),
        [s(&e, "key")],
        "the key is kept, not marked paid"
    );
    // A caller whose server answers in HTML says so.
    fresh(&format!("[{html}]"));
    let r = pay_within(CART, "acceptHtml: true", 5000)
        .await
        .expect("paid");
    assert_eq!(get(&r, "status"), JsValue::from(200));
    let e = pay_within(CART, "acceptHtml: 'yes'", 5000)
        .await
        .expect_err("refused");
    assert!(
        s(&e, "message").contains("acceptHtml"),
        "{}",
        s(&e, "message")
    );
}

#[wasm_bindgen_test]
async fn a_key_lifetime_shorter_than_one_call_is_refused() {
    let calls = fresh("[{}]");
    for ttl in [
        "1",
        "1000",
        "timeoutMs: 1000, maxRetries: 2, keyTtlMs: 3000",
    ] {
        let options = if ttl.contains(':') {
            ttl.to_owned()
        } else {
            format!("keyTtlMs: {ttl}")
        };
        let e = pay_within(CART, &options, 5000).await.expect_err("refused");
        assert_eq!(s(&e, "code"), "invalid_input");
        assert!(
            s(&e, "message").contains("keyTtlMs"),
            "{}",
            s(&e, "message")
        );
    }
    assert_eq!(calls.length(), 0, "nothing was sent");
    pay_within(CART, "timeoutMs: 1000, maxRetries: 0, keyTtlMs: 1000", 5000)
        .await
        .expect("one attempt of 1 s fits a 1 s lifetime");
}

#[wasm_bindgen_test]
async fn a_full_storage_makes_room_with_settled_records_or_says_so() {
    fresh("[{}, {}, {}, { lost: true }, { lost: true }, { lost: true }]");
    for cart in ["a", "b", "c"] {
        pay_within(&format!("{{ amount: 1, cart: '{cart}' }}"), "", 5000)
            .await
            .expect("paid");
    }
    fill_storage();
    let events = Array::new();
    let on_event = js_sys::Function::new_with_args("e", "this.push(e.type)").bind0(&events);
    let options = v("{ endpoint: '/api/charges', retryDelayMs: 1, maxRetryDelayMs: 5 }");
    Reflect::set(&options, &"onEvent".into(), &on_event).unwrap();
    let p = payonce::process_payment(v(CART), JsValue::UNDEFINED, options);
    let e = JsFuture::from(p).await.expect_err("lost answers");
    let key = s(&e, "key");
    let items = payonce_items();
    assert!(
        items.contains(&format!("{key}=1,p,")),
        "the pending record is stored: {items}"
    );
    assert!(
        !events.iter().any(|t| t == "not-saved"),
        "room was made: {:?}",
        events.to_vec()
    );
    // With no settled record left to give up, the page is told.
    reset();
    payonce::simulate_reload();
    script(v("[{}]"));
    fill_storage();
    let events = Array::new();
    let on_event =
        js_sys::Function::new_with_args("e", "this.push(e.type + ':' + e.key)").bind0(&events);
    let options = v("{ endpoint: '/api/charges' }");
    Reflect::set(&options, &"onEvent".into(), &on_event).unwrap();
    let r = JsFuture::from(payonce::process_payment(
        v(CART),
        JsValue::UNDEFINED,
        options,
    ))
    .await
    .expect("paid: storage is not needed within the page");
    let told: Vec<String> = events.iter().filter_map(|t| t.as_string()).collect();
    assert_eq!(told[0], format!("not-saved:{}", s(&r, "key")), "{told:?}");
}

/// Pays `CART` with the page's random source as it is now: refused as
/// `invalid_input` naming getRandomValues, with nothing sent and nothing pending.
async fn refused_for_want_of_randomness(calls: &Array) {
    let e = pay_within(CART, "", 5000).await.expect_err("refused");
    assert_eq!(s(&e, "code"), "invalid_input");
    assert!(
        s(&e, "message").contains("getRandomValues"),
        "{}",
        s(&e, "message")
    );
    assert_eq!(calls.length(), 0, "nothing was sent");
    assert!(pending_keys().is_empty());
}

#[wasm_bindgen_test]
async fn a_broken_random_source_is_refused_before_anything_is_sent() {
    let calls = fresh("[{}, {}]");
    zero_random();
    refused_for_want_of_randomness(&calls).await;
    for _ in 0..2 {
        let thrown = payonce::new_idempotency_key().expect_err("no key from zeros");
        assert_eq!(s(&thrown, "code"), "invalid_input");
    }
    reset();
}

#[wasm_bindgen_test]
async fn a_random_source_that_throws_is_refused_and_payonce_goes_on() {
    let calls = fresh("[{}]");
    throwing_random();
    refused_for_want_of_randomness(&calls).await;
    // The module is still there: with the page's source back, the same cart pays.
    real_random();
    let r = pay_within(CART, "", 5000).await.expect("paid");
    assert_eq!(s(&r, "key").len(), 36);
    assert_eq!(calls.length(), 1);
    reset();
}

#[wasm_bindgen_test]
async fn a_pending_payment_keeps_its_key_whatever_the_clock_says() {
    fresh("[{ lost: true }, { lost: true }, { lost: true }]");
    let e = pay_within(CART, "keyTtlMs: 60000", 5000)
        .await
        .expect_err("unknown");
    let key = s(&e, "key");
    // The record as a clock a year ahead, or a day behind, would find it: its
    // expiry long past, or not begun.
    for shift in [-365.0 * 86_400_000.0, 86_400_000.0] {
        let item = format!("payonce:v1:{key}");
        let value = get_item(&item).expect("the pending record");
        let mut fields: Vec<String> = value.splitn(9, ',').map(str::to_owned).collect();
        for time in &mut fields[3..6] {
            let t: f64 = time.parse().unwrap();
            *time = format!("{}", t + shift);
        }
        set_item(&item, &fields.join(","));
        payonce::simulate_reload();
        assert_eq!(pending_keys(), [key.as_str()], "shift {shift}");
        let calls = script(v("[{ lost: true }, { lost: true }, { lost: true }]"));
        pay_within(CART, "keyTtlMs: 60000", 5000)
            .await
            .expect_err("unknown");
        assert_eq!(s(&calls.get(0), "key"), key, "shift {shift}");
    }
}

#[wasm_bindgen_test]
async fn a_record_page_code_clears_is_back_in_storage_when_the_call_ends() {
    // Every attempt's request is charged and its answer lost, and page code
    // (a logout handler) clears sessionStorage while it is out.
    fresh(
        "[{ lost: true, clear: true }, { lost: true, clear: true }, { lost: true, clear: true }]",
    );
    let e = pay_within(CART, "", 5000).await.expect_err("unknown");
    assert_eq!(get(&e, "retryable"), JsValue::TRUE);
    let item = format!("payonce:v1:{}", s(&e, "key"));
    assert!(
        get_item(&item).is_some_and(|v| v.starts_with("1,p,")),
        "the key the caller was told is kept is in storage: {:?}",
        payonce_items()
    );
    reset();
}

#[wasm_bindgen_test]
async fn a_record_page_code_clears_is_written_back_before_the_page_goes() {
    let calls = fresh("[{ hang: true }]");
    let paying = payonce::process_payment(
        v(CART),
        JsValue::UNDEFINED,
        v("{ endpoint: '/api/charges', timeoutMs: 60000 }"),
    );
    let _ = JsFuture::from(settles(&paying, 50)).await;
    assert_eq!(calls.length(), 1, "the request is out");
    let key = s(&calls.get(0), "key");
    // Page code clears storage, then the page reloads before the answer.
    clear_storage();
    page_hide();
    let item = format!("payonce:v1:{key}");
    assert!(
        get_item(&item).is_some_and(|v| v.starts_with("1,p,")),
        "written back at pagehide: {:?}",
        payonce_items()
    );
    page_show();
    payonce::simulate_reload();
    assert_eq!(
        pending_keys(),
        [key.as_str()],
        "the next page finds the key"
    );
    reset();
}

#[wasm_bindgen_test]
async fn a_page_declares_its_server_s_dialect() {
    // express-idempotency answers a key reused with other details 417.
    let calls = fresh("[{ status: 417 }]");
    let e = pay_within(CART, "dialect: { mismatch: [417, 422] }", 5000)
        .await
        .expect_err("refused");
    assert_eq!(s(&e, "code"), "key_reused", "{}", s(&e, "message"));
    assert!(s(&e, "message").contains("(417)"), "{}", s(&e, "message"));
    assert_eq!(calls.length(), 1);
    // django-idempotency-key answers a repeat of a finished request 409.
    let calls = fresh("[{ lost: true }, { status: 409 }]");
    let e = pay_within(CART, "dialect: { finished: [409], inProgress: [] }", 5000)
        .await
        .expect_err("unknown");
    assert_eq!(
        (get(&e, "retryable"), calls.length()),
        (JsValue::FALSE, 2),
        "{}",
        s(&e, "message")
    );
    assert!(
        s(&e, "message").contains("already finished"),
        "{}",
        s(&e, "message")
    );
    assert_eq!(pending_keys(), [s(&e, "key")], "the key is kept");
    reset();
}

#[wasm_bindgen_test]
async fn either_replay_header_and_a_declared_one_mark_a_replay() {
    for (header, extra) in [
        ("Idempotent-Replayed", ""),
        ("Idempotency-Replayed", ""),
        ("X-Replayed", "dialect: { replayHeader: 'x-replayed' }"),
    ] {
        fresh(&format!(
            "[{{ headers: {{ 'content-type': 'application/json', '{header}': 'true' }} }}]"
        ));
        let r = pay_within(CART, extra, 5000).await.expect("paid");
        assert_eq!(get(&r, "replayed"), JsValue::TRUE, "{header}");
    }
    reset();
}

#[wasm_bindgen_test]
async fn a_dialect_or_key_rules_that_make_no_sense_are_refused_before_anything_is_sent() {
    let calls = fresh("[{}]");
    for (extra, says) in [
        ("dialect: 5", "options.dialect must be an object"),
        ("dialect: { mismatch: 417 }", "options.dialect.mismatch must be an array"),
        ("dialect: { inProgress: [99] }", "options.dialect.inProgress must be an array"),
        ("dialect: { finished: [409.5] }", "whole numbers from 100 to 599"),
        (
            "dialect: { mismatch: [400,401,402,403,404,405,406,407,408,409,410,411,412,413,414,415,416] }",
            "at most 16",
        ),
        ("dialect: { replayHeader: 'not a header' }", "options.dialect.replayHeader"),
        ("keys: { maxLength: 20 }", "options.keys.maxLength must be a whole number from 36 to 255"),
        ("keys: { uuid: 'yes' }", "options.keys.uuid must be true or false"),
    ] {
        let e = pay_within(CART, extra, 5000).await.expect_err(extra);
        assert_eq!(s(&e, "code"), "invalid_input", "{extra}");
        assert!(s(&e, "message").contains(says), "{extra}: {}", s(&e, "message"));
    }
    // A caller key the server would refuse is refused here first.
    for (key, extra, says) in [
        ("order-1", "keys: { uuid: true }", "not a UUID"),
        (
            &"k".repeat(65) as &str,
            "keys: { maxLength: 64 }",
            "at most 64",
        ),
    ] {
        let e = pay_key_within(CART, key, extra).await.expect_err(key);
        assert_eq!(s(&e, "code"), "invalid_input");
        assert!(s(&e, "message").contains(says), "{}", s(&e, "message"));
    }
    assert_eq!(calls.length(), 0, "nothing was sent");
    reset();
}
