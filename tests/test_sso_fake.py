"""Crowd and Okta logins over real HTTP against the fake site's identity providers.

The tap's scheme classes log in through the fake Crowd / Okta / samlconsumer exactly as in a
tap run (``prepare_session`` on a ``requests.Session``), then call the product API with the
session cookies. Fast: no sleeping (push polls at 0 s), small data.
"""

from __future__ import annotations

import pytest
import requests

from tap_atlassian.auth import build_authenticator
from tap_atlassian.auth.saml import FlowRequest, LoginError, drive, submit_saml_form
from tap_atlassian.config import ConfigError, Settings
from tap_atlassian.settings_file import SettingsFile
from tap_atlassian.sites import Site
from tests.fake_atlassian import FakeAtlassian
from tests.fake_atlassian.idp_saml import issue_response, signing_key


@pytest.fixture(scope="module")
def fake():
    with FakeAtlassian(flavour="server", size="small") as site:
        yield site


@pytest.fixture(autouse=True)
def _reset(fake):
    fake.okta.push_script = ["WAITING", "WAITING", "SUCCESS"]
    fake.okta.require_api_token = False
    fake.okta.remembered.clear()
    fake.okta.user.mfa = False
    fake.okta.user.status = "ACTIVE"
    fake.saml.expire_sessions_after(None)
    fake.saml.expired_answer = "401"
    fake.log.clear()


def settings_for(fake, base: dict, tmp_path, **extra) -> Settings:
    config = {"url": fake.url, "deployment": "server",
              "oauth_settings_location": str(tmp_path / "settings.txt"), **base, **extra}
    return Settings.from_config(config)


def login(settings: Settings, fake, product: str = "jira") -> tuple[requests.Session, object]:
    base = fake.jira_url if product == "jira" else fake.confluence_url
    auth = build_authenticator(settings, product, Site(product, "server", base))
    session = requests.Session()
    auth.prepare(session)
    return session, auth


def myself(fake, session: requests.Session) -> requests.Response:
    return session.get(fake.jira_url + "/rest/api/2/myself", timeout=10)


def secrets_of(fake, settings: Settings) -> list[str]:
    return [*settings.secrets(), *fake.issued_secrets, fake.okta.api_token]


def assert_clean(message: str, fake, settings: Settings) -> None:
    assert "\n" not in message
    for secret in secrets_of(fake, settings):
        assert secret not in message


# -- Crowd -------------------------------------------------------------------------------

def test_crowd_login_then_api_calls_ride_on_the_session_cookie(fake, tmp_path):
    settings = settings_for(fake, fake.crowd.settings(), tmp_path)
    session, _ = login(settings, fake)
    assert [c.name for c in session.cookies if c.domain == "127.0.0.1"] == ["JSESSIONID"]
    assert "crowd.token_key" not in session.cookies  # the Crowd token is not kept
    response = myself(fake, session)
    assert response.status_code == 200
    entry = fake.log.find("/rest/api/2/myself")[-1]
    assert entry.auth == "session" and entry.auth_scheme is None
    assert fake.saml.accepted[-1]["issuer"] == fake.crowd.issuer
    session_call = fake.log.find("/crowd/rest/usermanagement/1/session")[-1]
    assert session_call.status == 201 and session_call.auth_scheme == "Basic"


def test_crowd_remote_address_validation_factor(fake, tmp_path):
    settings = settings_for(fake, fake.crowd.settings(), tmp_path,
                            sso_properties="RemoteAddress=10.1.2.3")
    login(settings, fake)
    assert fake.crowd.validation_factors[-1] == [{"name": "remote_address", "value": "10.1.2.3"}]


@pytest.mark.parametrize(("change", "expected"), [
    ({"sso_app_password": "wrong-app-secret"}, "Crowd rejected the application credentials"),
    ({"sso_app_name": "other-app"}, "Crowd rejected the application credentials"),
    ({"password": "wrong-user-password"}, "Crowd rejected the user's name or password"),
])
def test_crowd_wrong_credentials(fake, tmp_path, change, expected):
    settings = settings_for(fake, {**fake.crowd.settings(), **change}, tmp_path)
    with pytest.raises(LoginError) as info:
        login(settings, fake)
    assert expected in str(info.value)
    assert_clean(str(info.value), fake, settings)


