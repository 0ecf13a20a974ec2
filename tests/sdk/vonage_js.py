"""Vonage's Verify v2 Node SDK (@vonage/verify2, pinned by tests/sdk/vonage/package-lock.json), as a
site's backend calls it through the guard (an egress proxy), in front of the fake Vonage of
fake_vonage.py.

tests/sdk/vonage/check.mjs runs the calls on one Verify2 client given the guard's URL as its
`apiHost`, authenticating as a Vonage application (an RS256 JWT of a key made for the run). What
the checks hold the guard to: a request (`newRequest`) reaches Vonage once and the SDK returns
its `requestId`; every workflow step's `to` is read as Vonage reads it (E.164 digits without
`+`), a second step's number too; a refusal is the SDK's VetchError whose response is a problem
document (`application/problem+json`, `type` `#forbidden` or `#throttled`, the guard's reason,
rule and wait in `detail` and beside it), after one request, and reaches Vonage never; a
workflow of e-mails alone passes although the policy refuses numberless requests
(`inputs.on_no_number: block`); the request's next step (`nextWorkflow`, naming the request in
its path) is judged as a send to the number the request carried, a workflow texting a number
and then calling it carrying that one number (the SDK swallows its refusal: false); the code's check (a confirm) and a cancel pass; Vonage's own errors reach the SDK as
Vonage wrote them.
"""

import json

import node_steps

NIGERIA = "2348031234567"
EMAIL = "ada@example.com"


def us(n):
    """A US number as Vonage wants it: E.164 digits without `+`."""
    return f"1415555{n:04d}"


def steps():
    return [
        ("newRequest", "newRequest", {"workflow": [{"channel": "sms", "to": us(901)}], "as": "us"}),
        ("newRequest to Nigeria", "newRequest", {"workflow": [{"channel": "sms", "to": NIGERIA}]}),
        ("newRequest whose voice step is Nigerian", "newRequest",
         {"workflow": [{"channel": "sms", "to": us(902)}, {"channel": "voice", "to": NIGERIA}]}),
        ("newRequest by e-mail only", "newRequest", {"workflow": [{"channel": "email", "to": EMAIL}], "as": "email"}),
        ("newRequest with no step", "newRequest", {"workflow": []}),
        ("nextWorkflow", "nextWorkflow", {"request": "us"}),
        ("checkCode", "checkCode", {"request": "us", "code": "1234"}),
        ("newRequest again at once", "newRequest", {"workflow": [{"channel": "sms", "to": us(901)}]}),
        ("cancel the e-mail request", "cancel", {"request": "email"}),
        ("newRequest texting, then calling one number", "newRequest",
         {"workflow": [{"channel": "sms", "to": us(903)}, {"channel": "voice", "to": us(903)}], "as": "fallback"}),
        ("nextWorkflow to the call", "nextWorkflow", {"request": "fallback"}),
    ]


def bodies(seen, method, path):
    return node_steps.json_bodies(seen, method, path)


def refusal_ok(answer_type, reason, rule, body, retry_header):
    """Whether `body` is the guard's problem document for `reason` under `rule`."""
    named = f"(pumpguard: {reason}, rule {rule}"
    wait = body.get("retry_after")
    return (body.get("type") == f"https://developer.vonage.com/api-errors#{answer_type}"
            and body.get("instance") == "pumpguard" and bool(body.get("title"))
            and named in str(body.get("detail", ""))
            and body.get("error") == reason and body.get("rule") == rule
            and (answer_type != "throttled"
                 or (isinstance(wait, int) and f"retry after {wait} s)" in body["detail"]
                     and retry_header == str(wait))))


