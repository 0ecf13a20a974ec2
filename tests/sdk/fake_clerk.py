"""A fake Clerk Frontend API (FAPI) under a site's proxy path (PREFIX, `/__clerk/v1`), answering
as Clerk does so clerk-js (tests/sdk/clerk/check.mjs) runs its own methods unmodified: an
instance whose users sign in and up by phone code, e-mail code or password.

- `GET environment`: the instance's settings (phone numbers and e-mail addresses for sign-in and
  sign-up, verified at sign-up; passwords; no CAPTCHA, no Protect, no organizations).
- `GET client`: the browser's client (`{"response": null}` before it has one); `POST`/`PUT
  client` makes it. Every other call answers `{"response": <resource>, "client": <client>}`.
- `POST client/sign_ins` (`identifier`, `strategy`?, `password`?): a sign-in of the user the
  identifier names (any identifier names one, made on first sight: a phone's user holds that
  number verified, an e-mail's holds that address and an unverified number added earlier).
  `strategy=phone_code` or `email_code` sends its code at once, `password` completes it.
  `.../<sia_id>/prepare_first_factor` (`strategy`, `phone_number_id` | `email_address_id`)
  sends a code, `.../attempt_first_factor` (`strategy`, `code`) checks it and makes a session.
- `POST client/sign_ups` (`phone_number`, `email_address`, `password`, `strategy`?): a sign-up
  (`strategy=phone_code` sends the phone's code at once); `client/sign_ups/<sua_id>` with
  `_method=PATCH` changes its fields (a new number is unverified again);
  `.../prepare_verification` (`strategy`) sends the number's or the address's code,
  `.../attempt_verification` (`strategy`, `code`) checks it; once every field is verified the
  user and a session are made.
- `POST client/sessions/<sess_id>/touch` and `.../tokens`: the session, a session token.
- `POST me/phone_numbers` (`phone_number`, for the session `_clerk_session_id` names): a number
  added to the user; `.../<idn_id>/prepare_verification` sends it a code,
  `.../attempt_verification` (`code`) checks it.

A code is right when it is CODE and one was sent for that verification; else 422
`form_code_incorrect`. Numbers must be E.164 (`+` and digits), else 422
`form_param_format_invalid`. Errors are Clerk's (`{"errors": [{"message", "long_message",
"code", "meta"}], "clerk_trace_id"}`). The only state: the one client (the check's browser),
its sign-ins, sign-ups and sessions, and the users. Paths outside PREFIX are not Clerk's
(`answer` returns None); none of fake_apis.py's other fakes answers under it.
"""

import base64
import json
import re
import secrets
import string
import threading
import time
import urllib.parse

PREFIX = "/__clerk/v1"
CODE = "424242"
# The Frontend API host the publishable key names (clerk-js sends every call to the proxy).
FRONTEND_API = "clerk.example.com"
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# The number an e-mail address's user added before (never verified).
EARLIER_NUMBER = "+14155551099"

LOCK = threading.Lock()
STATE = {"client": None, "sign_ins": {}, "sign_ups": {}, "sessions": {}, "users": {}}


def clerk_id(prefix):
    """An id as Clerk writes one: a prefix and 27 base62 characters."""
    alphabet = string.ascii_letters + string.digits
    return f"{prefix}_" + "".join(secrets.choice(alphabet) for _ in range(27))


def now_ms():
    return int(time.time() * 1000)


def error(status, code, message, long_message, **meta):
    return status, {"errors": [{"message": message, "long_message": long_message, "code": code, "meta": meta}],
                    "clerk_trace_id": secrets.token_hex(16)}


def masked(identifier):
    """How Clerk shows a factor's identifier (`+1******0123`, `a***@example.com`)."""
    if "@" in identifier:
        name, _, domain = identifier.partition("@")
        return f"{name[:1]}***@{domain}"
    return identifier[:2] + "*" * max(len(identifier) - 6, 0) + identifier[-4:]


