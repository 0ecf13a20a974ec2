//! What the fetch handler and a counter shard (Durable Object) send each other: the core's remote
//! check format ([`pumpguard_core::remote`]), one request per shard per round of a judged request
//! (peek, then commit; credit rounds on a confirm route's response). A shard holds one Worker's
//! counters, so it ignores the request's `namespace`.

pub use pumpguard_core::remote::{
    fits_header, CheckRequest as ShardRequest, CheckResponse as ShardResponse, PAYLOAD_HEADER,
};

/// Path of the shard's one endpoint (the host part of the URL is ignored by Durable Objects).
pub const SHARD_URL: &str = "https://pumpguard-shard/checks";
