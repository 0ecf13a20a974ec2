#!/usr/bin/env python3
"""An origin that answers like the APIs the presets guard, so the real SDKs parse its answers.

- Cognito (`X-Amz-Target: AWSCognitoIdentityProviderService.<Op>`): AWS JSON 1.1 success bodies
  of a pool that verifies phone numbers, makes user names from e-mail addresses (the `sub` it
  answers a sign-up with) and requires SMS MFA: SRP sign-ins (`PASSWORD_VERIFIER`, no proof
  checked), password sign-ins and passwordless ones (`USER_AUTH` asking for `SMS_OTP`) send a
  code, the code's answer signs the user in.
- SNS Query API (`Action=...` in the query or the urlencoded body): `<PublishResponse>` XML.
- Twilio Verify (`/v2/Services/<sid>/Verifications` and `/VerificationCheck`): Verification JSON.
- Firebase (`/v1/accounts:sendVerificationCode`, also under `/identitytoolkit.googleapis.com/`
  where the JS SDK given this host by `connectAuthEmulator` sends it): `{"sessionInfo": ...}`;
  for the JS SDK's whole sign-in also `v2/recaptchaConfig` (reCAPTCHA Enterprise enforced for
  the API key `enterprise`, off for any other), `v1/recaptchaParams` (the v2 site key),
  `accounts/mfaEnrollment:start` and `:finalize` (a phone second factor), `accounts:signInWithPhoneNumber` (a user whose
  number the session was sent to), `accounts:lookup`, and a second-factor sign-in:
  `accounts:signInWithPassword` (every user has a phone second factor), `accounts/mfaSignIn:start`
  and `:finalize`.
- Supabase Auth (GoTrue) under `/auth/v1/`: fake_gotrue.py.
- An Auth0 tenant's Authentication API at the root (discovery, `/passwordless/start`, `/otp/challenge`,
  `/oauth/token`, `/mfa/associate`, `/mfa/authenticators`, `/mfa/challenge`): fake_auth0.py.
  None of its paths is another fake's (none names `accounts`, is under `/v2/Services/`, carries
  an `Action` or an `X-Amz-Target`), so no request needs its host to tell them apart.
- Vonage Verify v2 under `/v2/verify` (a request, its `next_workflow`, its code's check, its
  cancel): fake_vonage.py. Twilio's paths are under `/v2/Services/`, none under `/v2/verify`.
- With `--page-dir DIR`, `GET /page/NAME` serves DIR/NAME (the SDK's page and its scripts).

Every request is recorded (method, path, headers, body); `GET /__origin/requests` returns them
and `GET /__origin/health` answers 200. Listens on 127.0.0.1 only.

Usage: fake_apis.py --port PORT [--page-dir DIR]
"""

import argparse
import base64
import json
import os
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fake_auth0
import fake_clerk
import fake_gotrue
import fake_vonage

LOCK = threading.Lock()
SEEN = []
# Second factors enrolled, per user id (the fake Google's only state).
ENROLLED = {}


def verification(sid, form, status):
    return {
        "sid": "VE00000000000000000000000000000000",
        "service_sid": sid,
        "account_sid": "AC00000000000000000000000000000000",
        "to": form.get("To", ""),
        "channel": form.get("Channel", "sms"),
        "status": status,
        "valid": status == "approved",
        "date_created": "2026-01-01T00:00:00Z",
        "date_updated": "2026-01-01T00:00:00Z",
        "url": f"https://verify.twilio.com/v2/Services/{sid}/Verifications/VE00000000000000000000000000000000",
    }


