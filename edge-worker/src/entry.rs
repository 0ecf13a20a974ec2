//! The fetch handler: request → core → local reply or origin.

use std::net::IpAddr;

use pumpguard_core::decision_log::DecisionLog;
use pumpguard_core::routes::{ConfirmResponse, MAX_CONFIRM_BODY_BYTES};
use pumpguard_core::{
    Action, CheckOutcome, Decision, EdgeSignals, HttpVersion, Policy, Request as CoreRequest, Timestamp,
    TlsFingerprints,
};
use worker::js_sys::{self, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{
    console_error, console_log, console_warn, event, web_sys, AnalyticsEngineDataPointBuilder, Context, Env,
    Request, Result,
};

use crate::edge_country::set_edge_country;
use crate::host::{self, cf_object, js_bool, js_number, js_string, Round};
use crate::logs::{self, ClientFacts};
use crate::policy_source::Loaded;
use crate::reply::{self, LocalReply, DECISION_HEADER_NAMES, NOT_FORWARDED};
use crate::settings::{names, parse_clock, FailMode, Settings};

thread_local! {
    /// The isolate's decision log limiter: under a flood, a line per refused request would be the
    /// next bill (see `logs::limited_lines`).
    static DECISION_LOG: std::cell::RefCell<Option<DecisionLog>> = const { std::cell::RefCell::new(None) };
}

/// Answers with JS `Response` objects, never `worker::Response`: workers-rs rebuilds a
/// `worker::Response` into a new JS one with `unwrap`, which panics on a status the constructor
/// refuses (an origin answering 600), so origin's answer is handed back as it came.
#[event(fetch)]
pub async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<web_sys::Response> {
    match handle(req, &env).await {
        Ok(response) => Ok(response),
        Err(e) => {
            console_error!(
                "{}",
                logs::event_line("internal_error", serde_json::json!({ "why": e.to_string() }))
            );
            local(reply::internal_error())
        }
    }
}

/// The parts of the incoming request the adapter needs, read once.
struct Incoming {
    method: String,
    authority: String,
    path_and_query: String,
    url: String,
    /// Request headers without the test clock header.
    headers: Vec<(String, String)>,
    now_ms: u64,
    client: ClientFacts,
    client_ip: Option<IpAddr>,
    version: HttpVersion,
    ja3: Option<String>,
    ja4: Option<String>,
    edge: EdgeSignals,
}

fn incoming(req: &Request, settings: &Settings) -> Result<Incoming> {
    let url = req.url()?;
    let path_and_query = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let mut headers: Vec<(String, String)> = req.headers().entries().collect();
    let mut now_ms = host::now_ms();
    if let Some(name) = &settings.test_clock_header {
        if let Some(position) = headers.iter().position(|(n, _)| n == name) {
            let (_, value) = headers.remove(position);
            if let Some(ms) = parse_clock(&value) {
                now_ms = ms;
            }
        }
    }
    let cf = cf_object(req);
    let cf_country = js_string(&cf, &["country"]);
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let ip_text = header(&settings.client_ip_header);
    let client_ip = ip_text.as_deref().and_then(|ip| ip.trim().parse::<IpAddr>().ok());
    let trusted = |name: &Option<String>| name.as_deref().and_then(header).filter(|v| !v.is_empty());
    let ja3 = trusted(&settings.ja3_header).or_else(|| js_string(&cf, &["botManagement", "ja3Hash"]));
    let ja4 = trusted(&settings.ja4_header).or_else(|| js_string(&cf, &["botManagement", "ja4"]));
    // Bot Management's verdict: a configured trusted header wins, as for JA3 / JA4.
    let edge = EdgeSignals {
        bot_score: match trusted(&settings.bot_score_header) {
            Some(text) => EdgeSignals::parse_bot_score(&text),
            None => js_number(&cf, &["botManagement", "score"]).and_then(EdgeSignals::bot_score_of),
        },
        verified_bot: match trusted(&settings.verified_bot_header) {
            Some(text) => EdgeSignals::parse_verified_bot(&text),
            None => js_bool(&cf, &["botManagement", "verifiedBot"]),
        },
    };
    // The client's country: a configured trusted header wins, as for JA3 / JA4.
    let country = trusted(&settings.country_header).or_else(|| cf_country.clone());
    let version = js_string(&cf, &["httpProtocol"])
        .and_then(|p| HttpVersion::from_protocol(&p))
        .unwrap_or(HttpVersion::Http11);
    let client = ClientFacts {
        ip: ip_text,
        country: cf_country,
        asn: js_number(&cf, &["asn"])
            .and_then(|n| (n >= 0.0 && n <= f64::from(u32::MAX)).then_some(n as u32)),
        colo: js_string(&cf, &["colo"]),
    };
    let authority = header("host").unwrap_or_else(|| {
        let host = url.host_str().unwrap_or_default();
        match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    });
    set_edge_country(&mut headers, country.as_deref());
    Ok(Incoming {
        method: req.inner().method(),
        authority,
        path_and_query,
        url: url.to_string(),
        headers,
        now_ms,
        client,
        client_ip,
        version,
        ja3,
        ja4,
        edge,
    })
}

impl Incoming {
    fn core<'a>(
        &'a self,
        header_refs: &'a [(&'a str, &'a str)],
        body: &'a [u8],
        truncated: bool,
    ) -> CoreRequest<'a> {
        CoreRequest {
            method: &self.method,
            authority: &self.authority,
            path: &self.path_and_query,
            version: self.version,
            headers: header_refs,
            body,
            body_truncated: truncated,
            client_ip: self.client_ip,
            tls: TlsFingerprints { ja3: self.ja3.as_deref(), ja4: self.ja4.as_deref() },
            edge: self.edge,
        }
    }
}

