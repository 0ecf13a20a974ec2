"""A fake Auth0 tenant (the Authentication API at the root of its domain, DOMAIN), answering as
Auth0 does so @auth0/auth0-auth-js parses its answers: SMS and e-mail passwordless connections,
and users whose password sign-in requires MFA.

- `GET /.well-known/openid-configuration`: discovery, issuer `https://DOMAIN/` and every endpoint
  on that domain (the SDK's token calls go through openid-client, which checks the issuer);
  `GET /.well-known/jwks.json`: an empty key set (nothing here verifies a signature).
- `POST /passwordless/start` (JSON or form): the passwordless request, as Auth0 answers it.
- `POST /otp/challenge`: a database connection's passwordless challenge (phone or e-mail),
  answering the opaque `auth_session` its code is exchanged under.
- `POST /oauth/token` (form-encoded, as openid-client sends it): the passwordless OTP grant
  (any code is right; by `username` and `realm`, or by a challenge's `auth_session`) and the MFA grants (`mfa-oob`, `mfa-otp`) answer tokens, with an ID token
  when the scope asks for `openid` (unsigned-looking RS256: openid-client checks its claims and
  algorithm, not its signature, on a token endpoint's answer); the password grant answers 403
  `mfa_required` with an opaque `mfa_token`.
- `POST /mfa/associate` (bearer: the `mfa_token`): an SMS or voice factor's enrolment answers
  `oob` with an `oob_code` (and recovery codes on the user's first factor), an app's `otp`
  with its secret and barcode URI; `GET /mfa/authenticators`: the factors enrolled under the
  token; `POST /mfa/challenge`: `oob` with an `oob_code` for an SMS factor, `otp` for an app.

Errors are Auth0's OAuth errors (`{"error", "error_description"}`). The only state: the factors
enrolled per `mfa_token`, and whom each challenge's session names. Every other path is not Auth0's (`answer` returns None), so the fake
answers no path another fake of fake_apis.py does.
"""

import base64
import hashlib
import json
import threading
import time
import urllib.parse
import uuid

# The tenant's domain as the SDK is given it; the SDK's calls reach the guard through a
# customFetch rewriting https://DOMAIN (tests/sdk/auth0/check.mjs).
DOMAIN = "pumpguard-test.us.auth0.com"
ISSUER = f"https://{DOMAIN}/"

PASSWORDLESS_OTP = "http://auth0.com/oauth/grant-type/passwordless/otp"
MFA_GRANTS = ("http://auth0.com/oauth/grant-type/mfa-oob", "http://auth0.com/oauth/grant-type/mfa-otp",
              "http://auth0.com/oauth/grant-type/mfa-recovery-code")

PATHS = ("/.well-known/openid-configuration", "/.well-known/jwks.json", "/passwordless/start", "/otp/challenge",
         "/oauth/token", "/mfa/associate", "/mfa/authenticators", "/mfa/challenge")

LOCK = threading.Lock()
# Factors enrolled, per mfa_token: [{"id", "authenticator_type", "oob_channel"?, "name"?}].
FACTORS = {}
# Whom each `otp/challenge` session names: {"phone_number": ...} or {"email": ...}.
SESSIONS = {}