def run(run, node_dir):
    report = run.report
    plan = steps()
    ran = node_steps.run_steps(run, node_dir, "vonage-verify2", plan)
    if ran is None:
        return
    results, seen = ran

    def passed(name, extra=True):
        r = results[name]
        report(f"vonage-verify2 {name}: reached Vonage, no error, one request",
               r["error"] is None and r["attempts"] == 1 and extra, json.dumps(r))

    def refused(name, status, answer_type, reason, rule):
        r = results[name]
        e = r["error"] or {}
        answer = (r["answers"] or [{}])[0]
        report(f"vonage-verify2 {name}: VetchError {status} #{answer_type} naming {reason}, rule {rule}, "
               "one request",
               e.get("name") == "VetchError" and e.get("status") == status
               and e.get("message") == f"Request failed with status code {status}"
               and str(e.get("contentType", "")).startswith("application/problem+json")
               and refusal_ok(answer_type, reason, rule, e.get("body") or {}, answer.get("retryAfter"))
               and r["attempts"] == 1,
               json.dumps(r))

    requested = bodies(seen, "POST", "/v2/verify")
    sent_to = [[s.get("to") for s in b.get("workflow") or []] for b in requested]
    request_id = (results["newRequest"]["data"] or {}).get("requestId")
    passed("newRequest", bool(request_id) and sent_to.count([us(901)]) == 1)
    refused("newRequest to Nigeria", 403, "forbidden", "country_not_allowed", "geo")
    refused("newRequest whose voice step is Nigerian", 403, "forbidden", "country_not_allowed", "geo")
    passed("newRequest by e-mail only", bool((results["newRequest by e-mail only"]["data"] or {}).get("requestId"))
           and [EMAIL] in sent_to)
    # No step, no number: it sends nothing, the guard leaves it to Vonage, whose own problem
    # document (422) reaches the SDK as Vonage wrote it.
    r = results["newRequest with no step"]
    e = r["error"] or {}
    report("vonage-verify2 newRequest with no step: reached Vonage, its own 422 problem document, one request",
           e.get("name") == "VetchError" and e.get("status") == 422
           and (e.get("body") or {}).get("type") == "https://developer.vonage.com/api-errors#invalid-params"
           and "error" not in (e.get("body") or {}) and r["attempts"] == 1 and [] in sent_to,
           json.dumps(r))
    report("vonage-verify2 refused requests never reached Vonage",
           not any(NIGERIA in to for to in sent_to) and sent_to.count([us(901)]) == 1, json.dumps(sent_to))

    # The request's next step sends again, to the number the request carried: counted against it,
    # it is over the per-number limit the request itself used. The SDK answers false for any
    # error; the answer it swallowed is the guard's.
    r = results["nextWorkflow"]
    answer = (r["answers"] or [{}])[0]
    report("vonage-verify2 nextWorkflow: judged as a send to the request's number, refused 429 #throttled "
           "per-number (the SDK answers false), one request",
           r["data"] is False and r["error"] is None and r["attempts"] == 1 and answer.get("status") == 429
           and answer.get("path") == f"/v2/verify/{request_id}/next_workflow"
           and refusal_ok("throttled", "rate_limited", "per-number", answer.get("body") or {},
                          answer.get("retryAfter")),
           json.dumps(r))
    # A workflow texting a number, then calling it, carries that one number: its next step (the
    # call) is a send to it too.
    passed("newRequest texting, then calling one number", sent_to.count([us(903), us(903)]) == 1)
    r = results["nextWorkflow to the call"]
    answer = (r["answers"] or [{}])[0]
    report("vonage-verify2 nextWorkflow to the call: judged as a send to the number, refused 429 #throttled "
           "per-number (the SDK answers false), one request",
           r["data"] is False and r["attempts"] == 1 and answer.get("status") == 429
           and refusal_ok("throttled", "rate_limited", "per-number", answer.get("body") or {},
                          answer.get("retryAfter")),
           json.dumps(r))
    nexts = [q for q in seen if q["path"].split("?")[0].endswith("/next_workflow")]
    report("vonage-verify2 refused nextWorkflow never reached Vonage", not nexts, json.dumps(nexts))

    checks = bodies(seen, "POST", f"/v2/verify/{request_id}")
    passed("checkCode", results["checkCode"]["data"] == "completed" and checks == [{"code": "1234"}])
    refused("newRequest again at once", 429, "throttled", "rate_limited", "per-number")
    email_id = (results["newRequest by e-mail only"]["data"] or {}).get("requestId")
    cancels = [q for q in seen if q["method"] == "DELETE"]
    passed("cancel the e-mail request", results["cancel the e-mail request"]["data"] is True
           and [q["path"] for q in cancels] == [f"/v2/verify/{email_id}"])
