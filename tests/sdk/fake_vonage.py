"""A fake Vonage Verify v2 (under /v2/verify, as api.nexmo.com serves it), answering as Vonage
does so @vonage/verify2 parses its answers.

- `POST /v2/verify` (JSON, a `brand` and a `workflow` of steps, each a `channel` and a `to`):
  202 `{"request_id": "<uuid>"}` (with a `check_url` when the first step is a silent
  authentication); the request is remembered with its steps, the first one taken. A request to
  a `to` that a request still pending names is a 409, as Vonage refuses concurrent
  verifications.
- `POST /v2/verify/<request_id>/next_workflow` (no body): 200 and no body, the request moved to
  its next step; 409 when it has none left.
- `POST /v2/verify/<request_id>` with a `code`: 200 `{"request_id", "status": "completed"}`
  (any code is right).
- `DELETE /v2/verify/<request_id>`: 204, the request cancelled.

A request naming no pending request is a 404; every call needs a bearer JWT (RS256, naming an
`application_id`; its signature is not checked), else a 401. Errors are Vonage's problem
documents (`application/problem+json`: `type`, `title`, `detail`, `instance`). The only state:
the requests made. Every other path is not Vonage's (`answer` returns None); none of these is
another fake's of fake_apis.py (Twilio's are under `/v2/Services/`).
"""

import base64
import json
import threading
import uuid

PREFIX = "/v2/verify"
PROBLEM = "application/problem+json"

LOCK = threading.Lock()
# request_id -> {"workflow": [...], "step": index of the step last taken, "status": "pending" |
# "completed" | "cancelled"}
REQUESTS = {}


def problem(status, code, title, detail, **extra):
    return status, PROBLEM, {"type": f"https://developer.vonage.com/api-errors#{code}", "title": title,
                             "detail": detail, "instance": uuid.uuid4().hex, **extra}


def jwt_claims(headers):
    """The claims of the request's bearer JWT if it is one the SDK signs (RS256), else None."""
    token = headers.get("authorization", "")
    if not token.startswith("Bearer "):
        return None
    parts = token.removeprefix("Bearer ").strip().split(".")
    if len(parts) != 3:
        return None
    try:
        header, claims = (json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in parts[:2])
    except ValueError:
        return None
    if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(claims, dict):
        return None
    return claims if claims.get("application_id") else None


def pending(request_id):
    """The pending request of that id (ids are Vonage's UUIDs, matched as written), or None."""
    found = REQUESTS.get(request_id)
    return found if found and found["status"] == "pending" else None


def not_found(request_id):
    return problem(404, "not-found", "Not Found",
                   f"Request '{request_id}' was not found or it has been verified already.")


def new_request(doc):
    workflow = doc.get("workflow")
    steps = workflow if isinstance(workflow, list) else []
    invalid = []
    if not doc.get("brand"):
        invalid.append({"name": "brand", "reason": "must not be blank"})
    if not steps or any(not isinstance(s, dict) or not s.get("channel") or not s.get("to") for s in steps):
        invalid.append({"name": "workflow", "reason": "each step needs a channel and a to"})
    if invalid:
        return problem(422, "invalid-params", "Invalid params", "The value of one or more parameters is invalid",
                       invalid_parameters=invalid)
    request_id = str(uuid.uuid4())
    with LOCK:
        busy = {str(s["to"]) for r in REQUESTS.values() if r["status"] == "pending" for s in r["workflow"]}
        clash = next((str(s["to"]) for s in steps if str(s["to"]) in busy), None)
        if clash is not None:
            return problem(409, "conflict", "Conflict", "Concurrent verifications to the same number are not allowed.",
                           request_id=next(i for i, r in REQUESTS.items() if r["status"] == "pending"
                                           and any(str(s["to"]) == clash for s in r["workflow"])))
        REQUESTS[request_id] = {"workflow": steps, "step": 0, "status": "pending"}
    out = {"request_id": request_id}
    if steps[0].get("channel") == "silent_auth":
        out["check_url"] = f"https://api-eu-3.vonage.com/v2/verify/{request_id}/silent-auth/redirect"
    return 202, "application/json", out


def answer(method, path, headers, body):
    """(status, content type, body document or None) of Vonage's answer to `method` `path`, or
    None for a path not Vonage Verify's."""
    bare = path.split("?")[0].rstrip("/")
    if bare != PREFIX and not bare.startswith(PREFIX + "/"):
        return None
    if jwt_claims(headers) is None:
        return problem(401, "unauthorized", "Invalid credentials supplied",
                       "You did not provide correct credentials.")
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        return problem(400, "invalid-json", "Malformed JSON", "The request body did not contain valid JSON")
    doc = doc if isinstance(doc, dict) else {}
    rest = bare[len(PREFIX) + 1:].split("/") if bare != PREFIX else []
    if method == "POST" and not rest:
        return new_request(doc)
    if method == "POST" and len(rest) == 2 and rest[1] == "next_workflow":
        with LOCK:
            found = pending(rest[0])
            if found is None:
                return not_found(rest[0])
            if found["step"] + 1 >= len(found["workflow"]):
                return problem(409, "conflict", "Conflict", "There are no more workflows to move to.")
            found["step"] += 1
        return 200, None, None
    if method == "POST" and len(rest) == 1:
        if not doc.get("code"):
            return problem(422, "invalid-params", "Invalid params", "The value of one or more parameters is invalid",
                           invalid_parameters=[{"name": "code", "reason": "must not be blank"}])
        with LOCK:
            found = pending(rest[0])
            if found is None:
                return not_found(rest[0])
            found["status"] = "completed"
        return 200, "application/json", {"request_id": rest[0], "status": "completed"}
    if method == "DELETE" and len(rest) == 1:
        with LOCK:
            found = pending(rest[0])
            if found is None:
                return not_found(rest[0])
            found["status"] = "cancelled"
        return 204, None, None
    return problem(404, "not-found", "Not Found", "The requested resource does not exist.")
