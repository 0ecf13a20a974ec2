"""Runs the decision loop natively and in wasm, interleaved, and prints medians and the ratio."""
import json
import shlex
import statistics
import subprocess
import sys

native_cmd, wasm_cmd = sys.argv[1], sys.argv[2]
ROUNDS = 3
native, wasm, native_b, wasm_b = [], [], [], []
for _ in range(ROUNDS):
    for cmd, into, into_b in ((native_cmd, native, native_b), (wasm_cmd, wasm, wasm_b)):
        out = subprocess.run(shlex.split(cmd), check=True, capture_output=True, text=True).stdout
        line = json.loads(out.strip().splitlines()[-1])
        into.append(line["median_ns"])
        into_b.append(line["bucketed_median_ns"])
n, w = statistics.median(native), statistics.median(wasm)
nb, wb = statistics.median(native_b), statistics.median(wasm_b)
print(f"decision native: {n / 1000:.2f} us/decision (median of {ROUNDS} runs)")
print(f"decision wasm  : {w / 1000:.2f} us/decision (V8 via node WASI)")
print(f"ratio wasm/native: {w / n:.2f}x  (goal: native <= 1.5 us, wasm <= 3x native)")
print(f"with the Envoy filter's bucketed store: native {nb / 1000:.2f} us, wasm {wb / 1000:.2f} us "
      f"({nb / n:.2f}x and {wb / w:.2f}x the plain store)")