async fn handle(mut req: Request, env: &Env) -> Result<web_sys::Response> {
    crate::trap::on_request(req.headers());
    let settings = host::settings(env);
    let loaded = host::policy(env, None).await;
    let incoming = incoming(&req, &settings)?;
    let (policy_id, policy) = match loaded {
        Loaded::Ready { id, policy } => (id, policy),
        Loaded::Unusable { why, paths, .. } => {
            let open = settings.fail_mode == FailMode::Open;
            console_error!(
                "{}",
                logs::event_line(
                    "policy_unusable",
                    serde_json::json!({
                        "why": why, "paths": paths, "fail_mode": if open { "open" } else { "closed" },
                        "method": incoming.method, "path": incoming.path_and_query, "client": incoming.client,
                    })
                )
            );
            if !open {
                return local(reply::policy_unavailable());
            }
            let body = req.inner().body().map(JsValue::from);
            return forward(&settings, &incoming, &[], body).await;
        }
    };

    let header_refs: Vec<(&str, &str)> =
        incoming.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    if !policy.guards(&incoming.core(&header_refs, &[], false)) {
        // Unguarded: straight through, the body streamed, never buffered.
        let body = req.inner().body().map(JsValue::from);
        return forward(&settings, &incoming, &Decision::unguarded().origin_headers(), body).await;
    }

    let cap = policy.max_body_bytes();
    let body = CappedBody::read(&mut req, &incoming.headers, cap).await?;
    let decision = judge(env, &settings, policy_id, &policy, &incoming, &header_refs, &body).await;
    let lines = DECISION_LOG.with(|log| {
        let mut log = log.borrow_mut();
        let log = log.get_or_insert_with(|| DecisionLog::new(settings.decision_log));
        logs::limited_lines(log, &decision, &incoming.client, incoming.now_ms)
    });
    for (level, line) in lines {
        match level {
            logs::Level::Info => console_log!("{line}"),
            logs::Level::Warn => console_warn!("{line}"),
        }
    }
    write_data_point(env, &decision, &incoming.client);
    if let Some(reply) = reply::for_decision(&decision) {
        return local(reply);
    }

    let response = forward(&settings, &incoming, &decision.origin_headers(), body.forwarded()).await?;
    if policy.awaits_confirmation(&decision) {
        record_confirm(env, &settings, policy_id, &policy, &decision, incoming.now_ms, &response).await;
    }
    Ok(response)
}