def environment():
    def attribute(enabled, first, verifications, second=(), **extra):
        return {"enabled": enabled, "required": False, "used_for_first_factor": bool(first),
                "first_factors": list(first), "used_for_second_factor": bool(second),
                "second_factors": list(second), "verifications": list(verifications),
                "verify_at_sign_up": bool(verifications), **extra}

    return {
        "object": "environment", "id": "env_pumpguardtest",
        "auth_config": {"object": "auth_config", "id": "aac_pumpguardtest", "single_session_mode": False,
                        "claimed_at": None, "reverification": True},
        "display_config": {
            "object": "display_config", "id": "display_config_pumpguardtest", "instance_environment_type": "production",
            "application_name": "pumpguard test", "branded": False, "captcha_public_key": None,
            "captcha_public_key_invisible": None, "captcha_widget_type": None, "captcha_provider": "turnstile",
            "captcha_oauth_bypass": [], "captcha_heartbeat": False, "home_url": "https://www.example.com",
            "sign_in_url": "https://www.example.com/sign-in", "sign_up_url": "https://www.example.com/sign-up",
            "user_profile_url": "https://www.example.com/user", "after_sign_in_url": "https://www.example.com/",
            "after_sign_up_url": "https://www.example.com/", "after_sign_out_one_url": "https://www.example.com/",
            "after_sign_out_all_url": "https://www.example.com/",
            "after_switch_session_url": "https://www.example.com/",
            "preferred_sign_in_strategy": "otp", "support_email": None, "logo_image_url": "", "favicon_image_url": "",
            "theme": {}, "show_devmode_warning": False,
        },
        "user_settings": {
            "attributes": {
                "email_address": attribute(True, ["email_code"], ["email_code"]),
                "phone_number": attribute(True, ["phone_code"], ["phone_code"], ["phone_code"], channels=["sms"]),
                "username": attribute(False, [], []),
                "web3_wallet": attribute(False, [], []),
                "first_name": attribute(False, [], []),
                "last_name": attribute(False, [], []),
                "password": attribute(True, [], []),
                "authenticator_app": attribute(False, [], []),
                "backup_code": attribute(False, [], []),
                "passkey": attribute(False, [], []),
            },
            "sign_in": {"second_factor": {"required": False}},
            "sign_up": {"captcha_enabled": False, "captcha_widget_type": None, "custom_action_required": False,
                        "progressive": True, "mode": "public", "legal_consent_enabled": False,
                        "mfa": {"required": False}},
            "password_settings": {"disable_hibp": True, "min_length": 8, "max_length": 72,
                                  "require_special_char": False,
                                  "require_numbers": False, "require_uppercase": False, "require_lowercase": False,
                                  "show_zxcvbn": False, "min_zxcvbn_strength": 0, "enforce_hibp_on_sign_in": False,
                                  "allowed_special_characters": ""},
            "social": {}, "actions": {"delete_self": True, "create_organization": False},
            "attack_protection": {"enumeration_protection": {"enabled": False}},
            "enterprise_sso": {"enabled": False},
            "passkey_settings": {"allow_autofill": False, "show_sign_in_button": False},
            "username_settings": {"min_length": 4, "max_length": 64},
        },
        "organization_settings": {"enabled": False, "max_allowed_memberships": 5, "force_organization_selection": False,
                                  "actions": {"admin_delete": True},
                                  "domains": {"enabled": False, "enrollment_modes": [], "default_role": None}},
        "commerce_settings": {"billing": {"stripe_publishable_key": "", "organization": {"enabled": False,
                                                                                       "has_paid_plans": False},
                                          "user": {"enabled": False, "has_paid_plans": False}}},
        "api_keys_settings": {"user_api_keys_enabled": False, "orgs_api_keys_enabled": False},
        "protect_config": {"object": "protect_config", "id": "protect_config_pumpguardtest", "loaders": []},
        "maintenance_mode": False,
    }


def verification(strategy=None, status="unverified", sent=False, **extra):
    """A verification as Clerk keeps it; `sent` (not answered) says a code went out."""
    return {"object": "verification", "status": status, "strategy": strategy, "attempts": 0 if sent else None,
            "expire_at": now_ms() + 600_000 if sent else None, "verified_at_client": None, "sent": sent, **extra}


def public(doc):
    """A stored document without the fake's own fields."""
    if isinstance(doc, dict):
        return {k: public(v) for k, v in doc.items() if k != "sent"}
    if isinstance(doc, list):
        return [public(v) for v in doc]
    return doc


def find_user(identifier):
    for user in STATE["users"].values():
        if any(p["phone_number"] == identifier for p in user["phone_numbers"]) \
                or any(e["email_address"] == identifier for e in user["email_addresses"]):
            return user
    return None


