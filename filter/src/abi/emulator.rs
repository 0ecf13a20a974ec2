//! The native twin of `wasm`: the same host calls, answered by an emulated Envoy in this thread,
//! so `host` and `contexts` run under `cargo test` (the lifecycle tests script it).
//!
//! The test scripts what Envoy would hold (request headers, body, response headers, plugin
//! configuration, properties, clock, shared data, callout answers), calls the filter's callbacks
//! as Envoy would, and reads back everything the filter sent: added and removed headers, local
//! replies, resumes and resets, callouts, metrics, logs. What it models, after Envoy 1.40 and
//! proxy-wasm-cpp-host:
//!
//! - Calls act on the effective context. The test enters a stream before each callback; a
//!   siteverify answer is delivered on the root, so the filter must switch to its stream.
//! - The request header map is the filter's to change only while the headers are held: once
//!   they went upstream, changes are refused (`BadArgument`), as the filter's comments expect.
//! - The request body buffer holds what Envoy buffered: each chunk since the filter last let
//!   the body through (`Action::Continue` drains it).
//! - Shared data follows `SharedData::set`: cas 0 is no check, a missing key is created
//!   whatever cas is passed, a cas that does not match an existing key's is `CasMismatch`; cas
//!   values count from 1 and never return to 0.
//! - Each metric definition gets a new id; values are kept by name, as Envoy's stats are.
//! - Any call can be made to fail (`Host::fail`): it then returns `InternalFailure`.

use std::cell::RefCell;
use std::collections::HashMap;

use super::{Action, Buffer, Headers, HostResult, Level, Metric, Status};
use crate::wire;

const BAD_ARGUMENT: Status = Status(2);
const INTERNAL_FAILURE: Status = Status(10);

/// A host call the test can make fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Buffer,
    HeaderPairs,
    AddHeader,
    RemoveHeader,
    SharedGet,
    SharedSet,
    Resume,
    SendResponse,
    HttpDispatch,
}

/// A header map as Envoy holds it: bytes, in order, names lower-case.
pub type HeaderMap = Vec<(Vec<u8>, Vec<u8>)>;

/// One stream as the host sees it.
#[derive(Clone, Debug, Default)]
pub struct StreamHost {
    pub request_headers: HeaderMap,
    /// The request headers went upstream: the map is no longer the filter's to change.
    pub headers_upstream: bool,
    /// Body bytes Envoy holds for the filter.
    pub buffered_body: Vec<u8>,
    /// Body bytes that went upstream.
    pub forwarded_body: Vec<u8>,
    pub response_headers: HeaderMap,
    /// Response body bytes Envoy holds for the filter (the chunk being delivered).
    pub response_body: Vec<u8>,
    /// Headers the filter added, in order.
    pub added: Vec<(String, String)>,
    /// Header names the filter removed, in order.
    pub removed: Vec<Vec<u8>>,
    pub local_reply: Option<LocalReply>,
    pub resumed: usize,
    /// Times the filter let a paused response go on.
    pub response_resumed: usize,
    pub reset: bool,
}

impl StreamHost {
    /// The value of a request header as it would go upstream.
    pub fn request_header(&self, name: &str) -> Option<&[u8]> {
        self.request_headers.iter().find(|(n, _)| n == name.as_bytes()).map(|(_, v)| v.as_slice())
    }
}

/// A reply the filter sent instead of forwarding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u32,
    pub details: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl LocalReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// An HTTP call the filter dispatched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Callout {
    pub token: u32,
    /// The context that was effective when the call was made.
    pub context: u32,
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: u32,
}

/// The emulated host of this thread.
#[derive(Debug, Default)]
pub struct Host {
    pub now_nanos: u64,
    pub plugin_configuration: Vec<u8>,
    /// Properties by their encoded path (`wire::encode_path`).
    pub properties: HashMap<Vec<u8>, Vec<u8>>,
    /// Shared data: key → (value, cas).
    pub shared: HashMap<String, (Vec<u8>, u32)>,
    last_cas: u32,
    pub streams: HashMap<u32, StreamHost>,
    /// The context host calls act on.
    pub effective: u32,
    pub callouts: Vec<Callout>,
    /// The headers and body of the callout answer being delivered (`None`: none is).
    pub callout_answer: Option<(HeaderMap, Vec<u8>)>,
    /// Metric definitions; the id is the index + 1.
    metric_defs: Vec<(Metric, String)>,
    pub counters: HashMap<String, i64>,
    pub histograms: HashMap<String, Vec<u64>>,
    pub logs: Vec<(Level, String)>,
    /// The VM's environment (Envoy's `vm_config.environment_variables`).
    pub environment: HashMap<String, String>,
    failing: Vec<Call>,
}

thread_local! {
    static HOST: RefCell<Host> = RefCell::new(Host::default());
}

/// Replaces this thread's host with a fresh one.
pub fn reset() {
    HOST.with(|host| *host.borrow_mut() = Host::default());
}

