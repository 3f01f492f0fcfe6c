"""`tap-atlassian-auth` with OAuth 2.0 against the fake authorization server (subprocesses)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tap_atlassian.settings_file import SettingsFile
from tests.fake_atlassian.idp_oauth2 import CLOUD_ID, browser_command
from tests.fake_atlassian.site import FakeAtlassian
from tests.tapdriver import free_port

ROOT = Path(__file__).resolve().parents[1]
AUTH = [sys.executable, "-m", "tap_atlassian.auth_cli"]


@pytest.fixture
def fake():
    with FakeAtlassian(flavour="cloud", seed=5, size="small") as site:
        yield site


class Auth:
    """Runs `tap-atlassian-auth` with one config file; keeps every output for the scan."""

    def __init__(self, fake: FakeAtlassian, tmp_path: Path, **extra) -> None:
        self.fake = fake
        self.tmp_path = tmp_path
        self.settings_path = tmp_path / "state" / "OAuthSettings.txt"
        self.config = fake.oauth2.tap_config(str(self.settings_path),
                                             callback_url=f"http://localhost:{free_port()}", **extra)
        self.config_path = tmp_path / "config.json"
        self.outputs: list[str] = []
        self.write()

    def write(self) -> None:
        self.config_path.write_text(json.dumps(self.config))

    def __call__(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run([*AUTH, args[0], "--config", str(self.config_path), *args[1:]],
                              cwd=ROOT, capture_output=True, text=True, timeout=60,
                              env={**os.environ, **(env or {})}, check=False)
        self.outputs += [proc.stdout, proc.stderr]
        return proc

    def state(self) -> dict:
        return SettingsFile(self.settings_path, self.config["oauth_client_secret"]).load()

    def assert_no_secret_printed(self) -> None:
        text = "\n".join(self.outputs)
        for secret in self.fake.oauth2.all_secrets():
            assert secret not in text
        raw = self.settings_path.read_bytes() if self.settings_path.exists() else b""
        for secret in self.fake.oauth2.all_secrets():
            assert secret.encode() not in raw


def test_headless_option_1_url_then_exchange(fake, tmp_path):
    auth = Auth(fake, tmp_path)
    url = auth("url")
    assert url.returncode == 0, url.stderr
    authorization_url = url.stdout.strip()
    assert authorization_url.startswith(fake.url + "/authorize?audience=api.atlassian.com&")
    assert "offline_access" in authorization_url and "prompt=consent" in authorization_url
    code = fake.oauth2.approve(authorization_url)["code"]

    done = auth("exchange", "--verifier", code)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(auth.settings_path.stat().st_mode) == 0o600
    section = auth.state()["oauth2"]
    assert section["cloud_id"] == CLOUD_ID
    assert section["refresh_token"] and section["access_token"]

    status = auth("status")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["cloud_id"] == CLOUD_ID
    assert shown["has_refresh_token"] is True
    assert "read:jira-work" in shown["scopes"]
    assert shown["access_token_expired"] is False

    # the code is single-use: a second exchange is a clear one-line error
    again = auth("exchange", "--verifier", code)
    assert again.returncode == 1
    last = again.stderr.strip().splitlines()[-1]
    assert "exchanging the authorization code" in last and "403 invalid_grant" in last
    auth.assert_no_secret_printed()


def test_desktop_login_through_BROWSER(fake, tmp_path):
    auth = Auth(fake, tmp_path, initiate_oauth="GETANDREFRESH")
    done = auth("login", env={"BROWSER": browser_command(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert auth.state()["oauth2"]["cloud_id"] == CLOUD_ID
    paths = [e.path for e in fake.log]
    assert paths[:3] == ["/authorize", "/oauth/token", "/oauth/token/accessible-resources"]
    auth.assert_no_secret_printed()


def test_denied_login_is_a_clear_error(fake, tmp_path):
    fake.oauth2.decision = "deny"
    auth = Auth(fake, tmp_path)
    done = auth("login", env={"BROWSER": browser_command(tmp_path)})
    assert done.returncode == 1
    assert "access_denied" in done.stderr.strip().splitlines()[-1]
    assert not auth.settings_path.exists()


def test_site_not_visible_to_the_token_lists_the_visible_ones(fake, tmp_path):
    auth = Auth(fake, tmp_path)
    code = fake.oauth2.approve(auth("url").stdout.strip())["code"]
    auth.config["url"] = "https://nope.atlassian.net"
    auth.write()
    done = auth("exchange", "--verifier", code)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert "https://nope.atlassian.net" in last
    assert fake.url in last and "https://other-site.atlassian.net" in last and CLOUD_ID in last
    # the tokens are kept (they are valid): fixing `url` needs no new login
    auth.config["url"] = "https://other-site.atlassian.net"
    auth.write()
    status = auth("status")
    assert json.loads(status.stdout)["has_refresh_token"] is True
    auth.assert_no_secret_printed()


def test_wrong_passphrase_is_an_error_not_a_new_login(fake, tmp_path):
    auth = Auth(fake, tmp_path)
    code = fake.oauth2.approve(auth("url").stdout.strip())["code"]
    assert auth("exchange", "--verifier", code).returncode == 0
    before = auth.settings_path.read_bytes()
    auth.config["oauth_settings_passphrase"] = "not-the-key-it-was-written-with"
    auth.write()
    status = auth("status")
    assert status.returncode == 1
    assert "oauth_settings_passphrase" in status.stderr.strip().splitlines()[-1]
    assert auth.settings_path.read_bytes() == before
    auth.assert_no_secret_printed()


def test_status_without_tokens_and_off_mode(fake, tmp_path):
    auth = Auth(fake, tmp_path)
    shown = json.loads(auth("status").stdout)
    assert shown["stored_state"] is False
    auth.config.update(initiate_oauth="OFF", oauth_access_token="some-token-value")
    auth.write()
    assert auth("url").returncode == 0  # the URL needs the client id only
    exchange = auth("exchange", "--verifier", "whatever-code")
    assert exchange.returncode == 2
    assert "initiate_oauth" in exchange.stderr
    assert not auth.settings_path.exists()


def test_a_verifier_beginning_with_a_dash_is_a_value_not_an_option(fake, tmp_path):
    auth = Auth(fake, tmp_path)
    refused = auth("exchange", "--verifier", "-Xy_not-a-real-code")
    assert refused.returncode == 1, refused.stderr  # the server's refusal, not a usage error
    assert "exchanging the authorization code" in refused.stderr.strip().splitlines()[-1]


def test_token_endpoint_down_is_one_line_with_the_servers_words(fake, tmp_path):
    auth = Auth(fake, tmp_path, max_retries=1, retry_max_wait_seconds=0)
    fake.control.inject(r"^/oauth/token$", "503", times=None)
    down = auth("exchange", "--verifier", "some-code")
    assert down.returncode == 1, down.stderr
    last = down.stderr.strip().splitlines()[-1]
    assert "503 Service Unavailable" in last and "<" not in last
    auth.assert_no_secret_printed()


def test_seeds_recipe_url_with_initiate_oauth_off_and_no_token(fake, tmp_path):
    """Seeds, headless option 1: InitiateOAuth=OFF + client id/secret, then the URL."""
    auth = Auth(fake, tmp_path)
    auth.config["initiate_oauth"] = "OFF"
    auth.config.pop("oauth_access_token", None)
    auth.write()
    url = auth("url")
    assert url.returncode == 0, url.stderr
    assert url.stdout.strip().startswith(fake.url + "/authorize?audience=api.atlassian.com&")
    assert not auth.settings_path.exists()  # printing the URL stores nothing
    auth.assert_no_secret_printed()


def test_default_settings_location_is_the_user_config_directory(fake, tmp_path):
    auth = Auth(fake, tmp_path)
    del auth.config["oauth_settings_location"]
    auth.write()
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    code = fake.oauth2.approve(auth("url", env=env).stdout.strip())["code"]
    assert auth("exchange", "--verifier", code, env=env).returncode == 0
    default = tmp_path / "xdg" / "tap-atlassian" / "OAuthSettings.txt"
    assert stat.S_IMODE(default.stat().st_mode) == 0o600
    assert json.loads(auth("status", env=env).stdout)["settings_file"] == str(default)
    auth.settings_path = default
    auth.assert_no_secret_printed()
