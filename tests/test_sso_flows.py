"""The Crowd and Okta login flows without a server: fed with recorded real Okta answers.

The flows are generators (httpx ``auth_flow`` style): each test plays the server by
answering the requests the flow yields, so every branch is checked in milliseconds.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree

from tap_atlassian.auth.crowd import crowd_flow
from tap_atlassian.auth.okta import OktaOptions, okta_flow
from tap_atlassian.auth.saml import (
    FlowRequest,
    FlowResponse,
    LoginError,
    Wait,
    check_saml_status,
    parse_saml_form,
    parse_saml_xml,
)
from tap_atlassian.config import parse_sso_properties

PAYLOADS = Path(__file__).parent / "payloads" / "okta"
ORG = "https://example.okta.com"
LOGIN = f"{ORG}/home/appType/0bg4ivz6cJRZgCz5d6/46"
CROWD_LOGIN = "https://idp.example.com/crowd/console/secure/saml/sso.action"
EXCHANGE = "https://jira.example.com/plugins/servlet/samlconsumer"
SECRETS = ("s3cret-Password", "app-s3cret", "totp-123456", "00Tsecret-api-token", "SESSIONCOOKIE",
           "crowd-token-xyz", "00p8RhRDCh_8NxIin-wtF5M6ofFtRhfKWGBAbd2WmE")


def payload(name: str) -> dict:
    """A recorded Okta answer body, its `<%= uri %>` templates pointing at ORG."""
    text = (PAYLOADS / name).read_text(encoding="utf-8").replace("<%= uri %>", ORG)
    data = json.loads(text)
    return data["response"] if name.endswith(".extracted.json") else data


def answer(status: int, url: str, body: object = b"", cookies: dict | None = None,
           headers: dict | None = None) -> FlowResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return FlowResponse(status=status, url=url, body=raw, cookies=cookies or {},
                        headers=headers or {})


def saml_response(status: str = "urn:oasis:names:tc:SAML:2.0:status:Success") -> str:
    xml = (f'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="r1">'
           f'<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status>'
           f'<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">ASSERTION'
           f'</saml:Assertion></samlp:Response>')
    return base64.b64encode(xml.encode()).decode()


def form_page(action: str = EXCHANGE, saml: str | None = None) -> bytes:
    return (f'<html><body onload="document.forms[0].submit()"><form method="post" '
            f'action="{action}"><input type="hidden" name="SAMLResponse" '
            f'value="{saml or saml_response()}"/><input type="hidden" name="RelayState" '
            f'value="/"/></form></body></html>').encode()


class Server:
    """Plays the servers: `handler(request) -> FlowResponse`; records what the flow sent."""

    def __init__(self, handler):
        self.handler = handler
        self.requests: list[FlowRequest] = []
        self.waits: list[float] = []

    def run(self, flow):
        item = next(flow)
        while True:
            if isinstance(item, Wait):
                self.waits.append(item.seconds)
                reply = None
            else:
                self.requests.append(item)
                reply = self.handler(item)
            try:
                item = flow.send(reply)
            except StopIteration as stop:
                return stop.value

    def fail(self, flow) -> str:
        with pytest.raises(LoginError) as info:
            self.run(flow)
        message = str(info.value)
        assert "\n" not in message
        for secret in SECRETS:
            assert secret not in message
        return message


def consumer_ok(request: FlowRequest) -> FlowResponse:
    assert request.url == EXCHANGE
    assert request.data["RelayState"] == "/"
    check_saml_status("test", "test", request.data["SAMLResponse"])
    return answer(302, EXCHANGE, cookies={"JSESSIONID": "SESSIONCOOKIE"},
                  headers={"Location": "https://jira.example.com/"})


# -- Crowd ---------------------------------------------------------------------------

def crowd(**over):
    kw = {"user": "alice", "password": "s3cret-Password", "login_url": CROWD_LOGIN,
          "exchange_url": EXCHANGE, "app_name": "jira-sso", "app_password": "app-s3cret"}
    return crowd_flow(**{**kw, **over})


def crowd_server(session_answer=None, page=None):
    def handler(req: FlowRequest) -> FlowResponse:
        if req.url.endswith("/rest/usermanagement/1/session"):
            return session_answer or answer(201, req.url, {"token": "crowd-token-xyz"})
        if req.url == CROWD_LOGIN:
            return page or answer(200, req.url, form_page())
        return consumer_ok(req)
    return Server(handler)


def test_crowd_logs_in_with_application_basic_auth_then_posts_the_form():
    server = crowd_server()
    result = server.run(crowd())
    session, sso, consume = server.requests
    assert session.method == "POST"
    assert session.url == "https://idp.example.com/crowd/rest/usermanagement/1/session"
    assert session.headers["Authorization"] == "Basic " + base64.b64encode(
        b"jira-sso:app-s3cret").decode()
    assert session.headers["Accept"] == "application/json"
    assert session.json["username"] == "alice"
    assert session.json["password"] == "s3cret-Password"
    assert session.json["validation-factors"]["validationFactors"][0]["name"] == "remote_address"
    assert sso.method == "GET"
    assert sso.cookies == {"crowd.token_key": "crowd-token-xyz"}
    assert consume.method == "POST"
    assert consume.follow_redirects is False
    assert result.cookies == {"JSESSIONID": "SESSIONCOOKIE"}
    assert "s3cret" not in repr(session) and "crowd-token" not in repr(sso)


def test_crowd_wrong_application_credentials():
    server = crowd_server(answer(401, "https://idp.example.com/x", b"Application failed"))
    message = server.fail(crowd())
    assert "application credentials" in message and "sso_app_name" in message
    assert "HTTP 401" in message and len(server.requests) == 1


def test_crowd_wrong_user_password():
    body = {"reason": "INVALID_USER_AUTHENTICATION",
            "message": "Failed to authenticate principal, password was invalid"}
    message = crowd_server(answer(400, "https://idp.example.com/x", body)).fail(crowd())
    assert "user's name or password" in message and "INVALID_USER_AUTHENTICATION" in message


def test_crowd_page_without_form_names_url_and_status():
    page = answer(200, CROWD_LOGIN + "?x=1", b"<html><body>Log in to Crowd</body></html>")
    message = crowd_server(page=page).fail(crowd())
    assert CROWD_LOGIN in message and "HTTP 200" in message and "?x=1" not in message


def test_crowd_login_url_must_be_a_crowd_sso_url():
    from tap_atlassian.config import ConfigError
    with pytest.raises(ConfigError, match="sso_login_url"):
        crowd_server().run(crowd(login_url="https://idp.example.com/sso"))


# -- SAML form handling ----------------------------------------------------------------

def test_form_posting_to_another_origin_is_refused_and_nothing_is_posted():
    page = answer(200, CROWD_LOGIN, form_page(action="https://evil.example.net/samlconsumer"))
    server = crowd_server(page=page)
    message = server.fail(crowd())
    assert "refused" in message and "evil.example.net" in message
    assert all("evil" not in r.url for r in server.requests)
    assert len(server.requests) == 2


def test_same_host_other_port_is_another_origin():
    page = answer(200, CROWD_LOGIN, form_page(action="https://jira.example.com:8443/samlconsumer"))
    assert "refused" in crowd_server(page=page).fail(crowd())


def test_relative_action_resolves_against_the_page():
    page = answer(200, "https://jira.example.com/idp", form_page(action="/plugins/servlet/samlconsumer"))
    form = parse_saml_form("crowd", "form", page)
    assert form.action == EXCHANGE
    assert "SAMLResponse" not in repr(form).replace("'SAMLResponse'", "")
    assert saml_response() not in repr(form)


def test_saml_xml_external_entity_is_not_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-FILE")
    xml = (f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
           '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">'
           '<Issuer>&x;</Issuer></samlp:Response>')
    root = parse_saml_xml("crowd", "form", base64.b64encode(xml.encode()).decode())
    assert "TOP-SECRET-FILE" not in etree.tostring(root).decode()


def test_saml_failure_status_is_reported():
    page = answer(200, CROWD_LOGIN, form_page(saml=saml_response(
        "urn:oasis:names:tc:SAML:2.0:status:Responder")))
    assert "status:Responder" in crowd_server(page=page).fail(crowd())


def test_consumer_not_setting_cookies_or_redirecting_to_login_is_an_error():
    def handler(req):
        if req.url == EXCHANGE:
            return answer(302, EXCHANGE, headers={"Location": "https://jira.example.com/login.jsp"})
        return crowd_server().handler(req)
    message = Server(handler).fail(crowd())
    assert "did not accept the assertion" in message and "login.jsp" in message


# -- Okta ------------------------------------------------------------------------------

def okta(options: OktaOptions | None = None, **over):
    kw = {"user": "alice@example.com", "password": "s3cret-Password", "login_url": LOGIN,
          "exchange_url": EXCHANGE, "options": options or OktaOptions(),
          "device_token": "device-1"}
    return okta_flow(**{**kw, **over})


def okta_server(authn, verify=None):
    """authn: the /api/v1/authn answer body; verify: list of (status, body) for MFA calls."""
    verify = list(verify or [])

    def handler(req: FlowRequest) -> FlowResponse:
        if req.url == f"{ORG}/api/v1/authn":
            status = 401 if authn.get("errorCode") else 200
            return answer(status, req.url, authn)
        if "/api/v1/authn/factors/" in req.url:
            status, body, *cookies = verify.pop(0)
            return answer(status, req.url, body, cookies=cookies[0] if cookies else None)
        if req.url == LOGIN:
            assert req.params == {"sessionToken": payload("okta-authn-SUCCESS.extracted.json")
                                  ["sessionToken"]}
            return answer(200, LOGIN + "?sessionToken=" + req.params["sessionToken"], form_page())
        return consumer_ok(req)
    return Server(handler)


def success() -> dict:
    return payload("okta-authn-SUCCESS.extracted.json")


def test_okta_without_mfa_uses_the_recorded_success_answer():
    server = okta_server(success())
    result = server.run(okta())
    authn, embed, consume = server.requests
    assert authn.json == {"username": "alice@example.com", "password": "s3cret-Password",
                          "context": {"deviceToken": "device-1"}}
    assert "Authorization" not in authn.headers
    assert embed.url == LOGIN and embed.method == "GET"
    assert result.consumer.cookies == {"JSESSIONID": "SESSIONCOOKIE"}
    assert result.mfa_factor is None and result.device_token == "device-1"


def test_okta_trusted_application_sends_ssws():
    server = okta_server(success())
    server.run(okta(OktaOptions(api_token="00Tsecret-api-token")))
    assert server.requests[0].headers["Authorization"] == "SSWS 00Tsecret-api-token"


def test_okta_wrong_password_recorded_401():
    authn = json.loads((PAYLOADS / "okta-authn-401-E0000004-authentication-failed.json").read_text())
    message = okta_server(authn).fail(okta())
    assert "E0000004" in message and "Authentication failed" in message
    assert "check user and password" in message


def test_okta_locked_out_recorded():
    message = okta_server(payload("okta-authn-LOCKED_OUT.json")).fail(okta())
    assert "LOCKED_OUT" in message and "locked out" in message


def test_okta_rate_limit_is_an_unexpected_answer_with_okta_words():
    def handler(req):
        return answer(429, req.url, payload("okta-authn-429-E0000047-rate-limit.extracted.json"))
    message = Server(handler).fail(okta())
    assert "HTTP 429" in message and "E0000047" in message and "/api/v1/authn" in message


def mfa_required() -> dict:
    return payload("okta-authn-MFA_REQUIRED.extracted.json")


def test_okta_mfa_without_mfa_type_lists_the_factors():
    message = okta_server(mfa_required()).fail(okta())
    assert "set sso_properties.mfa_type" in message and "push" in message and "sms" in message


def test_okta_verify_push_polls_until_approved_with_remember_device():
    waiting = payload("okta-authn-MFA_CHALLENGE-push-WAITING.json")  # okta-auth-swift recording
    waiting["_links"]["next"]["href"] = f"{ORG}/api/v1/authn/factors/opfkdh40kws5XarDb0h7/verify"
    done = {**success()}
    server = okta_server(mfa_required(), [(200, waiting), (200, waiting),
                                          (200, done, {"DT": "okta-device-token"})])
    result = server.run(okta(OktaOptions(mfa_type="OktaVerify", poll_seconds=0.5)))
    verify, poll1, poll2 = server.requests[1:4]
    assert urlsplit(verify.url).path == "/api/v1/authn/factors/opfhw7v2OnxKpftO40g3/verify"
    assert parse_qs(urlsplit(verify.url).query) == {"rememberDevice": ["true"]}
    assert verify.json == {"stateToken": mfa_required()["stateToken"]}
    assert poll1.json == poll2.json == verify.json
    assert urlsplit(poll1.url).path.endswith("/opfkdh40kws5XarDb0h7/verify")
    assert server.waits == [0.5, 0.5]
    assert result.mfa_factor == "push" and result.device_token == "okta-device-token"


def test_okta_verify_number_challenge_is_shown(caplog):
    waiting = payload("okta-authn-MFA_CHALLENGE-push-WAITING.json")  # correctAnswer 92
    server = okta_server(mfa_required(), [(200, waiting), (200, success())])
    with caplog.at_level("INFO", logger="tap-atlassian"):
        server.run(okta(OktaOptions(mfa_type="OktaVerify", poll_seconds=0)))
    pushes = [r.getMessage() for r in caplog.records if "push sent" in r.getMessage()]
    assert len(pushes) == 1 and "choosing 92" in pushes[0]


def test_okta_verify_push_recorded_js_waiting_then_rejected():
    waiting = payload("okta-authn-MFA_CHALLENGE-push-WAITING.extracted.json")
    rejected = {**waiting, "factorResult": "REJECTED"}
    server = okta_server(mfa_required(), [(200, waiting), (200, rejected)])
    message = server.fail(okta(OktaOptions(mfa_type="OktaVerify", poll_seconds=0)))
    assert "rejected" in message


def test_okta_verify_push_times_out():
    waiting = payload("okta-authn-MFA_CHALLENGE-push-WAITING.extracted.json")
    server = okta_server(mfa_required(), [(200, waiting)] * 10)
    message = server.fail(okta(OktaOptions(mfa_type="OktaVerify", poll_seconds=1,
                                           push_timeout_seconds=3)))
    assert "not answered in time" in message and server.waits == [1, 1, 1]
    timeout = {**waiting, "factorResult": "TIMEOUT"}
    server = okta_server(mfa_required(), [(200, waiting), (200, timeout)])
    assert "not answered in time" in server.fail(okta(OktaOptions(mfa_type="OktaVerify")))


def test_okta_verify_with_passcode_uses_okta_totp_factor():
    server = okta_server(mfa_required(), [(200, success())])
    server.run(okta(OktaOptions(mfa_type="OktaVerify", mfa_passcode="totp-123456",
                                mfa_remember_device=False)))
    verify = server.requests[1]
    assert verify.url == f"{ORG}/api/v1/authn/factors/ostigevBq2NObXmTh0g3/verify"
    assert verify.json == {"stateToken": mfa_required()["stateToken"], "passCode": "totp-123456"}


def test_okta_refused_totp_is_fatal_and_says_so():
    refused = {"errorCode": "E0000068", "errorSummary": "Invalid Passcode/Answer"}
    server = okta_server(mfa_required(), [(403, refused)])
    message = server.fail(okta(OktaOptions(mfa_type="OktaVerify", mfa_passcode="totp-123456")))
    assert "refused the passcode" in message and "E0000068" in message
    assert len(server.requests) == 2


def test_okta_sms_with_passcode():
    server = okta_server(mfa_required(), [(200, success())])
    result = server.run(okta(OktaOptions(mfa_type="SMS", mfa_passcode="totp-123456")))
    assert "/smsigwDlH85L9FyQK0g3/verify" in server.requests[1].url
    assert result.mfa_factor == "sms"


def test_okta_sms_without_passcode_sends_a_code_and_stops():
    challenge = payload("okta-authn-MFA_CHALLENGE-sms.json")
    server = okta_server(mfa_required(), [(200, challenge)])
    message = server.fail(okta(OktaOptions(mfa_type="SMS")))
    assert server.requests[1].json == {"stateToken": mfa_required()["stateToken"]}
    assert "sent a new one-time code by SMS" in message and "mfa_passcode" in message
    assert len(server.requests) == 2  # nothing after the challenge


def test_okta_sms_refused_passcode_sends_a_new_code_and_stops():
    refused = {"errorCode": "E0000068", "errorSummary": "Invalid Passcode/Answer"}
    challenge = payload("okta-authn-MFA_CHALLENGE-sms.json")
    server = okta_server(mfa_required(), [(403, refused), (200, challenge)])
    message = server.fail(okta(OktaOptions(mfa_type="SMS", mfa_passcode="totp-123456")))
    assert "refused the passcode" in message and "sent a new one-time code" in message
    assert server.requests[2].json == {"stateToken": mfa_required()["stateToken"]}


def test_okta_email_factor_missing_is_named():
    message = okta_server(mfa_required()).fail(okta(OktaOptions(mfa_type="Email")))
    assert "needs a email factor" in message and "question" in message


def test_seed_string_properties_become_options():
    props = parse_sso_properties("APIToken=00Tsecret-api-token;MFAType=sms;MFAPassCode=123;"
                                 "MFARememberDevice=False")
    options = OktaOptions.from_properties(props)
    assert options.api_token == "00Tsecret-api-token" and options.mfa_type == "SMS"
    assert options.mfa_passcode == "123" and options.mfa_remember_device is False
    assert "00Tsecret" not in repr(options)
    obj = OktaOptions.from_properties({"mfa_type": "oktaverify", "MFA_Poll_Seconds": "0.1"})
    assert obj.mfa_type == "OktaVerify" and obj.poll_seconds == 0.1
    assert obj.mfa_remember_device is True


def test_every_spelling_of_a_property_reaches_the_same_key():
    spellings = ["MFAPollSeconds=0.5;RemoteAddress=10.0.0.5", "mfa_poll_seconds=0.5;remote_address=10.0.0.5",
                 "MFA_Poll_Seconds=0.5;Remote_Address=10.0.0.5"]
    for text in spellings:
        props = parse_sso_properties(text)
        assert props["mfa_poll_seconds"] == "0.5" and props["remote_address"] == "10.0.0.5", text
        assert OktaOptions.from_properties(props).poll_seconds == 0.5


# -- where each product signs in ------------------------------------------------------------

def target(product: str, **config):
    from tap_atlassian.auth.saml import sso_target
    from tap_atlassian.config import Settings
    from tap_atlassian.sites import Site, product_base_url

    settings = Settings.from_config({"url": "https://jira.example.com", "deployment": "server",
                                     "auth_scheme": "okta", "user": "u", "password": "p",
                                     "sso_login_url": LOGIN, **config})
    return sso_target(settings, product, Site(product, "server",
                                              product_base_url(settings, product, "server")))


def test_sso_target_defaults_to_the_product_consumer():
    assert target("jira").exchange_url == EXCHANGE
    assert target("confluence").login_url == LOGIN
    assert target("confluence").exchange_url == EXCHANGE  # same host: same service provider


def test_sso_target_confluence_on_its_own_host():
    wiki = "https://wiki.example.com"
    own = target("confluence", sso_exchange_url=EXCHANGE, confluence_url=wiki)
    assert own.exchange_url == f"{wiki}/plugins/servlet/samlconsumer"
    assert own.login_url == LOGIN
    explicit = target("confluence", confluence_url=wiki,
                      confluence_sso_login_url=f"{ORG}/home/app/2/3",
                      confluence_sso_exchange_url=f"{wiki}/plugins/servlet/samlsso")
    assert explicit == type(explicit)(f"{ORG}/home/app/2/3", f"{wiki}/plugins/servlet/samlsso")
    assert target("jira", confluence_url=wiki).exchange_url == EXCHANGE


def test_character_references_in_the_form_are_decoded():
    # Okta writes the base64 assertion with '+' and '=' as character references.
    saml = saml_response()
    encoded = saml.replace("+", "&#x2b;").replace("=", "&#x3d;")
    page = (f'<html><body><form method="POST" action="{EXCHANGE.replace("/", "&#x2f;")}">'
            f'<input name="SAMLResponse" type="hidden" value="{encoded}"/></form></body></html>')
    form = parse_saml_form("okta", "form", answer(200, LOGIN, page.encode()))
    assert form.fields["SAMLResponse"] == saml and form.action == EXCHANGE


def _response(status: int, url: str, location: str | None = None, history: bool = False):
    import requests

    r = requests.Response()
    r.status_code, r.url = status, url
    if location:
        r.headers["Location"] = location
    if history:
        r.history = [_response(302, "https://jira.example.com/rest/api/2/search")]
    return r


@pytest.mark.parametrize(("response", "expected"), [
    (_response(401, "https://jira.example.com/rest/api/2/search"), True),
    (_response(302, "https://jira.example.com/rest/api/2/search",
               "https://jira.example.com/login.jsp?os_destination=x"), True),
    (_response(302, "https://jira.example.com/x", "https://idp.example.com/crowd/console/"
               "secure/saml/sso.action"), True),
    (_response(200, "https://jira.example.com/login.jsp", history=True), True),
    (_response(200, "https://jira.example.com/login.jsp"), False),  # asked for, not redirected
    (_response(302, "https://jira.example.com/x", "https://jira.example.com/browse/X-1"), False),
    (_response(403, "https://jira.example.com/rest/api/2/search"), False),
    (_response(404, "https://jira.example.com/rest/api/2/search"), False),
])
def test_what_counts_as_a_refused_session(response, expected):
    from tap_atlassian.auth.saml import is_rejection

    assert is_rejection(response) is expected