/// Runs `f` on this thread's host (to script it or read what the filter sent). Never call it
/// from inside a filter callback.
pub fn with<T>(f: impl FnOnce(&mut Host) -> T) -> T {
    HOST.with(|host| f(&mut host.borrow_mut()))
}

impl Host {
    /// Makes every later call of `call` fail.
    pub fn fail(&mut self, call: Call) {
        self.failing.push(call);
    }

    pub fn set_property(&mut self, path: &[&str], value: &str) {
        self.properties.insert(wire::encode_path(path), value.as_bytes().to_vec());
    }

    /// The effective stream; `None` when the effective context is not a stream.
    pub fn stream(&mut self) -> Option<&mut StreamHost> {
        self.streams.get_mut(&self.effective)
    }

    pub fn counter(&self, name: &str) -> i64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    fn check(&self, call: Call) -> HostResult<()> {
        if self.failing.contains(&call) {
            Err(INTERNAL_FAILURE)
        } else {
            Ok(())
        }
    }

    fn map(&mut self, map: Headers) -> Option<&mut HeaderMap> {
        match map {
            Headers::HttpCallResponse => self.callout_answer.as_mut().map(|(headers, _)| headers),
            Headers::Request => self.stream().map(|s| &mut s.request_headers),
            Headers::Response => self.stream().map(|s| &mut s.response_headers),
        }
    }

    /// The request header map, if the filter may still change it.
    fn held_request_headers(&mut self) -> HostResult<&mut StreamHost> {
        match self.stream() {
            Some(stream) if !stream.headers_upstream => Ok(stream),
            _ => Err(BAD_ARGUMENT),
        }
    }

    fn define(&mut self, kind: Metric, name: &str) -> u32 {
        self.metric_defs.push((kind, name.to_owned()));
        u32::try_from(self.metric_defs.len()).unwrap_or(u32::MAX)
    }

    fn metric(&self, id: u32) -> HostResult<&(Metric, String)> {
        let index = usize::try_from(id).map_err(|_| BAD_ARGUMENT)?;
        index.checked_sub(1).and_then(|i| self.metric_defs.get(i)).ok_or(BAD_ARGUMENT)
    }
}

fn host<T>(f: impl FnOnce(&mut Host) -> HostResult<T>) -> HostResult<T> {
    with(f)
}

fn part(bytes: &[u8], start: usize, max_size: usize) -> HostResult<Option<Vec<u8>>> {
    let rest = bytes.get(start..).ok_or(BAD_ARGUMENT)?;
    let data = rest.get(..max_size.min(rest.len())).unwrap_or(rest);
    Ok((!data.is_empty()).then(|| data.to_vec()))
}

// The host calls, as in `wasm`.

pub fn env_var(name: &str) -> Option<String> {
    with(|h| h.environment.get(name).cloned())
}

pub fn log(level: Level, message: &str) -> HostResult<()> {
    host(|h| {
        h.logs.push((level, message.to_owned()));
        Ok(())
    })
}

pub fn now_nanos() -> HostResult<u64> {
    host(|h| Ok(h.now_nanos))
}

pub fn buffer(buffer: Buffer, start: usize, max_size: usize) -> HostResult<Option<Vec<u8>>> {
    host(|h| {
        h.check(Call::Buffer)?;
        match buffer {
            Buffer::PluginConfiguration => part(&h.plugin_configuration, start, max_size),
            Buffer::RequestBody => match h.stream() {
                Some(stream) => part(&stream.buffered_body, start, max_size),
                None => Ok(None),
            },
            Buffer::ResponseBody => match h.stream() {
                Some(stream) => part(&stream.response_body, start, max_size),
                None => Ok(None),
            },
            Buffer::HttpCallResponseBody => match &h.callout_answer {
                Some((_, body)) => part(body, start, max_size),
                None => Ok(None),
            },
        }
    })
}

pub fn header_pairs(map: Headers) -> HostResult<Vec<u8>> {
    host(|h| {
        h.check(Call::HeaderPairs)?;
        let pairs = h.map(map).ok_or(BAD_ARGUMENT)?;
        Ok(wire::encode_pairs(pairs))
    })
}

pub fn header_value(map: Headers, name: &str) -> HostResult<Option<Vec<u8>>> {
    host(|h| {
        let pairs = h.map(map).ok_or(BAD_ARGUMENT)?;
        Ok(pairs.iter().find(|(n, _)| n == name.as_bytes()).map(|(_, v)| v.clone()))
    })
}

pub fn add_header(map: Headers, name: &str, value: &str) -> HostResult<()> {
    host(|h| {
        h.check(Call::AddHeader)?;
        if map != Headers::Request {
            return Err(BAD_ARGUMENT);
        }
        let stream = h.held_request_headers()?;
        stream.request_headers.push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
        stream.added.push((name.to_owned(), value.to_owned()));
        Ok(())
    })
}

