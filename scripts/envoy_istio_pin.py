#!/usr/bin/env python3
"""Pins the Istio manifests in envoy/istio/ to one built module: writes its sha256 (and, with
--url, where it is published) into every `sha256:` / `url:` / `uri:` field of the given files.

Usage: envoy_istio_pin.py --wasm FILE [--url URL] MANIFEST.yaml...
"""
import argparse
import hashlib
import re

ap = argparse.ArgumentParser()
ap.add_argument("--wasm", required=True)
ap.add_argument("--url")
ap.add_argument("files", nargs="+")
args = ap.parse_args()
digest = hashlib.sha256(open(args.wasm, "rb").read()).hexdigest()
for path in args.files:
    text = open(path).read()
    text = re.sub(r"(\bsha256: )[0-9a-f]{64}", r"\g<1>" + digest, text)
    if args.url:
        text = re.sub(r"(^\s*(?:url|uri): )\S+", lambda m: m.group(1) + args.url, text, flags=re.M)
    open(path, "w").write(text)
    print(f"{path}: sha256 {digest}")
