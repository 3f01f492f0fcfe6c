"""End to end: the tap as a subprocess, logging in through the fake Crowd and Okta.

Each run syncs Confluence and Jira Service Management streams and is compared with a
reference run of the same fake site with Basic auth: same records, none lost or repeated.
Failed logins exit non-zero with one line naming the cause; no run ever prints a secret.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.fake_atlassian import FakeAtlassian
from tests.tapdriver import discover, fake_config, run_tap, select

STREAMS = ("confluence_spaces", "confluence_pages", "jsm_service_desks", "jsm_requests")
KEYS = {"jsm_requests": "issueId"}
ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "auth-sso.md"
# Every page that shows the SSO example settings (marked `<!-- sso-example: crowd|okta -->`
# before a json block) has them exercised here: docs/auth-sso.md always, README.md once it
# carries the quick start.
EXAMPLE_PAGES = [p for p in (DOC, ROOT / "README.md")
                 if p.exists() and "<!-- sso-example:" in p.read_text(encoding="utf-8")]


@pytest.fixture(scope="module")
def fake():
    with FakeAtlassian(flavour="server", seed=7, size="small") as site:
        yield site


@pytest.fixture(scope="module")
def catalog(fake):
    return select(discover(fake_config(fake, "basic")), STREAMS)


@pytest.fixture(scope="module")
def reference(fake, catalog):
    run = run_tap(fake_config(fake, "basic"), catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    return {s: sorted(run.ids(s, KEYS.get(s, "id"))) for s in STREAMS}


@pytest.fixture(autouse=True)
def _reset(fake):
    okta = fake.okta
    okta.push_script = ["WAITING", "WAITING", "SUCCESS"]
    okta.require_api_token = False
    okta.remembered.clear()
    okta.user.mfa = False
    okta.user.status = "ACTIVE"
    fake.saml.expire_sessions_after(None)
    fake.saml.expired_answer = "401"
    fake.log.clear()


def sso_config(fake, idp_settings: dict, tmp_path: Path, **props) -> dict:
    config = fake_config(fake, idp_settings["auth_scheme"], **idp_settings,
                         oauth_settings_location=str(tmp_path / "OAuthSettings.txt"))
    if props:
        config["sso_properties"] = props
    return config


def secrets(fake, config: dict) -> list[str]:
    """Everything that must never be printed: settings' secrets and what the IdPs handed out."""
    values = [config.get(k) for k in ("password", "sso_app_password")]
    props = config.get("sso_properties") or {}
    if isinstance(props, str):
        props = dict(p.split("=", 1) for p in props.split(";") if "=" in p)
    values += [v for k, v in props.items()
               if re.sub(r"[^a-z]", "", k.lower()) in ("apitoken", "mfapasscode")]
    values += fake.issued_secrets + [c for *_, c in fake.okta.outbox]
    values += [fake.okta.api_token]
    return [v for v in values if isinstance(v, str) and len(v) >= 4]


def sync(fake, config: dict, catalog: dict, *, ok: bool = True, env: dict | None = None):
    run = run_tap(config, catalog=catalog, timeout=60, env=env)
    if ok:
        assert run.returncode == 0, run.last_stderr_line
    else:
        assert run.returncode != 0
    output = run.stdout + run.stderr
    for secret in secrets(fake, config):
        assert secret not in output
    assert not re.search(r"(SAMLResponse|sessionToken|stateToken)=(?!\*\*\*)", output)
    return run


def assert_complete(run, reference) -> None:
    for stream in STREAMS:
        ids = run.ids(stream, KEYS.get(stream, "id"))
        assert sorted(ids) == reference[stream], stream
    assert all(reference[s] for s in STREAMS)


def logins(fake) -> int:
    return len(fake.log.find("/plugins/servlet/samlconsumer", method="POST", status=302))


def factor_calls(fake) -> list:
    return fake.log.find("/api/v1/authn/factors/")


def test_crowd(fake, catalog, reference, tmp_path):
    run = sync(fake, sso_config(fake, fake.crowd.settings(), tmp_path), catalog)
    assert_complete(run, reference)
    assert logins(fake) == 1  # Jira and Confluence share the host: one login
    api = [e for e in fake.log if e.path.startswith("/rest/")]
    assert api and all(e.auth == "session" and e.auth_scheme is None for e in api)


def test_okta_without_mfa(fake, catalog, reference, tmp_path):
    run = sync(fake, sso_config(fake, fake.okta.settings(), tmp_path), catalog)
    assert_complete(run, reference)
    assert factor_calls(fake) == []


