"""Bad configurations stop the run before any request, with one line naming the setting."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from tap_atlassian.auth import load_settings
from tap_atlassian.config import ConfigError, Settings
from tap_atlassian.settings_schema import json_schema
from tests.tapdriver import run_tap

CLOUD = {"url": "https://acme.atlassian.net", "auth_scheme": "basic", "user": "ada@example.com",
         "api_token": "cloud-token-0001"}
SERVER = {"url": "https://jira.example.com", "deployment": "server", "auth_scheme": "basic",
          "user": "ada", "password": "server-pass-0001"}
PAT = {"url": "https://jira.example.com", "deployment": "server", "auth_scheme": "pat",
       "personal_access_token": "pat-token-0001"}


def without(config: dict, *names: str) -> dict:
    return {k: v for k, v in config.items() if k not in names}


# (id, config, the setting the line must start with, words the line must contain)
BAD = [
    ("no-url", without(CLOUD, "url"), "url", "required"),
    ("no-scheme", without(CLOUD, "auth_scheme"), "auth_scheme", "required"),
    ("url-not-http", {**CLOUD, "url": "ftp://acme.atlassian.net"}, "url", "http(s) URL"),
    ("url-no-host", {**CLOUD, "url": "acme"}, "url", "http(s) URL"),
    ("confluence-url-bad", {**CLOUD, "confluence_url": "wiki"}, "confluence_url", "http(s) URL"),
    ("unknown-scheme", {**CLOUD, "auth_scheme": "kerberos"}, "auth_scheme", "not one of"),
    ("unknown-deployment", {**CLOUD, "deployment": "hybrid"}, "deployment", "not one of"),
    ("basic-no-user", without(CLOUD, "user"), "user", "required when auth_scheme is basic"),
    ("cloud-password-not-token", {**without(CLOUD, "api_token"), "password": "pw-0001"}, "api_token",
     "API token, not the password"),
    ("server-no-password", without(SERVER, "password"), "password", "Server/Data Center"),
    ("pat-no-token", without(PAT, "personal_access_token"), "personal_access_token", "required"),
    ("pat-on-cloud", {**PAT, "url": "https://acme.atlassian.net", "deployment": "auto"}, "auth_scheme",
     "only on Server/Data Center"),
    ("products-empty", {**CLOUD, "products": []}, "products", "empty"),
    ("products-unknown", {**CLOUD, "products": ["bitbucket"]}, "products", "not one of"),
    ("start-date-bad", {**CLOUD, "start_date": "yesterday"}, "start_date", "ISO 8601"),
    ("lag-negative", {**CLOUD, "search_lag_minutes": -1}, "search_lag_minutes", "outside"),
    ("page-size-zero", {**CLOUD, "page_size": 0}, "page_size", "outside"),
    ("retries-too-many", {**CLOUD, "max_retries": 500}, "max_retries", "outside"),
    ("space-keys-string", {**CLOUD, "space_keys": "ENG"}, "space_keys", "expected array"),
    ("custom-fields-string", {**CLOUD, "include_custom_fields": "yes"}, "include_custom_fields",
     "expected boolean"),
    ("token-not-string", {**CLOUD, "api_token": 123456789}, "api_token", "expected string"),
    ("oauth2-on-server", {**SERVER, "auth_scheme": "oauth", "oauth_client_id": "c"}, "oauth_version",
     "Cloud only"),
    ("oauth1-on-cloud", {**CLOUD, "auth_scheme": "oauth", "oauth_version": "1.0", "oauth_client_id": "c"},
     "oauth_version", "Server/DC only"),
    ("oauth-no-client", {**CLOUD, "auth_scheme": "oauth"}, "oauth_client_id", "required"),
    ("oauth-off-no-token", {**CLOUD, "auth_scheme": "oauth", "initiate_oauth": "OFF"},
     "oauth_access_token", "required"),
    ("initiate-unknown", {**CLOUD, "initiate_oauth": "ALWAYS"}, "initiate_oauth", "not one of"),
    ("crowd-no-sso-url", {**SERVER, "auth_scheme": "crowd"}, "sso_login_url", "required"),
    ("crowd-on-cloud", {**CLOUD, "auth_scheme": "crowd", "password": "pw-0001",
                        "sso_login_url": "https://c.example.com/crowd/console/secure/saml/sso.action",
                        "sso_app_name": "tap", "sso_app_password": "app-pw-0001"}, "auth_scheme", "Server/Data Center"),
    ("sso-properties-garbage", {**SERVER, "sso_properties": "MFAType"}, "sso_properties", "Key=value"),
    ("sso-properties-number", {**SERVER, "sso_properties": 5}, "sso_properties", "expected string or object"),
    ("timeout-zero", {**CLOUD, "request_timeout": 0}, "request_timeout", "0.0 is outside 1..3600"),
    ("lookback-too-long", {**CLOUD, "lookback_minutes": 99999}, "lookback_minutes", "99999 is outside 0..10080"),
    ("products-one-unknown", {**CLOUD, "products": ["jira", "bitbucket"]}, "products",
     "'bitbucket' is not one of confluence, jira_service_desk, jira"),
    ("project-keys-numbers", {**CLOUD, "project_keys": [10000]}, "project_keys", "expected array of string"),
    ("okta-no-password", {**SERVER, "auth_scheme": "okta", "password": "",
                          "sso_login_url": "https://acme.okta.com/home/app/1/2"}, "password",
     "required when auth_scheme is okta"),
    ("oauth-no-secret", {**CLOUD, "auth_scheme": "oauth", "oauth_client_id": "c"}, "oauth_client_secret",
     "required when initiate_oauth is REFRESH"),
]
SECRETS = ("cloud-token-0001", "server-pass-0001", "pat-token-0001", "pw-0001", "app-pw-0001", "123456789")


@pytest.mark.parametrize(("config", "setting", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_configuration_has_one_line_naming_the_setting(config: dict, setting: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{setting}: "), message
    assert words in message
    assert not [s for s in SECRETS if s in message]


def test_good_configurations_pass() -> None:
    for config in (CLOUD, SERVER, PAT, {**SERVER, "deployment": "auto"}):
        load_settings(config)
    parsed = load_settings({**SERVER, "sso_properties": "APIToken=abc;MFAType=OktaVerify;"
                                   "MFARememberDevice=false"})
    assert parsed.sso_properties == {"api_token": "abc", "mfa_type": "OktaVerify", "mfa_remember_device": False}


@pytest.mark.parametrize("name", ["cloud-password-not-token", "token-not-string", "unknown-scheme"])
def test_cli_stops_before_any_request_with_that_line(name: str) -> None:
    _, config, setting, words = next(b for b in BAD if b[0] == name)
    for args in ([], ["--discover"]):
        run = run_tap(config, args=args)
        assert run.returncode == 1
        errors = [ln for ln in run.stderr.splitlines() if "ERROR" in ln]
        assert any(f"{setting}: " in ln and words in ln for ln in errors), run.stderr
        assert "Traceback" not in run.stderr
        assert not [s for s in SECRETS if s in run.stderr + run.stdout]


def test_auth_command_exit_codes(tmp_path) -> None:  # noqa: ANN001
    def auth(*args: str, config: dict) -> subprocess.CompletedProcess:
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        return subprocess.run([sys.executable, "-m", "tap_atlassian.auth_cli", *args, "--config", str(path)],
                              capture_output=True, text=True, check=False, timeout=60)

    ok = auth("status", config=CLOUD)
    assert ok.returncode == 0 and json.loads(ok.stdout)["scheme"] == "basic"
    bad = auth("status", config=without(CLOUD, "api_token"))
    assert bad.returncode == 2 and bad.stderr.strip().startswith("tap-atlassian-auth: api_token: ")
    unsupported = auth("url", config=PAT)
    assert unsupported.returncode == 1 and "not needed for this scheme" in unsupported.stderr
    assert len(unsupported.stderr.strip().splitlines()) == 1
    assert not [s for s in SECRETS if s in ok.stdout + bad.stderr + unsupported.stderr]


def test_unset_settings_take_the_schema_default_typed():
    """A setting left out reads as the default the schema states, in its declared type."""
    settings = Settings.from_config(CLOUD)
    types = {"string": str, "integer": int, "number": float, "boolean": bool}
    # built afresh: a Tap instance in this process adds the SDK's own settings to CONFIG_SCHEMA
    props = json_schema(Settings)["properties"]
    with_default = {n: p for n, p in props.items() if "default" in p}
    assert len(with_default) >= 20  # noqa: PLR2004
    for name, prop in with_default.items():
        value = getattr(settings, name)
        assert value == prop["default"], name
        assert type(value) is types[prop["type"][0]], name
    assert settings.products == ("confluence", "jira_service_desk") and settings.sso_properties == {}
    assert {f.name for f in dataclasses.fields(Settings)} == {*props, "raw"}


def test_every_login_scheme_states_what_it_needs() -> None:
    """Each registered scheme's own declaration is what `load_settings` checks."""
    from tap_atlassian.auth import scheme_class
    from tap_atlassian.config import LOGINS

    for scheme, version in LOGINS:
        config = {"url": "https://jira.example.com", "deployment": "server", "auth_scheme": scheme,
                  "oauth_version": version or "2.0"}
        cls = scheme_class(Settings.from_config(config))
        needs = cls.required_settings(Settings.from_config(config))
        if not needs:
            continue
        with pytest.raises(ConfigError) as info:
            load_settings(config)
        if "server" in cls.deployments:
            assert str(info.value).startswith(f"{next(iter(needs))}: required "), scheme
        else:
            assert str(info.value) == cls.wrong_deployment


