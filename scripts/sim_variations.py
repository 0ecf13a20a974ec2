#!/usr/bin/env python3
"""Each campaign of a mix, varied one parameter at a time, against one policy: how much of the
varied campaign still reaches origin, and how many real users are refused, over a few seeds.

A policy can be fitted to the default campaigns without meaning to. This varies what an operator
would change (rate, how many addresses, IPv6 prefixes instead of servers' addresses, exits in
the numbers' countries, Tor's exits, made-up confirmations, codes really entered, real browsers, a script sending a
browser's user agent (alone, with a copied `accept-language`, or an automated Chrome under
Chrome's), a paid CAPTCHA-solving service, adaptiveness) and prints one line per
campaign and variation, min–max over the seeds, so a variation that breaks through stands out.

With --combined N it draws N campaigns no one tuned a policy on: each takes one campaign of the
mix, scales its rate and its addresses by factors drawn from a continuous range, and combines one
to three of the variations above (one per kind: addresses, exits, confirmations, client, tokens,
adaptiveness), as an operator who read the policy would stack them. Each line gives the drawn
campaign's reach over the seeds; the summary, the spread over all draws.

With --legit it varies the real users instead, the other half a policy can be fitted to: another
site's size, conversion, apps, travellers, Tor users, carriers (their IPv6 in a few /48s), offices and
campuses, a guard deployed without history. Each line then gives the real users refused and challenged, and the share of all
pumped sends reaching origin.

Usage: sim_variations.py --cli PUMPGUARD --policy POLICY.json [--mix MIX.json]
                         [--provider graded|better|none] [--edge] [--seeds 1,2,3]
                         [--only NAME] [--variation NAME] [--legit] [--hours H] [--warm-up H]
                         [--ids] [--import SHARE] [--combined N] [--draw-seed S]
                         [--jobs N] [--markdown]

--ids has siteverify name solving devices (30% of real users on 200 shared ids); a combined
draw that solves CAPTCHAs then solves on 1, 5 or 20 devices or a fresh one per solve.
--import SHARE imports that share of returning users' numbers the day before (the policy gets a
`trust_import` section for it).

--warm-up H runs every variation on a guard that has seen H hours of real users first
(`legit.warm_up_hours`): what learns from other users' traffic, such as proven pairs, holds
what a live site's would. A week (168) takes about 15 times as long.
"""

import argparse
import atexit
import copy
import hashlib
import json
import math
import os
import random
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

# Provider and edge models docs/detection.md measures against (assumptions, docs/simulator.md).
PROVIDERS = {
    "graded": {"detects": 0.9, "suspects": 0.07, "false_flags": 0.0005, "false_suspects": 0.005},
    "better": {"detects": 0.97, "suspects": 0.025, "false_flags": 0.0005, "false_suspects": 0.005},
}
EDGE = {"bots_scored_low": 0.7, "humans_scored_low": 0.01}
SOLVER_IDS = {"shared_share": 0.3, "shared_ids": 200}
# The import's path and token; the policy's section holds the token's SHA-256.
IMPORT_PATH, IMPORT_TOKEN = "/__pumpguard/trusted-numbers", "sim-import-token"

# The discrete variations a combined draw stacks, at most one of each kind (two of one kind
# contradict each other: two client disguises, two address pools). Rate and address count are
# drawn on a continuous scale instead. "all day" needs a 24-hour run: left to --variation.
KINDS = {
    "addresses": ["residential", "IPv6 /48s", "via Tor"],
    "exits": ["local exits"],
    "confirmations": ["fake confirms", "enters its codes", "enters its codes, revisits"],
    "client": ["browsers", "script as Chrome", "script as Chrome, with a language", "headless as Chrome"],
    "tokens": ["solves CAPTCHAs"],
    "adaptiveness": ["adaptive", "not adaptive"],
}