def make_user(phone=None, email=None, phone_verified=True, password=False):
    uid = clerk_id("user")
    user = {"id": uid, "phone_numbers": [], "email_addresses": [], "password_enabled": password}
    if phone:
        user["phone_numbers"].append({"object": "phone_number", "id": clerk_id("idn"), "phone_number": phone,
                                      "reserved_for_second_factor": False, "default_second_factor": False,
                                      "linked_to": [], "verification": verification(
                                          "phone_code", "verified" if phone_verified else "unverified")})
    if email:
        user["email_addresses"].append({"object": "email_address", "id": clerk_id("idn"), "email_address": email,
                                        "linked_to": [], "matches_sso_connection": False,
                                        "verification": verification("email_code", "verified")})
    STATE["users"][uid] = user
    return user


def user_json(user):
    phones, emails = user["phone_numbers"], user["email_addresses"]
    verified = [p for p in phones if (p["verification"] or {}).get("status") == "verified"]
    ts = now_ms()
    return public({
        "object": "user", "id": user["id"], "external_id": None,
        "primary_email_address_id": emails[0]["id"] if emails else None,
        "primary_phone_number_id": verified[0]["id"] if verified else None, "primary_web3_wallet_id": None,
        "image_url": "", "has_image": False, "username": None, "email_addresses": emails, "phone_numbers": phones,
        "web3_wallets": [], "external_accounts": [], "enterprise_accounts": [], "passkeys": [],
        "organization_memberships": [], "password_enabled": user["password_enabled"], "profile_image_id": "",
        "first_name": None, "last_name": None, "totp_enabled": False, "backup_code_enabled": False,
        "two_factor_enabled": False, "public_metadata": {}, "unsafe_metadata": {}, "private_metadata": {},
        "last_sign_in_at": ts, "create_organization_enabled": False, "create_organizations_limit": None,
        "delete_self_enabled": True, "legal_accepted_at": None, "updated_at": ts, "created_at": ts,
    })


def session_token(session):
    """A session token (RS256 in its header; nothing here checks its signature)."""
    def segment(doc):
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")
    issued = int(time.time())
    claims = {"azp": "https://www.example.com", "exp": issued + 3600, "iat": issued, "nbf": issued - 5,
              "iss": f"https://{FRONTEND_API}", "sid": session["id"], "sub": session["user_id"], "v": 2}
    return f"{segment({'alg': 'RS256', 'kid': 'ins_pumpguardtest', 'typ': 'JWT'})}.{segment(claims)}.c2lnbmF0dXJl"


def session_json(session):
    user = STATE["users"][session["user_id"]]
    ts = now_ms()
    identifier = (user["email_addresses"] or user["phone_numbers"])[0]
    return {"object": "session", "id": session["id"], "status": "active", "expire_at": ts + 7 * 86400_000,
            "abandon_at": ts + 30 * 86400_000, "last_active_at": ts,
            "last_active_token": {"object": "token", "jwt": session_token(session)},
            "last_active_organization_id": None, "actor": None, "tasks": None, "factor_verification_age": [0, -1],
            "user": user_json(user),
            "public_user_data": {"first_name": None, "last_name": None, "image_url": "", "has_image": False,
                                 "identifier": identifier.get("email_address") or identifier.get("phone_number"),
                                 "user_id": user["id"]},
            "created_at": session["created_at"], "updated_at": ts}


def make_session(user):
    session = {"id": clerk_id("sess"), "user_id": user["id"], "created_at": now_ms()}
    STATE["sessions"][session["id"]] = session
    client = STATE["client"]
    client["sessions"].append(session["id"])
    client["last_active_session_id"] = session["id"]
    return session


def sign_in_json(sign_in):
    user = STATE["users"][sign_in["user_id"]]
    if sign_in["via"] == "phone":
        named = [p for p in user["phone_numbers"] if p["phone_number"] == sign_in["identifier"]]
        factors = [{"strategy": "phone_code", "safe_identifier": masked(p["phone_number"]),
                    "phone_number_id": p["id"], "primary": i == 0, "default": i == 0} for i, p in enumerate(named)]
    else:
        factors = [{"strategy": "email_code", "safe_identifier": masked(e["email_address"]),
                    "email_address_id": e["id"], "primary": True}
                   for e in user["email_addresses"] if e["email_address"] == sign_in["identifier"]]
    if user["password_enabled"]:
        factors.append({"strategy": "password"})
    return public({
        "object": "sign_in", "id": sign_in["id"], "status": sign_in["status"],
        "supported_identifiers": ["email_address", "phone_number"], "identifier": sign_in["identifier"],
        "user_data": {"first_name": None, "last_name": None, "image_url": "", "has_image": False},
        "supported_first_factors": factors, "supported_second_factors": None,
        "first_factor_verification": sign_in["verification"], "second_factor_verification": None,
        "created_session_id": sign_in["session_id"], "abandon_at": now_ms() + 86400_000,
    })


