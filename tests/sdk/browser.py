"""A page of the real-SDK tier in headless Chromium: served by fake_apis.py under /page/ through the
guard, it runs an SDK and posts its results to /page/results?run=N, which origin records.

Results are posted rather than read from the DOM because Chromium's virtual time (what
`--dump-dom` waits with) runs an SDK's network timeouts while its calls are still in flight.
"""

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse

RUNS = [0]
HERE = os.path.dirname(os.path.abspath(__file__))


def copy_page(name, page_dir, served_as, replace=None):
    """Copies tests/sdk/NAME to PAGE_DIR/SERVED_AS (each `replace` key put by its value), with
    the pages' shared reporting module."""
    os.makedirs(page_dir, exist_ok=True)
    shutil.copy(os.path.join(HERE, "page-results.js"), os.path.join(page_dir, "page-results.js"))
    with open(os.path.join(HERE, name)) as f:
        page = f.read()
    for key, value in (replace or {}).items():
        page = page.replace(key, value)
    with open(os.path.join(page_dir, served_as), "w") as f:
        f.write(page)


def run_page(run, chromium, profile, page, params, timeout_s=60):
    """Opens /page/PAGE?PARAMS&run=N through the guard (`run.url`) with a fresh profile; returns
    what the page posted. The browser is stopped by process group once the results arrive."""
    shutil.rmtree(profile, ignore_errors=True)
    RUNS[0] += 1
    tag = str(RUNS[0])
    query = urllib.parse.urlencode({**params, "run": tag})
    argv = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
            f"{run.url}/page/{page}?{query}"]
    log_path = os.path.join(os.path.dirname(profile), "chromium.log")
    with open(log_path, "w") as log:
        browser = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                for r in run.origin_requests():
                    if r.get("method") == "POST" and r.get("path") == f"/page/results?run={tag}":
                        return json.loads(r.get("body") or "null")
                if browser.poll() is not None:
                    raise RuntimeError(f"chromium exited {browser.returncode} (its log: {log_path})")
                time.sleep(0.2)
            raise RuntimeError(f"{page} posted no results within {timeout_s} s (chromium log: {log_path})")
        finally:
            try:
                os.killpg(browser.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            browser.wait(timeout=30)