/// Feeds a confirm route's answer into conversion tracking: the numbers' checks ("was this number
/// sent to?"), then the scope credits they earned. Awaited, not deferred: the next request of the
/// same client must see the confirmation.
async fn record_confirm(
    env: &Env,
    settings: &Settings,
    policy_id: u64,
    policy: &Policy,
    decision: &Decision,
    now_ms: u64,
    response: &web_sys::Response,
) {
    // The route may judge a header or a JSON field of the answer, not only its status.
    let headers = header_pairs(&response.headers());
    let header_refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let body = if policy.confirm_needs_body(decision) { confirm_body(response).await } else { None };
    let answer = ConfirmResponse { status: response.status(), headers: &header_refs, body: body.as_deref() };
    let numbers = policy.confirm_checks(decision, &answer);
    if numbers.is_empty() {
        return;
    }
    let matched = host::run_checks(env, settings, policy_id, now_ms, Round::Commit, &numbers).await;
    let credits = policy.credit_checks(&numbers, &matched);
    let credited = host::run_checks(env, settings, policy_id, now_ms, Round::Commit, &credits).await;
    if matched.iter().chain(&credited).any(|o| !matches!(o, CheckOutcome::Verdict(_))) {
        console_error!("{}", logs::event_line("confirmation_not_recorded", serde_json::json!({})));
    }
}

/// A JS `Headers` as `(name, value)` pairs (the Fetch API lowercases names), read without
/// workers-rs' iterator, which unwraps.
fn header_pairs(headers: &web_sys::Headers) -> Vec<(String, String)> {
    let Ok(Some(entries)) = js_sys::try_iter(headers) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let pair: js_sys::Array = entry.dyn_into().ok()?;
            Some((pair.get(0).as_string()?, pair.get(1).as_string()?))
        })
        .collect()
}

/// The start of origin's answer (at least `MAX_CONFIRM_BODY_BYTES` of it, when it is that long),
/// read from a clone so the client still gets the whole body; `None` when it cannot be read
/// (the route then credits nothing).
async fn confirm_body(response: &web_sys::Response) -> Option<Vec<u8>> {
    let copy = web_sys::Response::clone(response).ok()?;
    let reader: web_sys::ReadableStreamDefaultReader = copy.body()?.get_reader().unchecked_into();
    let mut bytes = Vec::new();
    while bytes.len() < MAX_CONFIRM_BODY_BYTES {
        let next = JsFuture::from(reader.read()).await.ok()?;
        if js_sys::Reflect::get(&next, &JsValue::from_str("done")).ok()?.as_bool().unwrap_or(true) {
            return Some(bytes);
        }
        let chunk = js_sys::Reflect::get(&next, &JsValue::from_str("value")).ok()?;
        bytes.extend_from_slice(&Uint8Array::new(&chunk).to_vec());
    }
    // Enough read: the rest goes only to the client's branch. The promise only settles the
    // cancellation; nothing waits on it.
    let _ = reader.cancel();
    Some(bytes)
}