def sign_up_json(sign_up):
    fields = [f for f in ("email_address", "phone_number") if sign_up[f]]
    unverified = [f for f in fields if sign_up["verifications"][f]["status"] != "verified"]
    verifications = {f: sign_up["verifications"][f] if sign_up[f] else None
                     for f in ("email_address", "phone_number")}
    return public({
        "object": "sign_up", "id": sign_up["id"], "status": sign_up["status"],
        "required_fields": [], "optional_fields": ["email_address", "phone_number", "password"],
        "missing_fields": [], "unverified_fields": unverified, "username": None, "first_name": None,
        "last_name": None, "email_address": sign_up["email_address"], "phone_number": sign_up["phone_number"],
        "web3_wallet": None, "external_account_strategy": None, "external_account": None,
        "has_password": sign_up["has_password"], "unsafe_metadata": {},
        "created_session_id": sign_up["session_id"], "created_user_id": sign_up["user_id"],
        "abandon_at": now_ms() + 86400_000, "legal_accepted_at": None, "locale": None,
        "verifications": {**verifications, "web3_wallet": None, "external_account": None},
    })


def client_json():
    client = STATE["client"]
    if client is None:
        return None
    ts = now_ms()
    sign_in = STATE["sign_ins"].get(client["sign_in"])
    sign_up = STATE["sign_ups"].get(client["sign_up"])
    return {"object": "client", "id": client["id"],
            "sessions": [session_json(STATE["sessions"][s]) for s in client["sessions"]],
            "sign_in": sign_in_json(sign_in) if sign_in else None,
            "sign_up": sign_up_json(sign_up) if sign_up else None,
            "last_active_session_id": client["last_active_session_id"], "last_authentication_strategy": None,
            "captcha_bypass": False, "cookie_expires_at": None, "created_at": client["created_at"], "updated_at": ts}


def the_client():
    if STATE["client"] is None:
        STATE["client"] = {"id": clerk_id("client"), "sessions": [], "sign_in": None, "sign_up": None,
                           "last_active_session_id": None, "created_at": now_ms()}
    return STATE["client"]


def ok(resource):
    return 200, {"response": resource, "client": client_json()}


def bad_number(field):
    return error(422, "form_param_format_invalid", "is invalid",
                 f"{field.replace('_', ' ')} must be a valid phone number according to E.164 international standard.",
                 param_name=field)


def incorrect_code():
    return error(422, "form_code_incorrect", "is incorrect", "Incorrect code", param_name="code")


def attempt(ver, strategy, code):
    """Checks a code against a verification: (ok, answer if not)."""
    if ver.get("sent") and ver.get("strategy") == strategy and code == CODE and ver["status"] == "unverified":
        ver.update(status="verified", verified_at_client=STATE["client"]["id"])
        return True, None
    if ver.get("attempts") is not None:
        ver["attempts"] += 1
    return False, incorrect_code()


def create_sign_in(form):
    identifier = form.get("identifier", "").strip()
    strategy = form.get("strategy")
    if not identifier:
        return error(422, "form_param_missing", "is missing", "Enter an identifier.", param_name="identifier")
    via = "email" if "@" in identifier else "phone"
    if via == "phone" and not E164.match(identifier):
        return error(422, "form_identifier_not_found", "Couldn't find your account.", "Couldn't find your account.",
                     param_name="identifier")
    user = find_user(identifier) or (make_user(phone=identifier, password=True) if via == "phone" else
                                     make_user(email=identifier, phone=EARLIER_NUMBER, phone_verified=False))
    sign_in = {"id": clerk_id("sia"), "user_id": user["id"], "identifier": identifier, "via": via,
               "status": "needs_first_factor", "verification": None, "session_id": None}
    if strategy == "password":
        if not form.get("password"):
            return error(422, "form_param_missing", "is missing", "Enter a password.", param_name="password")
        sign_in.update(status="complete", session_id=make_session(user)["id"])
    elif strategy in ("phone_code", "email_code"):
        if strategy != f"{via}_code":
            return error(422, "strategy_for_user_invalid", "Invalid verification strategy",
                         "The verification strategy is not valid for this account", param_name="strategy")
        sign_in["verification"] = verification(strategy, sent=True)
    elif strategy:
        return error(422, "form_param_value_invalid", "is invalid", "strategy is not supported here",
                     param_name="strategy")
    STATE["sign_ins"][sign_in["id"]] = sign_in
    the_client()["sign_in"] = sign_in["id"]
    return ok(sign_in_json(sign_in))