def json_object(body):
    """A request body's JSON object, or {} for any other body."""
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def cognito_sub(username):
    """The user name Cognito makes a user in a pool whose users sign in by e-mail (its `sub`),
    the same for every spelling of the name the sign-up carried."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "cognito:" + str(username).strip().lower()))


def cognito_answer(op, doc):
    """What a pool that verifies phone numbers, makes user names from e-mail addresses and
    requires SMS MFA answers `op` with request `doc`."""
    sms_mfa = {"ChallengeName": "SMS_MFA", "Session": "session",
               "ChallengeParameters": {"CODE_DELIVERY_DELIVERY_MEDIUM": "SMS",
                                       "CODE_DELIVERY_DESTINATION": "+*******0150"}}
    params = doc.get("AuthParameters") or {}
    responses = doc.get("ChallengeResponses") or {}
    if op == "SignUp":
        return {"CodeDeliveryDetails": {"AttributeName": "phone_number", "DeliveryMedium": "SMS",
                                        "Destination": "+*******0101"},
                "UserConfirmed": False, "UserSub": cognito_sub(doc.get("Username"))}
    if op == "ForgotPassword":
        return {"CodeDeliveryDetails": {"AttributeName": "phone_number", "DeliveryMedium": "SMS",
                                        "Destination": "+*******0101"}}
    if op == "InitiateAuth" and doc.get("AuthFlow") == "USER_SRP_AUTH":
        # SRP's first step: the user's name as Cognito holds it, and values of the right shape
        # for the SDK to compute its proof with (the fake checks no proof).
        sub = cognito_sub(params.get("USERNAME"))
        return {"ChallengeName": "PASSWORD_VERIFIER", "Session": "session",
                "ChallengeParameters": {"USERNAME": sub, "USER_ID_FOR_SRP": sub, "SALT": "5a17" * 8,
                                        "SRP_B": "b" * 768, "SECRET_BLOCK": base64.b64encode(b"secret").decode()}}
    if op == "InitiateAuth" and doc.get("AuthFlow") == "USER_PASSWORD_AUTH":
        # A right password of a user with SMS MFA: the code went to the user's number.
        return sms_mfa
    if op == "RespondToAuthChallenge" and doc.get("ChallengeName") == "PASSWORD_VERIFIER":
        return {**sms_mfa, "ChallengeParameters": {**sms_mfa["ChallengeParameters"],
                                                   "USER_ID_FOR_SRP": responses.get("USERNAME", "")}}
    if op == "InitiateAuth" and doc.get("AuthFlow") == "USER_AUTH" and params.get("PREFERRED_CHALLENGE") == "SMS_OTP":
        # Passwordless sign-in: a code to the user's number.
        return {"ChallengeName": "SMS_OTP", "Session": "session",
                "ChallengeParameters": {"CODE_DELIVERY_DELIVERY_MEDIUM": "SMS",
                                        "CODE_DELIVERY_DESTINATION": "+*******0761"}}
    if op == "RespondToAuthChallenge" and doc.get("ChallengeName") in ("SMS_MFA", "SMS_OTP"):
        user = responses.get("USERNAME", "")
        now = int(time.time())
        claims = {"sub": user, "username": user, "token_use": "access", "client_id": doc.get("ClientId", ""),
                  "iat": now, "exp": now + 3600}
        return {"AuthenticationResult": {"AccessToken": unsigned_jwt(claims),
                                         "IdToken": unsigned_jwt({**claims, "token_use": "id", "aud": "client"}),
                                         "RefreshToken": "refresh", "ExpiresIn": 3600, "TokenType": "Bearer"},
                "ChallengeParameters": {}}
    if op in ("InitiateAuth", "RespondToAuthChallenge"):
        return {"ChallengeName": "SMS_OTP", "Session": "session"}
    if op == "UpdateUserAttributes" and any(a.get("Name") == "phone_number" for a in doc.get("UserAttributes") or []):
        # A phone change: the new number is sent a code to verify it.
        return {"CodeDeliveryDetailsList": [{"AttributeName": "phone_number", "DeliveryMedium": "SMS",
                                             "Destination": "+*******0755"}]}
    return {}


def answer(method, path, headers, body):
    """(status, content type, body) of the API's success answer."""
    target = headers.get("x-amz-target", "")
    if target.startswith("AWSCognitoIdentityProviderService."):
        payload = cognito_answer(target.split(".", 1)[1], json_object(body))
        return 200, "application/x-amz-json-1.1", json.dumps(payload)
    gotrue = fake_gotrue.answer(method, path, headers, json_object(body))
    if gotrue is not None:
        return gotrue[0], "application/json", json.dumps(gotrue[1])
    auth0 = fake_auth0.answer(method, path, headers, body)
    if auth0 is not None:
        return auth0[0], "application/json", json.dumps(auth0[1])
    clerk = fake_clerk.answer(method, path, headers, body)
    if clerk is not None:
        return clerk[0], "application/json", json.dumps(clerk[1])
    vonage = fake_vonage.answer(method, path, headers, body)
    if vonage is not None:
        status, ctype, doc = vonage
        return status, ctype, "" if doc is None else json.dumps(doc)
    bare, _, query = path.partition("?")
    params = dict(urllib.parse.parse_qsl(query))
    form = {}
    if "x-www-form-urlencoded" in headers.get("content-type", ""):
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
    action = form.get("Action") or params.get("Action")
    if action:
        xml = (
            f'<{action}Response xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
            f"<{action}Result><MessageId>00000000-0000-0000-0000-000000000000</MessageId></{action}Result>"
            f"<ResponseMetadata><RequestId>origin</RequestId></ResponseMetadata></{action}Response>"
        )
        return 200, "text/xml", xml
    parts = bare.strip("/").split("/")
    if len(parts) == 4 and parts[:2] == ["v2", "Services"]:
        if parts[3] == "Verifications":
            return 201, "application/json", json.dumps(verification(parts[2], form, "pending"))
        if parts[3] == "VerificationCheck":
            return 200, "application/json", json.dumps(verification(parts[2], form, "approved"))
    firebase = firebase_answer(bare, params, body)
    if firebase is not None:
        return 200, "application/json", json.dumps(firebase)
    return 404, "application/json", json.dumps({"error": "no such API"})