#[allow(clippy::too_many_arguments)]
async fn judge(
    env: &Env,
    settings: &Settings,
    policy_id: u64,
    policy: &Policy,
    incoming: &Incoming,
    header_refs: &[(&str, &str)],
    body: &CappedBody,
) -> Decision {
    let now = Timestamp::from_millis(incoming.now_ms);
    let request = incoming.core(header_refs, body.judged(policy.max_body_bytes()), body.truncated);
    let mut prepared = policy.prepare(&request, now);
    let mut read_failed = false;
    if prepared.reads_bound_number() {
        // A send naming only an account: the number it goes to first, then the request as a
        // send to it.
        let read =
            host::run_checks(env, settings, policy_id, incoming.now_ms, Round::Peek, prepared.checks()).await;
        read_failed = read.iter().all(|o| *o == CheckOutcome::StoreFailed);
        prepared = policy.prepare_bound(&request, now, prepared, &read);
    }
    // Peek: what the counters would say, nothing written, so a refused request costs no write.
    // After a read that failed whole, the store's failure decides at once: no second wait.
    let peeked = if read_failed {
        vec![CheckOutcome::StoreFailed; prepared.checks().len()]
    } else {
        host::run_checks(env, settings, policy_id, incoming.now_ms, Round::Peek, prepared.checks()).await
    };
    let mut decision = policy.conclude(prepared, &peeked);
    // The callouts, in the core's order: a token before any lookup (a refused token costs no
    // lookup), then the numbers' lookups at once, then a token a lookup's challenge asks for.
    for _ in 0..4 {
        if let (Action::Challenge, Some(check)) = (decision.action, &decision.token_check) {
            let verdict = host::siteverify(env, settings, policy.captcha(), check).await;
            decision = policy.resolve_token(decision, &verdict);
        } else if !decision.lookups.is_empty() {
            let calls =
                decision.lookups.iter().map(|l| host::number_lookup(env, settings, policy.number_intel(), l));
            let answers = futures_util::future::join_all(calls).await;
            decision = policy.resolve_lookups(decision, &answers);
        } else {
            break;
        }
    }
    // Commit: every check of a request that goes to origin; of a refused one only a block its
    // refusal starts (usually nothing, so no round). A solving device's limits go in a round of
    // their own first, and the rest only if they pass; `settle_commits` leaves it pending.
    while !decision.pending_commits().is_empty() {
        let committed = host::run_checks(
            env,
            settings,
            policy_id,
            incoming.now_ms,
            Round::Commit,
            decision.pending_commits(),
        )
        .await;
        decision = policy.settle_commits(decision, &committed);
    }
    decision
}

/// The request body, read up to the policy's cap (plus one chunk, to know it is over), and what
/// to forward when the policy lets it through: never the whole of an oversized body in memory.
struct CappedBody {
    bytes: Vec<u8>,
    truncated: bool,
    /// A stream of the whole body from its first byte, when `bytes` is not all of it: the
    /// request's own stream (nothing read) or the other branch of a tee.
    whole: Option<web_sys::ReadableStream>,
}

impl CappedBody {
    async fn read(req: &mut Request, headers: &[(String, String)], cap: usize) -> Result<CappedBody> {
        let Some(stream) = req.inner().body() else {
            return Ok(CappedBody { bytes: Vec::new(), truncated: false, whole: None });
        };
        let declared = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.trim().parse::<u64>().ok());
        let chunked = headers.iter().any(|(n, _)| n == "transfer-encoding");
        match declared {
            // Over the cap by its own account: not read, and forwarded as it came if allowed.
            Some(len) if len > cap as u64 => {
                return Ok(CappedBody { bytes: Vec::new(), truncated: true, whole: Some(stream) });
            }
            // Within the cap by its own account and framed by that length (no chunked encoding,
            // which would win over it): read at once, much cheaper than chunk by chunk.
            Some(_) if !chunked => {
                let bytes = req.bytes().await?;
                let truncated = bytes.len() > cap;
                return Ok(CappedBody { bytes, truncated, whole: None });
            }
            _ => {}
        }
        // Length unknown: one branch of a tee is read chunk by chunk up to the cap; the other
        // carries the whole body to origin if the policy allows it (the tee holds at most what
        // was read here).
        let branches = stream.tee();
        let (mine, other): (web_sys::ReadableStream, web_sys::ReadableStream) =
            (branches.get(0).unchecked_into(), branches.get(1).unchecked_into());
        let reader: web_sys::ReadableStreamDefaultReader = mine.get_reader().unchecked_into();
        let mut bytes = Vec::new();
        loop {
            let next = JsFuture::from(reader.read()).await?;
            if js_sys::Reflect::get(&next, &JsValue::from_str("done"))?.as_bool().unwrap_or(true) {
                break;
            }
            let chunk = js_sys::Reflect::get(&next, &JsValue::from_str("value"))?;
            bytes.extend_from_slice(&Uint8Array::new(&chunk).to_vec());
            if bytes.len() > cap {
                // The promise only settles the cancellation; nothing waits on it.
                let _ = reader.cancel();
                return Ok(CappedBody { bytes, truncated: true, whole: Some(other) });
            }
        }
        let _ = other.cancel();
        Ok(CappedBody { bytes, truncated: false, whole: None })
    }

    fn judged(&self, cap: usize) -> &[u8] {
        self.bytes.get(..cap.min(self.bytes.len())).unwrap_or(&self.bytes)
    }

    /// What to forward: the bytes read when they are the whole body, else the stream of it.
    fn forwarded(self) -> Option<JsValue> {
        match self.whole {
            Some(stream) => Some(stream.into()),
            None => (!self.bytes.is_empty()).then(|| Uint8Array::from(self.bytes.as_slice()).into()),
        }
    }
}

