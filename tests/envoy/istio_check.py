#!/usr/bin/env python3
"""Checks envoy/istio/: both manifests parse, pin the module by sha256 (the pin script writes the
built module's digest into copies), the EnvoyFilter's ECDS Wasm config sets
allow_on_headers_stop_iteration and validates in a real Envoy (with the remote module swapped
for the local build), its route patch disables that filter and removes pumpguard's headers in a
route Envoy accepts, and the WasmPlugin's pluginConfig is a valid plugin configuration.

Usage: istio_check.py --envoy BIN --wasm FILE --work DIR
"""
import argparse
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import envoylib as L  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--envoy", required=True)
ap.add_argument("--wasm", required=True)
ap.add_argument("--work", required=True)
args = ap.parse_args()
work = os.path.join(args.work, "istio")
os.makedirs(work, exist_ok=True)
problems = []
digest = hashlib.sha256(open(args.wasm, "rb").read()).hexdigest()
copies = []


def validate(boot, name, refused):
    """Writes `boot` as work/NAME.json; a refusal by `envoy --mode validate` is a problem."""
    path = os.path.join(work, name + ".json")
    json.dump(boot, open(path, "w"))
    r = subprocess.run([args.envoy, "--mode", "validate", "-c", path], capture_output=True, text=True)
    if r.returncode != 0:
        problems.append(refused + ":\n" + (r.stdout + r.stderr)[-2000:])



for name in ["wasmplugin.yaml", "envoyfilter.yaml"]:
    dst = os.path.join(work, name)
    shutil.copy(os.path.join(L.ROOT, "envoy/istio", name), dst)
    copies.append(dst)
subprocess.run([sys.executable, os.path.join(L.ROOT, "scripts/envoy_istio_pin.py"), "--wasm", args.wasm,
                "--url", "https://example.invalid/pumpguard.wasm", *copies], check=True, capture_output=True)

wp = yaml.safe_load(open(copies[0]))
if wp.get("kind") != "WasmPlugin" or wp["spec"].get("sha256") != digest:
    problems.append("WasmPlugin sha256 not pinned to the module")
if wp["spec"]["pluginConfig"].get("hold_headers") is not False:
    problems.append("WasmPlugin must run with hold_headers: false")

docs = list(yaml.safe_load_all(open(copies[1])))
ef = docs[0]
ext = [p for p in ef["spec"]["configPatches"] if p["applyTo"] == "EXTENSION_CONFIG"]
http = [p for p in ef["spec"]["configPatches"] if p["applyTo"] == "HTTP_FILTER"]
skips = [p for p in ef["spec"]["configPatches"] if p["applyTo"] == "HTTP_ROUTE"]
if len(ext) != 1 or len(http) != 1:
    problems.append("EnvoyFilter needs one EXTENSION_CONFIG and one HTTP_FILTER patch")
else:
    value = ext[0]["patch"]["value"]
    if http[0]["patch"]["value"]["name"] != value["name"]:
        problems.append("HTTP_FILTER config_discovery must name the EXTENSION_CONFIG")
    wasm_cfg = copy.deepcopy(value["typed_config"])
    conf = wasm_cfg["config"]
    if conf.get("allow_on_headers_stop_iteration") is not True:
        problems.append("EnvoyFilter Wasm config must set allow_on_headers_stop_iteration")
    if conf["vm_config"]["code"]["remote"].get("sha256") != digest:
        problems.append("EnvoyFilter module sha256 not pinned")
    conf["vm_config"]["code"] = {"local": {"filename": os.path.abspath(args.wasm)}}
    # Istio names its own cluster for siteverify; give validation one of that name.
    plugin = json.loads(conf["configuration"]["value"])
    sv_cluster = plugin["siteverify"]["cluster"]
    boot = L.bootstrap([L.listener("gw", 1, [{"name": value["name"], "typed_config": wasm_cfg}])],
                       [L.cluster("origin", 2), L.cluster(sv_cluster, 3)], 4)
    validate(boot, "envoyfilter-bootstrap", "EnvoyFilter Wasm config refused by envoy --mode validate")
    # The optional route patch: it must disable the filter the HTTP_FILTER patch inserts, remove
    # pumpguard's headers, and make a route Envoy accepts next to that filter.
    for skip in skips:
        patch = skip["patch"]["value"]
        if list(patch.get("typed_per_filter_config", {})) != [value["name"]]:
            problems.append(f"HTTP_ROUTE patch must disable the filter named {value['name']}")
        if patch.get("request_headers_to_remove") != L.DECISION_HEADERS:
            problems.append("HTTP_ROUTE patch must remove pumpguard's headers: " + ", ".join(L.DECISION_HEADERS))
        boot["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]["route_config"][
            "virtual_hosts"][0]["routes"].insert(0, {"match": {"prefix": "/static/"}, "route": {"cluster": "origin"},
                                                     **patch})
        validate(boot, "envoyfilter-route-bootstrap", "EnvoyFilter route patch refused by envoy --mode validate")
    if not skips:
        problems.append("EnvoyFilter should show the HTTP_ROUTE patch that skips the filter")
    # The WasmPlugin's pluginConfig, loaded by the same module.
    wp_boot = L.bootstrap([L.listener("gw", 1, [L.wasm_filter(json.dumps(wp["spec"]["pluginConfig"]), os.path.abspath(args.wasm),
                                                             hold_headers=False)])],
                          [L.cluster("origin", 2), L.cluster(sv_cluster, 3)], 4)
    validate(wp_boot, "wasmplugin-bootstrap", "WasmPlugin pluginConfig refused")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