def test_crowd_sso_page_without_a_form_names_url_and_status(fake, tmp_path):
    settings = settings_for(fake, fake.crowd.settings(), tmp_path)
    fake.crowd.sso_enabled = False
    try:
        with pytest.raises(LoginError) as info:
            login(settings, fake)
    finally:
        fake.crowd.sso_enabled = True
    message = str(info.value)
    assert f"{fake.url}/crowd/console/login.action" in message and "HTTP 200" in message
    assert "no form with a SAMLResponse" in message
    assert_clean(message, fake, settings)


# -- the service provider ------------------------------------------------------------------

def test_consumer_refuses_an_assertion_from_an_untrusted_key(fake):
    acs = fake.jira_url + "/plugins/servlet/samlconsumer"
    forged = issue_response(issuer=fake.okta.issuer, key=signing_key("attacker"),
                            user="ada.lovelace", destination=acs, audience=fake.jira_url)
    response = requests.post(acs, data={"SAMLResponse": forged}, allow_redirects=False, timeout=5)
    assert response.status_code == 403 and "JSESSIONID" not in response.cookies
    assert fake.saml.refused[-1] == "bad signature"


def test_consumer_refuses_an_assertion_for_another_consumer(fake):
    acs = fake.jira_url + "/plugins/servlet/samlconsumer"
    other = issue_response(issuer=fake.okta.issuer, key=fake.okta.key, user="ada.lovelace",
                           destination="http://elsewhere.example/plugins/servlet/samlconsumer",
                           audience=fake.jira_url)
    response = requests.post(acs, data={"SAMLResponse": other}, allow_redirects=False, timeout=5)
    assert response.status_code == 403 and "Destination" in fake.saml.refused[-1]


def test_assertion_cannot_be_replayed(fake):
    acs = fake.jira_url + "/plugins/servlet/samlconsumer"
    good = issue_response(issuer=fake.okta.issuer, key=fake.okta.key, user="ada.lovelace",
                          destination=acs, audience=fake.jira_url)
    first = requests.post(acs, data={"SAMLResponse": good}, allow_redirects=False, timeout=5)
    again = requests.post(acs, data={"SAMLResponse": good}, allow_redirects=False, timeout=5)
    assert first.status_code == 302 and "JSESSIONID" in first.cookies
    assert again.status_code == 403 and fake.saml.refused[-1] == "assertion replayed"


@pytest.mark.parametrize("answer", ["401", "redirect"])
def test_control_expire_sessions_ends_sso_sessions_with_the_expired_answer(fake, answer):
    fake.saml.expired_answer = answer
    acs = fake.jira_url + "/plugins/servlet/samlconsumer"
    good = issue_response(issuer=fake.okta.issuer, key=fake.okta.key, user="ada.lovelace",
                          destination=acs, audience=fake.jira_url)
    login = requests.post(acs, data={"SAMLResponse": good}, allow_redirects=False, timeout=5)
    cookies = {"JSESSIONID": login.cookies["JSESSIONID"]}
    url = fake.jira_url + "/rest/api/2/myself"
    assert requests.get(url, cookies=cookies, timeout=5).status_code == 200
    assert fake.control.expire_sessions() >= 1
    expired = requests.get(url, cookies=cookies, allow_redirects=False, timeout=5)
    if answer == "redirect":
        assert expired.status_code == 302
        assert "/login.jsp?os_destination=" in expired.headers["Location"]
    else:
        assert expired.status_code == 401


@pytest.mark.parametrize("answer", ["401", "redirect"])
def test_expired_session_is_renewed_once(fake, tmp_path, answer):
    fake.saml.expired_answer = answer
    settings = settings_for(fake, fake.crowd.settings(), tmp_path)
    fake.saml.expire_sessions_after(2)
    session, auth = login(settings, fake)
    assert myself(fake, session).status_code == 200
    assert myself(fake, session).status_code == 200
    rejected = session.get(fake.jira_url + "/rest/api/2/myself", timeout=5)  # as the client does
    assert rejected.status_code == (401 if answer == "401" else 200)
    assert rejected.url.split("?")[0].endswith("/login.jsp") == (answer == "redirect")
    before = len(fake.log.find("/crowd/rest/usermanagement/1/session"))
    assert auth.renew(session, rejected) is True
    assert len(fake.log.find("/crowd/rest/usermanagement/1/session")) == before + 1
    assert myself(fake, session).status_code == 200


