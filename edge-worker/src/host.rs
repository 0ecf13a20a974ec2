//! What the fetch handler and the Durable Object share on workerd: reading vars, the per-isolate
//! settings and policy caches, the shard round trips, the siteverify callout.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{join_all, select, Either};
use pumpguard_core::captcha::Captcha;
use pumpguard_core::config::LookupMethod;
use pumpguard_core::decision::{TokenCheck, TokenVerdict};
use pumpguard_core::intel::{self, LookupAnswer, NumberIntel, NumberLookup};
use pumpguard_core::{captcha, CheckOutcome, CounterCheck};
use worker::js_sys::{self, Reflect};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys;
use worker::worker_sys::DurableObjectNamespace;
use worker::{
    console_error, console_warn, AbortController, Delay, Env, Fetch, Headers, Method, Request, RequestInit,
};

use crate::logs::event_line;
use crate::policy_source::{self, CachedPolicy, Loaded};
use crate::settings::{names, Settings};
use crate::shard::{group, shard_name};
use crate::wire::{fits_header, ShardRequest, ShardResponse, PAYLOAD_HEADER, SHARD_URL};

/// A var, secret or object var as text (objects as their JSON), `None` when unset or empty.
pub fn raw_var(env: &Env, name: &str) -> Option<String> {
    let value = Reflect::get(env.as_ref(), &JsValue::from_str(name)).ok()?;
    if let Some(text) = value.as_string() {
        return Some(text).filter(|t| !t.trim().is_empty());
    }
    if value.is_object() && !value.is_function() {
        // A `[vars]` table in wrangler.toml arrives as an object; KV namespaces and other
        // bindings are objects too, but they stringify to `{}`, which no policy is.
        let text: String = js_sys::JSON::stringify(&value).ok()?.into();
        return Some(text).filter(|t| t != "{}");
    }
    None
}

/// Milliseconds since the epoch (advances only across I/O inside a request, as on Workers).
pub fn now_ms() -> u64 {
    let ms = js_sys::Date::now();
    if ms.is_finite() && ms > 0.0 {
        ms as u64
    } else {
        0
    }
}

thread_local! {
    static SETTINGS: RefCell<Option<Rc<Settings>>> = const { RefCell::new(None) };
    static POLICY: RefCell<Option<CachedPolicy>> = const { RefCell::new(None) };
}

/// Settings of this isolate (vars do not change while an isolate lives).
pub fn settings(env: &Env) -> Rc<Settings> {
    if let Some(settings) = SETTINGS.with(|s| s.borrow().clone()) {
        return settings;
    }
    let (settings, warnings) = Settings::read(|name| raw_var(env, name));
    for warning in warnings {
        console_warn!("{}", event_line("setting_ignored", serde_json::json!({ "why": warning })));
    }
    let settings = Rc::new(settings);
    SETTINGS.with(|s| *s.borrow_mut() = Some(settings.clone()));
    settings
}

/// The policy of this isolate: validated once per text; an unusable one is logged when loaded.
/// `must_be` (a shard checking the caller's policy id) forces a fresh read when it differs.
pub async fn policy(env: &Env, must_be: Option<u64>) -> Loaded {
    let now = now_ms();
    let cached = POLICY.with(|p| p.borrow().clone());
    let kv_ttl_ms = settings(env).policy_kv_ttl_ms;
    if let Some(cached) = cached.as_ref().filter(|c| c.serves(must_be, now, kv_ttl_ms)) {
        return cached.loaded.clone();
    }
    let (text, from_kv) = match raw_var(env, names::POLICY) {
        Some(text) => (Some(text), false),
        None => (kv_policy(env).await, true),
    };
    if from_kv && text.is_none() {
        if let Some(kept) = cached.as_ref().and_then(|c| c.kept_without_text(now)) {
            let loaded = kept.loaded.clone();
            POLICY.with(|p| *p.borrow_mut() = Some(kept));
            return loaded;
        }
    }
    let id = text.as_deref().map(policy_source::policy_id);
    let loaded = cached.as_ref().and_then(|c| c.same_text(id));
    let loaded = loaded.unwrap_or_else(|| policy_source::load(text.as_deref()));
    let kept = cached.as_ref().and_then(|c| c.kept_over(&loaded, now));
    if let Loaded::Unusable { why, paths, .. } = &loaded {
        let serving = if kept.is_some() { "last good policy" } else { "none (fail mode)" };
        console_error!(
            "{}",
            event_line(
                "policy_unusable",
                serde_json::json!({ "why": why, "paths": paths, "serving": serving })
            )
        );
    }
    if let Some(kept) = kept {
        let loaded = kept.loaded.clone();
        POLICY.with(|p| *p.borrow_mut() = Some(kept));
        return loaded;
    }
    POLICY.with(|p| {
        *p.borrow_mut() = Some(CachedPolicy { loaded: loaded.clone(), from_kv, loaded_at_ms: now });
    });
    loaded
}

