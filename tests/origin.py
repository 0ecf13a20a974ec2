#!/usr/bin/env python3
"""Test and demo origin: the upstream behind Envoy and the Worker.

- Answers every request with the status in `x-test-origin-status` (default 200), the extra
  headers of `x-test-origin-headers` (a JSON object) and the body in `x-test-origin-body` (else
  its own JSON), so scenarios can script what a confirm route's origin answers.
- Copies every `x-pumpguard-*` request header into its response, so a test sees what the guard
  forwarded, and marks its own answers with `x-test-origin: ok` (local replies of the guard lack
  it).
- Reads the whole body (Content-Length or chunked) and appends one JSON line per request to
  `--log`, so a test can check that origin saw nothing of a blocked request.
- `GET /__origin/requests` returns the recorded requests; `GET /__origin/health` answers 200.

- `--cors ORIGIN`: answers as a site's API does for pages of that origin: a preflight
  (`OPTIONS` with `access-control-request-method`) with the methods and headers it allows, and
  every answer with `access-control-allow-origin`.

- `--demo`: also prints `would send SMS to <number>` for every request whose JSON or form body
  has a `phone` field (the demo's OTP endpoint), and `code confirmed for <number>` on
  `/api/otp/verify`.

Usage: origin.py --port 18080 [--log FILE] [--demo]
"""

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
SEEN = []


def read_body(handler):
    if handler.headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size_line = handler.rfile.readline().strip()
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                # Trailers end with an empty line.
                while handler.rfile.readline().strip():
                    pass
                return body
            body += handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("content-length") or 0)
    return handler.rfile.read(length) if length else b""


def demo_phone(headers, body):
    text = body.decode("utf-8", "replace")
    ctype = headers.get("content-type", "")
    try:
        if "json" in ctype:
            value = json.loads(text).get("phone")
        else:
            from urllib.parse import parse_qs
            value = (parse_qs(text).get("phone") or [None])[0]
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


class Server(ThreadingHTTPServer):
    # Load tests open many connections at once; the default listen backlog of 5 drops some.
    request_queue_size = 128


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log_path = None
    demo = False
    cors = None

    def log_message(self, fmt, *args):
        pass

    def handle_any(self):
        body = read_body(self)
        if self.path == "/__origin/health":
            return self.reply(200, b'{"ok":true}', [])
        if self.path == "/__origin/requests":
            with LOCK:
                data = json.dumps(SEEN).encode()
            return self.reply(200, data, [])
        if self.cors and self.command == "OPTIONS" and self.headers.get("access-control-request-method"):
            return self.reply(204, b"", self.cors_headers() + [
                ("access-control-allow-methods", "POST"),
                ("access-control-allow-headers", self.headers.get("access-control-request-headers", "")),
                ("access-control-max-age", "600")])
        record = {
            "method": self.command,
            "path": self.path,
            "headers": [[k.lower(), v] for k, v in self.headers.items()],
            "body": body.decode("utf-8", "replace"),
        }
        with LOCK:
            SEEN.append(record)
            if self.log_path:
                with open(self.log_path, "a", encoding="utf-8") as log:
                    log.write(json.dumps(record) + "\n")
        if self.demo:
            phone = demo_phone(self.headers, body)
            if phone:
                what = "code confirmed for" if self.path.startswith("/api/otp/verify") else "would send SMS to"
                print(f"origin: {what} {phone} (pumpguard: {self.headers.get('x-pumpguard-decision', '-')}, "
                      f"country {self.headers.get('x-pumpguard-country', '-')})", flush=True)
        status = int(self.headers.get("x-test-origin-status") or 200)
        reflected = [(k, v) for k, v in self.headers.items() if k.lower().startswith("x-pumpguard-")]
        reflected.append(("x-test-origin", "ok"))
        # Scenario responses of confirm routes: extra headers and a body of the test's choosing.
        extra = self.headers.get("x-test-origin-headers")
        if extra:
            reflected.extend(json.loads(extra).items())
        reflected.extend(self.cors_headers())
        answer = self.headers.get("x-test-origin-body")
        answer = answer.encode() if answer is not None else json.dumps({"origin": "ok", "received_bytes": len(body)}).encode()
        self.reply(status, answer, reflected)

    def cors_headers(self):
        return [("access-control-allow-origin", self.cors), ("vary", "Origin")] if self.cors else []

    def reply(self, status, body, headers):
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log")
    parser.add_argument("--demo", action="store_true", help="print the SMS the OTP endpoint would send")
    parser.add_argument("--cors", help="the origin of pages that call this API from another origin")
    args = parser.parse_args()
    Handler.log_path = args.log
    Handler.demo = args.demo
    Handler.cors = args.cors
    server = Server(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"origin listening on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
