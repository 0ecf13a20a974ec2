//! Benchmark hooks: what the `bench-*` features measure, kept out of the request path's code.
//!
//! `host` calls each hook in one line. `on` measures, in a build with a bench feature; `off` is
//! the no-op twin every other build gets, whose hooks inline to nothing (a constant `None` or
//! `false`, or the timed closure itself). See docs/envoy.md, "Performance".

#[cfg(any(feature = "bench-floor", feature = "bench-timing", feature = "bench-stages"))]
mod on;
#[cfg(any(feature = "bench-floor", feature = "bench-timing", feature = "bench-stages"))]
pub use on::*;

#[cfg(not(any(feature = "bench-floor", feature = "bench-timing", feature = "bench-stages")))]
mod off;
#[cfg(not(any(feature = "bench-floor", feature = "bench-timing", feature = "bench-stages")))]
pub use off::*;

/// A span of a stream's work that `bench-timing` records into a `pumpguard.bench.*_ns` histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Span {
    Headers,
    Body,
    Judge,
    Act,
}

/// Where `bench-stages` can stop a request's work and forward it (the VM's
/// `PUMPGUARD_BENCH_STOP`), so each stage's whole cost, inside and outside the VM, shows as the
/// difference between two listeners. Stopping after the judgement is `judged`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Before any work: `clock` makes one host call that returns no data, `one-header` reads
    /// one header's value (`:path`).
    Start,
    /// The header map read (`headers-read`).
    HeadersRead,
    /// The whole headers phase, forwarding at the body without reading it (`headers`).
    Headers,
    /// The body read too, forwarding without judging (`body-read`).
    BodyRead,
    /// Judged, counted and logged, forwarding without adding the origin headers (`counted`).
    Counted,
}
