//! The registry of contexts: the root and stream contexts by id, and which stream waits for
//! which call answer (siteverify, remote store). `exports` owns the one registry of the VM and forwards Envoy's
//! calls here; this module has no `unsafe` and no ABI glue, so it runs natively in tests.
//!
//! None of these methods panics: an unknown context id (a host bug) gets the callback's
//! neutral answer.

use std::collections::HashMap;

use crate::abi::{self, Action, Level};
use crate::host::{Root, Stream};

#[derive(Default)]
pub struct Contexts {
    roots: HashMap<u32, Root>,
    streams: HashMap<u32, Stream>,
    /// Calls in flight (siteverify, remote store rounds): token → the stream waiting for the answer.
    callouts: HashMap<u32, u32>,
}

impl Contexts {
    /// A root context (`root_id` 0) or a stream of the root `root_id`.
    pub fn create(&mut self, id: u32, root_id: u32) {
        if root_id == 0 {
            self.roots.insert(id, Root::default());
        } else if let Some(root) = self.roots.get(&root_id) {
            let stream = root.new_stream();
            self.streams.insert(id, stream);
        }
    }

    /// Loads the plugin configuration of `root_id`; false refuses it.
    pub fn configure(&mut self, root_id: u32, configuration_size: usize) -> bool {
        self.roots.get_mut(&root_id).is_some_and(|root| root.configure(configuration_size))
    }

    /// Runs a stream callback, and registers the call it may have dispatched so that
    /// the answer finds the stream.
    pub fn on_stream(&mut self, id: u32, callback: impl FnOnce(&mut Stream) -> Action) -> Action {
        let Some(stream) = self.streams.get_mut(&id) else { return Action::Continue };
        let action = callback(stream);
        if let Some(token) = stream.take_callout() {
            self.callouts.insert(token, id);
        }
        action
    }

    /// The answer of a call a stream dispatched (siteverify, a remote store round). The host
    /// calls it on the root context: the token names the stream.
    pub fn on_http_call_response(&mut self, token: u32, num_headers: usize, body_size: usize) {
        let Some(id) = self.callouts.remove(&token) else { return };
        let Some(stream) = self.streams.get_mut(&id) else { return };
        // Local replies, header changes and resuming apply to the effective context.
        if abi::set_effective_context(id).is_ok() {
            stream.on_callout_response(num_headers, body_size);
            // An answer may lead to the next call (the commit round after the peek round).
            if let Some(next) = stream.take_callout() {
                self.callouts.insert(next, id);
            }
        } else {
            let _ = abi::log(Level::Error, "pumpguard: callout answer for a stream the host no longer has");
        }
    }

    /// Frees a stream (or a root) and forgets its callouts.
    pub fn delete(&mut self, id: u32) {
        if self.streams.remove(&id).is_none() {
            self.roots.remove(&id);
        }
        self.callouts.retain(|_, stream| *stream != id);
    }
}