def test_okta_push_approved_then_remembered_device(fake, catalog, reference, tmp_path):
    fake.okta.user.mfa = True
    config = sso_config(fake, fake.okta.settings(), tmp_path, mfa_type="OktaVerify",
                        mfa_poll_seconds=0.05)
    assert_complete(sync(fake, config, catalog), reference)
    polls = factor_calls(fake)
    assert len(polls) == 3  # the push, then approved at the second poll
    assert {c.arg("rememberDevice") for c in polls} == {"true"}
    fake.saml.expire_all()  # the stored product session is gone: the next run signs in
    fake.log.clear()
    assert_complete(sync(fake, config, catalog), reference)
    assert factor_calls(fake) == []  # the remembered device skipped MFA
    assert len(fake.log.find("/api/v1/authn", method="POST")) == 1


def test_stored_session_needs_no_sign_in_on_the_next_run(fake, catalog, reference, tmp_path):
    fake.okta.user.mfa = True
    config = sso_config(fake, fake.okta.settings(), tmp_path, mfa_type="OktaVerify",
                        mfa_passcode=fake.okta.totp_now(), mfa_remember_device=False)
    assert_complete(sync(fake, config, catalog), reference)
    assert logins(fake) == 1
    fake.log.clear()
    # no passcode now: the product session stored by the first run is enough
    later = sso_config(fake, fake.okta.settings(), tmp_path, mfa_type="SMS")
    assert_complete(sync(fake, later, catalog), reference)
    assert [e for e in fake.log if e.product == "okta" or "saml" in e.path] == []


def test_okta_push_rejected(fake, catalog, tmp_path):
    fake.okta.user.mfa = True
    fake.okta.push_script = ["WAITING", "REJECTED"]
    config = sso_config(fake, fake.okta.settings(), tmp_path, MFAType="OktaVerify",
                        MFAPollSeconds="0.05")
    run = sync(fake, config, catalog, ok=False)
    assert "okta login failed" in run.last_stderr_line
    assert "push was rejected" in run.last_stderr_line
    assert run.records == {}


def test_okta_sms_without_then_with_passcode(fake, catalog, reference, tmp_path):
    fake.okta.user.mfa = True
    config = sso_config(fake, fake.okta.settings(), tmp_path, MFAType="SMS")
    first = sync(fake, config, catalog, ok=False)
    assert "Okta has sent a new one-time code by SMS: set sso_properties.mfa_passcode" \
        in first.last_stderr_line
    assert first.records == {}
    code = fake.okta.last_code("sms")
    second = sync(fake, {**config, "sso_properties": f"MFAType=SMS;MFAPassCode={code}"}, catalog)
    assert_complete(second, reference)


def test_okta_totp(fake, catalog, reference, tmp_path):
    fake.okta.user.mfa = True
    config = sso_config(fake, fake.okta.settings(), tmp_path, mfa_type="OktaVerify",
                        mfa_passcode=fake.okta.totp_now())
    assert_complete(sync(fake, config, catalog), reference)
    assert [c.path.split("/")[-2] for c in factor_calls(fake)] == ["ostFAKEtotp0g3"]


def test_okta_trusted_application_token(fake, catalog, reference, tmp_path):
    fake.okta.require_api_token = True
    config = sso_config(fake, fake.okta.settings(), tmp_path,
                        api_token=fake.okta.api_token)
    assert_complete(sync(fake, config, catalog), reference)
    authn = fake.log.find("/api/v1/authn", method="POST")
    assert authn and {e.auth_scheme for e in authn} == {"SSWS"}


@pytest.mark.parametrize("answer", ["401", "redirect"])
def test_session_expiring_mid_sync(fake, catalog, reference, tmp_path, answer):
    fake.saml.expired_answer = answer
    fake.saml.expire_sessions_after(4, sessions=1)  # the first session dies after 4 API calls
    run = sync(fake, sso_config(fake, fake.crowd.settings(), tmp_path), catalog)
    assert_complete(run, reference)  # nothing lost, nothing repeated
    assert logins(fake) == 2  # one re-login
    rejected = [e for e in fake.log if e.path.startswith("/rest/") and e.status in (401, 302)]
    assert len(rejected) == 1
    assert len([e for e in fake.log if e.path.startswith("/rest/") and e.status == 200]) > 4


def test_wrong_crowd_application_password_is_one_clear_line(fake, catalog, tmp_path):
    config = sso_config(fake, {**fake.crowd.settings(), "sso_app_password": "wrong-app-pw"},
                        tmp_path)
    run = sync(fake, config, catalog, ok=False)
    assert "crowd login failed" in run.last_stderr_line
    assert "sso_app_name and sso_app_password" in run.last_stderr_line
    assert "Traceback" not in run.stderr


def test_locked_out_okta_user(fake, catalog, tmp_path):
    fake.okta.user.status = "LOCKED_OUT"
    run = sync(fake, sso_config(fake, fake.okta.settings(), tmp_path), catalog, ok=False)
    assert "Okta answered LOCKED_OUT" in run.last_stderr_line


# -- the documentation's examples ----------------------------------------------------------

def doc_example(page: Path, name: str) -> dict:
    text = page.read_text(encoding="utf-8")
    match = re.search(rf"<!-- sso-example: {name} -->\s*```json\n(.*?)```", text, re.S)
    assert match, f"{page.name} has no sso-example: {name}"
    return json.loads(match.group(1))


