"""The real SDKs against a host guarding tests/sdk/policy.json, in front of tests/sdk/fake_apis.py.

Each check makes one SDK call and looks at what the SDK raises or returns (error code, message
with pumpguard's reason, status), how many HTTP attempts the SDK made (a refusal must not be
retried into several judged requests), and what origin received.
"""

import base64
import json
import urllib.error
import urllib.request

import boto3
import botocore.config
from botocore.exceptions import ClientError
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client as TwilioClient

NIGERIA = "+2348031234567"
SERVICE = "VA00000000000000000000000000000000"


def access_token(username, issued):
    """An access token as Cognito writes one (signature not checked by the fake API): the guard
    reads its `username` claim as the account."""
    def segment(doc):
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")
    claims = {"sub": f"00000000-0000-4000-8000-{issued:012d}", "token_use": "access", "username": username,
              "iat": issued, "exp": issued + 3600}
    return f"{segment({'kid': 'k1', 'alg': 'RS256'})}.{segment(claims)}.c2lnbmF0dXJl"


def us(n):
    """A distinct valid US number per check, so the per-number limit starts fresh."""
    return f"+1415555{n:04d}"


class Attempts:
    """Counts the HTTP requests an SDK sends, retries included."""

    def __init__(self):
        self.count = 0

    def hook(self, **_):
        self.count += 1


def aws_client(service, url, attempts):
    client = boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        # The SDK's defaults (standard retry mode, 3 attempts): refusals must not be retried.
        config=botocore.config.Config(connect_timeout=5, read_timeout=10),
    )
    client.meta.events.register("before-send", attempts.hook)
    return client


class LocalTwilio(TwilioHttpClient):
    """Twilio's own HTTP client, pointed at the host under test and counting attempts."""

    def __init__(self, url, attempts):
        super().__init__(timeout=10)
        self.url = url
        self.attempts = attempts

    def request(self, method, url, *args, **kwargs):
        self.attempts.count += 1
        url = url.replace("https://verify.twilio.com", self.url)
        return super().request(method, url, *args, **kwargs)


