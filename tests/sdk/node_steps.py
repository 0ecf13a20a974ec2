"""Runs a Node SDK's check script (tests/sdk/<sdk>/check.mjs) on a plan of named calls and hands
back what each returned, for the checks of supabase_js.py, auth0_js.py and vonage_js.py.

The script reads the steps as JSON on stdin and prints one result per step, in order; the calls
go to the host under test at `run.url`.
"""

import json
import os
import subprocess


def run_steps(run, node_dir, label, plan, *args):
    """(results by step name, origin requests the steps caused), or None once a failed check
    says why there are none: the script did not run, or did not answer every step."""
    before = len(run.origin_requests())
    proc = subprocess.run(
        ["node", os.path.join(node_dir, "check.mjs"), run.url, *args],
        input=json.dumps([{"name": n, "call": c, "args": a} for n, c, a in plan]),
        capture_output=True, text=True, timeout=60, cwd=node_dir)
    try:
        results = {r["name"]: r for r in json.loads(proc.stdout)}
    except ValueError:
        run.report(f"{label}: a result per call", False, f"exit {proc.returncode}: {proc.stderr[-2000:]}")
        return None
    if len(results) != len(plan):
        run.report(f"{label}: a result per call", False, json.dumps(results))
        return None
    return results, run.origin_requests()[before:]


def json_bodies(seen, method, path):
    """The JSON object bodies of the requests `seen` by origin with `method` at `path` (no
    query), in order; a body that is not a JSON object reads as `{}`."""
    out = []
    for r in seen:
        if r["method"] == method and r["path"].split("?")[0] == path:
            try:
                doc = json.loads(r["body"] or "{}")
            except ValueError:
                doc = {}
            out.append(doc if isinstance(doc, dict) else {})
    return out