def test_a_detected_deployment_is_checked_against_the_scheme() -> None:
    """`deployment: auto` on a host that is not *.atlassian.net: checked once detected."""
    from tap_atlassian.auth import check_deployment

    oauth1 = load_settings({"url": "https://jira.example.com", "auth_scheme": "oauth", "oauth_version": "1.0",
                            "oauth_client_id": "c"})
    check_deployment(oauth1, "server")
    with pytest.raises(ConfigError, match=r"^oauth_version: OAuth 1.0 application links are Server/DC only"):
        check_deployment(oauth1, "cloud")
    basic = load_settings({"url": "https://jira.example.com", "auth_scheme": "basic", "user": "ada",
                           "password": "server-pass-0001"})
    with pytest.raises(ConfigError, match=r"^api_token: required for basic login to Atlassian Cloud \(Cloud"):
        check_deployment(basic, "cloud")


def test_number_settings_from_environment_variables(fake_cloud):  # noqa: ANN001
    """`--config ENV` (how Meltano passes settings): the SDK leaves `number` values as text."""
    from tests.tapdriver import fake_config

    config = fake_config(fake_cloud, products=["jira_service_desk"])
    env = {"TAP_ATLASSIAN_REQUEST_TIMEOUT": "60", "TAP_ATLASSIAN_RETRY_MAX_WAIT_SECONDS": "0.5"}
    run = run_tap(config, args=["--config", "ENV", "--discover"], env=env)
    assert run.returncode == 0, run.last_stderr_line
    bad = run_tap(config, args=["--config", "ENV", "--discover"],
                  env={"TAP_ATLASSIAN_REQUEST_TIMEOUT": "a minute"})
    assert bad.returncode != 0
    assert bad.last_stderr_line.endswith("request_timeout: expected number")
