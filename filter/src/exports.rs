//! The functions Envoy calls: proxy-wasm ABI 0.2.1 exports, forwarded to the VM's one registry
//! of contexts (`contexts`).
//!
//! Only the callbacks the filter uses are exported. Envoy skips a callback a module does not
//! export, so no response trailer, log or done call enters the VM for nothing, and each such
//! call costs a guarded request CPU (see docs/envoy.md, "Performance"). The response body is
//! exported for confirm routes that judge success from origin's answer (`success_json`); every
//! other stream returns from it at once. None of these
//! functions panics: an unknown context id (a host bug) gets the callback's neutral answer.
//!
//! `#[no_mangle]` counts as unsafe code to the compiler: this module and `abi::wasm` are the only
//! ones allowed it. There is no other `unsafe` here.
#![allow(unsafe_code)]

use std::cell::RefCell;

use crate::abi::Action;
use crate::contexts::Contexts;
use crate::host::Stream;

thread_local! {
    static CONTEXTS: RefCell<Contexts> = RefCell::new(Contexts::default());
}

/// Runs `f` on the registry. The registry is never borrowed twice, because Envoy defers local
/// replies and resumptions until a callback returns. If it ever were, `f` does not run and
/// the caller answers with its neutral value, rather than panicking.
fn with_contexts<T>(f: impl FnOnce(&mut Contexts) -> T) -> Option<T> {
    CONTEXTS.with(|cell| cell.try_borrow_mut().ok().map(|mut contexts| f(&mut contexts)))
}

fn with_stream(id: u32, callback: impl FnOnce(&mut Stream) -> Action) -> u32 {
    with_contexts(|c| c.on_stream(id, callback)).unwrap_or(Action::Continue) as u32
}

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

#[cfg(target_os = "wasi")]
extern "C" {
    fn __wasm_call_ctors();
}

/// WASI reactor start, once per VM instance: runs the module's static constructors (for the
/// standard library). Envoy calls `proxy_on_vm_start` again for every new plugin configuration.
#[no_mangle]
pub extern "C" fn _initialize() {
    // SAFETY: called once by the host before any other export, as WASI reactors require.
    #[cfg(target_os = "wasi")]
    unsafe {
        __wasm_call_ctors();
    }
    crate::host::vm_started();
}

/// Memory the host fills with returned data. `abi` takes it back as a `Vec` of exactly `size`
/// bytes, so this must stay a boxed slice of exactly that length.
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    Box::into_raw(vec![0u8; size].into_boxed_slice()).cast::<u8>()
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_root_id: u32, _vm_configuration_size: usize) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(root_id: u32, plugin_configuration_size: usize) -> u32 {
    u32::from(with_contexts(|c| c.configure(root_id, plugin_configuration_size)).unwrap_or(false))
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(id: u32, root_id: u32) {
    let _ = with_contexts(|c| c.create(id, root_id));
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(id: u32, num_headers: usize, end_of_stream: u32) -> u32 {
    with_stream(id, |s| s.on_request_headers(num_headers, end_of_stream != 0))
}

#[no_mangle]
pub extern "C" fn proxy_on_request_body(id: u32, body_size: usize, end_of_stream: u32) -> u32 {
    with_stream(id, |s| s.on_request_body(body_size, end_of_stream != 0))
}

#[no_mangle]
pub extern "C" fn proxy_on_request_trailers(id: u32, _num_trailers: usize) -> u32 {
    with_stream(id, Stream::on_request_trailers)
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(id: u32, _num_headers: usize, end_of_stream: u32) -> u32 {
    with_stream(id, |s| s.on_response_headers(end_of_stream != 0))
}

#[no_mangle]
pub extern "C" fn proxy_on_response_body(id: u32, body_size: usize, end_of_stream: u32) -> u32 {
    with_stream(id, |s| s.on_response_body(body_size, end_of_stream != 0))
}

/// The answer of a call a stream dispatched (siteverify, a remote store round). The host calls
/// this on the root context: the token names the stream.
#[no_mangle]
pub extern "C" fn proxy_on_http_call_response(
    _root_id: u32,
    token: u32,
    num_headers: usize,
    body_size: usize,
    _num_trailers: usize,
) {
    let _ = with_contexts(|c| c.on_http_call_response(token, num_headers, body_size));
}

#[no_mangle]
pub extern "C" fn proxy_on_delete(id: u32) {
    let _ = with_contexts(|c| c.delete(id));
}