/// Sends the request on to origin with the decision headers; origin's answer is returned as is
/// (redirects included: they are the client's to follow). Built on the JS objects: workers-rs'
/// `Method` turns every method it does not list (PURGE, PROPFIND, ...) into GET.
async fn forward(
    settings: &Settings,
    incoming: &Incoming,
    decision_headers: &[(&'static str, String)],
    body: Option<JsValue>,
) -> Result<web_sys::Response> {
    let (url, to_configured_origin, to_another_party) = match settings.origin_for(&incoming.path_and_query) {
        Some((url, another_party)) => (url, true, another_party),
        // No origin configured: on a Cloudflare route, fetching the request's own URL reaches
        // the zone's origin.
        None => (incoming.url.clone(), false, false),
    };
    let headers = web_sys::Headers::new()?;
    for (name, value) in &incoming.headers {
        let name_str = name.as_str();
        if DECISION_HEADER_NAMES.contains(&name_str)
            || NOT_FORWARDED.contains(&name_str)
            || (to_configured_origin && name_str == "host")
            // The site's cookies (a parent domain's reach every subdomain) are never another
            // party's to read.
            || (to_another_party && name_str == "cookie")
        {
            continue;
        }
        headers.append(name, value)?;
    }
    if to_configured_origin {
        headers.set("x-forwarded-host", &incoming.authority)?;
    }
    if !to_another_party {
        // Set, not appended: a client's own copy never reaches origin.
        for (name, value) in settings.origin_headers.iter() {
            headers.set(name, value)?;
        }
        // The client's address, as the guard read it; a client's own copy is dropped even
        // when the address is unknown.
        if let Some(name) = &settings.origin_client_ip_header {
            match incoming.client_ip {
                Some(ip) => headers.set(name, &ip.to_string())?,
                None => headers.delete(name)?,
            }
        }
    }
    for (name, value) in decision_headers {
        headers.set(name, value)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(&incoming.method);
    init.set_headers(&headers);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if let Some(body) = body.filter(|_| !matches!(incoming.method.as_str(), "GET" | "HEAD")) {
        init.set_body(&body);
    }
    let request = web_sys::Request::new_with_str_and_init(&url, &init)?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let sent = JsFuture::from(global.fetch_with_request(&request)).await;
    match sent.and_then(|response| response.dyn_into::<web_sys::Response>()) {
        Ok(response) => Ok(response),
        Err(e) => {
            let e = worker::Error::from(e);
            console_error!(
                "{}",
                logs::event_line(
                    "origin_unreachable",
                    serde_json::json!({ "url": url, "why": e.to_string() })
                )
            );
            local(reply::origin_unreachable())
        }
    }
}

fn local(reply: LocalReply) -> Result<web_sys::Response> {
    let headers = web_sys::Headers::new()?;
    for (name, value) in &reply.headers {
        headers.set(name, value)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(reply.status);
    init.set_headers(&headers);
    Ok(web_sys::Response::new_with_opt_str_and_init(Some(&reply.body), &init)?)
}

fn write_data_point(env: &Env, decision: &Decision, client: &ClientFacts) {
    let Ok(dataset) = env.analytics_engine(names::ANALYTICS) else { return };
    let point = logs::data_point(decision, client);
    let blobs: Vec<&str> = point.blobs.iter().map(String::as_str).collect();
    let written = AnalyticsEngineDataPointBuilder::new()
        .indexes([point.index.as_str()])
        .blobs(blobs)
        .doubles(point.doubles.iter().copied())
        .write_to(&dataset);
    if let Err(e) = written {
        console_warn!(
            "{}",
            logs::event_line("analytics_write_failed", serde_json::json!({ "why": e.to_string() }))
        );
    }
}
