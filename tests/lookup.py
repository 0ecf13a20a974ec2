#!/usr/bin/env python3
"""Fake number-intelligence provider for the e2e tests: Twilio Lookup v2 shaped answers.

Follows the corpus convention of `simulated_provider` in core/src/scenario.rs, by the number's
last two digits: 99 high pumping risk (95, mobile), 98 non-fixed VoIP (risk 20), 97 unreachable
(risk 10), 96 answers only after `--slow-seconds` (a timeout), 95 HTTP 500, 94 a page that is not
JSON, 93 a risk score that is not a number, 92 an elevated risk (60, mobile); any other number
low risk (5), mobile, active.

- The number is the last path segment, percent-decoded (`/v2/PhoneNumbers/%2B14155550199`); of a
  `POST`, the `phone_number` field of its body (a form, or a JSON object), and nothing else.
- Every call is recorded: `GET /__lookup/calls` returns them (path, number, headers), so a test
  can check that a cached number was not asked twice and that the credentials arrived.
- `GET /__lookup/health` answers 200.

Usage: lookup.py --port 18090 [--slow-seconds 3]
"""

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

LOCK = threading.Lock()
CALLS = []


def answer(e164):
    """(status, body, delay seconds) for a lookup of `e164`."""
    def twilio(risk, line_type, status):
        return 200, json.dumps({
            "phone_number": e164,
            "valid": True,
            "line_type_intelligence": {"type": line_type, "carrier_name": "Fake Carrier", "error_code": None},
            "sms_pumping_risk": {"sms_pumping_risk_score": risk, "error_code": None},
            "line_status": {"status": status, "error_code": None},
        }), 0
    tail = e164[-2:]
    if tail == "99":
        return twilio(95, "mobile", "active")
    if tail == "98":
        return twilio(20, "nonFixedVoip", "active")
    if tail == "97":
        return twilio(10, "mobile", "unreachable")
    if tail == "96":
        status, body, _ = twilio(5, "mobile", "active")
        return status, body, Handler.slow_seconds
    if tail == "95":
        return 500, json.dumps({"code": 20500, "message": "Internal Server Error"}), 0
    if tail == "94":
        return 200, "<html><body>502 Bad Gateway</body></html>", 0
    if tail == "93":
        return twilio("high", "mobile", "active")
    if tail == "92":
        return twilio(60, "mobile", "active")
    return twilio(5, "mobile", "active")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    slow_seconds = 3.0

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/__lookup/health":
            return self.reply(200, b'{"ok":true}')
        if path == "/__lookup/calls":
            with LOCK:
                return self.reply(200, json.dumps(CALLS).encode())
        self.look_up(unquote(path.rstrip("/").rsplit("/", 1)[-1]))

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode("utf-8", "replace")
        if "json" in (self.headers.get("content-type") or ""):
            try:
                number = str(json.loads(body).get("phone_number", ""))
            except (ValueError, AttributeError):
                number = ""
        else:
            number = (parse_qs(body).get("phone_number") or [""])[0]
        self.look_up(number, body)

    def look_up(self, number, body=None):
        with LOCK:
            CALLS.append({
                "method": self.command,
                "path": self.path,
                "number": number,
                "body": body,
                "headers": {k.lower(): v for k, v in self.headers.items()},
            })
        status, body, delay = answer(number)
        if delay:
            time.sleep(delay)
        self.reply(status, body.encode())

    def reply(self, status, body):
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the caller gave up (a timeout): nothing to answer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slow-seconds", type=float, default=3.0)
    args = parser.parse_args()
    Handler.slow_seconds = args.slow_seconds
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"lookup provider listening on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
