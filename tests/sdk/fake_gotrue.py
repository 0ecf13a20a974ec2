"""A fake Supabase Auth (GoTrue) under /auth/v1/, answering as GoTrue does so supabase-js parses
its answers: a project with phone sign-in on and phone confirmation required.

- `POST /otp`: `{"message_id"}` for a phone (the code went by SMS), `{}` for an e-mail address.
- `POST /signup` with a phone: the new user, unconfirmed (GoTrue answers a user, no session).
- `POST /verify` (`type` `sms` or `phone_change`): a session whose access token names the
  phone's user by `sub` (any code is right).
- `PUT /user`: the user its bearer token names, with `new_phone` when the call asked for one.
- `GET /reauthenticate`, `POST /resend`: `{}`.
- `POST /factors` (a phone factor): the factor; `POST /factors/<id>/challenge`: a challenge.

GoTrue stores phones without their `+` (its `formatPhoneNumber`), and so does the fake.
"""

import base64
import json
import time
import uuid

PREFIX = "/auth/v1/"


def unsigned_jwt(claims):
    def segment(doc):
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")
    return f"{segment({'alg': 'HS256', 'typ': 'JWT'})}.{segment(claims)}.c2lnbmF0dXJl"


def user_id(phone):
    """The id GoTrue gives the user of a phone (stable per number, as a row would be)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "gotrue:" + phone))


def stored_phone(value):
    """The phone as GoTrue stores it: one leading `+` and the spaces dropped."""
    return str(value or "").removeprefix("+").replace(" ", "")


def user(uid, phone, **extra):
    now = "2026-01-01T00:00:00Z"
    return {"id": uid, "aud": "authenticated", "role": "authenticated", "email": "", "phone": phone,
            "app_metadata": {"provider": "phone", "providers": ["phone"]}, "user_metadata": {},
            "identities": [], "created_at": now, "updated_at": now, "is_anonymous": False, **extra}


def bearer_claims(headers):
    token = headers.get("authorization", "").removeprefix("Bearer ").strip()
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}


def session(uid, phone):
    now = int(time.time())
    claims = {"sub": uid, "aud": "authenticated", "role": "authenticated", "phone": phone,
              "iat": now, "exp": now + 3600, "session_id": str(uuid.uuid4()), "aal": "aal1"}
    return {"access_token": unsigned_jwt(claims), "token_type": "bearer", "expires_in": 3600,
            "expires_at": now + 3600, "refresh_token": "refresh-" + uid[:8],
            "user": user(uid, phone, phone_confirmed_at="2026-01-01T00:00:00Z")}


def answer(method, path, headers, doc):
    """(status, body) of GoTrue's answer to `method` `path` (under /auth/v1/), or None."""
    if not path.startswith(PREFIX):
        return None
    call = path.removeprefix(PREFIX).split("?")[0].strip("/")
    if method == "POST" and call == "otp":
        return 200, ({"message_id": "SM" + uuid.uuid4().hex} if doc.get("phone") else {})
    if method == "POST" and call == "signup":
        phone = stored_phone(doc.get("phone"))
        return 200, user(user_id(phone), phone, confirmation_sent_at="2026-01-01T00:00:00Z")
    if method == "POST" and call == "verify":
        phone = stored_phone(doc.get("phone"))
        return 200, session(user_id(phone), phone)
    if method == "PUT" and call == "user":
        claims = bearer_claims(headers)
        extra = {"new_phone": stored_phone(doc["phone"])} if doc.get("phone") else {}
        return 200, user(str(claims.get("sub", "")), str(claims.get("phone", "")), **extra)
    if (method == "GET" and call == "reauthenticate") or (method == "POST" and call == "resend"):
        return 200, {}
    if method == "POST" and call == "factors":
        return 200, {"id": str(uuid.uuid4()), "type": "phone", "friendly_name": doc.get("friendly_name", ""),
                     "phone": stored_phone(doc.get("phone"))}
    parts = call.split("/")
    if method == "POST" and len(parts) == 3 and parts[0] == "factors" and parts[2] == "challenge":
        return 200, {"id": str(uuid.uuid4()), "type": "phone", "expires_at": int(time.time()) + 300}
    return 404, {"code": 404, "error_code": "not_found", "msg": "no such call in the fake"}
