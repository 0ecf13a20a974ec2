#!/usr/bin/env python3
"""Checks envoy/istio/: both manifests parse, pin the module by sha256 (the pin script writes the
built module's digest into copies), the EnvoyFilter's ECDS Wasm config sets
allow_on_headers_stop_iteration and validates in a real Envoy (with the remote module swapped
for the local build), its route patch disables that filter and removes pumpguard's headers in a
route Envoy accepts, and the WasmPlugin's pluginConfig is a valid plugin configuration. The
metrics patch (metrics.yaml) is checked live: an Envoy with Istio's stats settings exports
pumpguard's counters without labels, and with the patch merged into its bootstrap, with them.

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
import urllib.request

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

# Istio's proxies keep only the stats their inclusion list names ("wasm" among the prefixes it
# always adds) and run their own tag extractors, some unanchored; a bootstrap patch is merged into
# that bootstrap, its stats_tags appended, as `--config-yaml` merges into `-c`.
ISTIO_STATS = {
    "use_all_default_tags": False,
    "stats_tags": [
        {"tag_name": "component", "regex": r"(component\.(.+?)\.)"},
        {"tag_name": "wasm_filter", "regex": r"(wasm_filter\.(.+?)\.)"},
        {"tag_name": "response_code", "regex": r"_rq(_(\d{3}))$"},
    ],
    "stats_matcher": {"inclusion_list": {"patterns": [{"prefix": p} for p in (
        "reporter=", "cluster_manager", "listener_manager", "server", "cluster.xds-grpc", "wasm", "component",
        "istio")]}},
}


def scrape_after_one_request(patch):
    """One judged request through an Envoy with Istio's stats settings (and `patch` merged into
    its bootstrap, if any); its /stats/prometheus lines that name pumpguard."""
    port, admin = L.free_port(), L.free_port()
    policy = {"version": 1, "default_region": "US",
              "routes": [{"id": "otp", "kind": "send", "match": {"path": {"exact": "/api/otp"}},
                          "extract": {"json_keys": ["phone"]}}],
              "rules": [{"id": "abroad", "action": "log", "client_country": {}}]}
    boot = L.bootstrap([L.listener("gw", port, [L.wasm_filter(L.plugin_config(policy, "gw"),
                                                              os.path.abspath(args.wasm))], direct=True)], [], admin)
    boot["stats_config"] = ISTIO_STATS
    path = os.path.join(work, "istio-stats.json")
    json.dump(boot, open(path, "w"))
    argv = [args.envoy, "-c", path, "--base-id", str(admin), "--disable-hot-restart", "--concurrency", "1"]
    if patch is not None:
        argv += ["--config-yaml", json.dumps(patch)]
    procs = L.Procs(os.path.join(work, "logs"))
    try:
        procs.start("envoy-istio-stats", argv)
        L.wait_envoy_ready(admin, procs, "envoy-istio-stats")
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/otp", data=b'{"phone": "+14155550123"}',
                                     headers={"content-type": "application/json", "cf-ipcountry": "US"})
        urllib.request.urlopen(req, timeout=10).read()
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats/prometheus", timeout=10) as r:
            return [line for line in r.read().decode().splitlines() if "pumpguard" in line and not line.startswith("#")]
    finally:
        procs.stop()


metrics = list(yaml.safe_load_all(open(os.path.join(L.ROOT, "envoy/istio/metrics.yaml"))))
boot_patches = [p for p in metrics[0]["spec"]["configPatches"] if p["applyTo"] == "BOOTSTRAP"]
if len(boot_patches) != 1 or boot_patches[0]["patch"]["operation"] != "MERGE":
    problems.append("metrics.yaml needs one BOOTSTRAP MERGE patch")
else:
    patch = boot_patches[0]["patch"]["value"]
    if patch["stats_config"]["stats_tags"] != L.STATS_TAGS:
        problems.append("metrics.yaml must carry the stats_tags of envoy/envoy.yaml")
    bare = scrape_after_one_request(None)
    if not any(line.startswith("pumpguard_decisions_plugin_gw_") for line in bare):
        problems.append("without the patch, expected unlabelled pumpguard counters:\n" + "\n".join(bare))
    tagged = scrape_after_one_request(patch)
    want = ['pumpguard_decisions{plugin="gw",action="allow",reason="none",rule="none",country="US",mode="enforced"} 1',
            'pumpguard_inputs{plugin="gw",input="client_country",state="present"} 1']
    missing = [w for w in want if w not in tagged]
    if missing:
        problems.append("with the metrics patch, expected " + "; ".join(missing) + " in:\n" + "\n".join(tagged))

for p in problems:
    print(p)
sys.exit(1 if problems else 0)