async fn kv_policy(env: &Env) -> Option<String> {
    let kv = env.kv(names::POLICY_KV).ok()?;
    let key = raw_var(env, names::POLICY_KV_KEY).unwrap_or_else(|| "policy".to_owned());
    match kv.get(&key).text().await {
        Ok(text) => text,
        Err(e) => {
            console_error!(
                "{}",
                event_line("policy_kv_unreadable", serde_json::json!({ "why": e.to_string() }))
            );
            None
        }
    }
}

/// What a round of shard calls does with its checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    /// What the checks would conclude; nothing is written (`Policy::peek_checks` in the shard).
    Peek,
    /// The checks run for real and their writes are stored (`Policy::run_check` in the shard).
    Commit,
}

/// Runs counter checks on their shards: one round trip per shard, all shards at once. Results are
/// in the order of `checks`; a shard that fails yields `StoreFailed` for its checks. No checks, no
/// call: a round with nothing to run costs nothing.
pub async fn run_checks(
    env: &Env,
    settings: &Settings,
    policy_id: u64,
    now_ms: u64,
    round: Round,
    checks: &[CounterCheck],
) -> Vec<CheckOutcome> {
    let mut outcomes = vec![CheckOutcome::StoreFailed; checks.len()];
    if checks.is_empty() {
        return outcomes;
    }
    let groups = group(settings.shard_seed, checks.iter().map(|c| c.key.as_str()), settings.shards);
    let calls = groups.iter().map(|(shard, positions)| {
        let batch: Vec<CounterCheck> = positions.iter().filter_map(|&p| checks.get(p).cloned()).collect();
        shard_call(
            env,
            *shard,
            settings.shard_timeout_ms,
            ShardRequest { policy_id, now_ms, peek: round == Round::Peek, namespace: None, checks: batch },
        )
    });
    let answers = join_all(calls).await;
    for ((_, positions), answer) in groups.iter().zip(answers) {
        let results = answer.into_outcomes(positions.len());
        for (&position, outcome) in positions.iter().zip(results) {
            if let Some(slot) = outcomes.get_mut(position) {
                *slot = outcome;
            }
        }
    }
    outcomes
}

/// One shard's answer within `timeout_ms`. A shard that does not answer in time fails its checks
/// (`store.on_error`); a commit it still applies later counts, as a lost answer of any store would.
async fn shard_call(env: &Env, shard: u32, timeout_ms: u64, request: ShardRequest) -> ShardResponse {
    let call = Box::pin(try_shard_call(env, shard, &request));
    let timeout = Delay::from(Duration::from_millis(timeout_ms));
    let answer = match select(call, timeout).await {
        Either::Left((answer, _)) => answer,
        Either::Right(((), _)) => Err(worker::Error::RustError(format!("no answer within {timeout_ms} ms"))),
    };
    match answer {
        Ok(answer) => answer,
        Err(e) => {
            console_error!(
                "{}",
                event_line("shard_failed", serde_json::json!({ "shard": shard, "why": e.to_string() }))
            );
            ShardResponse::Refused(e.to_string())
        }
    }
}

