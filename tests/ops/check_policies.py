#!/usr/bin/env python3
"""Every policy the project ships validates against docs/policy.schema.json, checked by
check-jsonschema (PyPI): examples/**/*.json and policies/*.json policies, the policies in the Envoy and Istio configs,
and every scenario policy the loader takes. Scenario policies the loader refuses are listed with
whether the schema refuses them too (the schema checks shape only; values are the loader's).

Usage: check_policies.py --check-jsonschema BIN [--work DIR]
"""

import argparse
import glob
import json
import os
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA = os.path.join(ROOT, "docs", "policy.schema.json")


def is_policy(doc):
    return isinstance(doc, dict) and "version" in doc and "routes" in doc


def embedded_policies(node):
    """Policies inside a config: any `policy` member, in JSON strings too (Envoy's plugin configuration)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "policy" and is_policy(value):
                yield value
            else:
                yield from embedded_policies(value)
    elif isinstance(node, list):
        for value in node:
            yield from embedded_policies(value)
    elif isinstance(node, str) and node.lstrip().startswith("{"):
        try:
            yield from embedded_policies(json.loads(node))
        except ValueError:
            pass


def shipped():
    """(name, policy) of every policy the loader must take."""
    paths = sorted(glob.glob(os.path.join(ROOT, "examples", "**", "*.json"), recursive=True))
    paths += sorted(glob.glob(os.path.join(ROOT, "policies", "*.json")))
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        if is_policy(doc):
            yield os.path.relpath(path, ROOT), doc
    configs = glob.glob(os.path.join(ROOT, "envoy", "**", "*.yaml"), recursive=True)
    for path in sorted(configs):
        with open(path) as f:
            for n, doc in enumerate(yaml.safe_load_all(f)):
                for i, policy in enumerate(embedded_policies(doc)):
                    yield f"{os.path.relpath(path, ROOT)}[{n}].policy[{i}]", policy
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "scenarios", "*.json"))):
        with open(path) as f:
            scenario = json.load(f)
        if "policy_errors" not in scenario:
            yield os.path.relpath(path, ROOT), scenario["policy"]


def refused_scenarios():
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "scenarios", "*.json"))):
        with open(path) as f:
            scenario = json.load(f)
        if "policy_errors" in scenario:
            yield os.path.relpath(path, ROOT), scenario["policy"]


def write_all(items, directory):
    os.makedirs(directory, exist_ok=True)
    files = []
    for n, (name, policy) in enumerate(items):
        path = os.path.join(directory, f"{n:04d}.json")
        with open(path, "w") as f:
            json.dump(policy, f)
        files.append((name, path))
    return files


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check-jsonschema", required=True)
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "ops-policies"))
    args = ap.parse_args()
    must_pass = write_all(list(shipped()), os.path.join(args.work, "shipped"))
    kinds = {"examples": 0, "policies": 0, "envoy": 0, "tests": 0}
    for name, _ in must_pass:
        kinds[name.split("/")[0]] += 1
    result = subprocess.run([args.check_jsonschema, "--schemafile", SCHEMA, *[p for _, p in must_pass]],
                            capture_output=True, text=True)
    if result.returncode != 0:
        names = {path: name for name, path in must_pass}
        report = result.stdout + result.stderr
        for path, name in names.items():
            report = report.replace(path, name)
        print(report)
        sys.exit(f"check-policies: shipped policies the schema refuses (see above)")
    print(f"check-policies: {len(must_pass)} policies valid against docs/policy.schema.json "
          f"({kinds['examples']} examples, {kinds['policies']} recommended, {kinds['envoy']} in Envoy/Istio configs, "
          f"{kinds['tests']} scenarios)")
    refused = write_all(list(refused_scenarios()), os.path.join(args.work, "refused"))
    caught = []
    for name, path in refused:
        run = subprocess.run([args.check_jsonschema, "--schemafile", SCHEMA, path], capture_output=True)
        if run.returncode != 0:
            caught.append(name)
    print(f"check-policies: of {len(refused)} scenario policies the loader refuses, the schema refuses "
          f"{len(caught)} by shape; the rest are refused for their values (pumpguard check names them)")


if __name__ == "__main__":
    main()
