//! The filter's lifecycle below Envoy: `contexts` and `host` driven as Envoy drives them, against
//! the host emulator (`abi::emulator`). Each test is one path a request can take; the e2e test
//! (tests/envoy/e2e.py) runs the same paths through a real Envoy with the built module.

use crate::abi::emulator::{self, Call, LocalReply, StreamHost};
use crate::abi::{Action, Level};
use crate::adapter::host_failure_metric;
use crate::contexts::Contexts;

const ROOT: u32 = 1;
const NOW_MS: u64 = 1_700_000_000_000;

/// Routes of every test policy: a send route (numbers in the JSON body, the Turnstile token in a
/// header) and a confirm route.
const ROUTES: &str = r#"[
    {"id":"otp","kind":"send","match":{"methods":["POST"],"path":{"exact":"/api/otp"}},
     "extract":{"json_keys":["phone"],"token":{"header":"cf-turnstile-response"}}},
    {"id":"verify","kind":"confirm","match":{"methods":["POST"],"path":{"exact":"/api/otp/verify"}},
     "extract":{"json_keys":["phone"]}}]"#;

const GEO: &str = r#"{"id":"geo","action":"block","country":{"allow":["US"]}}"#;
const WATCH_DE: &str = r#"{"id":"watch","action":"block","shadow":true,"country":{"deny":["DE"]}}"#;
const ONE_PER_NUMBER: &str = r#"{"id":"per-number","action":"throttle","rate_limit":{"key":["number"],"rate":1,"per_seconds":3600,"burst":1}}"#;
const CAPTCHA: &str = r#"{"id":"captcha","action":"challenge","captcha":{}}"#;
const SITEVERIFY: &str = r#""siteverify":{"cluster":"turnstile","authority":"challenges.cloudflare.com","path":"/turnstile/v0/siteverify"}"#;

const US: &str = r#"{"phone":"+14155550123"}"#;
const DE: &str = r#"{"phone":"+4915112345678"}"#;

/// A plugin configuration: `rules`, `policy_extra` top-level policy fields, `host_extra` host settings.
fn config(rules: &[&str], policy_extra: &str, host_extra: &str) -> String {
    let rules = rules.join(",");
    let policy_extra = if policy_extra.is_empty() { String::new() } else { format!(",{policy_extra}") };
    let host_extra = if host_extra.is_empty() { String::new() } else { format!(",{host_extra}") };
    format!(
        r#"{{"name":"t","policy":{{"version":1,"default_region":"US","routes":{ROUTES},"rules":[{rules}]{policy_extra}}},
            "store":{{"buckets":64,"entries_per_bucket":8}}{host_extra}}}"#
    )
}

fn captcha_config(on_unavailable: &str) -> String {
    let captcha = format!(
        r#""captcha":{{"provider":"turnstile","secret":"test-secret","on_unavailable":"{on_unavailable}"}}"#
    );
    config(&[CAPTCHA], &captcha, SITEVERIFY)
}

/// The request headers Envoy hands the filter for a JSON POST.
fn post(path: &str, extra: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut headers = vec![
        (":authority", "app.example.com"),
        (":path", path),
        (":method", "POST"),
        (":scheme", "http"),
        ("content-type", "application/json"),
        ("x-request-id", "5b0c7c2e-1f7e-4d4e-9d55-0d1f0e3c2a11"),
    ];
    headers.extend_from_slice(extra);
    headers.into_iter().map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
}

/// Envoy, as far as the filter can tell: creates contexts and calls their callbacks in Envoy's
/// order, entering each stream first; the host calls answer from `emulator`.
struct Envoy {
    contexts: Contexts,
    next_id: u32,
}

impl Envoy {
    /// A fresh host whose root context took `config`.
    fn start(config: &str) -> Envoy {
        let (envoy, configured) = Envoy::try_start(config);
        assert!(configured, "configuration refused: {:?}", emulator::with(|h| h.logs.clone()));
        envoy
    }

    fn try_start(config: &str) -> (Envoy, bool) {
        Envoy::try_start_with_env(config, &[])
    }

    /// [`Envoy::try_start`] with these variables in the VM's environment.
    fn try_start_with_env(config: &str, env: &[(&str, &str)]) -> (Envoy, bool) {
        emulator::reset();
        emulator::with(|h| {
            h.now_nanos = NOW_MS * 1_000_000;
            h.environment = env.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        });
        let mut envoy = Envoy { contexts: Contexts::default(), next_id: ROOT + 1 };
        let configured = envoy.add_root(ROOT, config);
        (envoy, configured)
    }

    /// Another root context (another worker thread's plugin) on the same host and shared data.
    fn add_root(&mut self, id: u32, config: &str) -> bool {
        emulator::with(|h| {
            h.plugin_configuration = config.as_bytes().to_vec();
            h.effective = id;
        });
        self.contexts.create(id, 0);
        self.contexts.configure(id, config.len())
    }

    /// A new stream of `root` whose request carries `headers`.
    fn open_on(&mut self, root: u32, headers: Vec<(Vec<u8>, Vec<u8>)>) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        emulator::with(|h| {
            h.streams.insert(id, StreamHost { request_headers: headers, ..StreamHost::default() })
        });
        self.contexts.create(id, root);
        id
    }

    fn open(&mut self, headers: Vec<(Vec<u8>, Vec<u8>)>) -> u32 {
        self.open_on(ROOT, headers)
    }

    fn callback(&mut self, id: u32, callback: impl FnOnce(&mut crate::host::Stream) -> Action) -> Action {
        emulator::with(|h| h.effective = id);
        let action = self.contexts.on_stream(id, callback);
        emulator::after_callback(id, action);
        action
    }

    fn headers(&mut self, id: u32, end_of_stream: bool) -> Action {
        let count = emulator::with(|h| h.streams.get(&id).map_or(0, |s| s.request_headers.len()));
        self.callback(id, |s| s.on_request_headers(count, end_of_stream))
    }

    /// One body chunk; the filter is told the size of everything Envoy holds for it.
    fn body(&mut self, id: u32, chunk: &[u8], end_of_stream: bool) -> Action {
        let size = emulator::with(|h| {
            h.streams.get_mut(&id).map_or(0, |s| {
                s.buffered_body.extend_from_slice(chunk);
                s.buffered_body.len()
            })
        });
        self.callback(id, |s| s.on_request_body(size, end_of_stream))
    }

    fn trailers(&mut self, id: u32) -> Action {
        self.callback(id, |s| s.on_request_trailers())
    }

    /// Origin answered `status`, without a body.
    fn response(&mut self, id: u32, status: u16) -> Action {
        self.response_with(id, status, &[], &[])
    }

    /// Origin answered `status` with `headers` and a body in `chunks`; returns the last answer.
    fn response_with(&mut self, id: u32, status: u16, headers: &[(&str, &str)], chunks: &[&[u8]]) -> Action {
        emulator::with(|h| {
            if let Some(s) = h.streams.get_mut(&id) {
                s.response_headers = vec![(b":status".to_vec(), status.to_string().into_bytes())];
                for (n, v) in headers {
                    s.response_headers.push((n.as_bytes().to_vec(), v.as_bytes().to_vec()));
                }
            }
        });
        let mut action = self.callback(id, |s| s.on_response_headers(chunks.is_empty()));
        for (i, chunk) in chunks.iter().enumerate() {
            // While the filter holds the response, Envoy buffers it: the buffer grows.
            let size = emulator::with(|h| {
                h.streams.get_mut(&id).map_or(0, |s| {
                    if action == Action::Continue {
                        s.response_body.clear();
                    }
                    s.response_body.extend_from_slice(chunk);
                    s.response_body.len()
                })
            });
            let last = i + 1 == chunks.len();
            action = self.callback(id, |s| s.on_response_body(size, last));
        }
        action
    }

    /// Sends a whole HTTP/1 request: headers, then the body in chunks of `chunk` bytes, stopping
    /// as Envoy does once the filter answered locally. Returns the stream and the last answer.
    fn send(&mut self, headers: Vec<(Vec<u8>, Vec<u8>)>, body: &[u8], chunk: usize) -> (u32, Action) {
        let id = self.open(headers);
        let mut action = self.headers(id, body.is_empty());
        let mut chunks = body.chunks(chunk).peekable();
        while let Some(part) = chunks.next() {
            if self.stream(id).local_reply.is_some() {
                break;
            }
            action = self.body(id, part, chunks.peek().is_none());
        }
        (id, action)
    }

    /// The siteverify answer (`None`: the call failed or timed out), delivered on the root.
    fn answer(&mut self, token: u32, answer: Option<(u16, &str)>) {
        self.answer_with(token, answer, &[]);
    }

    /// [`Envoy::answer`] with more response headers.
    fn answer_with(&mut self, token: u32, answer: Option<(u16, &str)>, headers: &[(&str, &str)]) {
        let (num_headers, body_size) = emulator::with(|h| {
            h.effective = ROOT;
            h.callout_answer = answer.map(|(status, body)| {
                let mut all = vec![(b":status".to_vec(), status.to_string().into_bytes())];
                all.extend(headers.iter().map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec())));
                (all, body.as_bytes().to_vec())
            });
            h.callout_answer.as_ref().map_or((0, 0), |(headers, body)| (headers.len(), body.len()))
        });
        self.contexts.on_http_call_response(token, num_headers, body_size);
        emulator::with(|h| h.callout_answer = None);
    }

    /// What the host saw of stream `id` so far.
    fn stream(&self, id: u32) -> StreamHost {
        emulator::with(|h| h.streams.get(&id).cloned().unwrap_or_default())
    }
}

