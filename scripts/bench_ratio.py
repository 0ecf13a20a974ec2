"""Runs the decision loop natively and in wasm, interleaved, and prints medians and the ratio."""
import json
import shlex
import statistics
import subprocess
import sys

native_cmd, wasm_cmd = sys.argv[1], sys.argv[2]
ROUNDS = 3
native, wasm = [], []
for _ in range(ROUNDS):
    for cmd, into in ((native_cmd, native), (wasm_cmd, wasm)):
        out = subprocess.run(shlex.split(cmd), check=True, capture_output=True, text=True).stdout
        into.append(json.loads(out.strip().splitlines()[-1])["median_ns"])
n, w = statistics.median(native), statistics.median(wasm)
print(f"decision native: {n / 1000:.2f} us/decision (median of {ROUNDS} runs)")
print(f"decision wasm  : {w / 1000:.2f} us/decision (V8 via node WASI)")
print(f"ratio wasm/native: {w / n:.2f}x  (goal: native <= 1.5 us, wasm <= 3x native)")