def variations(campaign):
    """(name, fields to change) for one campaign: each a thing its operator could change."""
    out = [("as is", {})]
    rate = campaign["rate_per_hour"]
    out += [("rate ÷5", {"rate_per_hour": rate / 5}), ("rate ×5", {"rate_per_hour": rate * 5})]
    pool = campaign["addresses"]
    out.append(("addresses ÷10", {"addresses": {**pool, "size": max(1, pool["size"] // 10)}}))
    out.append(("addresses ×10", {"addresses": {**pool, "size": pool["size"] * 10}}))
    if pool["access"] != "residential":
        out.append(("residential", {"addresses": {**pool, "access": "residential", "size": max(pool["size"], 500)}}))
    if pool["access"] == "datacenter":
        # Each server a routed IPv6 /48, every request from a fresh /64 of it.
        out.append(("IPv6 /48s", {"addresses": {**pool, "access": "datacenter_v6"}}))
    out.append(("local exits", {"local_exits": True}))
    if pool["access"] != "tor":
        # Tor's public exits: free, shared with every Tor user, and `T1` to the edge.
        out.append(("via Tor", {"addresses": {**pool, "access": "tor", "size": 1300}}))
    if campaign["fake_confirm_share"] == 0:
        out.append(("fake confirms", {"fake_confirm_share": 0.3}))
    if campaign.get("enters_codes_share", 0) == 0:
        # Numbers whose SMS the operator can read (its own line, or an intermediary that
        # short-stops them): most codes entered, as a user would, to keep conversion up.
        out.append(("enters its codes", {"enters_codes_share": 0.8}))
        # ... and sends again, hourly, to the numbers it confirmed: a confirmed number is trusted.
        out.append(("enters its codes, revisits", {"enters_codes_share": 0.8, "revisits_entered_share": 0.5}))
        # The same for a whole day (run with --hours 24): a confirmed number's trust lasts.
        out.append(("enters its codes, revisits, all day", {"enters_codes_share": 0.8, "revisits_entered_share": 0.5, "start_hours": 0.0, "hours": 24.0}))
    if campaign["client"].get("kind") != "browsers":
        out.append(("browsers", {"client": {"kind": "browsers"}}))
    if campaign["client"].get("client") != "python_as_chrome":
        # The cheapest disguise: a script's headers under a browser's user agent.
        out.append(("script as Chrome", {"client": {"kind": "fixed", "client": "python_as_chrome"}}))
    if campaign["client"].get("client") != "python_as_chrome_with_language":
        # The same script with a browser's accept-language copied too, but no client hints.
        out.append(("script as Chrome, with a language", {"client": {"kind": "fixed", "client": "python_as_chrome_with_language"}}))
    if campaign["client"].get("client") != "headless_as_chrome":
        # An automated Chrome whose user agent is overridden; its client hints still say headless.
        out.append(("headless as Chrome", {"client": {"kind": "fixed", "client": "headless_as_chrome"}}))
    if campaign["tokens"] != "solved":
        out.append(("solves CAPTCHAs", {"tokens": "solved"}))
    out.append(("adaptive" if not campaign["adaptive"] else "not adaptive", {"adaptive": not campaign["adaptive"]}))
    return out


def legit_variations(legit):
    """(name, fields to change) for the real users: each a way another site's users differ."""
    segments = legit["segments"]
    crowd = legit["crowds"][0] if legit["crowds"] else None
    out = [("as is", {})]
    out.append(("site ×5", {"sessions_per_day": legit["sessions_per_day"] * 5}))
    out.append(("site ÷5", {"sessions_per_day": legit["sessions_per_day"] / 5}))
    out.append(("twice the drop-off", {"segments": [{**s, "never_confirm": min(0.6, 2 * s["never_confirm"])} for s in segments]}))
    out.append(("one country", {"countries": [{"name": legit["countries"][0]["name"], "weight": 1.0}]}))
    out.append(("apps 80%", {"app_share": 0.8}))
    out.append(("all on mobile data", {"cellular_share": 0.95}))
    out.append(("travellers ×5", {"abroad_share": min(1.0, legit["abroad_share"] * 5)}))
    out.append(("Tor users 1%", {"tor_share": 0.01}))
    out.append(("offices ×3", {"office_share": min(1.0, legit["office_share"] * 3)}))
    out.append(("slow SMS", {"resend_share": min(1.0, legit["resend_share"] * 3)}))
    out.append(("impatient", {"patience_median_s": legit["patience_median_s"] / 4}))
    out.append(("no history", {"history_share": 0.0}))
    out.append(("CAPTCHA solved 90%", {"solve_share": 0.9}))
    out.append(("carrier IPv6 in few /48s", {"cellular_v6_networks": 4}))
    if crowd:
        out.append(("office ×4", {"crowds": [{**crowd, "sessions": crowd["sessions"] * 4}]}))
        campus = {**crowd, "name": crowd["name"], "sessions": 200, "addresses": 2, "never_confirm": 0.3, "hours": 2.0}
        out.append(("campus (200, 30% drop-off)", {"crowds": [campus]}))
    return out


def log_uniform(rng, low, high):
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def combined_draw(rng, base, ids):
    """One campaign no policy was tuned on: (its index in the mix, a label, the changed mix)."""
    index = rng.randrange(len(base["campaigns"]))
    campaign = copy.deepcopy(base["campaigns"][index])
    offered = dict(variations(campaign))
    rate = log_uniform(rng, 0.2, 5.0)
    size = log_uniform(rng, 0.1, 10.0)
    kinds = [k for k, names in KINDS.items() if any(n in offered for n in names)]
    chosen = []
    for kind in rng.sample(kinds, min(len(kinds), rng.randint(1, 3))):
        chosen.append(rng.choice([n for n in KINDS[kind] if n in offered]))
    if "via Tor" in chosen and "local exits" in chosen:
        # Tor's exits are where they are: an operator picks one or the other.
        chosen.remove("local exits")
    for name in chosen:
        campaign.update(copy.deepcopy(offered[name]))
    campaign["rate_per_hour"] *= rate
    pool = campaign["addresses"]
    if pool["access"] != "tor":
        pool["size"] = max(1, round(pool["size"] * size))
    label = f"rate ×{rate:.2f}, addresses ×{size:.2f}" if pool["access"] != "tor" else f"rate ×{rate:.2f}"
    # Drawn whether or not siteverify names devices, so that a run with --ids draws the same
    # campaigns as one without.
    devices = rng.choice([None, 20, 5, 1])
    if ids and campaign["tokens"] == "solved":
        campaign["solver_devices"] = devices
        chosen.append("a fresh device per solve" if devices is None else f"solves on {devices}")
    mix = copy.deepcopy(base)
    mix["campaigns"][index] = campaign
    return index, f"{campaign['name']}: " + ", ".join([label] + chosen), mix


def combined_main(a, base, seeds):
    rng = random.Random(a.draw_seed)
    draws = [combined_draw(rng, base, a.ids) for _ in range(a.combined)]

    def measure(draw):
        index, label, mix = draw
        name = mix["campaigns"][index]["name"]
        boards = [run(a.cli, a.policy, mix, seed, a.hours) for seed in seeds]
        rows = [next(c for c in b["campaigns"] if c["name"] == name) for b in boards]
        legit = [b["legit"] for b in boards]
        return label, rows, legit

    results = []
    with ThreadPoolExecutor(a.jobs) as pool:
        for label, rows, legit in pool.map(measure, draws):
            results.append((label, rows, legit))
            reach = span([100 * r["reached_share"] for r in rows], 1)
            refused = span([100 * l["sessions_refused"] / max(1, l["sessions"]) for l in legit], 3)
            if a.markdown:
                print(f"| {label} | {reach} | {refused} |", flush=True)
            else:
                print(f"{label:100} reaching origin {reach:>12}   real refused {refused:>14}", flush=True)
    sends = sum(r["sends"] for _, rows, _ in results for r in rows)
    reached = sum(r["reached_origin"] for _, rows, _ in results for r in rows)
    worst = [max(r["reached_share"] for r in rows) for _, rows, _ in results]
    sessions = sum(l["sessions"] for _, _, legit in results for l in legit)
    refused = sum(l["sessions_refused"] for _, _, legit in results for l in legit)
    over = sum(1 for w in worst if w > 0.05)
    # Pooled, a loud draw outweighs a quiet one; the median draw says what a typical one gets.
    means = sorted(sum(r["reached_share"] for r in rows) / len(rows) for _, rows, _ in results)
    median = means[len(means) // 2]
    print(
        f"{len(results)} draws × {len(seeds)} seeds: {reached} of {sends} drawn campaigns' sends reached origin "
        f"({100 * reached / max(1, sends):.2f}% pooled, median draw {100 * median:.1f}%); "
        f"a draw over 5% on some seed: {over}; worst {100 * max(worst):.1f}%; "
        f"real users refused {100 * refused / max(1, sessions):.3f}% pooled"
    )


def run(cli, policy, mix, seed, hours):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(mix, f)
        path = f.name
    try:
        args = [cli, "simulate", "--policy", policy, "--mix", path, "--seed", str(seed), "--json", "-"]
        if hours:
            args += ["--hours", str(hours)]
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        return json.loads(out)
    finally:
        os.unlink(path)


def span(values, digits):
    lo, hi = min(values), max(values)
    return f"{lo:.{digits}f}%" if round(lo, digits) == round(hi, digits) else f"{lo:.{digits}f}–{hi:.{digits}f}%"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cli", required=True)
    ap.add_argument("--policy", required=True)
    ap.add_argument("--mix")
    ap.add_argument("--provider", choices=["graded", "better", "none"], default="none")
    ap.add_argument("--edge", action="store_true", help="the edge scores requests (70%% of bots, 1%% of people low)")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--only", help="vary this campaign only (with --legit: this variation only)")
    ap.add_argument("--variation", help="this variation of each campaign only")
    ap.add_argument("--legit", action="store_true", help="vary the real users instead of the campaigns")
    ap.add_argument("--hours", type=float)
    ap.add_argument("--warm-up", type=float, help="hours of real users before the period, never scored")
    ap.add_argument("--ids", action="store_true", help="siteverify names solving devices (30%% of people on 200 shared ids)")
    ap.add_argument("--import", dest="import_share", type=float, help="the site imports this share of returning users' numbers")
    ap.add_argument("--combined", type=int, help="draw this many campaigns combining several variations")
    ap.add_argument("--draw-seed", type=int, default=1, help="seed of the combined draws (not of the runs)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()

    if a.mix:
        base = json.load(open(a.mix))
    else:
        base = json.loads(subprocess.run([a.cli, "simulate", "--print-mix"], check=True, capture_output=True, text=True).stdout)
    if a.provider != "none":
        base["number_intel"] = PROVIDERS[a.provider]
    if a.edge:
        base["edge_bot_score"] = EDGE
    if a.warm_up:
        base["legit"]["warm_up_hours"] = a.warm_up
    if a.ids:
        base["captcha_solver_ids"] = SOLVER_IDS
    if a.import_share is not None:
        base["trust_import"] = {"path": IMPORT_PATH, "token": IMPORT_TOKEN, "share": a.import_share}
        policy = json.load(open(a.policy))
        policy["trust_import"] = {"path": IMPORT_PATH, "token_sha256": hashlib.sha256(IMPORT_TOKEN.encode()).hexdigest()}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(policy, f)
        a.policy = f.name
        atexit.register(os.unlink, f.name)
    seeds = [int(s) for s in a.seeds.split(",")]

    if a.combined:
        return combined_main(a, base, seeds)
    if a.legit:
        return legit_main(a, base, seeds)
    jobs = []
    for i, campaign in enumerate(base["campaigns"]):
        if a.only and campaign["name"] != a.only:
            continue
        for name, change in variations(campaign):
            if a.variation and name != a.variation:
                continue
            mix = copy.deepcopy(base)
            mix["campaigns"][i].update(change)
            jobs.append((campaign["name"], name, mix))
    if not jobs:
        sys.exit(f"no campaign named {a.only!r} with a variation named {a.variation!r} in the mix")

    def measure(job):
        campaign, name, mix = job
        boards = [run(a.cli, a.policy, mix, seed, a.hours) for seed in seeds]
        reach = [100 * next(c for c in b["campaigns"] if c["name"] == campaign)["reached_share"] for b in boards]
        refused = [100 * b["legit"]["sessions_refused"] / max(1, b["legit"]["sessions"]) for b in boards]
        return campaign, name, span(reach, 1), span(refused, 3)

    if a.markdown:
        print("| campaign | variation | reaching origin | real users refused |\n|---|---|---|---|")
    with ThreadPoolExecutor(a.jobs) as pool:
        for campaign, name, reach, refused in pool.map(measure, jobs):
            if a.markdown:
                print(f"| `{campaign}` | {name} | {reach} | {refused} |", flush=True)
            else:
                print(f"{campaign:18} {name:16} reaching origin {reach:>12}   real refused {refused:>14}", flush=True)


def legit_main(a, base, seeds):
    jobs = []
    for name, change in legit_variations(base["legit"]):
        if a.only and name != a.only:
            continue
        mix = copy.deepcopy(base)
        mix["legit"].update(change)
        jobs.append((name, mix))
    if not jobs:
        sys.exit(f"no real-user variation named {a.only!r}")

    def measure(job):
        name, mix = job
        boards = [run(a.cli, a.policy, mix, seed, a.hours) for seed in seeds]
        share = lambda b, key: 100 * b["legit"][key] / max(1, b["legit"]["sessions"])
        refused = [share(b, "sessions_refused") for b in boards]
        challenged = [share(b, "sessions_challenged") for b in boards]
        reach = [100 * b["pumped"]["reached_share"] for b in boards]
        worst = max((b["legit"]["sessions_refused"], b["seed"]) for b in boards)
        return name, span(refused, 3), span(challenged, 2), span(reach, 2), worst

    if a.markdown:
        print("| variation | real users refused | challenged | pumped reaching origin |\n|---|---|---|---|")
    with ThreadPoolExecutor(a.jobs) as pool:
        for name, refused, challenged, reach, (count, seed) in pool.map(measure, jobs):
            if a.markdown:
                print(f"| {name} | {refused} | {challenged} | {reach} |", flush=True)
            else:
                print(f"{name:28} refused {refused:>14} ({count} on seed {seed})   challenged {challenged:>12}   pumped reaching {reach:>12}", flush=True)


if __name__ == "__main__":
    main()
