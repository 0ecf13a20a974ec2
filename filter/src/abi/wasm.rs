//! The host calls the filter makes, straight against the proxy-wasm ABI 0.2.1 (wasm32 only).
//!
//! The proxy-wasm SDK's wrappers panic on any status they do not expect and decode header maps
//! with `String::from_utf8(..).unwrap()`: one request whose header value carries a byte ≥ 0x80
//! (HTTP/1 obs-text, which Envoy accepts) killed the VM. These wrappers return every status to
//! the caller, keep host bytes as bytes (see `wire`), and declare statuses as `u32` so a value
//! the ABI does not list cannot become an invalid enum. The exports Envoy calls are in `exports`.
//!
//! Every `unsafe` block here hands the host pointers to live local buffers and, for returned
//! data, takes ownership of memory the host allocated through `exports::proxy_on_memory_allocate`
//! (a boxed `[u8]` of exactly the returned size).
#![allow(unsafe_code)]

use std::ptr::{null, null_mut};

use super::{Buffer, Headers, HostResult, Level, Metric, Status};
use crate::wire;

const OK: u32 = 0;
const NOT_FOUND: u32 = 1;

const STREAM_HTTP_REQUEST: u32 = 0;
const STREAM_HTTP_RESPONSE: u32 = 1;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(map_type: u32, return_data: *mut *mut u8, return_size: *mut usize) -> u32;
    fn proxy_get_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_add_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map_type: u32, key_data: *const u8, key_size: usize) -> u32;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_get_shared_data(
        key_data: *const u8,
        key_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    fn proxy_continue_stream(stream_type: u32) -> u32;
    fn proxy_close_stream(stream_type: u32) -> u32;
    #[allow(clippy::too_many_arguments)]
    fn proxy_send_local_response(
        status_code: u32,
        details_data: *const u8,
        details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_define_metric(
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_set_effective_context(context_id: u32) -> u32;
    #[allow(clippy::too_many_arguments)]
    fn proxy_http_call(
        upstream_data: *const u8,
        upstream_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        body_data: *const u8,
        body_size: usize,
        trailers_data: *const u8,
        trailers_size: usize,
        timeout_ms: u32,
        return_token: *mut u32,
    ) -> u32;
    #[cfg_attr(not(feature = "bench-timing"), allow(dead_code, reason = "only bench-timing records"))]
    fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
}

fn check(status: u32) -> HostResult<()> {
    if status == OK {
        Ok(())
    } else {
        Err(Status(status))
    }
}

/// Takes ownership of bytes the host returned (null: no data).
///
/// SAFETY: `data` is null or was allocated by `exports::proxy_on_memory_allocate(size)`, which
/// returns a leaked `Box<[u8]>` of exactly `size` bytes; the host fills all of it.
unsafe fn host_bytes(data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if data.is_null() {
        None
    } else {
        Some(Vec::from_raw_parts(data, size, size))
    }
}

/// Calls a host function that returns data through `(data, size)` out-pointers.
/// `NotFound` is "no data"; every other failure is the caller's to handle.
fn returned(call: impl FnOnce(*mut *mut u8, *mut usize) -> u32) -> HostResult<Option<Vec<u8>>> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    match call(&mut data, &mut size) {
        // SAFETY: on OK the host set `data`/`size` to its allocation (or left null).
        OK => Ok(unsafe { host_bytes(data, size) }),
        NOT_FOUND => Ok(None),
        status => Err(Status(status)),
    }
}

pub fn log(level: Level, message: &str) -> HostResult<()> {
    // SAFETY: the message outlives the call.
    check(unsafe { proxy_log(level as u32, message.as_ptr(), message.len()) })
}

pub fn now_nanos() -> HostResult<u64> {
    let mut nanos = 0u64;
    // SAFETY: `nanos` is a live local.
    check(unsafe { proxy_get_current_time_nanoseconds(&mut nanos) })?;
    Ok(nanos)
}

pub fn buffer(buffer: Buffer, start: usize, max_size: usize) -> HostResult<Option<Vec<u8>>> {
    // SAFETY: the out-pointers are live locals of `returned`.
    returned(|data, size| unsafe { proxy_get_buffer_bytes(buffer as u32, start, max_size, data, size) })
}

/// The whole header map, serialized (decode with `wire::decode_pairs`).
pub fn header_pairs(map: Headers) -> HostResult<Vec<u8>> {
    // SAFETY: the out-pointers are live locals of `returned`.
    returned(|data, size| unsafe { proxy_get_header_map_pairs(map as u32, data, size) })
        .map(Option::unwrap_or_default)
}

pub fn header_value(map: Headers, name: &str) -> HostResult<Option<Vec<u8>>> {
    // SAFETY: `name` outlives the call; the out-pointers are live locals of `returned`.
    returned(|data, size| unsafe {
        proxy_get_header_map_value(map as u32, name.as_ptr(), name.len(), data, size)
    })
}

pub fn add_header(map: Headers, name: &str, value: &str) -> HostResult<()> {
    // SAFETY: name and value outlive the call.
    check(unsafe {
        proxy_add_header_map_value(map as u32, name.as_ptr(), name.len(), value.as_ptr(), value.len())
    })
}

pub fn remove_header(map: Headers, name: &[u8]) -> HostResult<()> {
    // SAFETY: `name` outlives the call.
    check(unsafe { proxy_remove_header_map_value(map as u32, name.as_ptr(), name.len()) })
}

pub fn property(path: &[&str]) -> HostResult<Option<Vec<u8>>> {
    let path = wire::encode_path(path);
    // SAFETY: `path` outlives the call; the out-pointers are live locals of `returned`.
    returned(|data, size| unsafe { proxy_get_property(path.as_ptr(), path.len(), data, size) })
}

/// A shared-data value and its compare-and-swap version; a missing key is `(None, None)`.
pub fn shared_get(key: &str) -> HostResult<(Option<Vec<u8>>, Option<u32>)> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    let mut cas: u32 = 0;
    // SAFETY: `key` outlives the call; the out-pointers are live locals.
    match unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) } {
        // SAFETY: on OK the host set `data`/`size` to its allocation (or left null).
        OK => Ok((unsafe { host_bytes(data, size) }, (cas != 0).then_some(cas))),
        NOT_FOUND => Ok((None, None)),
        status => Err(Status(status)),
    }
}