def sign_in_call(sign_in, action, form):
    user = STATE["users"][sign_in["user_id"]]
    strategy = form.get("strategy")
    if action == "prepare_first_factor":
        if strategy == "phone_code":
            found = [p for p in user["phone_numbers"] if p["id"] == form.get("phone_number_id")]
        elif strategy == "email_code":
            found = [e for e in user["email_addresses"] if e["id"] == form.get("email_address_id")]
        else:
            return error(422, "strategy_for_user_invalid", "Invalid verification strategy",
                         "The verification strategy is not valid for this account", param_name="strategy")
        if not found:
            return error(404, "resource_not_found", "not found", "No identification was found with that id")
        sign_in["verification"] = verification(strategy, sent=True)
        return ok(sign_in_json(sign_in))
    if action == "attempt_first_factor":
        ver = sign_in["verification"] or verification()
        good, refusal = attempt(ver, strategy, form.get("code"))
        if not good:
            return refusal
        sign_in.update(status="complete", session_id=make_session(user)["id"])
        return ok(sign_in_json(sign_in))
    return error(404, "resource_not_found", "not found", "The requested resource was not found")


def set_sign_up_fields(sign_up, form):
    """Applies a sign-up's fields; (None) or an error answer."""
    phone = form.get("phone_number")
    if phone is not None:
        if not E164.match(phone):
            return bad_number("phone_number")
        if phone != sign_up["phone_number"]:
            sign_up["phone_number"] = phone
            sign_up["verifications"]["phone_number"] = verification(next_action="needs_prepare",
                                                                    supported_strategies=["phone_code"])
    email = form.get("email_address")
    if email is not None and email != sign_up["email_address"]:
        sign_up["email_address"] = email
        sign_up["verifications"]["email_address"] = verification(next_action="needs_prepare",
                                                                 supported_strategies=["email_code"])
    if form.get("password"):
        sign_up["has_password"] = True
    return None


def create_sign_up(form):
    sign_up = {"id": clerk_id("sua"), "status": "missing_requirements", "phone_number": None, "email_address": None,
               "has_password": False, "session_id": None, "user_id": None,
               "verifications": {"phone_number": None, "email_address": None}}
    refused = set_sign_up_fields(sign_up, form)
    if refused:
        return refused
    strategy = form.get("strategy")
    if strategy == "phone_code" and sign_up["phone_number"]:
        sign_up["verifications"]["phone_number"].update(verification("phone_code", sent=True),
                                                        next_action="needs_attempt")
    STATE["sign_ups"][sign_up["id"]] = sign_up
    the_client()["sign_up"] = sign_up["id"]
    return ok(sign_up_json(sign_up))


def sign_up_call(sign_up, action, form):
    strategy = form.get("strategy")
    field = {"phone_code": "phone_number", "email_code": "email_address"}.get(strategy)
    if action is None:
        refused = set_sign_up_fields(sign_up, form)
        return refused or ok(sign_up_json(sign_up))
    if field is None or action not in ("prepare_verification", "attempt_verification"):
        return error(422, "form_param_value_invalid", "is invalid", "strategy is not supported here",
                     param_name="strategy")
    if not sign_up[field]:
        return error(422, "form_param_missing", "is missing", f"{field.replace('_', ' ')} is missing",
                     param_name=field)
    ver = sign_up["verifications"][field]
    if action == "prepare_verification":
        ver.update(verification(strategy, sent=True), next_action="needs_attempt")
        return ok(sign_up_json(sign_up))
    good, refusal = attempt(ver, strategy, form.get("code"))
    if not good:
        return refusal
    ver["next_action"] = ""
    if all(sign_up["verifications"][f]["status"] == "verified" for f in ("phone_number", "email_address")
           if sign_up[f]):
        user = make_user(phone=sign_up["phone_number"], email=sign_up["email_address"],
                         password=sign_up["has_password"])
        sign_up.update(status="complete", user_id=user["id"], session_id=make_session(user)["id"])
    return ok(sign_up_json(sign_up))