def unsigned_jwt(claims):
    """A JSON Web Token of `claims` (unsigned: the SDKs only read the claims)."""
    def segment(doc):
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")
    return f"{segment({'alg': 'none', 'typ': 'JWT'})}.{segment(claims)}.c2lnbmF0dXJl"


def id_token(uid, phone):
    """An ID token as Google writes one."""
    now = int(time.time())
    return unsigned_jwt({"iss": "https://securetoken.google.com/example", "aud": "example", "auth_time": now,
                         "user_id": uid, "sub": uid, "iat": now, "exp": now + 3600, "phone_number": phone,
                         "firebase": {"identities": {"phone": [phone]}, "sign_in_provider": "phone"}})


def token_claims(token):
    """The claims of an ID token id_token wrote, or {}."""
    try:
        claims = json.loads(base64.urlsafe_b64decode(str(token).split(".")[1] + "=="))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def firebase_answer(bare, params, body):
    """Google's answer to an Identity Toolkit call, or None for a path that is none."""
    doc = json_object(body)
    if bare.endswith("/v2/recaptchaConfig"):
        if params.get("key") == "enterprise":
            return {"recaptchaKey": "projects/example/keys/enterprise-site-key",
                    "recaptchaEnforcementState": [{"provider": "PHONE_PROVIDER", "enforcementState": "ENFORCE"}]}
        return {"recaptchaEnforcementState": []}
    if bare.endswith("/v1/recaptchaParams"):
        return {"kind": "identitytoolkit#GetRecaptchaParamResponse", "recaptchaSiteKey": "v2-site-key"}
    if bare.endswith("accounts:signInWithPhoneNumber"):
        phone = str(doc.get("sessionInfo", "")).removeprefix("session:")
        uid = "uid" + "".join(c for c in phone if c.isdigit())
        return {"idToken": id_token(uid, phone), "refreshToken": "refresh", "expiresIn": "3600",
                "localId": uid, "isNewUser": True, "phoneNumber": phone}
    if bare.endswith("/accounts/mfaEnrollment:start"):
        info = doc.get("phoneEnrollmentInfo") if isinstance(doc.get("phoneEnrollmentInfo"), dict) else {}
        return {"phoneSessionInfo": {"sessionInfo": "session:" + str(info.get("phoneNumber", ""))}}
    if bare.endswith("/accounts/mfaEnrollment:finalize"):
        claims = token_claims(doc.get("idToken"))
        info = doc.get("phoneVerificationInfo") if isinstance(doc.get("phoneVerificationInfo"), dict) else {}
        phone = str(info.get("sessionInfo", "")).removeprefix("session:")
        uid = str(claims.get("user_id", ""))
        with LOCK:
            ENROLLED.setdefault(uid, []).append(phone)
        return {"idToken": id_token(uid, str(claims.get("phone_number", ""))), "refreshToken": "refresh"}
    if bare.endswith("accounts:lookup"):
        claims = token_claims(doc.get("idToken"))
        if not claims:
            return {"users": []}
        with LOCK:
            second = list(ENROLLED.get(str(claims.get("user_id")), []))
        return {"users": [{"localId": claims.get("user_id"), "phoneNumber": claims.get("phone_number"),
                           "providerUserInfo": [{"providerId": "phone", "rawId": claims.get("phone_number"),
                                                 "phoneNumber": claims.get("phone_number")}],
                           "mfaInfo": [{"mfaEnrollmentId": f"enrolment-{i}", "phoneInfo": p, "displayName": "phone",
                                        "enrolledAt": "2026-01-01T00:00:00Z"} for i, p in enumerate(second)],
                           "lastLoginAt": "1767225600000", "createdAt": "1767225600000"}]}
    if bare.endswith("accounts:signInWithPassword"):
        # A user with a phone second factor: the password is right, the second factor is due.
        email = str(doc.get("email", ""))
        return {"localId": "uid-" + email, "email": email, "mfaPendingCredential": "pending:" + email,
                "mfaInfo": [{"mfaEnrollmentId": "enrolment-" + email, "phoneInfo": "+1******0605",
                             "displayName": "phone", "enrolledAt": "2026-01-01T00:00:00Z"}]}
    if bare.endswith("/accounts/mfaSignIn:start"):
        return {"phoneResponseInfo": {"sessionInfo": "session:" + str(doc.get("mfaEnrollmentId", ""))}}
    if bare.endswith("/accounts/mfaSignIn:finalize"):
        email = str(doc.get("mfaPendingCredential", "")).removeprefix("pending:")
        return {"idToken": id_token("uid-" + email, "+14155550605"), "refreshToken": "refresh"}
    if "accounts" in bare:
        return {"sessionInfo": "session:" + str(doc.get("phoneNumber", ""))}
    return None