/// One shard round trip, on the JS objects directly: workers-rs' `Stub::fetch_with_request` wraps
/// the answer in a `worker::Response` whose body is then read chunk by chunk through a stream
/// reader, which costs more CPU than the whole rest of the call.
async fn try_shard_call(env: &Env, shard: u32, request: &ShardRequest) -> worker::Result<ShardResponse> {
    let namespace = env.durable_object(names::SHARD_BINDING)?;
    let namespace: &DurableObjectNamespace = namespace.as_ref().unchecked_ref();
    let stub = namespace.get_by_name(&shard_name(shard))?;
    let json = serde_json::to_string(request).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    let headers = web_sys::Headers::new()?;
    if fits_header(&json) {
        headers.set(PAYLOAD_HEADER, &json)?;
    } else {
        init.set_body(&JsValue::from_str(&json));
    }
    crate::trap::pass_to_shard(&headers)?;
    init.set_headers(&headers);
    let call = web_sys::Request::new_with_str_and_init(SHARD_URL, &init)?;
    let response: web_sys::Response = JsFuture::from(stub.fetch_with_request(&call)?).await?.dyn_into()?;
    let text = match response.headers().get(PAYLOAD_HEADER)? {
        Some(text) => text,
        None => JsFuture::from(response.text()?).await?.as_string().unwrap_or_default(),
    };
    let answer: ShardResponse =
        serde_json::from_str(&text).map_err(|e| worker::Error::RustError(format!("shard answer: {e}")))?;
    if let ShardResponse::Refused(why) = &answer {
        console_error!("{}", event_line("shard_refused", serde_json::json!({ "shard": shard, "why": why })));
    }
    Ok(answer)
}

/// Verifies a token at siteverify within the policy's `verify_timeout_ms`. A timeout, a failed
/// call or an unreadable answer is `Unavailable` (the policy's `on_unavailable` decides).
pub async fn siteverify(
    env: &Env,
    settings: &Settings,
    captcha: Option<&Captcha>,
    check: &TokenCheck,
) -> TokenVerdict {
    let Some(captcha) = captcha else {
        return TokenVerdict::Unavailable { detail: "policy has no captcha section".to_owned() };
    };
    let secret = raw_var(env, names::CAPTCHA_SECRET).or_else(|| captcha.secret.clone());
    let Some(secret) = secret else {
        return TokenVerdict::Unavailable {
            detail: format!("no siteverify secret (set captcha.secret or {})", names::CAPTCHA_SECRET),
        };
    };
    let url = settings.siteverify_url.clone().unwrap_or_else(|| captcha.provider.siteverify_url().to_owned());
    let controller = AbortController::default();
    let signal = controller.signal();
    let call = Box::pin(async {
        let headers = Headers::new();
        headers.set("content-type", "application/x-www-form-urlencoded")?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(JsValue::from_str(&captcha::siteverify_body(&secret, check))));
        let request = Request::new_with_init(&url, &init)?;
        let mut response = Fetch::Request(request).send_with_signal(&signal).await?;
        let status = response.status_code();
        let body = response.bytes().await?;
        Ok::<_, worker::Error>((status, body))
    });
    let timeout = Delay::from(Duration::from_millis(u64::from(captcha.verify_timeout_ms)));
    let verdict = match select(call, timeout).await {
        Either::Left((Ok((status, body)), _)) => captcha::interpret_siteverify(captcha, status, &body),
        Either::Left((Err(e), _)) => {
            TokenVerdict::Unavailable { detail: format!("siteverify call failed: {e}") }
        }
        Either::Right(((), _)) => {
            controller.abort();
            TokenVerdict::Unavailable {
                detail: format!("siteverify timed out after {} ms", captcha.verify_timeout_ms),
            }
        }
    };
    verdict
}