def session_call(session, action):
    if action == "touch":
        return ok(session_json(session))
    if action == "tokens":
        return 200, {"object": "token", "jwt": session_token(session)}
    return error(404, "resource_not_found", "not found", "The requested resource was not found")


def me_call(params, rest, form):
    session = STATE["sessions"].get(params.get("_clerk_session_id", ""))
    client = STATE["client"]
    if session is None or client is None or session["id"] not in client["sessions"]:
        return error(401, "signed_out", "Signed out", "You are signed out")
    user = STATE["users"][session["user_id"]]
    if rest == ["phone_numbers"]:
        phone = form.get("phone_number", "")
        if not E164.match(phone):
            return bad_number("phone_number")
        if any(p["phone_number"] == phone for p in user["phone_numbers"]):
            return error(422, "form_identifier_exists", "is taken", "That phone number is taken. Please try another.",
                         param_name="phone_number")
        number = {"object": "phone_number", "id": clerk_id("idn"), "phone_number": phone,
                  "reserved_for_second_factor": False, "default_second_factor": False, "linked_to": [],
                  "verification": None}
        user["phone_numbers"].append(number)
        return ok(public(number))
    if len(rest) == 3 and rest[0] == "phone_numbers":
        number = next((p for p in user["phone_numbers"] if p["id"] == rest[1]), None)
        if number is None:
            return error(404, "resource_not_found", "not found", "No phone number was found with that id")
        if rest[2] == "prepare_verification" and form.get("strategy") == "phone_code":
            number["verification"] = verification("phone_code", sent=True)
            return ok(public(number))
        if rest[2] == "attempt_verification":
            good, refusal = attempt(number["verification"] or verification(), "phone_code", form.get("code"))
            return ok(public(number)) if good else refusal
    return error(404, "resource_not_found", "not found", "The requested resource was not found")


def answer(method, path, headers, body):
    """(status, body) of the Frontend API's answer to `method` `path`, or None for a path that is
    not under PREFIX."""
    bare, _, query = path.partition("?")
    if not bare.startswith(PREFIX + "/"):
        return None
    params = dict(urllib.parse.parse_qsl(query))
    # clerk-js sends PATCH, PUT and DELETE as a POST naming the method in the query.
    method = params.get("_method", method).upper()
    form = {}
    if "x-www-form-urlencoded" in headers.get("content-type", ""):
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
    parts = [p for p in bare[len(PREFIX) + 1:].split("/") if p]
    with LOCK:
        if parts == ["environment"] and method in ("GET", "PATCH"):
            return 200, environment()
        if parts == ["client"] and method == "GET":
            return 200, {"response": client_json(), "client": None}
        if parts == ["client"] and method in ("POST", "PUT"):
            the_client()
            return 200, {"response": client_json(), "client": None}
        if method == "GET":
            return error(404, "resource_not_found", "not found", "The requested resource was not found")
        if parts == ["client", "sign_ins"]:
            return create_sign_in(form)
        if parts == ["client", "sign_ups"]:
            return create_sign_up(form)
        if len(parts) in (3, 4) and parts[:2] == ["client", "sign_ins"] and parts[2] in STATE["sign_ins"]:
            return sign_in_call(STATE["sign_ins"][parts[2]], parts[3] if len(parts) == 4 else None, form)
        if len(parts) in (3, 4) and parts[:2] == ["client", "sign_ups"] and parts[2] in STATE["sign_ups"]:
            if len(parts) == 3 and method != "PATCH":
                return error(405, "method_not_allowed", "not allowed", "Method not allowed")
            return sign_up_call(STATE["sign_ups"][parts[2]], parts[3] if len(parts) == 4 else None, form)
        if len(parts) == 4 and parts[:2] == ["client", "sessions"] and parts[2] in STATE["sessions"]:
            return session_call(STATE["sessions"][parts[2]], parts[3])
        if parts[:1] == ["me"]:
            return me_call(params, parts[1:], form)
        return error(404, "resource_not_found", "not found", "The requested resource was not found")