PAGE_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".map": "application/json"}


class Handler(BaseHTTPRequestHandler):
    page_dir = None

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/__origin/health":
            return self.reply(200, "application/json", b'{"ok":true}')
        if self.path == "/__origin/requests":
            with LOCK:
                return self.reply(200, "application/json", json.dumps(SEEN).encode())
        if self.page_dir and self.command == "GET" and self.path.startswith("/page/"):
            return self.page(self.path.split("?")[0].removeprefix("/page/"))
        headers = {k.lower(): v for k, v in self.headers.items()}
        with LOCK:
            SEEN.append({"method": self.command, "path": self.path, "headers": headers,
                         "body": body.decode("utf-8", "replace")})
        status, ctype, text = answer(self.command, self.path, headers, body)
        self.reply(status, ctype, text.encode())

    def page(self, name):
        path = os.path.join(self.page_dir, name)
        if "/" in name or name.startswith(".") or not os.path.isfile(path):
            return self.reply(404, "text/plain", b"no such page")
        with open(path, "rb") as f:
            data = f.read()
        return self.reply(200, PAGE_TYPES.get(os.path.splitext(name)[1], "application/octet-stream"), data)

    def reply(self, status, ctype, data):
        self.send_response(status)
        if ctype is not None:
            self.send_header("content-type", ctype)
        if status != 204:
            # A 204 has no body, and no length (RFC 9110).
            self.send_header("content-length", str(len(data)))
        self.send_header("x-test-origin", "ok")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--page-dir")
    args = parser.parse_args()
    Handler.page_dir = args.page_dir
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