pub fn shared_set(key: &str, value: &[u8], cas: u32) -> HostResult<()> {
    // SAFETY: key and value outlive the call.
    check(unsafe { proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas) })
}

pub fn resume_request() -> HostResult<()> {
    // SAFETY: no pointers.
    check(unsafe { proxy_continue_stream(STREAM_HTTP_REQUEST) })
}

/// Lets a response the filter paused go on to the client.
pub fn resume_response() -> HostResult<()> {
    // SAFETY: no pointers.
    check(unsafe { proxy_continue_stream(STREAM_HTTP_RESPONSE) })
}

pub fn reset_request() -> HostResult<()> {
    // SAFETY: no pointers.
    check(unsafe { proxy_close_stream(STREAM_HTTP_REQUEST) })
}

/// A local reply. `details` shows in Envoy's `%RESPONSE_CODE_DETAILS%`.
pub fn send_response(status: u32, details: &str, headers: &[(&str, &str)], body: &[u8]) -> HostResult<()> {
    let headers = wire::encode_pairs(headers);
    // SAFETY: details, body and headers outlive the call; -1 is "not a gRPC reply".
    check(unsafe {
        proxy_send_local_response(
            status,
            details.as_ptr(),
            details.len(),
            if body.is_empty() { null() } else { body.as_ptr() },
            body.len(),
            headers.as_ptr(),
            headers.len(),
            -1,
        )
    })
}

pub fn define_metric(kind: Metric, name: &str) -> HostResult<u32> {
    let mut id = 0u32;
    // SAFETY: `name` outlives the call; `id` is a live local.
    check(unsafe { proxy_define_metric(kind as u32, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

pub fn increment_metric(id: u32, by: i64) -> HostResult<()> {
    // SAFETY: no pointers.
    check(unsafe { proxy_increment_metric(id, by) })
}

#[cfg_attr(not(feature = "bench-timing"), allow(dead_code, reason = "only bench-timing records"))]
pub fn record_metric(id: u32, value: u64) -> HostResult<()> {
    // SAFETY: no pointers.
    check(unsafe { proxy_record_metric(id, value) })
}

/// Makes `context_id` the context later calls act on (a callout answer arrives on the root).
pub fn set_effective_context(context_id: u32) -> HostResult<()> {
    // SAFETY: no pointers.
    check(unsafe { proxy_set_effective_context(context_id) })
}

/// A variable of the VM's environment (WASI `environ_get`, which proxy-wasm-cpp-host answers
/// with what Envoy's `vm_config.environment_variables` gave the VM), its bytes read lossily.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
}

/// An HTTP call to `cluster`; the answer comes to `proxy_on_http_call_response` with the token.
pub fn http_call(cluster: &str, headers: &[(&str, &str)], body: &[u8], timeout_ms: u32) -> HostResult<u32> {
    let headers = wire::encode_pairs(headers);
    let trailers = wire::encode_pairs::<&str, &str>(&[]);
    let mut token = 0u32;
    // SAFETY: every buffer outlives the call; `token` is a live local.
    check(unsafe {
        proxy_http_call(
            cluster.as_ptr(),
            cluster.len(),
            headers.as_ptr(),
            headers.len(),
            if body.is_empty() { null() } else { body.as_ptr() },
            body.len(),
            trailers.as_ptr(),
            trailers.len(),
            timeout_ms,
            &mut token,
        )
    })?;
    Ok(token)
}