pub fn remove_header(map: Headers, name: &[u8]) -> HostResult<()> {
    host(|h| {
        h.check(Call::RemoveHeader)?;
        if map != Headers::Request {
            return Err(BAD_ARGUMENT);
        }
        let stream = h.held_request_headers()?;
        stream.request_headers.retain(|(n, _)| n != name);
        stream.removed.push(name.to_vec());
        Ok(())
    })
}

pub fn property(path: &[&str]) -> HostResult<Option<Vec<u8>>> {
    host(|h| Ok(h.properties.get(&wire::encode_path(path)).cloned()))
}

pub fn shared_get(key: &str) -> HostResult<(Option<Vec<u8>>, Option<u32>)> {
    host(|h| {
        h.check(Call::SharedGet)?;
        Ok(match h.shared.get(key) {
            Some((value, cas)) => (Some(value.clone()), Some(*cas)),
            None => (None, None),
        })
    })
}

pub fn shared_set(key: &str, value: &[u8], cas: u32) -> HostResult<()> {
    host(|h| {
        h.check(Call::SharedSet)?;
        if let Some((_, current)) = h.shared.get(key) {
            if cas != 0 && cas != *current {
                return Err(Status::CAS_MISMATCH);
            }
        }
        h.last_cas = h.last_cas.checked_add(1).unwrap_or(1);
        h.shared.insert(key.to_owned(), (value.to_vec(), h.last_cas));
        Ok(())
    })
}

pub fn resume_request() -> HostResult<()> {
    host(|h| {
        h.check(Call::Resume)?;
        let stream = h.stream().ok_or(BAD_ARGUMENT)?;
        stream.resumed += 1;
        forward(stream);
        Ok(())
    })
}

pub fn resume_response() -> HostResult<()> {
    host(|h| {
        let stream = h.stream().ok_or(BAD_ARGUMENT)?;
        stream.response_resumed += 1;
        Ok(())
    })
}

pub fn reset_request() -> HostResult<()> {
    host(|h| {
        let stream = h.stream().ok_or(BAD_ARGUMENT)?;
        stream.reset = true;
        Ok(())
    })
}

pub fn send_response(status: u32, details: &str, headers: &[(&str, &str)], body: &[u8]) -> HostResult<()> {
    host(|h| {
        h.check(Call::SendResponse)?;
        let stream = h.stream().ok_or(BAD_ARGUMENT)?;
        let headers = headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        stream.local_reply =
            Some(LocalReply { status, details: details.to_owned(), headers, body: body.to_vec() });
        Ok(())
    })
}

pub fn define_metric(kind: Metric, name: &str) -> HostResult<u32> {
    host(|h| Ok(h.define(kind, name)))
}

pub fn increment_metric(id: u32, by: i64) -> HostResult<()> {
    host(|h| match h.metric(id)?.clone() {
        (Metric::Counter, name) => {
            *h.counters.entry(name).or_default() += by;
            Ok(())
        }
        (Metric::Histogram, _) => Err(BAD_ARGUMENT),
    })
}

#[cfg_attr(not(feature = "bench-timing"), allow(dead_code, reason = "only bench-timing records"))]
pub fn record_metric(id: u32, value: u64) -> HostResult<()> {
    host(|h| match h.metric(id)?.clone() {
        (Metric::Histogram, name) => {
            h.histograms.entry(name).or_default().push(value);
            Ok(())
        }
        (Metric::Counter, _) => Err(BAD_ARGUMENT),
    })
}

pub fn set_effective_context(context_id: u32) -> HostResult<()> {
    host(|h| {
        if !h.streams.contains_key(&context_id) {
            return Err(BAD_ARGUMENT);
        }
        h.effective = context_id;
        Ok(())
    })
}

pub fn http_call(cluster: &str, headers: &[(&str, &str)], body: &[u8], timeout_ms: u32) -> HostResult<u32> {
    host(|h| {
        h.check(Call::HttpDispatch)?;
        let token = u32::try_from(h.callouts.len()).unwrap_or(u32::MAX).saturating_add(1);
        let headers = headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        let callout = Callout {
            token,
            context: h.effective,
            cluster: cluster.to_owned(),
            headers,
            body: body.to_vec(),
            timeout_ms,
        };
        h.callouts.push(callout);
        Ok(token)
    })
}

/// The held request goes upstream: headers, and the body buffered so far.
fn forward(stream: &mut StreamHost) {
    stream.headers_upstream = true;
    let body = std::mem::take(&mut stream.buffered_body);
    stream.forwarded_body.extend_from_slice(&body);
}

/// Applies a callback's answer as Envoy does: `Continue` lets what is held go upstream.
pub fn after_callback(id: u32, action: Action) {
    with(|h| {
        if let (Action::Continue, Some(stream)) = (action, h.streams.get_mut(&id)) {
            forward(stream);
        }
    });
}
