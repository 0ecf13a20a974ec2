#!/usr/bin/env python3
"""Simulates an hour of the default mix against the example policy, then opens the HTML report
in headless Chromium and checks what it rendered: the screenshot must show the charts' colours
(allowed, throttled and blocked bars of the timelines, the rule bars), and the page must need
nothing from the network (Chromium runs with networking pointed nowhere). The same for the
report `replay --report` draws from the simulated traffic, without ground truth.

Usage: report_check.py --cli PUMPGUARD [--work DIR] [--chromium BIN]
Leaves report.html, replay.html and their .png screenshots in DIR to look at.
"""

import argparse
import os
import shutil
import struct
import subprocess
import sys
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Colours the report draws with (sim/src/report.rs).
COLOURS = {
    "allowed bars": (0x4C, 0xAF, 0x50),
    "throttled bars": (0xFB, 0x8C, 0x00),
    "blocked bars": (0xE5, 0x39, 0x35),
    "rule bars": (0x5C, 0x6B, 0xC0),
}


def read_png(path):
    """Width, height and RGB(A) rows of an 8-bit non-interlaced PNG (what Chromium writes)."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG (depth {depth}, colour type {colour}, interlace {interlace})")
    bpp = 4 if colour == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif f == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif f == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(line)
        prev = line
    return width, height, bpp, rows


def count_colours(path):
    width, height, bpp, rows = read_png(path)
    wanted = {rgb: 0 for rgb in COLOURS.values()}
    for line in rows:
        for x in range(0, width * bpp, bpp):
            rgb = (line[x], line[x + 1], line[x + 2])
            if rgb in wanted:
                wanted[rgb] += 1
    return width, height, wanted


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "sim", "check"))
    ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    report = os.path.join(args.work, "report.html")
    replay = os.path.join(args.work, "replay.html")
    traffic = os.path.join(args.work, "traffic.jsonl")
    policy = os.path.join(ROOT, "examples/policy.json")
    r = subprocess.run([args.cli, "simulate", "--policy", policy, "--seed", "1", "--hours", "1", "--report", report,
                        "--out", traffic], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL simulate exited {r.returncode}\n{r.stdout}\n{r.stderr}")
        sys.exit(1)
    print(r.stdout, end="")
    r = subprocess.run([args.cli, "replay", "--policy", policy, "--report", replay, traffic], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL replay exited {r.returncode}\n{r.stderr[-2000:]}")
        sys.exit(1)
    failed = False
    for page_path in [report, replay]:
        failed |= not check_page(args, page_path)
    print(f"report-check: {'FAILED' if failed else 'ok'} (screenshots in {args.work})")
    sys.exit(1 if failed else 0)


def check_page(args, page_path):
    png = page_path[:-len(".html")] + ".png"
    if os.path.exists(png):
        os.remove(png)
    profile = os.path.join(args.work, "chromium-profile")
    r = subprocess.run([args.chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={profile}", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                        "--window-size=1200,2200", "--force-device-scale-factor=0.5", f"--screenshot={png}",
                        "file://" + os.path.abspath(page_path)], capture_output=True, text=True, timeout=120)
    name = os.path.basename(page_path)
    if r.returncode != 0 or not os.path.exists(png):
        print(f"FAIL {name}: chromium exited {r.returncode} without a screenshot\n{r.stderr[-2000:]}")
        return False
    width, height, counts = count_colours(png)
    ok_all = True
    for what, rgb in COLOURS.items():
        ok = counts[rgb] >= 30
        ok_all &= ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {what}: {counts[rgb]} pixels of #{'%02x%02x%02x' % rgb} in the {width}x{height} screenshot")
    page = open(page_path, encoding="utf-8").read()
    for fetch in ["<script", "<link", "src=", "href=", "url("]:
        if fetch in page:
            ok_all = False
            print(f"FAIL {name}: the page would fetch or run something: {fetch!r}")
    return ok_all


if __name__ == "__main__":
    main()