def test_renew_ignores_other_failures(fake, tmp_path):
    settings = settings_for(fake, fake.crowd.settings(), tmp_path)
    session, auth = login(settings, fake)
    missing = session.get(fake.jira_url + "/rest/api/2/issue/NOPE-1", timeout=5)
    assert missing.status_code == 404
    assert auth.renew(session, missing) is False


# -- Okta ----------------------------------------------------------------------------------

def okta_settings(fake, tmp_path, **props) -> Settings:
    base = fake.okta.settings()
    if props:
        base["sso_properties"] = props
    return settings_for(fake, base, tmp_path)


def factor_calls(fake) -> list:
    return fake.log.find("/api/v1/authn/factors/")


def test_okta_without_mfa(fake, tmp_path):
    session, _ = login(okta_settings(fake, tmp_path), fake)
    assert myself(fake, session).status_code == 200
    assert factor_calls(fake) == []
    assert fake.saml.accepted[-1]["issuer"] == fake.okta.issuer


def test_okta_embed_link_goes_through_the_okta_session_cookie(fake, tmp_path):
    session, _ = login(okta_settings(fake, tmp_path), fake)
    hops = [(e.path, e.status) for e in fake.log if e.product == "okta" and e.method == "GET"]
    assert hops == [("/home/atlassian_jira/0oaFAKEjira/aln1", 302),
                    ("/login/sessionCookieRedirect", 302),
                    ("/app/atlassian_jira/0oaFAKEjira/sso/saml", 200)]
    token = fake.log.find("/login/sessionCookieRedirect")[0].arg("token")
    again = requests.get(f"{fake.url}/login/sessionCookieRedirect", params={"token": token},
                         timeout=5)
    assert again.url.split("?")[0].endswith("/login/login.htm")  # single use


def test_okta_embed_link_without_a_session_is_an_unexpected_page(fake):
    def flow():  # the SAML step alone, without Okta's sessionToken
        page = yield FlowRequest("GET", fake.okta.embed_link(), step="embed link")
        return (yield from submit_saml_form("okta", page, f"{fake.jira_url}/plugins/servlet/samlconsumer"))

    with pytest.raises(LoginError) as info:
        drive(flow(), requests.Session(), scheme="okta")
    assert f"{fake.url}/login/login.htm: HTTP 200" in str(info.value)


def test_okta_push_approved_after_polls_and_device_remembered(fake, tmp_path):
    fake.okta.user.mfa = True
    settings = okta_settings(fake, tmp_path, mfa_type="OktaVerify", mfa_poll_seconds=0)
    session, _ = login(settings, fake)
    assert myself(fake, session).status_code == 200
    calls = factor_calls(fake)
    assert len(calls) == 3 and all(c.arg("rememberDevice") == "true" for c in calls)
    assert (tmp_path / "settings.txt").exists()
    assert "okta-pw" not in (tmp_path / "settings.txt").read_text()
    # a later sign-in with the same settings file makes no MFA call
    fake.log.clear()
    settings2 = okta_settings(fake, tmp_path, mfa_type="OktaVerify", mfa_poll_seconds=0)
    auth2 = build_authenticator(settings2, "jira", Site("jira", "server", fake.jira_url))
    auth2.scheme.login()  # a fresh sign-in, not the stored session
    assert len(fake.log.find("/api/v1/authn", method="POST")) == 1
    assert factor_calls(fake) == []
    assert auth2.scheme.status()["device_remembered"] is True


def test_okta_push_rejected(fake, tmp_path):
    fake.okta.user.mfa = True
    fake.okta.push_script = ["WAITING", "REJECTED"]
    settings = okta_settings(fake, tmp_path, mfa_type="OktaVerify", mfa_poll_seconds=0)
    with pytest.raises(LoginError, match="push was rejected"):
        login(settings, fake)


