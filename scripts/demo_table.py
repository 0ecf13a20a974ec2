"""Prints `pumpguard replay` output as a short table: one line per request."""
import json
import sys

for line in sys.stdin:
    rec = json.loads(line)
    d = rec["decision"]
    number = d["numbers"][0]["e164"] if d.get("numbers") else "-"
    enforced = [r for r in d.get("reasons", []) if r["enforced"]]
    why = ",".join(f'{r.get("rule", "input")}:{r["code"]}' for r in enforced) or "-"
    print(f'{rec["line"]:>3} {rec["path"]:<18} {number:<16} {d["action"]:<9} {d["status"]} {why}')
