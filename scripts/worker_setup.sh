#!/usr/bin/env bash
# Idempotent installs for the Worker: worker-build and wasm-bindgen-cli (crates.io, into .tools/),
# and the npm packages of tests/worker (wrangler, miniflare, binaryen's wasm-opt, autocannon).
# Each step is skipped when what it installs is already there in the right version.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
worker_build_version=0.8.7

# The wasm-bindgen version the lockfile pins (edge-worker/Cargo.toml pins it with "=").
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$root/Cargo.lock")
if [ -z "$bindgen_version" ]; then
  echo "worker_setup: no wasm-bindgen in Cargo.lock" >&2
  exit 1
fi

have_version() { # binary, wanted version ("0.8.7" or "name 0.8.7" on the first line)
  [ -x "$1" ] && "$1" --version 2>/dev/null | head -n 1 | tr ' ' '\n' | grep -qx -- "$2"
}

if ! have_version "$tools/bin/wasm-bindgen" "$bindgen_version"; then
  echo "worker_setup: installing wasm-bindgen-cli $bindgen_version into .tools (takes minutes)" >&2
  # No --locked: its lockfile wants a crate version the registry no longer has.
  cargo install --quiet --root "$tools" wasm-bindgen-cli --version "$bindgen_version" --force
fi
if ! have_version "$tools/bin/worker-build" "$worker_build_version"; then
  echo "worker_setup: installing worker-build $worker_build_version into .tools (takes minutes)" >&2
  cargo install --quiet --root "$tools" worker-build --version "$worker_build_version" --force
fi

cd "$root/tests/worker"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "worker_setup: npm ci in tests/worker" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