def localize(example: dict, fake, replacements: dict[str, str]) -> dict:
    """The example with the documentation's hosts and placeholder names made the fake's."""
    text = json.dumps(example)
    for old, new in replacements.items():
        text = text.replace(old, new)
    return json.loads(text)


@pytest.mark.parametrize("page", EXAMPLE_PAGES, ids=lambda p: p.name)
def test_doc_crowd_example(fake, catalog, reference, tmp_path, page):
    user, password = next(iter(fake.crowd.users.items()))
    config = localize(doc_example(page, "crowd"), fake, {
        "https://jira.example.com": fake.url, "https://crowd.example.com": fake.url,
        "crowdUserName": user, "crowdPassword": password,
        "CrowdAppName": fake.crowd.app_name, "CrowdAppPassword": fake.crowd.app_password})
    assert set(config) == {"url", "auth_scheme", "sso_login_url", "user", "password",
                           "sso_exchange_url", "sso_app_name", "sso_app_password"}
    config |= {"deployment": "server", "oauth_settings_location": str(tmp_path / "s.txt")}
    assert_complete(sync(fake, config, catalog), reference)


@pytest.mark.parametrize("page", EXAMPLE_PAGES, ids=lambda p: p.name)
def test_doc_okta_example(fake, catalog, reference, tmp_path, page):
    config = localize(doc_example(page, "okta"), fake, {
        "https://jira.example.com": fake.url, "https://example.okta.com": fake.url,
        "oktaUserName": fake.okta.user.login, "oktaPassword": fake.okta.user.password})
    assert config["sso_login_url"].endswith("/home/appType/0bg4ivz6cJRZgCz5d6/46")
    config |= {"deployment": "server", "oauth_settings_location": str(tmp_path / "s.txt")}
    assert_complete(sync(fake, config, catalog), reference)


def test_auth_login_does_the_mfa_once_then_sync_needs_none(fake, catalog, reference, tmp_path):
    import subprocess
    import sys

    fake.okta.user.mfa = True
    config = sso_config(fake, fake.okta.settings(), tmp_path, mfa_type="OktaVerify",
                        mfa_poll_seconds=0.05)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    done = subprocess.run([sys.executable, "-m", "tap_atlassian.auth_cli", "login", "--config",
                           str(path)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert len(factor_calls(fake)) == 3
    status = subprocess.run([sys.executable, "-m", "tap_atlassian.auth_cli", "status",
                             "--config", str(path)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert json.loads(status.stdout)["device_remembered"] is True
    for secret in secrets(fake, config):
        assert secret not in done.stdout + done.stderr + status.stdout + status.stderr
    fake.log.clear()
    assert_complete(sync(fake, config, catalog), reference)
    assert factor_calls(fake) == []


def test_confluence_on_its_own_host(tmp_path):
    with FakeAtlassian(flavour="server", seed=7, size="small", confluence_host="separate") as two:
        settings = {**two.okta.settings(), "confluence_sso_login_url": two.okta.embed_link("confluence")}
        config = sso_config(two, settings, tmp_path)
        cat = select(discover(fake_config(two, "basic")), STREAMS)
        run = sync(two, config, cat)
        assert all(run.records.get(s) for s in STREAMS)
        consumers = {e.host for e in two.log.find("/plugins/servlet/samlconsumer", status=302)}
        assert consumers == {"main", "confluence"}  # one login per service provider
        api = [e for e in two.log if e.path.startswith("/rest/")]
        assert {e.host for e in api} == {"main", "confluence"}
        assert all(e.auth == "session" for e in api)


def test_session_refused_right_after_a_new_login_is_fatal(fake, catalog, tmp_path):
    fake.saml.expire_sessions_after(0)  # every session is refused at once
    run = sync(fake, sso_config(fake, fake.crowd.settings(), tmp_path), catalog, ok=False)
    assert logins(fake) == 2  # the first login and exactly one renewal
    assert "401" in run.last_stderr_line
    assert run.records == {}


def test_debug_logging_shows_no_token_or_cookie(fake, catalog, tmp_path):
    fake.okta.user.mfa = True
    config = sso_config(fake, fake.okta.settings(), tmp_path, mfa_type="SMS")
    sync(fake, config, catalog, ok=False, env={"LOGLEVEL": "DEBUG"})
    config["sso_properties"]["mfa_passcode"] = fake.okta.last_code("sms")
    run = sync(fake, config, catalog, env={"LOGLEVEL": "DEBUG"})  # checks secrets() too
    assert "DEBUG" in run.stderr and "sessionToken=***" in run.stderr
    handed_out = [e.arg("sessionToken") for e in fake.log.find("/home/")]
    handed_out += [fake.okta.last_code("sms")]
    assert handed_out and all(v and v not in run.stderr for v in handed_out)
