//! The bench hooks of a build with a bench feature. Each hook acts only under its own feature
//! (`cfg!` constants), so a `bench-timing` build carries no stage checks, and the reverse.

use std::hint::black_box;
use std::sync::OnceLock;

use pumpguard_core::Decision;

use super::{Span, Stage};
use crate::abi::{self, Action, Headers, Metric};

/// `bench-floor`: the no-op module's whole answer to request headers (forward at once; with
/// `bench-floor-hold`, hold them until the body has arrived; with `bench-hostcalls`, make 20
/// host calls first). `None`: the real filter runs.
pub fn floor_headers(end_of_stream: bool) -> Option<Action> {
    if !cfg!(feature = "bench-floor") {
        return None;
    }
    if cfg!(feature = "bench-floor-hold") && !end_of_stream {
        return Some(Action::Pause);
    }
    if cfg!(feature = "bench-hostcalls") {
        price_host_calls();
    }
    Some(Action::Continue)
}

/// `bench-floor-hold`: hold the body until its end, then forward it all.
pub fn floor_body(end_of_stream: bool) -> Option<Action> {
    if !cfg!(feature = "bench-floor-hold") {
        return None;
    }
    Some(if end_of_stream { Action::Continue } else { Action::Pause })
}

/// `bench-timing`: runs `work`, recording its time inside the VM into the span's histogram.
pub fn timed<T>(span: Span, work: impl FnOnce() -> T) -> T {
    if !cfg!(feature = "bench-timing") {
        return work();
    }
    let started = abi::now_nanos().ok();
    let result = work();
    if let Some(started) = started {
        record_elapsed(metric_name(span), started);
    }
    result
}

/// `bench-stages`: whether this request's work stops at `stage`. At `Start`, the `clock` and
/// `one-header` stops make their one host call first.
pub fn stops_at(stage: Stage) -> bool {
    if !cfg!(feature = "bench-stages") {
        return false;
    }
    match (stage, stop()) {
        (Stage::Start, Stop::Clock) => {
            let _ = black_box(abi::now_nanos());
            true
        }
        (Stage::Start, Stop::OneHeader) => {
            let _ = black_box(abi::header_value(Headers::Request, ":path"));
            true
        }
        (Stage::HeadersRead, Stop::HeadersRead)
        | (Stage::Headers, Stop::Headers)
        | (Stage::BodyRead, Stop::BodyRead)
        | (Stage::Counted, Stop::Counted) => true,
        _ => false,
    }
}

/// `bench-stages`: whether work stops once judged, without acting on `decision` (kept alive so
/// the judgement cannot be optimised away).
pub fn judged(decision: &Decision) -> bool {
    if !cfg!(feature = "bench-stages") || stop() != Stop::Judge {
        return false;
    }
    black_box(decision);
    true
}

fn metric_name(span: Span) -> &'static str {
    match span {
        Span::Headers => "pumpguard.bench.headers_ns",
        Span::Body => "pumpguard.bench.body_ns",
        Span::Judge => "pumpguard.bench.judge_ns",
        Span::Act => "pumpguard.bench.act_ns",
    }
}

/// Records the time since `started` into the histogram `name`.
fn record_elapsed(name: &str, started: u64) {
    let elapsed = abi::now_nanos().map(|now| now.saturating_sub(started));
    if let (Ok(elapsed), Ok(id)) = (elapsed, abi::define_metric(Metric::Histogram, name)) {
        let _ = abi::record_metric(id, elapsed);
    }
}

/// The value of `PUMPGUARD_BENCH_STOP`, read once per VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Clock,
    OneHeader,
    HeadersRead,
    Headers,
    BodyRead,
    Judge,
    Counted,
    Never,
}

fn stop() -> Stop {
    static STOP: OnceLock<Stop> = OnceLock::new();
    *STOP.get_or_init(|| match std::env::var("PUMPGUARD_BENCH_STOP").as_deref() {
        Ok("clock") => Stop::Clock,
        Ok("one-header") => Stop::OneHeader,
        Ok("headers-read") => Stop::HeadersRead,
        Ok("headers") => Stop::Headers,
        Ok("body-read") => Stop::BodyRead,
        Ok("judge") => Stop::Judge,
        Ok("counted") => Stop::Counted,
        _ => Stop::Never,
    })
}

/// `bench-hostcalls`: 20 host calls of the kind the request's `x-bench-call` header names, so
/// `bench-envoy --price-host-calls` can price each kind against `none`.
fn price_host_calls() {
    let kind = abi::header_value(Headers::Request, "x-bench-call").ok().flatten().unwrap_or_default();
    for i in 0..20u32 {
        let _ = match kind.as_slice() {
            b"clock" => abi::now_nanos().map(drop),
            b"headers" => abi::header_pairs(Headers::Request).map(drop),
            b"header" => abi::header_value(Headers::Request, "content-type").map(drop),
            b"property" => abi::property(&["source", "address"]).map(drop),
            b"shared-get" => abi::shared_get("bench:price").map(drop),
            b"shared-set" => abi::shared_set("bench:price", &[0u8; 400], 0),
            b"add-header" => abi::add_header(Headers::Request, "x-bench-added", "value"),
            b"metric" => abi::define_metric(Metric::Counter, "pumpguard.bench.price")
                .and_then(|id| abi::increment_metric(id, i64::from(i))),
            _ => Ok(()),
        };
    }
}
