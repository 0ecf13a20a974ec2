# pumpguard tasks. `just` alone lists them; `just ready` runs exactly what CI runs.

set shell := ["bash", "-euo", "pipefail", "-c"]

root := justfile_directory()
venv := root / ".venv"
cargo := "cargo"
wasm_targets := "wasm32-unknown-unknown wasm32-wasip1"
target_dir := env("CARGO_TARGET_DIR", root / "target")

# Host tasks live beside this file, one module per host.
import 'just/envoy.just'
import 'just/worker.just'
import 'just/fuzz.just'
import 'just/sdk.just'
import 'just/sim.just'
import 'just/fleet.just'
import 'just/ops.just'
import 'just/metadata.just'
import 'just/browser.just'

# List the recipes.
default:
    @just --list --unsorted

# Install what builds and tests need (idempotent): Rust wasm targets and components, Envoy, the Worker toolchain, the SDKs of the real-client tests, Chromium for the simulator's report and the browser check, Redis for the fleet tests, Prometheus and the ops Python tools, PyPI phonenumbers for the metadata oracle.
setup: setup-rust setup-envoy setup-worker setup-sdk setup-sim setup-fleet setup-ops setup-metadata

# Rust wasm targets and the lint components.
setup-rust:
    rustup target add {{wasm_targets}}
    rustup component add clippy rustfmt

# Build every crate natively.
build *flags:
    {{cargo}} build --workspace {{flags}}

# Build the core for both wasm targets (it must stay free of host calls and clocks).
check-wasm:
    {{cargo}} build -p pumpguard-core --release --target wasm32-unknown-unknown
    {{cargo}} build -p pumpguard-core --release --target wasm32-wasip1

# Formatting, clippy and the API docs' links, with warnings as errors.
lint:
    {{cargo}} fmt --all -- --check
    {{cargo}} clippy --workspace --all-targets -- -D warnings
    RUSTDOCFLAGS="-D warnings" {{cargo}} doc --workspace --no-deps -q

# Unit, property and scenario tests of the core, and the CLI tests.
test-core *flags:
    {{cargo}} test --workspace {{flags}}

# Validate the shipped example policy and replay the example traffic through the CLI.
test-examples:
    {{cargo}} run -q -p pumpguard-cli -- check examples/policy.json
    for policy in policies/*.json; do {{cargo}} run -q -p pumpguard-cli -- check "$policy"; done
    {{cargo}} run -q -p pumpguard-cli -- replay --policy examples/policy.json examples/traffic.jsonl > /dev/null

# Every test: installs what they need (idempotent, quick once done), then lint, wasm builds, core + scenarios, the phone metadata against PyPI phonenumbers, CLI on the examples, alert rules, dashboard and policy schema, the simulator (report in Chromium, agreement with Envoy), every scenario through a real Envoy and a real workerd, a page answering challenges in Chromium through Envoy, every rule and dashboard query against a real Prometheus, fuzz and soak smokes, the real SDKs through both, and two Envoys sharing counters through the store service over Redis, then over Valkey.
test: setup lint check-wasm test-core test-metadata test-examples test-ops test-sim test-filter test-worker e2e-envoy test-browser sim-envoy e2e-ops e2e-worker fuzz-smoke soak-smoke test-sdk e2e-fleet e2e-fleet-valkey soak-fleet-smoke

# What CI runs: every test (which installs what it needs first).
ready: test

# Demo: Envoy with the filter in front of a demo OTP origin; legitimate sign-ups and a pumping campaign, then a summary.
demo: demo-envoy

# The same mix judged by the CLI alone (no proxy): the example policy replayed over the example traffic.
demo-replay:
    {{cargo}} run -q -p pumpguard-cli -- check examples/policy.json
    {{cargo}} run -q -p pumpguard-cli -- replay --policy examples/policy.json examples/traffic.jsonl \
        | python3 scripts/demo_table.py

# Benchmark one full decision: criterion natively, then the same loop native vs wasm (V8 via node WASI), with their ratio.
bench-core *flags:
    {{cargo}} bench -p pumpguard-core --bench decision {{flags}}
    {{cargo}} build -q --release -p pumpguard-bench
    {{cargo}} build -q --release -p pumpguard-bench --target wasm32-wasip1
    python3 scripts/bench_ratio.py \
        "target/release/decision-loop" \
        "node --no-warnings bench/run-wasm.mjs target/wasm32-wasip1/release/decision-loop.wasm"