def test_okta_push_timeout(fake, tmp_path):
    fake.okta.user.mfa = True
    fake.okta.push_script = ["WAITING"]
    settings = okta_settings(fake, tmp_path, mfa_type="OktaVerify", mfa_poll_seconds=0.01,
                             mfa_timeout_seconds=0.05)
    with pytest.raises(LoginError, match="not answered in time"):
        login(settings, fake)
    assert 4 <= len(factor_calls(fake)) <= 7


def test_okta_sms_without_passcode_then_with_it(fake, tmp_path):
    fake.okta.user.mfa = True
    settings = okta_settings(fake, tmp_path, MFAType="SMS")
    with pytest.raises(LoginError) as info:
        login(settings, fake)
    assert "set sso_properties.mfa_passcode (MFAPassCode) to that code" in str(info.value)
    code = fake.okta.last_code("sms")
    assert code not in str(info.value)
    session, _ = login(okta_settings(fake, tmp_path, MFAType="SMS", MFAPassCode=code), fake)
    assert myself(fake, session).status_code == 200


def test_okta_email_refused_passcode_sends_a_new_one(fake, tmp_path):
    fake.okta.user.mfa = True
    settings = okta_settings(fake, tmp_path, mfa_type="Email", mfa_passcode="000000x")
    sent = len(fake.okta.outbox)
    with pytest.raises(LoginError) as info:
        login(settings, fake)
    assert "refused the passcode" in str(info.value) and "by e-mail" in str(info.value)
    assert len(fake.okta.outbox) == sent + 1
    assert_clean(str(info.value), fake, settings)


def test_okta_totp(fake, tmp_path):
    fake.okta.user.mfa = True
    settings = okta_settings(fake, tmp_path, mfa_type="OktaVerify",
                             mfa_passcode=fake.okta.totp_now(), mfa_remember_device=False)
    session, _ = login(settings, fake)
    assert myself(fake, session).status_code == 200
    assert [c.path.rsplit("/", 2)[-2] for c in factor_calls(fake)] == ["ostFAKEtotp0g3"]
    assert factor_calls(fake)[0].arg("rememberDevice") is None
    stored = SettingsFile(tmp_path / "settings.txt", settings.password).load()
    assert "device_token" not in stored["okta:jira"]  # only the product session is kept


# -- the product session kept between runs ---------------------------------------------------

def test_stored_session_is_reused_by_the_next_run(fake, tmp_path):
    first = settings_for(fake, fake.crowd.settings(), tmp_path)
    login(first, fake)
    assert "JSESSIONID" not in (tmp_path / "settings.txt").read_text()  # encrypted
    fake.log.clear()
    again = settings_for(fake, fake.crowd.settings(), tmp_path)  # a new run
    session, auth = login(again, fake)
    assert myself(fake, session).status_code == 200
    assert [e for e in fake.log if e.product == "crowd"] == []
    assert auth.scheme.status()["session_stored"] is True


def test_stored_session_that_expired_is_renewed(fake, tmp_path):
    login(settings_for(fake, fake.crowd.settings(), tmp_path), fake)
    fake.saml.expire_all()
    session, auth = login(settings_for(fake, fake.crowd.settings(), tmp_path), fake)
    refused = myself(fake, session)
    assert refused.status_code == 401
    assert auth.renew(session, refused) is True
    assert myself(fake, session).status_code == 200


def test_stored_session_of_another_user_or_site_is_not_used(fake, tmp_path):
    login(settings_for(fake, fake.crowd.settings(), tmp_path), fake)
    fake.log.clear()
    other = {**fake.crowd.settings(), "sso_exchange_url": fake.url + "/plugins/servlet/samlsso"}
    settings = settings_for(fake, other, tmp_path)
    auth = build_authenticator(settings, "jira", Site("jira", "server", fake.jira_url))
    assert auth.scheme.status()["session_stored"] is False
    with pytest.raises(LoginError):  # it signs in (and the consumer path is not the IdP's)
        auth.prepare(requests.Session())
    assert fake.log.find("/crowd/rest/usermanagement/1/session")