/// Looks one number up at the policy's number-intelligence provider within its `timeout_ms`
/// (`GET`, the policy's headers with `PUMPGUARD_NUMBER_INTEL_HEADERS` over them). A timeout, a
/// failed call or an unreadable answer is `Unavailable` (`number_intel.on_unavailable` decides).
pub async fn number_lookup(
    env: &Env,
    settings: &Settings,
    provider: Option<&NumberIntel>,
    lookup: &NumberLookup,
) -> LookupAnswer {
    let Some(provider) = provider else {
        return LookupAnswer::Unavailable { detail: "policy has no number_intel section".to_owned() };
    };
    let mut request = provider.request(lookup);
    if let Some(template) = &settings.number_intel_url {
        request.url = intel::expand_template(template, &lookup.e164);
    }
    let host_headers: BTreeMap<String, String> = match raw_var(env, names::NUMBER_INTEL_HEADERS) {
        Some(json) => match serde_json::from_str(&json) {
            Ok(headers) => headers,
            Err(e) => {
                return LookupAnswer::Unavailable {
                    detail: format!("{} is not a JSON object of strings: {e}", names::NUMBER_INTEL_HEADERS),
                }
            }
        },
        None => BTreeMap::new(),
    };
    let headers = intel::merge_headers(&request.headers, &host_headers);
    let controller = AbortController::default();
    let signal = controller.signal();
    let call = Box::pin(async {
        let js_headers = Headers::new();
        for (name, value) in &headers {
            js_headers.set(name, value)?;
        }
        let mut init = RequestInit::new();
        let method = match request.method {
            LookupMethod::Get => Method::Get,
            LookupMethod::Post => Method::Post,
        };
        init.with_method(method).with_headers(js_headers);
        if let Some(body) = &request.body {
            init.with_body(Some(JsValue::from_str(body)));
        }
        let call = Request::new_with_init(&request.url, &init)?;
        let mut response = Fetch::Request(call).send_with_signal(&signal).await?;
        let status = response.status_code();
        let body = response.bytes().await?;
        Ok::<_, worker::Error>((status, body))
    });
    let timeout = Delay::from(Duration::from_millis(u64::from(provider.timeout_ms)));
    // Bound before returning: the call borrows the request, headers and signal above.
    let answer = match select(call, timeout).await {
        Either::Left((Ok((status, body)), _)) => provider.interpret(status, &body),
        Either::Left((Err(e), _)) => LookupAnswer::Unavailable { detail: format!("lookup failed: {e}") },
        Either::Right(((), _)) => {
            controller.abort();
            LookupAnswer::Unavailable { detail: format!("lookup timed out after {} ms", provider.timeout_ms) }
        }
    };
    answer
}

/// Reads a string property path (`["botManagement", "ja3Hash"]`) of a JS object.
pub fn js_string(object: &JsValue, path: &[&str]) -> Option<String> {
    js_value(object, path)?.as_string()
}

/// Reads a numeric property path of a JS object.
pub fn js_number(object: &JsValue, path: &[&str]) -> Option<f64> {
    js_value(object, path)?.as_f64()
}

/// Reads a boolean property path of a JS object.
pub fn js_bool(object: &JsValue, path: &[&str]) -> Option<bool> {
    js_value(object, path)?.as_bool()
}

fn js_value(object: &JsValue, path: &[&str]) -> Option<JsValue> {
    let mut value = object.clone();
    for name in path {
        if !value.is_object() {
            return None;
        }
        value = Reflect::get(&value, &JsValue::from_str(name)).ok()?;
    }
    (!value.is_undefined() && !value.is_null()).then_some(value)
}

/// `request.cf` as a plain JS value (undefined outside Cloudflare's edge).
pub fn cf_object(request: &Request) -> JsValue {
    Reflect::get(request.inner().unchecked_ref::<JsValue>(), &JsValue::from_str("cf"))
        .unwrap_or(JsValue::UNDEFINED)
}