fn added(stream: &StreamHost) -> Vec<(&str, &str)> {
    stream.added.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

fn reply(stream: &StreamHost) -> LocalReply {
    stream.local_reply.clone().expect("a local reply")
}

fn body_text(reply: &LocalReply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

fn counter(name: &str) -> i64 {
    emulator::with(|h| h.counter(name))
}

fn metric(action: &str, reason: &str, rule: &str, country: &str, mode: &str) -> String {
    format!("pumpguard.decisions.plugin.t.action.{action}.reason.{reason}.rule.{rule}.country.{country}.mode.{mode}")
}

fn allowed_us() -> Vec<(&'static str, &'static str)> {
    vec![
        ("x-pumpguard-decision", "allow"),
        ("x-pumpguard-country", "US"),
        ("x-pumpguard-number-type", "fixed_line_or_mobile"),
    ]
}

#[test]
fn unguarded_request_is_forwarded_untouched_but_for_the_decision_header() {
    let mut envoy = Envoy::start(&config(&[GEO], "", ""));
    let headers = post("/static/app.js", &[]);
    let (id, action) = envoy.send(headers.clone(), DE.as_bytes(), 1024);
    assert_eq!(action, Action::Continue);
    let stream = envoy.stream(id);
    assert_eq!(added(&stream), vec![("x-pumpguard-decision", "allow")]);
    assert!(stream.removed.is_empty());
    let mut expected = headers;
    expected.push((b"x-pumpguard-decision".to_vec(), b"allow".to_vec()));
    assert_eq!(stream.request_headers, expected);
    assert_eq!(stream.forwarded_body, DE.as_bytes(), "never buffered, forwarded as it came");
    assert!(stream.local_reply.is_none());
    assert!(emulator::with(|h| h.counters.is_empty()), "unguarded requests are not decisions");
}

#[test]
fn guarded_request_is_held_until_decided() {
    let mut envoy = Envoy::start(&config(&[GEO], "", ""));
    let id = envoy.open(post("/api/otp", &[]));
    assert_eq!(envoy.headers(id, false), Action::Pause);
    assert!(!envoy.stream(id).headers_upstream);
    assert_eq!(envoy.body(id, &US.as_bytes()[..10], false), Action::Pause);
    assert!(envoy.stream(id).forwarded_body.is_empty(), "origin sees nothing before the decision");
    assert_eq!(envoy.body(id, &US.as_bytes()[10..], true), Action::Continue);
    let stream = envoy.stream(id);
    assert_eq!(added(&stream), allowed_us());
    assert!(stream.headers_upstream);
    assert_eq!(stream.forwarded_body, US.as_bytes());
}

#[test]
fn without_hold_headers_the_headers_go_upstream_first_and_get_no_decision_headers() {
    let mut envoy = Envoy::start(&config(&[GEO], "", r#""hold_headers":false"#));
    let id = envoy.open(post("/api/otp", &[]));
    assert_eq!(envoy.headers(id, false), Action::Continue);
    assert!(envoy.stream(id).headers_upstream);
    assert_eq!(envoy.body(id, US.as_bytes(), true), Action::Continue);
    let stream = envoy.stream(id);
    assert!(stream.added.is_empty(), "headers already upstream are never changed");
    assert_eq!(stream.forwarded_body, US.as_bytes());
    assert_eq!(counter(&metric("allow", "none", "none", "US", "enforced")), 1);

    // A blocked request still gets its local reply; origin saw the headers but no body.
    let id = envoy.open(post("/api/otp", &[]));
    assert_eq!(envoy.headers(id, false), Action::Continue);
    assert_eq!(envoy.body(id, DE.as_bytes(), true), Action::Pause);
    let stream = envoy.stream(id);
    assert_eq!(reply(&stream).status, 403);
    assert!(stream.forwarded_body.is_empty());
}

#[test]
fn an_import_is_answered_by_the_filter_and_its_token_never_goes_upstream() {
    const REPUTATION: &str = r#"{"id":"returning","action":"log","reputation":{}}"#;
    // SHA-256 of "pumpguard-scenario-import-token".
    const IMPORT: &str = r#""trust_import":{"path":"/__pumpguard/trusted-numbers",
        "token_sha256":"9d737af9ee7e536d5a63c063a963110f6910183ff55527f6352855733e569804"}"#;
    for host in ["", r#""hold_headers":false"#] {
        let mut envoy = Envoy::start(&config(&[REPUTATION], IMPORT, host));
        let headers = post(
            "/__pumpguard/trusted-numbers",
            &[("authorization", "Bearer pumpguard-scenario-import-token")],
        );
        let (id, action) = envoy.send(headers, br#"{"numbers":["+14155550123"]}"#, 1024);
        assert_eq!(action, Action::Pause, "{host}");
        let stream = envoy.stream(id);
        let answer = reply(&stream);
        assert_eq!(answer.status, 200, "{host}: {}", body_text(&answer));
        assert_eq!(body_text(&answer), r#"{"rejected":[],"trusted":1}"#);
        assert!(stream.forwarded_body.is_empty(), "{host}: the import never reaches origin");
        assert_eq!(stream.headers_upstream, !host.is_empty(), "held unless hold_headers is off");
        if stream.headers_upstream {
            assert_eq!(stream.request_header("authorization"), None, "the token is stripped first");
        }
        assert_eq!(counter(&metric("answer", "none", "none", "none", "enforced")), 1, "{host}");
    }
}

#[test]
fn body_in_one_byte_chunks_is_judged_whole() {
    let mut envoy = Envoy::start(&config(&[GEO], "", ""));
    let (id, action) = envoy.send(post("/api/otp", &[]), DE.as_bytes(), 1);
    assert_eq!(action, Action::Pause);
    let stream = envoy.stream(id);
    assert_eq!(reply(&stream).status, 403);
    assert!(body_text(&reply(&stream)).contains(r#""error":"country_not_allowed""#));
    let (id, action) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1);
    assert_eq!(action, Action::Continue);
    assert_eq!(envoy.stream(id).forwarded_body, US.as_bytes());
}

#[test]
fn body_over_the_cap_is_answered_before_its_end() {
    let mut envoy = Envoy::start(&config(&[GEO], r#""inputs":{"max_body_bytes":32}"#, ""));
    let body = format!(r#"{{"phone":"+14155550123","pad":"{}"}}"#, "x".repeat(200));
    let (id, action) = envoy.send(post("/api/otp", &[]), body.as_bytes(), 10);
    assert_eq!(action, Action::Pause);
    let stream = envoy.stream(id);
    assert_eq!(reply(&stream).status, 413);
    assert!(body_text(&reply(&stream)).contains("body_too_large"));
    assert_eq!(stream.buffered_body.len(), 40, "judged at the first chunk past the cap, not at the end");
    assert!(stream.forwarded_body.is_empty());
}

#[test]
fn trailers_decide_an_http2_request() {
    let mut envoy = Envoy::start(&config(&[GEO], "", ""));
    let id = envoy.open(post("/api/otp", &[]));
    assert_eq!(envoy.headers(id, false), Action::Pause);
    assert_eq!(envoy.body(id, US.as_bytes(), false), Action::Pause);
    assert_eq!(envoy.trailers(id), Action::Continue);
    let stream = envoy.stream(id);
    assert_eq!(added(&stream), allowed_us());
    assert_eq!(stream.forwarded_body, US.as_bytes());

    let id = envoy.open(post("/api/otp", &[]));
    envoy.headers(id, false);
    envoy.body(id, DE.as_bytes(), false);
    assert_eq!(envoy.trailers(id), Action::Pause);
    assert_eq!(reply(&envoy.stream(id)).status, 403);
}

#[test]
fn blocked_request_gets_a_json_local_reply_and_is_never_resumed() {
    let mut envoy = Envoy::start(&config(&[GEO], "", ""));
    let (id, _) = envoy.send(post("/api/otp", &[]), DE.as_bytes(), 1024);
    let stream = envoy.stream(id);
    let reply = reply(&stream);
    assert_eq!(reply.status, 403);
    assert_eq!(reply.details, "country_not_allowed");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("x-pumpguard-decision"), Some("block"));
    assert_eq!(
        body_text(&reply),
        r#"{"error":"country_not_allowed","message":"SMS to this destination country is not available.","rule":"geo"}"#
    );
    assert_eq!(stream.resumed, 0);
    assert!(!stream.headers_upstream && stream.forwarded_body.is_empty() && stream.added.is_empty());
    let logged = emulator::with(|h| h.logs.clone());
    assert!(logged
        .iter()
        .any(|(level, line)| *level == Level::Info && line.starts_with("pumpguard[t] decision {")));
}

/// The decision log as written: (decision lines, summary lines), each line's JSON.
fn decision_log() -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let (mut decisions, mut summaries) = (Vec::new(), Vec::new());
    for (level, line) in emulator::with(|h| h.logs.clone()) {
        if let Some(json) = line.strip_prefix("pumpguard[t] decision summary ") {
            summaries.push(serde_json::from_str(json).expect("a JSON summary"));
        } else if let Some(json) = line.strip_prefix("pumpguard[t] decision ") {
            assert_eq!(level, Level::Info);
            decisions.push(serde_json::from_str(json).expect("a JSON decision"));
        }
    }
    (decisions, summaries)
}

/// Decisions the log accounts for: one per written line, plus every count it reported.
fn logged_or_counted(decisions: &[serde_json::Value], summaries: &[serde_json::Value]) -> u64 {
    let carried: u64 = decisions.iter().filter_map(|d| d["suppressed_before"].as_u64()).sum();
    let summarised: u64 = summaries.iter().filter_map(|s| s["suppressed"].as_u64()).sum();
    decisions.len() as u64 + carried + summarised
}

/// Sends a request and frees its stream, as Envoy does once it is answered.
fn send_and_free(envoy: &mut Envoy, body: &str) -> u16 {
    let (id, _) = envoy.send(post("/api/otp", &[]), body.as_bytes(), 1024);
    let status = envoy.stream(id).local_reply.map_or(200, |r| r.status as u16);
    envoy.contexts.delete(id);
    status
}

fn advance_clock(ms: u64) {
    emulator::with(|h| h.now_nanos += ms * 1_000_000);
}

#[test]
fn a_flood_of_refused_requests_writes_a_few_decision_lines_and_every_one_is_counted() {
    let limits = r#""decision_log":{"burst":5,"window_ms":10000,"max_shapes":256}"#;
    let mut envoy = Envoy::start(&config(&[GEO, ONE_PER_NUMBER], "", limits));
    for _ in 0..1000 {
        assert_eq!(send_and_free(&mut envoy, DE), 403);
    }
    let (decisions, summaries) = decision_log();
    assert_eq!((decisions.len(), summaries.len()), (5, 0), "the burst, the rest counted");

    // Next window. No timer: the summary of the geo flood comes with the next logged decision,
    // here a throttle (another shape, so its own line).
    advance_clock(10_000);
    assert_eq!(send_and_free(&mut envoy, US), 200, "a plain allow is not logged");
    assert_eq!(send_and_free(&mut envoy, US), 429);
    let (decisions, summaries) = decision_log();
    assert_eq!((decisions.len(), summaries.len()), (6, 1));
    assert_eq!(summaries[0]["suppressed"], 995);
    assert!(summaries[0]["example"].as_str().is_some_and(|e| e.contains("country_not_allowed")));

    // Another 1000 in this window, then one in the next: its line carries their count.
    for _ in 0..1000 {
        assert_eq!(send_and_free(&mut envoy, DE), 403);
    }
    advance_clock(10_000);
    assert_eq!(send_and_free(&mut envoy, DE), 403);
    let (decisions, summaries) = decision_log();
    assert_eq!((decisions.len(), summaries.len()), (12, 1));
    assert_eq!(decisions.last().map(|d| d["suppressed_before"].clone()), Some(995.into()));
    assert!(decisions[..11].iter().all(|d| d.get("suppressed_before").is_none()));

    // Metrics stay per request, and the log accounts for every decision it was asked to log.
    let geo = counter(&metric("block", "country_not_allowed", "geo", "DE", "enforced"));
    let throttled = counter(&metric("throttle", "rate_limited", "per-number", "US", "enforced"));
    assert_eq!((geo, throttled), (2001, 1));
    assert_eq!(logged_or_counted(&decisions, &summaries), 2002);
}

#[test]
fn decision_log_burst_zero_writes_every_line() {
    let mut envoy = Envoy::start(&config(&[GEO], "", r#""decision_log":{"burst":0}"#));
    for _ in 0..20 {
        send_and_free(&mut envoy, DE);
    }
    let (decisions, summaries) = decision_log();
    assert_eq!((decisions.len(), summaries.len()), (20, 0));
}

#[test]
fn a_replaced_plugin_reports_what_it_suppressed() {
    let config = config(&[GEO], "", r#""decision_log":{"burst":2}"#);
    let mut envoy = Envoy::start(&config);
    for _ in 0..10 {
        send_and_free(&mut envoy, DE);
    }
    // A policy update: the root is configured again and the old plugin goes.
    assert!(envoy.add_root(ROOT, &config));
    let (decisions, summaries) = decision_log();
    assert_eq!((decisions.len(), summaries.len()), (2, 1));
    assert_eq!(summaries[0]["suppressed"], 8);
}

#[test]
fn client_forged_decision_headers_and_the_test_clock_are_removed() {
    let mut envoy = Envoy::start(&config(&[GEO], "", r#""test_clock_header":"x-test-now-ms""#));
    let forged = [
        ("x-pumpguard-decision", "allow"),
        ("x-pumpguard-country", "US"),
        ("x-test-now-ms", "1700000000000"),
    ];
    for path in ["/api/otp", "/static/app.js"] {
        let (id, action) = envoy.send(post(path, &forged), US.as_bytes(), 1024);
        assert_eq!(action, Action::Continue);
        let stream = envoy.stream(id);
        let removed: Vec<&[u8]> = stream.removed.iter().map(Vec::as_slice).collect();
        assert_eq!(removed, vec![&b"x-pumpguard-decision"[..], b"x-pumpguard-country", b"x-test-now-ms"]);
        assert_eq!(stream.request_header("x-test-now-ms"), None);
        let decisions = stream.request_headers.iter().filter(|(n, _)| n == b"x-pumpguard-decision").count();
        assert_eq!(decisions, 1, "{path}: only ours");
    }
}

#[test]
fn header_values_that_are_not_utf8_are_judged_and_forwarded_byte_for_byte() {
    let mut envoy = Envoy::start(&config(&[GEO], "", ""));
    let mut headers = post("/api/otp", &[]);
    headers.push((b"x-note".to_vec(), b"caf\xe9".to_vec()));
    let (id, action) = envoy.send(headers, US.as_bytes(), 1024);
    assert_eq!(action, Action::Continue);
    assert_eq!(envoy.stream(id).request_header("x-note"), Some(&b"caf\xe9"[..]));
}

#[test]
fn metric_names_per_decision() {
    let mut envoy = Envoy::start(&config(&[GEO, WATCH_DE], "", ""));
    envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
    envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
    envoy.send(post("/api/otp", &[]), DE.as_bytes(), 1024);
    let counters = emulator::with(|h| {
        let mut counters: Vec<(String, i64)> = h.counters.clone().into_iter().collect();
        counters.sort();
        counters
    });
    assert_eq!(
        counters,
        vec![
            (metric("allow", "none", "none", "US", "enforced"), 2),
            (metric("block", "country_denied", "watch", "DE", "shadow"), 1),
            (metric("block", "country_not_allowed", "geo", "DE", "enforced"), 1),
        ]
    );
}

#[test]
fn each_input_a_rule_reads_is_counted_present_or_missing() {
    const ABROAD: &str = r#"{"id":"abroad","action":"log","client_country":{}}"#;
    let mut envoy = Envoy::start(&config(&[ABROAD], "", ""));
    envoy.send(post("/api/otp", &[("cf-ipcountry", "US")]), US.as_bytes(), 1024);
    envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
    envoy.send(post("/api/otp", &[("cf-ipcountry", "XX")]), US.as_bytes(), 1024);
    let input =
        |state: &str| counter(&format!("pumpguard.inputs.plugin.t.input.client_country.state.{state}"));
    assert_eq!((input("present"), input("missing")), (1, 2));
}

#[test]
fn counters_are_shared_between_streams_of_every_worker() {
    let config = config(&[ONE_PER_NUMBER], "", "");
    let mut envoy = Envoy::start(&config);
    // A second worker thread: its own plugin instance, the same shared data (and bucket seed).
    assert!(envoy.add_root(ROOT + 100, &config));
    let first = envoy.open(post("/api/otp", &[]));
    let second = envoy.open_on(ROOT + 100, post("/api/otp", &[]));
    assert_eq!(envoy.headers(first, false), Action::Pause);
    assert_eq!(envoy.headers(second, false), Action::Pause);
    assert_eq!(envoy.body(first, US.as_bytes(), true), Action::Continue);
    assert_eq!(envoy.body(second, US.as_bytes(), true), Action::Pause);
    let reply = reply(&envoy.stream(second));
    assert_eq!(reply.status, 429);
    assert!(reply.header("retry-after").is_some());
    assert!(body_text(&reply).contains(r#""error":"rate_limited""#));
    let keys = emulator::with(|h| h.shared.keys().filter(|k| k.starts_with("t:")).count());
    assert_eq!(keys, 2, "the seed and one bucket, nothing per number");
}

#[test]
fn client_address_comes_from_the_source_address_property() {
    let per_ip = r#"{"id":"per-ip","action":"throttle","rate_limit":{"key":["client_ip"],"rate":1,"per_seconds":3600,"burst":1}}"#;
    let mut envoy = Envoy::start(&config(&[per_ip], "", ""));
    let mut from = |address: &str| {
        emulator::with(|h| h.set_property(&["source", "address"], address));
        let (id, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
        envoy.stream(id).local_reply.map_or(200, |r| r.status)
    };
    assert_eq!(from("198.51.100.7:5555"), 200);
    assert_eq!(from("198.51.100.7:6666"), 429, "same address, another port");
    assert_eq!(from("[2001:db8::1]:5555"), 200);
}

#[test]
fn confirm_route_response_status_feeds_conversion() {
    let conversion = r#"{"id":"conv","action":"block","conversion":{"scope":{"prefix":5},"min_sends":4,"min_ratio":0.5,"window_seconds":3600,"block_seconds":600}}"#;
    for (confirm_status, fourth_send) in [(200, None), (401, Some(403))] {
        let mut envoy = Envoy::start(&config(&[conversion], "", ""));
        let mut last = None;
        for n in 1..=4 {
            let phone = format!(r#"{{"phone":"+1415555400{n}"}}"#);
            let (send, _) = envoy.send(post("/api/otp", &[]), phone.as_bytes(), 1024);
            last = envoy.stream(send).local_reply.map(|r| r.status);
            if n < 4 {
                let (confirm, action) = envoy.send(post("/api/otp/verify", &[]), phone.as_bytes(), 1024);
                assert_eq!(action, Action::Continue, "confirm routes are never judged");
                assert_eq!(envoy.response(confirm, confirm_status), Action::Continue);
            }
        }
        assert_eq!(last, fourth_send, "confirms answered {confirm_status}");
    }
}

/// A plugin config whose confirm route judges the answer's `"status": "approved"`, with a
/// country conversion rule of `min_sends` and `min_ratio`.
fn body_judged_confirm_config(min_sends: u32, min_ratio: f64) -> String {
    let routes = ROUTES.replace(
        r#""extract":{"json_keys":["phone"]}}]"#,
        r#""extract":{"json_keys":["phone"]},"success_json":{"field":"status","equals":["approved"]}}]"#,
    );
    let conversion = format!(
        r#"{{"id":"conv","action":"block","conversion":{{"scope":"country","min_sends":{min_sends},"min_ratio":{min_ratio},"window_seconds":3600,"block_seconds":600}}}}"#
    );
    format!(
        r#"{{"name":"t","policy":{{"version":1,"default_region":"US","routes":{routes},"rules":[{conversion}]}},
            "store":{{"buckets":64,"entries_per_bucket":8}}}}"#
    )
}

#[test]
fn confirm_judged_by_its_response_body_credits_only_a_right_code() {
    let mut envoy = Envoy::start(&body_judged_confirm_config(3, 0.3));
    let send = |envoy: &mut Envoy, n: u32| {
        let phone = format!(r#"{{"phone":"+1415555400{n}"}}"#);
        let (id, _) = envoy.send(post("/api/otp", &[]), phone.as_bytes(), 1024);
        (envoy.stream(id).local_reply.map(|r| r.status), phone)
    };
    // A wrong code: Twilio-style 200 with "pending", in two chunks. Not credited.
    let (first, phone) = send(&mut envoy, 1);
    assert_eq!(first, None);
    let (confirm, _) = envoy.send(post("/api/otp/verify", &[]), phone.as_bytes(), 1024);
    let chunks: [&[u8]; 2] = [br#"{"status":"pend"#, br#"ing"}"#];
    assert_eq!(
        envoy.response_with(confirm, 200, &[("content-type", "application/json")], &chunks),
        Action::Continue
    );
    // A right code, "approved": credited.
    let (second, phone) = send(&mut envoy, 2);
    assert_eq!(second, None);
    let (confirm, _) = envoy.send(post("/api/otp/verify", &[]), phone.as_bytes(), 1024);
    let chunks: [&[u8]; 2] = [br#"{"sid":"VE1","sta"#, br#"tus":"approved"}"#];
    envoy.response_with(confirm, 200, &[], &chunks);
    // 3 sends, 1 confirmed: 1 >= 0.3 * 3, open. 4 sends, 1 confirmed: under, blocked. Had the
    // pending check been credited, the fourth would pass too.
    assert_eq!(send(&mut envoy, 3).0, None);
    assert_eq!(send(&mut envoy, 4).0, Some(403));
}

#[test]
fn confirm_judged_by_a_response_header() {
    let routes = ROUTES.replace(
        r#""extract":{"json_keys":["phone"]}}]"#,
        r#""extract":{"json_keys":["phone"]},"success_header":{"name":"x-otp-result","equals":"valid"}}]"#,
    );
    let conversion = r#"{"id":"conv","action":"block","conversion":{"scope":"country","min_sends":2,"min_ratio":0.5,"window_seconds":3600,"block_seconds":600}}"#;
    let config = format!(
        r#"{{"name":"t","policy":{{"version":1,"default_region":"US","routes":{routes},"rules":[{conversion}]}},
            "store":{{"buckets":64,"entries_per_bucket":8}}}}"#
    );
    for (header, second) in [("valid", None), ("invalid", Some(403))] {
        let mut envoy = Envoy::start(&config);
        let phone = r#"{"phone":"+14155554001"}"#;
        envoy.send(post("/api/otp", &[]), phone.as_bytes(), 1024);
        let (confirm, _) = envoy.send(post("/api/otp/verify", &[]), phone.as_bytes(), 1024);
        envoy.response_with(confirm, 200, &[("x-otp-result", header)], &[]);
        let (id, _) = envoy.send(post("/api/otp", &[]), br#"{"phone":"+14155554002"}"#, 1024);
        assert_eq!(envoy.stream(id).local_reply.map(|r| r.status), second, "x-otp-result: {header}");
    }
}

#[test]
fn challenge_without_token_is_answered_403() {
    let mut envoy = Envoy::start(&captcha_config("block"));
    let (id, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
    let reply = reply(&envoy.stream(id));
    assert_eq!((reply.status, reply.header("x-pumpguard-decision")), (403, Some("challenge")));
    assert!(body_text(&reply).contains("captcha_required"));
    assert!(emulator::with(|h| h.callouts.is_empty()));
}

/// Sends a request with a token and checks the siteverify call it dispatched; returns its token.
fn challenged(envoy: &mut Envoy, token: &str) -> (u32, u32) {
    let (id, action) = envoy.send(post("/api/otp", &[("cf-turnstile-response", token)]), US.as_bytes(), 1024);
    assert_eq!(action, Action::Pause, "held while siteverify answers");
    let callout = emulator::with(|h| h.callouts.last().cloned()).expect("a siteverify call");
    assert_eq!(callout.context, id);
    assert_eq!(callout.cluster, "turnstile");
    assert_eq!(callout.timeout_ms, 2000);
    assert_eq!(callout.body, format!("secret=test-secret&response={token}").into_bytes());
    let header = |name: &str| callout.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(header(":method").as_deref(), Some("POST"));
    assert_eq!(header(":path").as_deref(), Some("/turnstile/v0/siteverify"));
    assert_eq!(header(":authority").as_deref(), Some("challenges.cloudflare.com"));
    assert_eq!(header("content-type").as_deref(), Some("application/x-www-form-urlencoded"));
    assert!(envoy.stream(id).local_reply.is_none() && !envoy.stream(id).headers_upstream);
    (id, callout.token)
}

#[test]
fn verified_token_resumes_the_request() {
    let mut envoy = Envoy::start(&captcha_config("block"));
    let (id, token) = challenged(&mut envoy, "pass-1");
    envoy.answer(token, Some((200, r#"{"success":true}"#)));
    let stream = envoy.stream(id);
    assert_eq!(stream.resumed, 1);
    assert!(stream.local_reply.is_none());
    assert_eq!(stream.forwarded_body, US.as_bytes());
    let mut expected = allowed_us();
    expected.push(("x-pumpguard-findings", "captcha:captcha_required"));
    // The token is spent: origin must not verify it again.
    expected.push(("x-pumpguard-captcha", "verified"));
    assert_eq!(added(&stream), expected);
}

#[test]
fn refused_token_is_answered_403() {
    let mut envoy = Envoy::start(&captcha_config("block"));
    let (id, token) = challenged(&mut envoy, "fail-1");
    envoy.answer(token, Some((200, r#"{"success":false,"error-codes":["invalid-input-response"]}"#)));
    let stream = envoy.stream(id);
    assert_eq!(reply(&stream).status, 403);
    assert!(body_text(&reply(&stream)).contains("captcha_invalid"));
    assert_eq!(stream.resumed, 0);
}

#[test]
fn failed_or_timed_out_siteverify_follows_on_unavailable() {
    // Block: 503. Allow: resumed and reported. A non-200 answer counts as unavailable too.
    for (on_unavailable, answer) in [("block", None), ("block", Some((500, "oops"))), ("allow", None)] {
        let mut envoy = Envoy::start(&captcha_config(on_unavailable));
        let (id, token) = challenged(&mut envoy, "slow-1");
        envoy.answer(token, answer);
        let stream = envoy.stream(id);
        match on_unavailable {
            "block" => {
                assert_eq!(reply(&stream).status, 503);
                assert!(body_text(&reply(&stream)).contains("captcha_unavailable"));
                assert_eq!(stream.resumed, 0);
            }
            _ => {
                assert_eq!(stream.resumed, 1);
                assert!(stream.local_reply.is_none());
                assert!(added(&stream).contains(&("x-pumpguard-decision", "allow")));
            }
        }
    }
}

#[test]
fn siteverify_not_dispatched_follows_on_unavailable_at_once() {
    let mut envoy = Envoy::start(&captcha_config("block"));
    emulator::with(|h| h.fail(Call::HttpDispatch));
    let (id, action) =
        envoy.send(post("/api/otp", &[("cf-turnstile-response", "pass-1")]), US.as_bytes(), 1024);
    assert_eq!(action, Action::Pause);
    assert_eq!(reply(&envoy.stream(id)).status, 503);
}

#[test]
fn siteverify_answer_for_a_deleted_stream_is_dropped() {
    let mut envoy = Envoy::start(&captcha_config("block"));
    let (id, token) = challenged(&mut envoy, "pass-1");
    envoy.contexts.delete(id);
    envoy.answer(token, Some((200, r#"{"success":true}"#)));
    envoy.answer(token + 1, Some((200, r#"{"success":true}"#)));
    let stream = envoy.stream(id);
    assert_eq!((stream.resumed, stream.local_reply.is_none(), stream.added.is_empty()), (0, true, true));
}

#[test]
fn failed_resume_resets_the_request() {
    let mut envoy = Envoy::start(&captcha_config("block"));
    let (id, token) = challenged(&mut envoy, "pass-1");
    emulator::with(|h| h.fail(Call::Resume));
    envoy.answer(token, Some((200, r#"{"success":true}"#)));
    assert!(envoy.stream(id).reset);
}

/// Sends a guarded request with `call` failing; returns what the host saw.
fn with_failing(call: Call, extra_headers: &[(&str, &str)]) -> StreamHost {
    let mut envoy = Envoy::start(&config(&[GEO], "", ""));
    emulator::with(|h| h.fail(call));
    let (id, action) = envoy.send(post("/api/otp", extra_headers), US.as_bytes(), 1024);
    assert_eq!(action, Action::Pause, "{call:?}");
    envoy.stream(id)
}

#[test]
fn failed_host_call_answers_503_and_counts_host_call_failed() {
    let cases = [
        (Call::HeaderPairs, "read request headers", &[][..]),
        (Call::RemoveHeader, "remove request header", &[("x-pumpguard-decision", "allow")][..]),
        (Call::Buffer, "read request body", &[][..]),
        (Call::AddHeader, "set request header", &[][..]),
    ];
    for (call, what, extra) in cases {
        let stream = with_failing(call, extra);
        let reply = reply(&stream);
        assert_eq!((reply.status, reply.details.as_str()), (503, "pumpguard_host_failure"), "{call:?}");
        assert_eq!(reply.header("x-pumpguard-decision"), Some("block"));
        assert_eq!(
            body_text(&reply),
            r#"{"error":"store_unavailable","message":"The request could not be checked; retry later."}"#
        );
        assert!(!stream.headers_upstream && stream.forwarded_body.is_empty());
        assert_eq!(counter(&host_failure_metric("t")), 1, "{call:?}");
        let error = format!("pumpguard: host call failed: {what}; answering 503");
        assert!(emulator::with(|h| h.logs.contains(&(Level::Error, error))), "{call:?}");
    }
}

#[test]
fn failed_local_reply_resets_the_request() {
    let mut envoy = Envoy::start(&config(&[GEO], "", ""));
    emulator::with(|h| h.fail(Call::SendResponse));
    let (id, action) = envoy.send(post("/api/otp", &[]), DE.as_bytes(), 1024);
    assert_eq!(action, Action::Pause);
    let stream = envoy.stream(id);
    assert!(stream.reset && !stream.headers_upstream && stream.forwarded_body.is_empty());
}

#[test]
fn failed_shared_data_takes_the_policy_store_on_error() {
    for (on_error, call) in
        [("allow", Call::SharedGet), ("allow", Call::SharedSet), ("block", Call::SharedGet)]
    {
        let store = format!(r#""store":{{"on_error":"{on_error}"}}"#);
        let mut envoy = Envoy::start(&config(&[ONE_PER_NUMBER], &store, ""));
        emulator::with(|h| h.fail(call));
        let (id, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
        let stream = envoy.stream(id);
        if on_error == "allow" {
            assert!(stream.local_reply.is_none(), "{call:?}");
            assert!(added(&stream).contains(&("x-pumpguard-findings", "store_unavailable")));
        } else {
            assert_eq!(reply(&stream).status, 503);
            assert!(body_text(&reply(&stream)).contains("store_unavailable"));
            assert_eq!(counter(&host_failure_metric("t")), 0, "a store failure is the policy's call");
        }
    }
}

#[test]
fn bucket_seed_is_created_once_in_shared_data_and_needs_it() {
    let config = config(&[GEO], "", "");
    let mut envoy = Envoy::start(&config);
    let seed = emulator::with(|h| h.shared.get("t:seed").cloned()).expect("a seed");
    assert!(envoy.add_root(ROOT + 100, &config));
    assert_eq!(emulator::with(|h| h.shared.get("t:seed").cloned()), Some(seed), "read, not created again");

    emulator::with(|h| {
        h.shared.clear();
        h.fail(Call::SharedGet);
    });
    assert!(!envoy.add_root(ROOT + 200, &config));
    let logged = emulator::with(|h| h.logs.clone());
    assert!(
        logged.contains(&(Level::Critical, "pumpguard: shared data unavailable for the bucket seed".into()))
    );
}

#[test]
fn bad_configuration_is_refused_with_its_paths() {
    let (mut envoy, configured) =
        Envoy::try_start(r#"{"policy":{"version":2,"routes":[]},"store":{"buckets":0}}"#);
    assert!(!configured);
    let logged = emulator::with(|h| h.logs.clone());
    assert!(logged.iter().any(|(l, m)| *l == Level::Critical && m.contains("at store.buckets")));
    assert!(logged.iter().any(|(l, m)| *l == Level::Critical && m.contains("at policy.version")));
    // Streams of an unconfigured root pass untouched.
    let (id, action) = envoy.send(post("/api/otp", &[]), DE.as_bytes(), 1024);
    assert_eq!(action, Action::Continue);
    assert!(envoy.stream(id).added.is_empty());
}

#[test]
fn vm_start_is_logged() {
    emulator::reset();
    crate::host::vm_started();
    assert_eq!(emulator::with(|h| h.logs.clone()), vec![(Level::Info, "pumpguard: VM started".to_owned())]);
}

#[test]
fn siteverify_answer_for_a_stream_the_host_no_longer_has_is_logged() {
    let mut envoy = Envoy::start(&captcha_config("block"));
    let (id, token) = challenged(&mut envoy, "pass-1");
    emulator::with(|h| h.streams.remove(&id));
    envoy.answer(token, Some((200, r#"{"success":true}"#)));
    let error = (Level::Error, "pumpguard: callout answer for a stream the host no longer has".to_owned());
    assert!(emulator::with(|h| h.logs.contains(&error)));
}

/// `cargo test -p pumpguard-filter --features bench-timing`: the spans keep their metric names.
#[cfg(feature = "bench-timing")]
#[test]
fn bench_timing_records_each_span_under_its_metric_name() {
    let mut envoy = Envoy::start(&config(&[GEO], "", ""));
    envoy.send(post("/api/otp", &[]), US.as_bytes(), 4);
    let mut names = emulator::with(|h| h.histograms.keys().cloned().collect::<Vec<_>>());
    names.sort();
    assert_eq!(
        names,
        [
            "pumpguard.bench.act_ns",
            "pumpguard.bench.body_ns",
            "pumpguard.bench.headers_ns",
            "pumpguard.bench.judge_ns"
        ]
    );
    assert_eq!(
        emulator::with(|h| h.histograms.get("pumpguard.bench.body_ns").map(Vec::len)),
        Some(US.len().div_ceil(4))
    );
}

// ---------------------------------------------------------------- remote store

const STORE_CLUSTER: &str = "pumpguard-store";

/// `config` with its counters in the remote store service instead of shared data.
fn remote_config(rules: &[&str], policy_extra: &str) -> String {
    config(rules, policy_extra, "").replace(
        r#""store":{"buckets":64,"entries_per_bucket":8}"#,
        r#""store":{"backend":"remote","namespace":"edge","cluster":"pumpguard-store","timeout_ms":300}"#,
    )
}

/// The store service, emulated: answers each store call in flight by running its checks with the
/// core against one store, as `pumpguard-store` does against Redis.
struct StoreService {
    policy: pumpguard_core::Policy,
    policy_id: u64,
    store: pumpguard_core::MemoryStore,
    answered: std::collections::HashSet<u32>,
    /// Every request answered, in order.
    seen: Vec<pumpguard_core::remote::CheckRequest>,
    /// Honours `x-pumpguard-commit-if-pass` (a service that predates it answers the peek).
    commit_if_pass: bool,
    /// Peek rounds that committed.
    one_rounds: usize,
}

impl StoreService {
    fn new(config: &str) -> StoreService {
        let env = emulator::with(|h| h.environment.clone());
        let cfg = crate::config::HostConfig::from_json_with_env(config.as_bytes(), &|n| env.get(n).cloned())
            .expect("config");
        let policy_id = cfg.remote.as_ref().map(|r| r.policy_id).expect("a remote store");
        StoreService {
            policy: cfg.policy,
            policy_id,
            store: pumpguard_core::MemoryStore::new(),
            answered: Default::default(),
            seen: Vec::new(),
            commit_if_pass: true,
            one_rounds: 0,
        }
    }

    /// The store calls not answered yet.
    fn pending(&self) -> Vec<emulator::Callout> {
        emulator::with(|h| h.callouts.clone())
            .into_iter()
            .filter(|c| c.cluster == STORE_CLUSTER && !self.answered.contains(&c.token))
            .collect()
    }

    /// Answers store calls until none is in flight; returns how many it answered.
    fn serve(&mut self, envoy: &mut Envoy) -> usize {
        let mut count = 0;
        while let Some(call) = self.pending().into_iter().next() {
            self.answered.insert(call.token);
            let request: pumpguard_core::remote::CheckRequest =
                serde_json::from_slice(&call.body).expect("a check request");
            assert_eq!(request.policy_id, self.policy_id);
            assert_eq!(request.namespace.as_deref(), Some("edge"));
            let now = pumpguard_core::Timestamp::from_millis(request.now_ms);
            let asked = call
                .headers
                .iter()
                .any(|(n, v)| n == pumpguard_core::remote::COMMIT_IF_PASS_HEADER && v == "1");
            let mut outcomes = if request.peek {
                self.policy.peek_checks(&request.checks, now, &self.store)
            } else {
                request.checks.iter().map(|c| self.policy.run_check(c, now, &self.store)).collect()
            };
            let pass = outcomes
                .iter()
                .all(|o| matches!(o, pumpguard_core::CheckOutcome::Verdict(v) if !v.triggered));
            let committed = request.peek && asked && self.commit_if_pass && pass;
            if committed {
                outcomes =
                    request.checks.iter().map(|c| self.policy.run_check(c, now, &self.store)).collect();
                self.one_rounds += 1;
            }
            let json = serde_json::to_string(&pumpguard_core::remote::CheckResponse::Outcomes(outcomes))
                .expect("json");
            self.seen.push(request);
            let headers: &[(&str, &str)] =
                if committed { &[(pumpguard_core::remote::COMMITTED_HEADER, "1")] } else { &[] };
            envoy.answer_with(call.token, Some((200, &json)), headers);
            count += 1;
        }
        count
    }
}

#[test]
fn remote_store_runs_a_peek_then_a_commit_round_while_the_request_is_held() {
    let config = remote_config(&[GEO, ONE_PER_NUMBER], "");
    let mut envoy = Envoy::start(&config);
    let mut service = StoreService::new(&config);
    let (id, action) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
    assert_eq!(action, Action::Pause, "held while the store answers");
    let call = service.pending().pop().expect("a peek round");
    assert_eq!((call.context, call.timeout_ms), (id, 300));
    let header = |name: &str| call.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(header(":method").as_deref(), Some("POST"));
    assert_eq!(header(":path").as_deref(), Some("/checks"));
    assert_eq!(header(":authority").as_deref(), Some(STORE_CLUSTER));
    assert_eq!(header("content-type").as_deref(), Some("application/json"));
    assert_eq!(service.serve(&mut envoy), 1, "one peek round that committed");
    assert_eq!(service.one_rounds, 1);
    assert_eq!(counter("pumpguard.store.plugin.t.remote.one_round"), 1);
    assert_eq!(service.seen.iter().map(|r| r.peek).collect::<Vec<_>>(), vec![true]);
    assert_eq!(service.seen[0].now_ms, NOW_MS);
    let stream = envoy.stream(id);
    assert_eq!((stream.resumed, stream.local_reply.is_none()), (1, true));
    assert_eq!(stream.forwarded_body, US.as_bytes());
    assert_eq!(added(&stream), allowed_us());
    // The second send to the number is refused at the peek: nothing to commit.
    let (id, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
    assert_eq!(service.serve(&mut envoy), 1);
    assert_eq!(reply(&envoy.stream(id)).status, 429);
    // Refused before any counter: no call at all.
    let (id, _) = envoy.send(post("/api/otp", &[]), DE.as_bytes(), 1024);
    assert_eq!(service.serve(&mut envoy), 0);
    assert_eq!(reply(&envoy.stream(id)).status, 403);
}

/// A Cognito call through the filter: `op` with a JSON `body`.
fn cognito_call(envoy: &mut Envoy, op: &str, body: &str) -> u32 {
    let target = format!("AWSCognitoIdentityProviderService.{op}");
    let mut headers = post("/", &[("x-amz-target", &target)]);
    for (name, value) in &mut headers {
        if name == b"content-type" {
            *value = b"application/x-amz-json-1.1".to_vec();
        }
    }
    envoy.send(headers, body.as_bytes(), 1024).0
}

#[test]
fn remote_store_reads_an_accounts_bound_number_in_a_round_before_its_checks() {
    const BOUND: &str = r#"{"id":"bound","action":"log","bound_number":{}}"#;
    const COGNITO: &str = r#"[{"id":"cognito","kind":"send","extract":{"preset":"cognito"}}]"#;
    let config = remote_config(&[BOUND, ONE_PER_NUMBER], "").replace(ROUTES, COGNITO);
    let mut envoy = Envoy::start(&config);
    let mut service = StoreService::new(&config);
    let sign_up = r#"{"Username": "a@example.com", "UserAttributes": [{"Name": "phone_number", "Value": "+14155550101"}]}"#;
    let id = cognito_call(&mut envoy, "SignUp", sign_up);
    assert_eq!(service.serve(&mut envoy), 1, "one peek round that committed");
    assert_eq!(envoy.stream(id).resumed, 1);
    // Origin says the code went by SMS: the binding is written in a round of its own.
    let answer = br#"{"CodeDeliveryDetails": {"AttributeName": "phone_number", "DeliveryMedium": "SMS"}}"#;
    envoy.response_with(id, 200, &[("content-type", "application/x-amz-json-1.1")], &[answer]);
    assert_eq!(service.serve(&mut envoy), 1, "the binding's round");

    // A resend by user name: the account's number first, then the request as a send to it,
    // refused by that number's limit at the peek.
    let id = cognito_call(&mut envoy, "ResendConfirmationCode", r#"{"Username": "A@example.com"}"#);
    assert_eq!(service.serve(&mut envoy), 2);
    let rounds: Vec<_> = service.seen[2..].iter().map(|r| (r.peek, r.checks[0].op)).collect();
    assert_eq!(
        rounds,
        [
            (true, pumpguard_core::engine::CounterOp::BoundNumberRead),
            (true, pumpguard_core::engine::CounterOp::Rate)
        ]
    );
    assert!(body_text(&reply(&envoy.stream(id))).contains("per-number"));

    // The read failing: judged by the account alone, which no rule here counts; no second
    // round (an outage costs one timeout).
    let id = cognito_call(&mut envoy, "ResendConfirmationCode", r#"{"Username": "a@example.com"}"#);
    let token = emulator::with(|h| h.callouts.last().map(|c| c.token)).expect("the read's round");
    service.answered.insert(token);
    envoy.answer(token, Some((503, r#"{"refused":"redis: connection refused"}"#)));
    assert_eq!(service.serve(&mut envoy), 0, "nothing left to count");
    let stream = envoy.stream(id);
    assert_eq!((stream.resumed, stream.local_reply.is_none()), (1, true));
    assert_eq!(counter("pumpguard.store.plugin.t.remote.bad_status"), 1);
    // A user with a number, its read timing out: the store's failure decides (on_error allow
    // here), at once.
    let id = cognito_call(
        &mut envoy,
        "ForgotPassword",
        r#"{"Username": "a@example.com", "UserAttributes": [{"Name": "phone_number", "Value": "+14155550199"}]}"#,
    );
    let token = emulator::with(|h| h.callouts.last().map(|c| c.token)).expect("the read's round");
    service.answered.insert(token);
    envoy.answer(token, None);
    assert_eq!(service.serve(&mut envoy), 0, "no peek round after a failed read");
    let stream = envoy.stream(id);
    assert_eq!(stream.resumed, 1);
    assert!(added(&stream).contains(&("x-pumpguard-findings", "store_unavailable")));
}

#[test]
fn remote_store_counts_a_numbers_sms_sign_ins_from_origins_answers() {
    use pumpguard_core::engine::CounterOp;
    const SIGN_INS: &str = r#"{"id":"sign-ins","action":"throttle","bound_sign_ins":{"limit":1}}"#;
    const COGNITO: &str = r#"[{"id":"cognito","kind":"send","extract":{"preset":"cognito"}}]"#;
    let config = remote_config(&[SIGN_INS], "").replace(ROUTES, COGNITO);
    let mut envoy = Envoy::start(&config);
    let mut service = StoreService::new(&config);
    let json = [("content-type", "application/x-amz-json-1.1")];
    // Two accounts for one number, their codes by e-mail: each sign-up's answer records where
    // its SMS MFA goes, in a round of its own.
    for user in ["a@example.com", "b@example.com"] {
        let sign_up = format!(
            r#"{{"Username": "{user}", "UserAttributes": [{{"Name": "phone_number", "Value": "+14155550101"}}]}}"#
        );
        let id = cognito_call(&mut envoy, "SignUp", &sign_up);
        let answer = br#"{"CodeDeliveryDetails": {"DeliveryMedium": "EMAIL"}, "UserSub": "u"}"#;
        envoy.response_with(id, 200, &json, &[answer]);
        let rounds = service.serve(&mut envoy);
        assert_eq!(
            service.seen.last().map(|r| r.checks[0].op),
            Some(CounterOp::BindSignInNumber {
                digits: 14_155_550_101,
                sign_up_by_sms: false,
                proven: false
            }),
            "{rounds} rounds"
        );
    }
    let sign_in = |user: &str| {
        format!(r#"{{"AuthFlow": "USER_PASSWORD_AUTH", "AuthParameters": {{"USERNAME": "{user}"}}}}"#)
    };
    // The first sign-in: its number read first, then its peek; Cognito's answer names SMS_MFA,
    // and the code is charged to the number in a round after it.
    let seen = service.seen.len();
    let id = cognito_call(&mut envoy, "InitiateAuth", &sign_in("a@example.com"));
    service.serve(&mut envoy);
    assert_eq!(envoy.stream(id).resumed, 1);
    let answer = br#"{"ChallengeName": "SMS_MFA", "Session": "s"}"#;
    envoy.response_with(id, 200, &json, &[answer]);
    service.serve(&mut envoy);
    let ops: Vec<_> = service.seen[seen..].iter().flat_map(|r| r.checks.iter().map(|c| c.op)).collect();
    assert_eq!(ops.first(), Some(&CounterOp::SignInNumberRead));
    assert!(ops.contains(&CounterOp::SignInPeek) && ops.last() == Some(&CounterOp::SignInCharge), "{ops:?}");
    // The other account's sign-in meets the full count at its peek.
    let id = cognito_call(&mut envoy, "InitiateAuth", &sign_in("b@example.com"));
    service.serve(&mut envoy);
    let stream = envoy.stream(id);
    assert_eq!(stream.resumed, 0);
    assert!(body_text(&reply(&stream)).contains("sign-ins"));
}

#[test]
fn remote_store_failures_take_the_policy_store_on_error_and_are_counted() {
    let answers: [(Option<(u16, &str)>, &str); 6] = [
        (None, "timeout_or_reset"),
        (Some((503, r#"{"refused":"redis: connection refused"}"#)), "bad_status"),
        (Some((401, r#"{"refused":"bearer token not accepted"}"#)), "unauthorized"),
        (Some((200, "<html>")), "bad_answer"),
        (Some((200, r#"{"outcomes":[]}"#)), "bad_answer"),
        (Some((200, r#"{"refused":"policy 1 is not loaded here"}"#)), "refused"),
    ];
    for on_error in ["block", "allow"] {
        for (answer, kind) in answers {
            let store = format!(r#""store":{{"on_error":"{on_error}"}}"#);
            let mut envoy = Envoy::start(&remote_config(&[ONE_PER_NUMBER], &store));
            let (id, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
            let token = emulator::with(|h| h.callouts.last().map(|c| c.token)).expect("a peek round");
            envoy.answer(token, answer);
            // Allowed after all or not: no commit round follows a failed peek round (it would
            // cost another timeout), so the request is decided at once.
            assert_eq!(emulator::with(|h| h.callouts.len()), 1, "{kind}");
            let rounds = 1;
            let stream = envoy.stream(id);
            if on_error == "block" {
                assert_eq!(reply(&stream).status, 503, "{kind}");
                assert!(body_text(&reply(&stream)).contains("store_unavailable"));
            } else {
                assert_eq!(stream.resumed, 1, "{kind}");
                assert!(added(&stream).contains(&("x-pumpguard-findings", "store_unavailable")));
            }
            assert_eq!(counter(&format!("pumpguard.store.plugin.t.remote.{kind}")), rounds, "{kind}");
            let logged = emulator::with(|h| h.logs.clone());
            assert!(logged.iter().any(|(l, m)| *l == Level::Error && m.contains(kind)), "{kind}: {logged:?}");
        }
    }
}

#[test]
fn remote_store_call_not_dispatched_takes_on_error_at_once() {
    let store = r#""store":{"on_error":"block"}"#;
    let mut envoy = Envoy::start(&remote_config(&[ONE_PER_NUMBER], store));
    emulator::with(|h| h.fail(Call::HttpDispatch));
    let (id, action) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
    assert_eq!(action, Action::Pause);
    assert_eq!(reply(&envoy.stream(id)).status, 503);
    assert_eq!(counter("pumpguard.store.plugin.t.remote.not_dispatched"), 1);
}

#[test]
fn remote_store_failed_commit_round_follows_on_error() {
    let store = r#""store":{"on_error":"block"}"#;
    let config = remote_config(&[ONE_PER_NUMBER], store);
    let mut envoy = Envoy::start(&config);
    let mut service = StoreService::new(&config);
    let (id, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
    let peek = service.pending().pop().expect("peek");
    service.answered.insert(peek.token);
    envoy.answer(
        peek.token,
        Some((200, r#"{"outcomes":[{"verdict":{"triggered":false,"retry_after_ms":null}}]}"#)),
    );
    let commit = service.pending().pop().expect("commit");
    envoy.answer(commit.token, None);
    let stream = envoy.stream(id);
    assert_eq!((reply(&stream).status, stream.resumed), (503, 0));
}

#[test]
fn remote_store_confirm_rounds_hold_the_response_then_release_it() {
    let conversion = r#"{"id":"conv","action":"block","conversion":{"scope":{"prefix":5},"min_sends":4,"min_ratio":0.5,"window_seconds":3600,"block_seconds":600}}"#;
    for (confirm_status, fourth_send) in [(200, None), (401, Some(403))] {
        let config = remote_config(&[conversion], "");
        let mut envoy = Envoy::start(&config);
        let mut service = StoreService::new(&config);
        let mut last = None;
        for n in 1..=4 {
            let phone = format!(r#"{{"phone":"+1415555400{n}"}}"#);
            let (send, _) = envoy.send(post("/api/otp", &[]), phone.as_bytes(), 1024);
            service.serve(&mut envoy);
            last = envoy.stream(send).local_reply.map(|r| r.status);
            if n < 4 {
                let (confirm, action) = envoy.send(post("/api/otp/verify", &[]), phone.as_bytes(), 1024);
                assert_eq!(action, Action::Continue, "confirm routes are never judged");
                let held = envoy.response(confirm, confirm_status);
                let rounds = service.serve(&mut envoy);
                if confirm_status == 200 {
                    assert_eq!((held, rounds), (Action::Pause, 2), "confirm, then credit round");
                    assert_eq!(envoy.stream(confirm).response_resumed, 1);
                } else {
                    assert_eq!((held, rounds), (Action::Continue, 0), "nothing to record");
                }
            }
        }
        assert_eq!(last, fourth_send, "confirms answered {confirm_status}");
    }
}

#[test]
fn remote_store_holds_a_body_judged_confirm_until_its_rounds_are_done() {
    let routes = ROUTES.replace(
        r#""extract":{"json_keys":["phone"]}}]"#,
        r#""extract":{"json_keys":["phone"]},"success_json":{"field":"status","equals":["approved"]}}]"#,
    );
    let conversion = r#"{"id":"conv","action":"block","conversion":{"scope":"country","min_sends":2,"min_ratio":0.5,"window_seconds":3600,"block_seconds":600}}"#;
    let config = format!(
        r#"{{"name":"t","policy":{{"version":1,"default_region":"US","routes":{routes},"rules":[{conversion}]}},
            "store":{{"backend":"remote","namespace":"edge","cluster":"pumpguard-store","timeout_ms":300}}}}"#
    );
    let mut envoy = Envoy::start(&config);
    let mut service = StoreService::new(&config);
    let phone = r#"{"phone":"+14155554001"}"#;
    envoy.send(post("/api/otp", &[]), phone.as_bytes(), 1024);
    service.serve(&mut envoy);
    let (confirm, _) = envoy.send(post("/api/otp/verify", &[]), phone.as_bytes(), 1024);
    // Every chunk is held (a chunk let through would send the headers too), the body read whole.
    let chunks: [&[u8]; 3] = [br#"{"sid":"VE1","sta"#, br#"tus":"approved"}"#, b""];
    assert_eq!(envoy.response_with(confirm, 200, &[], &chunks), Action::Pause);
    assert_eq!(service.serve(&mut envoy), 2, "confirm, then credit round");
    assert_eq!(envoy.stream(confirm).response_resumed, 1);
    assert_eq!(counter("pumpguard.store.plugin.t.remote.bad_answer"), 0, "the credit round's answer fits");
    // Two sends, one confirmed: 1 >= 0.5 * 2, still open.
    let (id, _) = envoy.send(post("/api/otp", &[]), r#"{"phone":"+14155554002"}"#.as_bytes(), 1024);
    service.serve(&mut envoy);
    assert_eq!(envoy.stream(id).local_reply.map(|r| r.status), None);
}

#[test]
fn remote_store_configuration_is_logged() {
    let _envoy = Envoy::start(&remote_config(&[GEO], ""));
    let logs = emulator::with(|h| h.logs.clone());
    assert!(logs.iter().any(|(_, m)| m.contains("remote store via cluster pumpguard-store")), "{logs:?}");
    assert!(logs.iter().any(|(_, m)| m.contains("without a token")), "{logs:?}");
}

const STORE_TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// [`remote_config`] whose store credential comes from the VM's variable `PG_STORE_TOKEN`.
fn remote_config_with_token_env(rules: &[&str], policy_extra: &str) -> String {
    remote_config(rules, policy_extra)
        .replace(r#""timeout_ms":300"#, r#""timeout_ms":300,"token_env":"PG_STORE_TOKEN""#)
}

#[test]
fn remote_store_rounds_carry_the_bearer_token_of_the_vms_environment() {
    // Two sends to one number: the first allowed (its peek round commits), the second refused.
    let config = remote_config_with_token_env(&[ONE_PER_NUMBER], "");
    let (mut envoy, configured) = Envoy::try_start_with_env(&config, &[("PG_STORE_TOKEN", STORE_TOKEN)]);
    assert!(configured, "{:?}", emulator::with(|h| h.logs.clone()));
    let mut service = StoreService::new(&config);
    service.commit_if_pass = false;
    let (first, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
    assert_eq!(service.serve(&mut envoy), 2, "a peek round, then a commit round");
    let (second, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
    assert_eq!(service.serve(&mut envoy), 1);
    assert_eq!((envoy.stream(first).resumed, reply(&envoy.stream(second)).status), (1, 429));
    let calls = emulator::with(|h| h.callouts.clone());
    let bearer = format!("Bearer {STORE_TOKEN}");
    assert_eq!(calls.len(), 3);
    for call in &calls {
        let sent: Vec<&str> =
            call.headers.iter().filter(|(n, _)| n == "authorization").map(|(_, v)| v.as_str()).collect();
        assert_eq!(sent, vec![bearer.as_str()], "every round, once");
    }
    // Never in a log line.
    let logs = emulator::with(|h| h.logs.clone());
    assert!(logs.iter().any(|(_, m)| m.contains("with a bearer token")), "{logs:?}");
    assert!(logs.iter().all(|(_, m)| !m.contains(STORE_TOKEN)), "{logs:?}");
}

#[test]
fn a_store_refusing_the_token_takes_store_on_error_counted_apart_from_other_statuses() {
    for (on_error, status) in [("block", 503), ("allow", 200)] {
        let store = format!(r#""store":{{"on_error":"{on_error}"}}"#);
        let config = remote_config(&[ONE_PER_NUMBER], &store)
            .replace(r#""timeout_ms":300"#, &format!(r#""timeout_ms":300,"token":"{STORE_TOKEN}""#));
        let mut envoy = Envoy::start(&config);
        let (id, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
        let call = emulator::with(|h| h.callouts.last().cloned()).expect("a peek round");
        assert!(call.headers.contains(&("authorization".to_owned(), format!("Bearer {STORE_TOKEN}"))));
        envoy.answer_with(
            call.token,
            Some((401, r#"{"refused":"bearer token not accepted"}"#)),
            &[("www-authenticate", r#"Bearer realm="pumpguard-store", error="invalid_token""#)],
        );
        let stream = envoy.stream(id);
        match status {
            503 => {
                assert_eq!(reply(&stream).status, 503);
                assert!(body_text(&reply(&stream)).contains("store_unavailable"));
            }
            _ => assert!(
                stream.resumed == 1
                    && added(&stream).contains(&("x-pumpguard-findings", "store_unavailable"))
            ),
        }
        assert_eq!(counter("pumpguard.store.plugin.t.remote.unauthorized"), 1, "{on_error}");
        assert_eq!(counter("pumpguard.store.plugin.t.remote.bad_status"), 0, "{on_error}");
        let logs = emulator::with(|h| h.logs.clone());
        assert!(
            logs.iter().any(|(l, m)| *l == Level::Error && m.contains("refused this filter's bearer token")),
            "{logs:?}"
        );
    }
}

#[test]
fn a_token_env_the_vm_lacks_refuses_the_configuration_with_its_path() {
    let config = remote_config_with_token_env(&[ONE_PER_NUMBER], "");
    for env in [&[][..], &[("PG_STORE_TOKEN", "")], &[("PG_STORE_TOKEN", "too short")]] {
        let (_envoy, configured) = Envoy::try_start_with_env(&config, env);
        assert!(!configured, "{env:?}");
        let logged = emulator::with(|h| h.logs.clone());
        assert!(
            logged.iter().any(|(l, m)| *l == Level::Critical && m.contains("at store.token_env: ")),
            "{env:?}: {logged:?}"
        );
    }
}

#[test]
fn remote_store_blocked_scope_repeats_are_answered_from_the_block_cache_until_its_end() {
    let config = remote_config(&[ONE_PER_NUMBER], "");
    let mut envoy = Envoy::start(&config);
    let mut service = StoreService::new(&config);
    let send = |envoy: &mut Envoy, service: &mut StoreService| {
        let (id, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
        let rounds = service.serve(envoy);
        let stream = envoy.stream(id);
        let status = stream.local_reply.as_ref().map_or(200, |r| r.status as u16);
        let retry = stream.local_reply.as_ref().and_then(|r| r.header("retry-after").map(str::to_owned));
        (status, rounds, retry)
    };
    assert_eq!(send(&mut envoy, &mut service).0, 200);
    // The first refusal asks the store; the block it answers is kept until its end.
    let (status, rounds, retry) = send(&mut envoy, &mut service);
    assert_eq!((status, rounds), (429, 1));
    assert_eq!(counter("pumpguard.store.plugin.t.remote.block_cache_stored"), 1);
    for i in 0..5 {
        let (status, rounds, again) = send(&mut envoy, &mut service);
        assert_eq!((status, rounds), (429, 0), "repeat {i}: no store round");
        assert_eq!(again, retry, "the same wait as the store's: repeats never extend it");
    }
    assert_eq!(counter("pumpguard.store.plugin.t.remote.block_cache_hit"), 5);
    // Just before the end the cache still answers; at the end the store is asked (and allows).
    advance_clock(3_600_000 - 1);
    assert_eq!(send(&mut envoy, &mut service), (429, 0, Some("1".to_owned())));
    advance_clock(1);
    assert_eq!(send(&mut envoy, &mut service), (200, 1, None));
    let (status, rounds, _) = send(&mut envoy, &mut service);
    assert_eq!((status, rounds), (429, 1), "a new block: asked once, then kept again");
    assert_eq!(counter("pumpguard.store.plugin.t.remote.block_cache_hit"), 6);
}

#[test]
fn remote_store_block_cache_off_asks_the_store_every_time() {
    let config = remote_config(&[ONE_PER_NUMBER], "")
        .replace(r#""timeout_ms":300}"#, r#""timeout_ms":300,"block_cache_entries":0}"#);
    assert!(config.contains("block_cache_entries"));
    let mut envoy = Envoy::start(&config);
    let mut service = StoreService::new(&config);
    for want in [1, 1, 1, 1] {
        let (_, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
        assert_eq!(service.serve(&mut envoy), want);
    }
    assert_eq!(counter("pumpguard.store.plugin.t.remote.block_cache_hit"), 0);
}

#[test]
fn remote_store_block_cache_never_keeps_a_block_the_store_did_not_store() {
    // An adjacency block started by this request (escalated) is proposed by the peek round and
    // stored only by the commit round: when that round fails, nothing is cached.
    let adjacent = r#"{"id":"enum","action":"block","adjacent":{"suffix_digits":2,"window_seconds":600,"max_distinct":1,"block_seconds":900,"escalation_factor":2,"max_block_seconds":3600}}"#;
    let config = remote_config(&[adjacent], "");
    let mut envoy = Envoy::start(&config);
    let mut service = StoreService::new(&config);
    let body = |n: u32| format!(r#"{{"phone":"+1415555{n:04}"}}"#);
    let (_, _) = envoy.send(post("/api/otp", &[]), body(100).as_bytes(), 1024);
    assert_eq!(service.serve(&mut envoy), 1);
    let (id, _) = envoy.send(post("/api/otp", &[]), body(101).as_bytes(), 1024);
    let peek = service.pending().pop().expect("peek");
    service.answered.insert(peek.token);
    let json = r#"{"outcomes":[{"verdict":{"triggered":true,"retry_after_ms":900000,"escalated":true}}]}"#;
    envoy.answer(peek.token, Some((200, json)));
    let commit = service.pending().pop().expect("the block's commit round");
    service.answered.insert(commit.token);
    envoy.answer(commit.token, None);
    assert_eq!(reply(&envoy.stream(id)).status, 403);
    assert_eq!(counter("pumpguard.store.plugin.t.remote.block_cache_stored"), 0);
    // The next number asks the store again.
    let (_, _) = envoy.send(post("/api/otp", &[]), body(102).as_bytes(), 1024);
    assert!(service.serve(&mut envoy) >= 1);
}

#[test]
fn remote_store_without_commit_if_pass_gets_a_peek_then_a_commit_round() {
    // A store service that predates commit-if-pass ignores the header and answers the peek.
    let config = remote_config(&[GEO, ONE_PER_NUMBER], "");
    let mut envoy = Envoy::start(&config);
    let mut service = StoreService::new(&config);
    service.commit_if_pass = false;
    let (id, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
    let call = service.pending().pop().expect("a peek round");
    assert!(call.headers.iter().any(|(n, v)| n == "x-pumpguard-commit-if-pass" && v == "1"));
    assert_eq!(service.serve(&mut envoy), 2, "peek, then commit");
    assert_eq!(service.seen.iter().map(|r| r.peek).collect::<Vec<_>>(), vec![true, false]);
    assert_eq!(added(&envoy.stream(id)), allowed_us());
    let (id, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
    assert_eq!(service.serve(&mut envoy), 1);
    assert_eq!(reply(&envoy.stream(id)).status, 429);
}

#[test]
fn remote_store_commit_if_pass_is_asked_only_when_every_check_passing_goes_to_origin() {
    let config = remote_config(&[ONE_PER_NUMBER], r#""store":{"on_error":"block"}"#);
    let mut envoy = Envoy::start(&config);
    let mut service = StoreService::new(&config);
    let (_, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
    assert_eq!(service.serve(&mut envoy), 1);
    // The same number again: the peek refuses, nothing is committed, the answer is a plain peek.
    let (id, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
    assert_eq!(service.serve(&mut envoy), 1);
    assert_eq!((service.one_rounds, reply(&envoy.stream(id)).status), (1, 429));
    // A committed round whose check lost its race (store failure) is settled by on_error.
    let other = US.replace("0123", "0199");
    assert_ne!(other, US);
    let (id, _) = envoy.send(post("/api/otp", &[]), other.as_bytes(), 1024);
    let call = service.pending().pop().expect("peek");
    service.answered.insert(call.token);
    envoy.answer_with(
        call.token,
        Some((200, r#"{"outcomes":["store_failed"]}"#)),
        &[("x-pumpguard-committed", "1")],
    );
    assert_eq!(service.pending().len(), 0, "no commit round after a committed peek");
    assert_eq!(reply(&envoy.stream(id)).status, 503);
}

#[test]
fn remote_store_block_cache_is_off_under_a_test_clock() {
    // A test clock lets requests jump back past a block's end the store already forgot.
    let config = config(&[ONE_PER_NUMBER], "", r#""test_clock_header":"x-test-now-ms""#).replace(
        r#""store":{"buckets":64,"entries_per_bucket":8}"#,
        r#""store":{"backend":"remote","namespace":"edge","cluster":"pumpguard-store","timeout_ms":300}"#,
    );
    assert!(config.contains("remote"));
    let mut envoy = Envoy::start(&config);
    let mut service = StoreService::new(&config);
    for want in [1, 1, 1] {
        let (_, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
        assert_eq!(service.serve(&mut envoy), want);
    }
    assert_eq!(counter("pumpguard.store.plugin.t.remote.block_cache_hit"), 0);
}

const INTEL_RULE: &str = r#"{"id":"intel","action":"block","number_intel":{"min_risk":75}}"#;
const LOOKUP_CLUSTER: &str = "twilio_lookup";

/// A policy that looks numbers up (`on_unavailable` as given), the host naming the cluster and
/// a credential over the policy's; `policy_extra` and `host_extra` as for [`config`].
fn intel_config_with(rules: &[&str], on_unavailable: &str, policy_extra: &str, host_extra: &str) -> String {
    let intel = format!(
        r#""number_intel":{{"url":"https://lookups.twilio.com/v2/PhoneNumbers/{{e164}}?Fields=sms_pumping_risk",
            "headers":{{"authorization":"Basic policy","x-extra":"kept"}},"timeout_ms":400,"cache_seconds":600,
            "on_unavailable":"{on_unavailable}"}}{policy_extra}"#
    );
    let host = format!(
        r#""number_intel":{{"cluster":"{LOOKUP_CLUSTER}","headers":{{"Authorization":"Basic host"}}}}{host_extra}"#
    );
    config(rules, &intel, &host)
}

fn intel_config(rules: &[&str], on_unavailable: &str) -> String {
    intel_config_with(rules, on_unavailable, "", "")
}

/// The lookup calls dispatched so far.
fn lookups() -> Vec<emulator::Callout> {
    emulator::with(|h| h.callouts.clone()).into_iter().filter(|c| c.cluster == LOOKUP_CLUSTER).collect()
}

fn twilio(risk: u8) -> String {
    format!(r#"{{"phone_number":"+14155550123","sms_pumping_risk":{{"sms_pumping_risk_score":{risk}}}}}"#)
}

#[test]
fn a_lookup_holds_the_request_and_its_answer_decides() {
    let mut envoy = Envoy::start(&intel_config(&[INTEL_RULE], "allow"));
    let (id, action) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
    assert_eq!(action, Action::Pause, "held while the provider answers");
    let call = lookups().pop().expect("a lookup");
    assert_eq!((call.context, call.timeout_ms, call.body.is_empty()), (id, 400, true));
    let header = |name: &str| call.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(header(":method").as_deref(), Some("GET"));
    assert_eq!(header(":path").as_deref(), Some("/v2/PhoneNumbers/%2B14155550123?Fields=sms_pumping_risk"));
    assert_eq!(header(":authority").as_deref(), Some("lookups.twilio.com"));
    assert_eq!(header("authorization").as_deref(), Some("Basic host"), "the host's credential wins");
    assert_eq!(header("x-extra").as_deref(), Some("kept"));
    envoy.answer(call.token, Some((200, &twilio(92))));
    let refused = reply(&envoy.stream(id));
    assert_eq!(refused.status, 403);
    assert!(body_text(&refused).contains("number_intel"));
    assert_eq!(counter("pumpguard.number_intel.plugin.t.lookup.found"), 1);
    // Cached in shared data: the same number again is refused without a call.
    let (id, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
    assert_eq!(reply(&envoy.stream(id)).status, 403);
    assert_eq!(lookups().len(), 1);
}

#[test]
fn a_clean_answer_resumes_the_request() {
    let mut envoy = Envoy::start(&intel_config(&[INTEL_RULE], "block"));
    let (id, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
    let call = lookups().pop().expect("a lookup");
    envoy.answer(call.token, Some((200, &twilio(5))));
    let stream = envoy.stream(id);
    assert_eq!((stream.resumed, stream.local_reply.is_none()), (1, true));
    assert_eq!(stream.forwarded_body, US.as_bytes());
    assert_eq!(added(&stream), allowed_us());
}

#[test]
fn a_failed_timed_out_or_garbage_lookup_follows_on_unavailable() {
    let answers: [Option<(u16, &str)>; 4] =
        [None, Some((500, "{}")), Some((200, "<html>")), Some((200, r#"{"sms_pumping_risk":"high"}"#))];
    for on_unavailable in ["block", "allow"] {
        for answer in answers {
            let mut envoy = Envoy::start(&intel_config(&[INTEL_RULE], on_unavailable));
            let (id, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
            let call = lookups().pop().expect("a lookup");
            envoy.answer(call.token, answer);
            let stream = envoy.stream(id);
            if on_unavailable == "block" {
                assert_eq!(reply(&stream).status, 503, "{answer:?}");
                assert!(body_text(&reply(&stream)).contains("number_intel_unavailable"));
            } else {
                assert_eq!(stream.resumed, 1, "{answer:?}");
                assert!(added(&stream).contains(&("x-pumpguard-findings", "number_intel_unavailable")));
            }
            assert_eq!(counter("pumpguard.number_intel.plugin.t.lookup.unavailable"), 1);
        }
    }
}

#[test]
fn a_lookup_not_dispatched_follows_on_unavailable_at_once() {
    let mut envoy = Envoy::start(&intel_config(&[INTEL_RULE], "block"));
    emulator::with(|h| h.fail(Call::HttpDispatch));
    let (id, action) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
    assert_eq!(action, Action::Pause);
    assert_eq!(reply(&envoy.stream(id)).status, 503);
}

#[test]
fn a_refused_request_is_never_looked_up() {
    let mut envoy = Envoy::start(&intel_config(&[GEO, INTEL_RULE], "allow"));
    let (id, _) = envoy.send(post("/api/otp", &[]), DE.as_bytes(), 1024);
    assert_eq!(reply(&envoy.stream(id)).status, 403);
    assert!(lookups().is_empty());
}

#[test]
fn a_token_is_verified_before_any_lookup() {
    let captcha = r#","captcha":{"provider":"turnstile","secret":"test-secret","on_unavailable":"block"}"#;
    let config = intel_config_with(&[CAPTCHA, INTEL_RULE], "allow", captcha, &format!(",{SITEVERIFY}"));
    let mut envoy = Envoy::start(&config);
    let (id, token) = challenged(&mut envoy, "fail-1");
    envoy.answer(token, Some((200, r#"{"success":false}"#)));
    assert_eq!(reply(&envoy.stream(id)).status, 403);
    assert!(lookups().is_empty(), "a refused token costs no lookup");
    let (id, token) = challenged(&mut envoy, "pass-1");
    envoy.answer(token, Some((200, r#"{"success":true}"#)));
    let call = lookups().pop().expect("a lookup after the token");
    envoy.answer(call.token, Some((200, &twilio(10))));
    assert_eq!(envoy.stream(id).resumed, 1);
}

#[test]
fn remote_store_caches_lookups_through_its_rounds() {
    let intel =
        r#""number_intel":{"url":"https://lookups.twilio.com/v2/PhoneNumbers/{e164}","timeout_ms":400}"#;
    let config = remote_config(&[ONE_PER_NUMBER, INTEL_RULE], intel).replace(
        r#""timeout_ms":300}"#,
        &format!(r#""timeout_ms":300}},"number_intel":{{"cluster":"{LOOKUP_CLUSTER}"}}"#),
    );
    let mut envoy = Envoy::start(&config);
    let mut service = StoreService::new(&config);
    let (id, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
    assert_eq!(service.serve(&mut envoy), 1, "the peek round");
    let call = lookups().pop().expect("a lookup after the peek");
    envoy.answer(call.token, Some((200, &twilio(5))));
    assert_eq!(service.serve(&mut envoy), 1, "the commit round, with the answer to cache");
    assert_eq!(envoy.stream(id).resumed, 1);
    let commit = service.seen.last().expect("a commit");
    assert!(commit.checks.iter().any(|c| matches!(c.op, pumpguard_core::engine::CounterOp::IntelStore(_))));
    // The same number an hour later (its rate limit open again): cached, no second lookup.
    advance_clock(3_600_000);
    let (id, _) = envoy.send(post("/api/otp", &[]), US.as_bytes(), 1024);
    service.serve(&mut envoy);
    assert_eq!(lookups().len(), 1);
    assert_eq!(envoy.stream(id).resumed, 1);
}

/// A confirm route that judges origin's answer by its body (`success_json`, a preset's
/// confirmed number) reads it as origin wrote it: the client's `accept-encoding` is taken off
/// the confirm, so origin answers uncompressed. A gzipped answer would never parse, and
/// conversion rules would then block real users whose codes were right. A send keeps it.
#[test]
fn a_confirm_judged_by_its_answer_goes_to_origin_without_accept_encoding() {
    let mut envoy = Envoy::start(&body_judged_confirm_config(2, 0.5));
    let phone = br#"{"phone":"+14155554001"}"#;
    let gzip = [("accept-encoding", "gzip, br")];
    let (send, _) = envoy.send(post("/api/otp", &gzip), phone, 1024);
    assert_eq!(envoy.stream(send).request_header("accept-encoding"), Some(&b"gzip, br"[..]));
    let (confirm, _) = envoy.send(post("/api/otp/verify", &gzip), phone, 1024);
    assert_eq!(envoy.stream(confirm).request_header("accept-encoding"), None);
    envoy.response_with(
        confirm,
        200,
        &[("content-type", "application/json")],
        &[br#"{"status":"approved"}"#],
    );
    // Credited: the country converts, and its next send passes.
    let (next, _) = envoy.send(post("/api/otp", &[]), br#"{"phone":"+14155554002"}"#, 1024);
    assert_eq!(envoy.stream(next).local_reply.as_ref().map(|r| r.status), None);
}