def test_okta_trusted_application_token(fake, tmp_path):
    fake.okta.require_api_token = True
    with pytest.raises(LoginError, match="E0000011"):
        login(okta_settings(fake, tmp_path), fake)
    session, _ = login(okta_settings(fake, tmp_path, APIToken=fake.okta.api_token), fake)
    assert myself(fake, session).status_code == 200
    assert fake.log.find("/api/v1/authn", method="POST")[-1].auth_scheme == "SSWS"


def test_okta_locked_out_and_wrong_password(fake, tmp_path):
    fake.okta.user.status = "LOCKED_OUT"
    settings = okta_settings(fake, tmp_path)
    with pytest.raises(LoginError, match="LOCKED_OUT") as info:
        login(settings, fake)
    assert_clean(str(info.value), fake, settings)
    fake.okta.user.status = "ACTIVE"
    bad = settings_for(fake, {**fake.okta.settings(), "password": "nope-nope"}, tmp_path)
    with pytest.raises(LoginError, match="E0000004.*check user and password"):
        login(bad, fake)


def test_okta_form_for_another_origin_is_refused(fake, tmp_path):
    other = {**fake.okta.settings(),
             "sso_exchange_url": "http://localhost:9/plugins/servlet/samlconsumer"}
    with pytest.raises(LoginError, match="refused"):
        login(settings_for(fake, other, tmp_path), fake)
    assert fake.log.find("/plugins/servlet/samlconsumer") == []


def test_okta_bad_mfa_type_is_a_config_error(fake, tmp_path):
    with pytest.raises(ConfigError, match="MFAType"):
        login(okta_settings(fake, tmp_path, MFAType="Carrier pigeon"), fake)


def test_status_never_shows_a_secret(fake, tmp_path):
    settings = okta_settings(fake, tmp_path, APIToken=fake.okta.api_token)
    _, auth = login(settings, fake)
    status = repr(auth.scheme.status())
    assert "sessionToken" not in status
    assert_clean(status, fake, settings)


# -- two products ----------------------------------------------------------------------------

def test_products_on_one_host_share_one_login(fake, tmp_path):
    fake.okta.user.mfa = True
    settings = okta_settings(fake, tmp_path, mfa_type="OktaVerify", mfa_poll_seconds=0,
                             mfa_remember_device=False)
    jira, _ = login(settings, fake, "jira")
    confluence, _ = login(settings, fake, "confluence")
    assert len(fake.log.find("/api/v1/authn", method="POST")) - len(factor_calls(fake)) == 1
    assert confluence.get(fake.confluence_url + "/rest/api/space", timeout=5).status_code == 200
    assert myself(fake, jira).status_code == 200


def test_confluence_on_its_own_host_logs_in_separately(tmp_path):
    with FakeAtlassian(flavour="server", size="small", confluence_host="separate") as two:
        conf_host = two.confluence_url.split("//")[1].split(":")[0]
        settings = settings_for(two, {
            **two.crowd.settings(), "confluence_url": two.confluence_url,
            "confluence_sso_login_url": two.crowd.sso_url("confluence")}, tmp_path)
        jira, _ = login(settings, two, "jira")
        confluence, _ = login(settings, two, "confluence")
        assert conf_host == "localhost"
        assert {c.domain for c in confluence.cookies} <= {"localhost.local", "localhost"}
        assert {c.domain for c in jira.cookies} == {"127.0.0.1"}
        consumers = [a["consumer"] for a in two.saml.accepted]
        assert consumers == [two.jira_url + "/plugins/servlet/samlconsumer",
                             two.confluence_url + "/plugins/servlet/samlconsumer"]
        assert confluence.get(two.confluence_url + "/rest/api/space", timeout=5).status_code == 200
        # the next run reuses both stored sessions, each on its own host
        two.log.clear()
        again = settings_for(two, {
            **two.crowd.settings(), "confluence_url": two.confluence_url,
            "confluence_sso_login_url": two.crowd.sso_url("confluence")}, tmp_path)
        confluence2, _ = login(again, two, "confluence")
        jira2, _ = login(again, two, "jira")
        assert confluence2.get(two.confluence_url + "/rest/api/space", timeout=5).status_code == 200
        assert myself(two, jira2).status_code == 200
        assert [e for e in two.log if e.product == "crowd" or "saml" in e.path] == []
