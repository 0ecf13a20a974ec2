//! Cloudflare Worker adapter: filled in by the worker work.
