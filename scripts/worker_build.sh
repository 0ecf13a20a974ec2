#!/usr/bin/env bash
# Builds the Worker with worker-build (release profile, wasm-bindgen from .tools, wasm-opt from
# npm binaryen, esbuild from npm) into edge-worker/build, offline, and prints the bundle size.
# Skips the build when the output is newer than every input (`--force` rebuilds).
# Usage: scripts/worker_build.sh [--force] [--feature F]   (CARGO_TARGET_DIR chooses cargo's
# target dir). `--feature test-trap` builds the test-only variant into target/worker-test-trap.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/edge-worker/build"
force=0
features=()
while [ $# -gt 0 ]; do
  case "$1" in
    --force) force=1 ;;
    --feature) shift; features=(--features "$1"); out="$root/target/worker-$1" ;;
    *) echo "worker_build: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
node_bin="$root/tests/worker/node_modules/.bin"
# Goal from the issue: at most 1 MiB gzipped (Cloudflare's free-plan limit is 3 MiB).
limit=$((1024 * 1024))

stale=1
if [ "$force" = 0 ] && [ -f "$out/index_bg.wasm" ] && [ -f "$out/index.js" ]; then
  newer=$(find "$root/core/src" "$root/core/build" "$root/core/build.rs" "$root/core/Cargo.toml" \
    "$root/edge-worker/src" "$root/edge-worker/Cargo.toml" \
    "$root/Cargo.lock" "$root/Cargo.toml" -newer "$out/index_bg.wasm" -print -quit)
  [ -z "$newer" ] && stale=0
fi

if [ "$stale" = 1 ]; then
  cd "$root/edge-worker"
  WASM_BINDGEN_BIN="$root/.tools/bin/wasm-bindgen" \
  WASM_OPT_BIN="$node_bin/wasm-opt" \
  ESBUILD_BIN="$node_bin/esbuild" \
    "$root/.tools/bin/worker-build" --release --out-dir "$out" "${features[@]}"
else
  echo "worker_build: $out is up to date"
fi

wasm_bytes=$(stat -c %s "$out/index_bg.wasm")
wasm_gz=$(gzip -9 -c "$out/index_bg.wasm" | wc -c)
js_gz=$(gzip -9 -c "$out/index.js" | wc -c)
total_gz=$((wasm_gz + js_gz))
awk -v o="${out#"$root"/}" -v w="$wasm_bytes" -v wg="$wasm_gz" -v jg="$js_gz" -v t="$total_gz" 'BEGIN {
  printf "%s: index_bg.wasm %d bytes (%d gzipped) + index.js %d gzipped = %d bytes gzipped (%.2f MiB; goal <= 1 MiB)\n", o, w, wg, jg, t, t / 1048576
}'
if [ "$total_gz" -gt "$limit" ]; then
  echo "worker_build: bundle is over 1 MiB gzipped" >&2
  exit 1
fi
