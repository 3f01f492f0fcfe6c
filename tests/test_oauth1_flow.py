"""OAuth 1.0a end to end: the tap and ``tap-atlassian-auth`` (subprocesses) against the fake.

url -> approve -> exchange -> sync of every Server stream, each request's RSA-SHA1
signature checked by the fake; later runs use the stored token; the desktop flow; a
Confluence on its own host with its own application link; every failure is one line; no
key material, token or token secret in any output or in plain text on disk.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tap_atlassian import auth_cli
from tap_atlassian.auth.oauth1 import passphrase_from_key
from tap_atlassian.settings_file import SettingsFile
from tests.fake_atlassian.idp_oauth2 import browser_command
from tests.test_oauth2_tap import free_port
from tests.tapdriver import ROOT, TapRun, fake_config, run_tap
from tests.test_tap_sync import assert_exactly_once, expected

KEY_PASSWORD = "k3y-pa55word"  # noqa: S105 - test key password
SERVLET = "/plugins/servlet/oauth/"


class Flow:
    """Config, settings file and every output of one OAuth 1.0 setup against one fake."""

    def __init__(self, fake, tmp_path: Path, **overrides) -> None:
        self.fake = fake
        self.tmp_path = tmp_path
        key_file = tmp_path / "jira_privatekey.pcks8"
        key_file.write_text(fake.oauth1.private_key_pem)
        self.settings_path = tmp_path / "state" / "OAuthSettings.txt"
        self.config = fake_config(fake, "oauth", **{
            "oauth_version": "1.0", "oauth_client_id": fake.oauth1.consumer_key,
            "oauth_jwt_cert": str(key_file), "oauth_settings_location": str(self.settings_path),
            "callback_url": f"http://localhost:{free_port()}/oauth1/callback", **overrides})
        self.outputs: list[str] = []
        self.key_pems = [fake.oauth1.private_key_pem]
        self.verifiers: list[str] = []

    def auth(self, *args: str, config: dict | None = None,
             env: dict | None = None) -> subprocess.CompletedProcess:
        """Run ``tap-atlassian-auth``: in this process (fast), or a subprocess for ``env``."""
        path = self.tmp_path / "auth-config.json"
        path.write_text(json.dumps({**self.config, **(config or {})}))
        argv = [*args, "--config", str(path)]
        if env is None:
            out, err = io.StringIO(), io.StringIO()
            handler = logging.StreamHandler(err)
            logging.getLogger().addHandler(handler)
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    code = auth_cli.main(argv)
            finally:
                logging.getLogger().removeHandler(handler)
            proc = subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())
        else:
            proc = subprocess.run(
                [sys.executable, "-m", "tap_atlassian.auth_cli", *argv], capture_output=True,
                text=True, timeout=60, cwd=self.tmp_path, check=False,
                env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(self.tmp_path),
                     **env})
        self.outputs += [proc.stdout, proc.stderr]
        return proc

    def tap(self, *args: str, config: dict | None = None, **kw) -> TapRun:
        result = run_tap({**self.config, **(config or {})}, args=args, **kw)
        self.outputs += [result.stdout, result.stderr]
        return result

    def authorize_url(self, product: str = "jira") -> str:
        proc = self.auth("url", "--product", product)
        assert proc.returncode == 0, proc.stderr
        url = proc.stdout.strip()
        assert SERVLET + "authorize?oauth_token=" in url
        return url

    def approve(self, url: str) -> str:
        """The user clicks Allow; the verifier from the redirect to callback_url."""
        answer = requests.get(url, allow_redirects=False, timeout=10)
        assert answer.status_code == 302  # noqa: PLR2004
        location = answer.headers["Location"]
        assert location.startswith(self.config["callback_url"] + "?")
        query = dict(parse_qsl(urlsplit(location).query))
        assert query["oauth_token"] == dict(parse_qsl(urlsplit(url).query))["oauth_token"]
        if query["oauth_verifier"] != "denied":
            self.verifiers.append(query["oauth_verifier"])
        return query["oauth_verifier"]

    def authorize(self, product: str = "jira") -> None:
        verifier = self.approve(self.authorize_url(product))
        proc = self.auth("exchange", "--verifier", verifier, "--product", product)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"oauth1: tokens stored for {product}"

    def status(self, product: str = "jira") -> dict:
        proc = self.auth("status", "--product", product)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def secrets(self) -> list[str]:
        """What must never be shown: key material, tokens and their secrets, verifiers."""
        out = (self.fake.oauth1.token_secrets() + self.fake.oauth1.issued_access_tokens()
               + list(self.verifiers))
        for pem in self.key_pems:
            out += [line for line in pem.splitlines() if line and not line.startswith("-")
                    and ":" not in line]
        out.append(KEY_PASSWORD)
        return out

    def assert_clean(self) -> None:
        text = "\n".join(self.outputs)
        for secret in self.secrets():
            assert secret not in text
        for path in self.tmp_path.rglob("*"):
            if path.is_file() and path.suffix not in {".pcks8", ".pem", ".json", ".py"}:
                raw = path.read_bytes()
                for secret in self.secrets():
                    assert secret.encode() not in raw, path

    def one_line_error(self, proc_or_run, code: int = 1) -> str:
        """The last stderr line (``tap-atlassian-auth`` writes nothing else)."""
        assert proc_or_run.returncode == code, proc_or_run.stderr[-2000:]
        lines = [ln for ln in proc_or_run.stderr.splitlines() if ln.strip()]
        if isinstance(proc_or_run, subprocess.CompletedProcess):
            assert len(lines) == 1, lines
        return lines[-1]


def api_entries(fake) -> list:
    return [e for e in fake.log if SERVLET not in e.path]


KANBAN_SPRINTS = re.compile(r"/rest/agile/1\.0/board/\d+/sprint$")


def accepted(entry) -> bool:
    """Signed with OAuth 1.0a and answered: 200, or the 400 a kanban board gives for its sprints
    (boards without sprints; jira_sprints skips them with a warning)."""
    ok = entry.status == 200 or (entry.status == 400 and KANBAN_SPRINTS.search(entry.path))  # noqa: PLR2004
    return entry.auth == "oauth1" and bool(ok)


def test_url_approve_exchange_sync_every_server_stream_then_reuse(fake_server, tmp_path):
    fake = fake_server
    flow = Flow(fake, tmp_path)
    assert flow.status()["stored_state"] is False
    flow.authorize()
    status = flow.status()
    assert status["stored_state"] is True
    assert status["pending_request_token"] is False
    assert status["section"] == "oauth1:jira"
    # token and secret, encrypted with a passphrase derived from the private key, mode 0600
    assert stat.S_IMODE(flow.settings_path.stat().st_mode) == 0o600
    stored = SettingsFile(flow.settings_path, passphrase_from_key(fake.oauth1.private_key)).load()
    assert stored["oauth1:jira"]["oauth_token"] == fake.oauth1.access_tokens()[0]
    assert stored["oauth1:jira"]["oauth_token_secret"] in fake.oauth1.token_secrets()
    assert "pending" not in stored["oauth1:jira"]

    fake.log.clear()
    first = flow.tap()
    assert_exactly_once(first, expected(fake))
    assert first.records["jira_fields"]
    entries = api_entries(fake)
    assert entries
    assert all(accepted(e) for e in entries), {(e.path, e.auth, e.status) for e in entries if not accepted(e)}
    assert fake.oauth1.verified == len(entries)
    assert all(e.auth_scheme == "OAuth" for e in entries)

    fake.log.clear()
    second = flow.tap()  # no new approval: the stored token is used as is
    assert_exactly_once(second, expected(fake))
    assert not [e for e in fake.log if e.path.startswith(SERVLET)]
    assert fake.oauth1.problems == []
    flow.assert_clean()


def test_oauth_verifier_setting_finishes_the_approval_at_test(fake_server, tmp_path):
    fake = fake_server
    # an encrypted PKCS#1 key given as PEM text, registered as a second application link
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.BestAvailableEncryption(KEY_PASSWORD.encode())).decode()
    fake.oauth1.register_consumer("warehouse", key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    flow = Flow(fake, tmp_path, oauth_client_id="warehouse", oauth_jwt_cert=pem,
                oauth_jwt_cert_type="PEMKEY_BLOB", oauth_jwt_cert_password=KEY_PASSWORD)
    flow.key_pems.append(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()).decode())
    verifier = flow.approve(flow.authorize_url())
    tested = flow.tap("--test", config={"oauth_verifier": verifier}, env={"LOGLEVEL": "DEBUG"})
    assert tested.returncode == 0, tested.stderr[-2000:]
    assert "DEBUG" in tested.stderr  # even debug output holds no token (assert_clean below)
    assert len(fake.log.find(SERVLET + "access-token")) == 1

    again = flow.tap(config={"oauth_verifier": verifier}, stop_after_records=1)
    assert again.records  # the spent verifier is not used again: the stored token is
    assert len(fake.log.find(SERVLET + "access-token")) == 1
    assert {e.user for e in api_entries(fake)} == {fake.credentials["user"]}
    flow.assert_clean()


def test_getandrefresh_runs_the_browser_flow_once(fake_server, tmp_path):
    fake = fake_server
    flow = Flow(fake, tmp_path, initiate_oauth="GETANDREFRESH")
    env = {"BROWSER": browser_command(tmp_path)}
    first = flow.tap("--test", env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert len(fake.log.find(SERVLET + "authorize")) == 1
    assert flow.status()["stored_state"] is True
    second = flow.tap(env={"BROWSER": "false"}, stop_after_records=1)
    assert second.records
    assert len(fake.log.find(SERVLET + "authorize")) == 1

    # `tap-atlassian-auth login` is the same flow on demand (a new token replaces the old)
    proc = flow.auth("login", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "oauth1: logged in to jira"
    assert len(fake.log.find(SERVLET + "authorize")) == 2  # noqa: PLR2004
    flow.assert_clean()


def test_confluence_on_its_own_host_has_its_own_link_and_token(fake_factory, tmp_path):
    fake = fake_factory(flavour="server", seed=7, size="small", confluence_host="separate")
    flow = Flow(fake, tmp_path)
    flow.authorize()
    missing = flow.tap()
    line = flow.one_line_error(missing)
    assert "no confluence access token" in line
    assert "--product confluence" in line

    url = flow.authorize_url("confluence")
    assert url.startswith(fake.confluence_url + SERVLET)
    flow.auth("exchange", "--product", "confluence", "--verifier", flow.approve(url))
    assert flow.status("confluence")["section"] == "oauth1:confluence"
    fake.log.clear()
    run = flow.tap()
    assert_exactly_once(run, expected(fake))
    hosts = {e.host for e in api_entries(fake)}
    assert hosts == {"main", "confluence"}
    assert all(accepted(e) for e in api_entries(fake))
    # the two links issued two different tokens, each unknown to the other host
    assert set(fake.oauth1.access_tokens("main")).isdisjoint(fake.oauth1.access_tokens("confluence"))
    flow.assert_clean()


def test_jira_and_confluence_under_context_paths_of_one_host_are_two_links(fake_factory,
                                                                           tmp_path):
    fake = fake_factory(flavour="server", seed=3, size="small", jira_context="/jira",
                        confluence_context="/confluence")
    flow = Flow(fake, tmp_path)
    flow.authorize()
    assert flow.authorize_url("confluence").startswith(fake.confluence_url + SERVLET)
    flow.authorize("confluence")
    fake.log.clear()
    run = flow.tap()
    assert_exactly_once(run, expected(fake))
    assert all(accepted(e) for e in api_entries(fake))
    jira, confluence = fake.oauth1.access_tokens("main/jira"), fake.oauth1.access_tokens(
        "main/confluence")
    assert len(jira) == 1 and len(confluence) == 1 and jira != confluence
    flow.assert_clean()


def test_each_failure_is_one_clear_line(fake_server, tmp_path):
    fake = fake_server
    flow = Flow(fake, tmp_path)

    line = flow.one_line_error(flow.auth("exchange", "--verifier", "abc"))
    assert "no request token is pending for jira" in line and "tap-atlassian-auth url" in line

    line = flow.one_line_error(flow.tap())
    assert f"no jira access token for {fake.url} in the settings file" in line

    url = flow.authorize_url()
    line = flow.one_line_error(flow.auth("exchange", "--verifier", "abc"))
    assert "access-token" in line and "oauth_problem=permission_unknown" in line

    flow.approve(url)
    line = flow.one_line_error(flow.auth("exchange", "--verifier", "not-the-verifier"))
    assert "oauth_problem=token_rejected" in line

    line = flow.one_line_error(flow.auth("url", config={"oauth_client_id": "nobody"}))
    assert "request-token" in line and "oauth_problem=consumer_key_unknown" in line
    assert "oauth_client_id" in line

    other = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    other_pem = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    flow.key_pems.append(other_pem)
    other_key = {"oauth_jwt_cert": other_pem, "oauth_jwt_cert_type": "PEMKEY_BLOB"}
    line = flow.one_line_error(flow.auth("url", config=other_key))
    assert "cannot decrypt the settings file" in line
    assert "derived from the private key in oauth_jwt_cert" in line
    line = flow.one_line_error(flow.auth("url", config={
        **other_key, "oauth_settings_location": str(tmp_path / "other" / "settings")}))
    assert "oauth_problem=signature_invalid" in line and "oauth_jwt_cert" in line

    fake.oauth1.clock_offset = 3600
    line = flow.one_line_error(flow.auth("url"))
    assert "oauth_problem=timestamp_refused" in line and "clock" in line
    fake.oauth1.clock_offset = 0

    fake.oauth1.decision = "deny"
    denied = flow.approve(flow.authorize_url())
    line = flow.one_line_error(flow.auth("exchange", "--verifier", denied))
    assert "oauth_problem=permission_denied" in line
    fake.oauth1.decision = "approve"

    public = tmp_path / "jira_publickey.pem"
    public.write_text(fake.oauth1.public_key_pem)
    line = flow.one_line_error(flow.auth("url", config={"oauth_jwt_cert": str(public)}), code=2)
    assert line.endswith("oauth_jwt_cert: holds a public key or certificate; give the private "
                         "key (jira_privatekey.pem or .pcks8); the public key belongs in the "
                         "application link")
    encrypted = fake.oauth1.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(KEY_PASSWORD.encode())).decode()
    line = flow.one_line_error(flow.auth("url", config={
        "oauth_jwt_cert": encrypted, "oauth_jwt_cert_type": "PEMKEY_BLOB",
        "oauth_jwt_cert_password": "wrong-password"}), code=2)
    assert line == ("tap-atlassian-auth: oauth_jwt_cert_password: does not decrypt the private "
                    "key in oauth_jwt_cert (wrong password?)")
    run = flow.tap("--test", config={"oauth_jwt_cert": str(public)})
    assert run.returncode != 0
    assert "oauth_jwt_cert: holds a public key or certificate" in run.stderr
    flow.assert_clean()


def test_rejections_during_a_sync(fake_server, tmp_path):
    fake = fake_server
    flow = Flow(fake, tmp_path)
    flow.authorize()
    fake.oauth1.fail_next("nonce_used")  # retried once, transparently, with a new nonce
    ok = flow.tap(stop_after_records=3)
    assert ok.records
    assert fake.oauth1.problems == ["nonce_used"]

    # A refusal after the nonce retry ends the run; Jira's body repeats the base string
    # (with the access token), which must not reach the output.
    fake.oauth1.fail_next("nonce_used")
    fake.oauth1.fail_next("signature_invalid")
    refused = flow.tap()
    assert "oauth_problem=signature_invalid" in flow.one_line_error(refused)
    flow.assert_clean()

    fake.oauth1.clock_offset = -900  # this machine's clock is 15 minutes fast
    skewed = flow.tap()
    line = flow.one_line_error(skewed)
    assert "oauth_problem=timestamp_refused" in line and "clock" in line
    fake.oauth1.clock_offset = 0

    fake.oauth1.revoke_all()
    revoked = flow.tap()
    line = flow.one_line_error(revoked)
    assert "oauth_problem=token_rejected" in line and "tap-atlassian-auth url" in line
    assert not revoked.records
    flow.assert_clean()


@pytest.mark.parametrize("mode", ["OFF"])
def test_initiate_oauth_off_uses_the_given_token(fake_server, tmp_path, mode):
    fake = fake_server
    flow = Flow(fake, tmp_path)
    flow.authorize()
    token = fake.oauth1.access_tokens()[0]
    flow.settings_path.unlink()
    run = flow.tap(config={"initiate_oauth": mode, "oauth_access_token": token},
                   stop_after_records=1)
    assert run.records
    assert not flow.settings_path.exists()
    flow.assert_clean()