class Run:
    def __init__(self, url, origin, report):
        self.url = url
        self.origin = origin
        self.report = report

    def origin_requests(self):
        with urllib.request.urlopen(f"{self.origin}/__origin/requests", timeout=5) as r:
            return json.load(r)

    def aws_error(self, call, attempts, expect_code, expect_status, reason, rule, name):
        """Runs `call()` on a client counting into `attempts`; checks the ClientError it must raise."""
        attempts.count = 0
        seen = len(self.origin_requests())
        try:
            call()
        except ClientError as e:
            err = e.response["Error"]
            meta = e.response["ResponseMetadata"]
            self.report(f"{name}: raises {expect_code}", err.get("Code") == expect_code, f"{err} {meta}")
            self.report(f"{name}: status {expect_status}", meta.get("HTTPStatusCode") == expect_status, str(meta))
            self.report(f"{name}: message names {reason} and rule {rule}",
                        f"pumpguard: {reason}, rule {rule}" in err.get("Message", ""), err.get("Message", ""))
            self.report(f"{name}: one attempt, no retry", attempts.count == 1, f"{attempts.count} attempts")
            self.report(f"{name}: origin saw nothing", len(self.origin_requests()) == seen)
            return e
        except Exception as e:  # noqa: BLE001 - any other failure is the finding
            self.report(f"{name}: raises {expect_code}", False, f"raised {type(e).__name__}: {e}")
            return None
        self.report(f"{name}: raises {expect_code}", False, "the call succeeded")
        return None

    def cognito(self):
        attempts = Attempts()
        idp = aws_client("cognito-idp", self.url, attempts)

        def sign_up(number, user="user1"):
            return idp.sign_up(ClientId="client", Username=user, Password="Passw0rd!",
                               UserAttributes=[{"Name": "phone_number", "Value": number}])

        out = sign_up(us(101))
        self.report("cognito sign_up (US): forwarded, parsed", out.get("UserSub") is not None, str(out))
        e = self.aws_error(lambda: sign_up(NIGERIA), attempts, "ForbiddenException", 403,
                           "country_not_allowed", "geo", "cognito sign_up (NG)")
        if e is not None:
            self.report("cognito sign_up (NG): client.exceptions.ForbiddenException",
                        isinstance(e, idp.exceptions.ForbiddenException), type(e).__name__)
        e = self.aws_error(lambda: sign_up(us(101), user="user2"), attempts, "ForbiddenException", 403,
                           "rate_limited", "per-number", "cognito sign_up throttled")
        if e is not None:
            headers = e.response["ResponseMetadata"].get("HTTPHeaders", {})
            self.report("cognito sign_up throttled: Retry-After", headers.get("retry-after", "").isdigit(), str(headers))
        # A resend names the user, not the number: judged as a send to the number its sign-up
        # carried, so the number's limit (named first) throttles it, not only the user's own.
        self.aws_error(lambda: idp.resend_confirmation_code(ClientId="client", Username="user1"), attempts,
                       "ForbiddenException", 403, "rate_limited", "per-number",
                       "cognito resend_confirmation_code by user name: judged as the sign-up's number")
        self.aws_error(lambda: idp.initiate_auth(
            ClientId="client", AuthFlow="USER_AUTH",
            AuthParameters={"USERNAME": NIGERIA, "PREFERRED_CHALLENGE": "SMS_OTP"}), attempts,
            "ForbiddenException", 403, "country_not_allowed", "geo", "cognito initiate_auth USER_AUTH (NG)")
        self.aws_error(lambda: idp.respond_to_auth_challenge(
            ClientId="client", ChallengeName="SELECT_CHALLENGE", Session="s" * 20,
            ChallengeResponses={"USERNAME": NIGERIA, "ANSWER": "SMS_OTP"}), attempts,
            "ForbiddenException", 403, "country_not_allowed", "geo", "cognito respond_to_auth_challenge (NG)")
        out = idp.respond_to_auth_challenge(
            ClientId="client", ChallengeName="SMS_OTP", Session="s" * 20,
            ChallengeResponses={"USERNAME": NIGERIA, "SMS_OTP_CODE": "123456"})
        self.report("cognito respond_to_auth_challenge answering SMS_OTP: a confirm, forwarded",
                    "ResponseMetadata" in out, str(out))
        out = idp.initiate_auth(ClientId="client", AuthFlow="USER_AUTH",
                                AuthParameters={"USERNAME": "alice", "PREFERRED_CHALLENGE": "SMS_OTP"})
        self.report("cognito initiate_auth with a user name: forwarded", out.get("Session") == "session", str(out))
        # A reset by e-mail user name carries no number: judged by the user it names.
        out = idp.forgot_password(ClientId="client", Username="bob@example.com")
        self.report("cognito forgot_password by user name: forwarded", "ResponseMetadata" in out, str(out))
        self.aws_error(lambda: idp.forgot_password(ClientId="client", Username="BOB@example.com"), attempts,
                       "ForbiddenException", 403, "rate_limited", "per-account",
                       "cognito forgot_password again for the same user (another spelling) throttled")
        out = idp.forgot_password(ClientId="client", Username="carol@example.com")
        self.report("cognito forgot_password for another user: forwarded", "ResponseMetadata" in out, str(out))
        # What a signed-in user calls carries no number, and is never refused as no_number.
        out = idp.initiate_auth(ClientId="client", AuthFlow="REFRESH_TOKEN_AUTH",
                                AuthParameters={"REFRESH_TOKEN": "eyJjdHkiOiJKV1QifQ.refresh"})
        self.report("cognito initiate_auth REFRESH_TOKEN_AUTH: forwarded", "ResponseMetadata" in out, str(out))
        out = idp.get_user_attribute_verification_code(AccessToken=access_token("dana", 1), AttributeName="phone_number")
        self.report("cognito get_user_attribute_verification_code: forwarded", "ResponseMetadata" in out, str(out))
        out = idp.update_user_attributes(AccessToken=access_token("erin", 2),
                                         UserAttributes=[{"Name": "name", "Value": "Alice"}])
        self.report("cognito update_user_attributes without a number: forwarded", "ResponseMetadata" in out, str(out))
        out = idp.confirm_sign_up(ClientId="client", Username=NIGERIA, ConfirmationCode="123456")
        self.report("cognito confirm_sign_up: a confirm, forwarded", "ResponseMetadata" in out, str(out))

    def cognito_mfa(self):
        """A password sign-in names the user; with SMS MFA the right password sends its number a
        code, which Cognito's answer says: the number's count of such codes (one a day on the
        route at /mfa) refuses the next sign-in of an account that never entered one."""
        attempts = Attempts()
        idp = aws_client("cognito-idp", f"{self.url}/mfa", attempts)
        idp.sign_up(ClientId="client", Username="mfa@example.com", Password="Passw0rd!",
                    UserAttributes=[{"Name": "phone_number", "Value": us(150)}])

        def password_sign_in():
            return idp.initiate_auth(ClientId="client", AuthFlow="USER_PASSWORD_AUTH",
                                     AuthParameters={"USERNAME": "mfa@example.com", "PASSWORD": "Passw0rd!"})

        out = password_sign_in()
        self.report("cognito initiate_auth USER_PASSWORD_AUTH: forwarded, SMS_MFA parsed",
                    out.get("ChallengeName") == "SMS_MFA", str(out))
        self.aws_error(password_sign_in, attempts, "ForbiddenException", 403, "rate_limited", "users-sign-in-codes",
                       "cognito initiate_auth by password once the number had its SMS MFA codes")

    def baseline(self):
        """For comparison only: the same throttle answered in pumpguard's own JSON (HTTP 429, a
        route with `"refusal": "pumpguard"` at /legacy); botocore retries it on its own."""
        attempts = Attempts()
        idp = aws_client("cognito-idp", f"{self.url}/legacy", attempts)
        sign_up = lambda: idp.sign_up(ClientId="client", Username="u", Password="Passw0rd!",  # noqa: E731
                                      UserAttributes=[{"Name": "phone_number", "Value": us(501)}])
        sign_up()
        attempts.count = 0
        seen = len(self.origin_requests())
        try:
            sign_up()
        except ClientError as e:
            status = e.response["ResponseMetadata"].get("HTTPStatusCode")
            print(f"info  baseline: a throttle answered 429 in pumpguard's JSON: boto3 raised "
                  f"{e.response['Error'].get('Code')!r} after {attempts.count} requests "
                  f"(status {status}); origin saw {len(self.origin_requests()) - seen}", flush=True)

    def sns(self):
        attempts = Attempts()
        sns = aws_client("sns", self.url, attempts)
        out = sns.publish(PhoneNumber=us(201), Message="code 123456")
        self.report("sns publish (US): forwarded, parsed", bool(out.get("MessageId")), str(out))
        e = self.aws_error(lambda: sns.publish(PhoneNumber=NIGERIA, Message="code"), attempts, "AuthorizationError", 403,
                           "country_not_allowed", "geo", "sns publish (NG)")
        if e is not None:
            self.report("sns publish (NG): client.exceptions.AuthorizationErrorException",
                        isinstance(e, sns.exceptions.AuthorizationErrorException), type(e).__name__)
            self.report("sns publish (NG): PumpguardError in the error",
                        e.response["Error"].get("PumpguardError") == "country_not_allowed", str(e.response["Error"]))
        self.aws_error(lambda: sns.publish(PhoneNumber=us(201), Message="code"), attempts, "AuthorizationError", 403,
                       "rate_limited", "per-number", "sns publish throttled")
        out = sns.list_topics()
        self.report("sns list_topics: not a send, forwarded", "ResponseMetadata" in out, str(out))

    def twilio(self):
        attempts = Attempts()
        client = TwilioClient("AC00000000000000000000000000000000", "token",
                              http_client=LocalTwilio(self.url, attempts))
        service = client.verify.v2.services(SERVICE)
        out = service.verifications.create(to=us(301), channel="sms")
        self.report("twilio verifications.create (US): forwarded, parsed", out.status == "pending", str(out.status))

        def refused(call, status, code, reason, rule, name):
            attempts.count = 0
            seen = len(self.origin_requests())
            try:
                call()
            except TwilioRestException as e:
                self.report(f"{name}: TwilioRestException {status} / {code}", (e.status, e.code) == (status, code),
                            f"{e.status} {e.code} {e.msg}")
                self.report(f"{name}: message names {reason} and rule {rule}",
                            f"pumpguard: {reason}, rule {rule}" in str(e.msg), str(e.msg))
                self.report(f"{name}: one attempt, no retry", attempts.count == 1, f"{attempts.count} attempts")
                self.report(f"{name}: origin saw nothing", len(self.origin_requests()) == seen)
                return
            except Exception as e:  # noqa: BLE001
                self.report(f"{name}: TwilioRestException", False, f"{type(e).__name__}: {e}")
                return
            self.report(f"{name}: TwilioRestException", False, "the call succeeded")

        refused(lambda: service.verifications.create(to=NIGERIA, channel="sms"), 403, 60410,
                "country_not_allowed", "geo", "twilio verifications.create (NG)")
        refused(lambda: service.verifications.create(to=us(301), channel="sms"), 429, 60203,
                "rate_limited", "per-number", "twilio verifications.create throttled")
        out = service.verification_checks.create(to=NIGERIA, code="123456")
        self.report("twilio verification_checks.create: a confirm, not judged as a send",
                    out.status == "approved", str(out.status))

    def firebase(self):
        def post(path, body):
            req = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body).encode(), method="POST",
                                         headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status, json.load(r)
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read() or b"null")

        status, body = post("/v1/accounts:sendVerificationCode?key=k",
                            {"phoneNumber": us(401), "recaptchaToken": "t"})
        self.report("firebase sendVerificationCode (US): forwarded", status == 200 and "sessionInfo" in body,
                    f"{status} {body}")
        # As the JS SDK v10+ and the iOS SDK send it where reCAPTCHA Enterprise is off for phone
        # sign-in: its "NO_RECAPTCHA" placeholder beside the real token.
        status, body = post("/v1/accounts:sendVerificationCode?key=k",
                            {"phoneNumber": us(402), "clientType": "CLIENT_TYPE_WEB", "captchaResponse": "NO_RECAPTCHA",
                             "recaptchaVersion": "RECAPTCHA_ENTERPRISE", "recaptchaToken": "v2"})
        self.report("firebase sendVerificationCode, Enterprise off (NO_RECAPTCHA beside recaptchaToken): forwarded",
                    status == 200 and "sessionInfo" in body, f"{status} {body}")
        for path in ["/v1/accounts:sendVerificationCode?key=k", "/v1/accounts%3AsendVerificationCode?key=k"]:
            status, body = post(path, {"phoneNumber": NIGERIA, "captchaResponse": "t", "clientType": "CLIENT_TYPE_WEB",
                                       "recaptchaVersion": "RECAPTCHA_ENTERPRISE"})
            name = f"firebase POST {path.split('?')[0]} (NG)"
            error = body.get("error") if isinstance(body, dict) else None
            ours = body.get("pumpguard", {}) if isinstance(body, dict) else {}
            # The Firebase JS SDK reads error.message as "<CODE> : <text>" and maps <CODE>
            # (OPERATION_NOT_ALLOWED: auth/operation-not-allowed, with <text> as the message).
            self.report(f"{name}: 400, Google error OPERATION_NOT_ALLOWED with the reason",
                        status == 400 and isinstance(error, dict)
                        and error.get("message", "").startswith("OPERATION_NOT_ALLOWED : ")
                        and "pumpguard: country_not_allowed, rule geo" in error.get("message", ""),
                        f"{status} {body}")
            self.report(f"{name}: pumpguard's fields", ours.get("error") == "country_not_allowed"
                        and ours.get("rule") == "geo", f"{body}")
        status, body = post("/v1/accounts:sendVerificationCode?key=k", {"phoneNumber": us(401)})
        message = (body.get("error") or {}).get("message", "") if isinstance(body, dict) else ""
        self.report("firebase sendVerificationCode throttled: TOO_MANY_ATTEMPTS_TRY_LATER",
                    status == 400 and message.startswith("TOO_MANY_ATTEMPTS_TRY_LATER : "), f"{status} {body}")


def run_all(url, origin, report):
    run = Run(url, origin, report)
    for part in (run.cognito, run.cognito_mfa, run.sns, run.twilio, run.firebase, run.baseline):
        try:
            part()
        except Exception as e:  # noqa: BLE001 - an SDK call that failed unexpectedly
            report(f"{part.__name__}: no unexpected exception", False, f"{type(e).__name__}: {e}")
