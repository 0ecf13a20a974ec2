//! Envoy / Istio adapter: filled in by the filter work.