def discovery():
    """The tenant's OpenID Provider metadata, as Auth0 publishes it."""
    at = ISSUER
    return {
        "issuer": at,
        "authorization_endpoint": f"{at}authorize",
        "token_endpoint": f"{at}oauth/token",
        "device_authorization_endpoint": f"{at}oauth/device/code",
        "userinfo_endpoint": f"{at}userinfo",
        "mfa_challenge_endpoint": f"{at}mfa/challenge",
        "jwks_uri": f"{at}.well-known/jwks.json",
        "registration_endpoint": f"{at}oidc/register",
        "revocation_endpoint": f"{at}oauth/revoke",
        "end_session_endpoint": f"{at}oidc/logout",
        "scopes_supported": ["openid", "profile", "offline_access", "name", "given_name", "family_name",
                             "nickname", "email", "email_verified", "picture", "created_at", "identities",
                             "phone", "address"],
        "response_types_supported": ["code", "token", "id_token", "code token", "code id_token",
                                     "token id_token", "code token id_token"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["public"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post",
                                                  "private_key_jwt", "tls_client_auth",
                                                  "self_signed_tls_client_auth"],
        "claims_supported": ["aud", "auth_time", "created_at", "email", "email_verified", "exp",
                             "family_name", "given_name", "iat", "identities", "iss", "name", "nickname",
                             "phone_number", "picture", "sub"],
        "request_uri_parameter_supported": False,
        "request_parameter_supported": False,
        "id_token_signing_alg_values_supported": ["HS256", "RS256", "PS256"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "RS384", "PS256"],
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
    }


def segment(doc):
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def id_token(client_id, sub, **claims):
    """An ID token of the tenant's: RS256 in its header, a signature nobody checks here."""
    now = int(time.time())
    body = {"iss": ISSUER, "aud": client_id, "sub": sub, "iat": now, "exp": now + 36000,
            "sid": uuid.uuid4().hex, **claims}
    return f"{segment({'alg': 'RS256', 'typ': 'JWT', 'kid': 'fake-tenant-key'})}.{segment(body)}.c2lnbmF0dXJl"


def dev_id(kind, seed):
    """A factor's id as Auth0 writes it (`sms|dev_…`, mixed case), stable per seed."""
    digest = base64.b64encode(hashlib.sha256(f"{kind}:{seed}".encode()).digest()).decode()
    return f"{kind}|dev_" + "".join(c for c in digest if c.isalnum())[:16]


def oauth_error(status, code, description, **extra):
    return status, {"error": code, "error_description": description, **extra}


def tokens(client_id, scope, sub, **claims):
    """The token endpoint's answer: an ID token only for a scope asking for `openid`."""
    scope = scope or "openid profile email"
    # No audience asked for: an access token for /userinfo, opaque to the client.
    out = {"access_token": "opaque-" + uuid.uuid4().hex,
           "scope": scope, "expires_in": 86400, "token_type": "Bearer"}
    if "openid" in scope.split():
        out["id_token"] = id_token(client_id, sub, **claims)
    return out


def bearer(headers):
    return headers.get("authorization", "").removeprefix("Bearer ").strip()


def masked(phone):
    """A phone as Auth0 names a factor by it: `+X XXXXXXXX02`."""
    digits = str(phone).lstrip("+")
    return "+X " + "X" * max(len(digits) - 3, 0) + digits[-2:]


def answer(method, path, headers, body):
    """(status, body) of the tenant's answer to `method` `path`, or None for a path not Auth0's."""
    bare = path.split("?")[0]
    if bare not in PATHS:
        return None
    doc = {}
    if "x-www-form-urlencoded" in headers.get("content-type", ""):
        doc = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
    else:
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            return oauth_error(400, "invalid_request", "Invalid JSON body")
        doc = parsed if isinstance(parsed, dict) else {}
    client_id = str(doc.get("client_id", ""))
    if method == "GET" and bare == "/.well-known/openid-configuration":
        return 200, discovery()
    if method == "GET" and bare == "/.well-known/jwks.json":
        return 200, {"keys": []}
    if method == "POST" and bare == "/passwordless/start":
        if doc.get("connection") == "sms" and doc.get("phone_number"):
            return 200, {"_id": uuid.uuid4().hex[:24], "phone_number": doc["phone_number"],
                         "phone_verified": False, "request_language": None}
        if doc.get("connection") == "email" and doc.get("email"):
            return 200, {"_id": uuid.uuid4().hex[:24], "email": doc["email"], "email_verified": False}
        return oauth_error(400, "bad.connection", "Connection does not exist")
    if method == "POST" and bare == "/otp/challenge":
        named = {k: doc[k] for k in ("phone_number", "email") if doc.get(k)}
        if len(named) != 1 or not doc.get("connection"):
            return oauth_error(400, "invalid_request", "Provide one of phone_number or email, and a connection")
        session = "Fe26.2**" + uuid.uuid4().hex
        with LOCK:
            SESSIONS[session] = named
        return 200, {"auth_session": session}
    if method == "POST" and bare == "/oauth/token":
        grant = doc.get("grant_type")
        if grant == PASSWORDLESS_OTP and doc.get("auth_session"):
            with LOCK:
                named = SESSIONS.get(doc["auth_session"])
            if named is None:
                return oauth_error(403, "invalid_grant", "Invalid or expired auth_session.")
            key, user = next(iter(named.items()))
            verified = {"phone_number": "phone_verified", "email": "email_verified"}[key]
            return 200, tokens(client_id, doc.get("scope"), "auth0|" + dev_id("user", user).split("_", 1)[1],
                               **{key: user, verified: True})
        if grant == PASSWORDLESS_OTP:
            user = str(doc.get("username", ""))
            if doc.get("realm") == "sms":
                return 200, tokens(client_id, doc.get("scope"), "sms|" + dev_id("user", user).split("_", 1)[1],
                                   phone_number=user, phone_verified=True)
            return 200, tokens(client_id, doc.get("scope"), "email|" + dev_id("user", user).split("_", 1)[1],
                               email=user, email_verified=True)
        if grant == "password":
            # Every user here has MFA required: the password is right, the second factor is due.
            return oauth_error(403, "mfa_required", "Multifactor authentication required",
                               mfa_token="Fe26.2**" + uuid.uuid4().hex)
        if grant in MFA_GRANTS:
            if not doc.get("mfa_token"):
                return oauth_error(400, "invalid_request", "Missing required parameter: mfa_token")
            user = "auth0|" + dev_id("user", doc["mfa_token"]).split("_", 1)[1]
            return 200, tokens(client_id, doc.get("scope"), user)
        return oauth_error(403, "unauthorized_client", f"Grant type '{grant}' not allowed for the client.")
    if bare.startswith("/mfa/"):
        return mfa_answer(method, bare, headers, doc)
    return oauth_error(404, "not_found", "Not Found")


def associate(token, doc):
    """A factor's enrolment: an SMS or voice number's (Auth0 texts or calls it a code at once),
    or an authenticator app's; recovery codes with the user's first factor."""
    types = doc.get("authenticator_types") or []
    channels = doc.get("oob_channels") or []
    if types == ["oob"] and channels in (["sms"], ["voice"]):
        if not doc.get("phone_number"):
            return oauth_error(400, "invalid_request", "phone_number is required for sms and voice")
        factor = {"id": dev_id(channels[0], f"{token}:{doc['phone_number']}"), "authenticator_type": "oob",
                  "oob_channel": channels[0], "name": masked(doc["phone_number"]), "active": True}
        answer_doc = {"authenticator_type": "oob", "binding_method": "prompt", "oob_channel": channels[0],
                      "oob_code": "Fe26.2**" + uuid.uuid4().hex}
    elif types == ["otp"]:
        factor = {"id": dev_id("totp", token), "authenticator_type": "otp", "active": True}
        secret = base64.b32encode(hashlib.sha1(token.encode()).digest()).decode().rstrip("=")
        answer_doc = {"authenticator_type": "otp", "secret": secret,
                      "barcode_uri": f"otpauth://totp/{DOMAIN}:ada%40example.com?secret={secret}"
                                     f"&issuer={DOMAIN}&algorithm=SHA1&digits=6&period=30"}
    else:
        return oauth_error(400, "invalid_request", "Unsupported authenticator type")
    with LOCK:
        enrolled = FACTORS.setdefault(token, [])
        if not enrolled:
            enrolled.append({"id": dev_id("recovery-code", token), "authenticator_type": "recovery-code",
                             "active": True})
            answer_doc["recovery_codes"] = ["N3B7MMCXNJ6ZQ4LD5SRU5WPA"]
        enrolled.append(factor)
    return 200, answer_doc


def mfa_answer(method, bare, headers, doc):
    if bare == "/mfa/challenge":
        token = str(doc.get("mfa_token", ""))
    else:
        token = bearer(headers)
    if not token:
        return oauth_error(401, "unauthorized", "Authorization header is required")
    if method == "POST" and bare == "/mfa/associate":
        return associate(token, doc)
    if method == "GET" and bare == "/mfa/authenticators":
        with LOCK:
            return 200, [dict(f) for f in FACTORS.get(token, [])]
    if method == "POST" and bare == "/mfa/challenge":
        types = str(doc.get("challenge_type") or "oob otp").split()
        with LOCK:
            enrolled = list(FACTORS.get(token, []))
        wanted = doc.get("authenticator_id")
        factor = next((f for f in enrolled if f["id"] == wanted), None) if wanted else \
            next((f for f in enrolled if f["authenticator_type"] in types), None)
        if factor is None:
            return oauth_error(400, "invalid_request", "No authenticator of the requested type is enrolled")
        if factor["authenticator_type"] == "oob" and "oob" in types:
            return 200, {"challenge_type": "oob", "oob_code": "Fe26.2**" + uuid.uuid4().hex,
                         "binding_method": "prompt"}
        if factor["authenticator_type"] == "otp" and "otp" in types:
            return 200, {"challenge_type": "otp"}
        return oauth_error(400, "unsupported_challenge_type",
                           "The challenge type is not supported by the authenticator")
    return oauth_error(404, "not_found", "Not Found")
