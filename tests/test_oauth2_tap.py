"""OAuth 2.0 (3LO) tap runs against the fake authorization server and gateway (subprocesses).

Covers issue 5's "Done when": desktop, headless options 1 and 2, OFF; expiry mid-sync; the
next process reads the rotated token; encrypted 0600 file; two processes on one file spend
each refresh token once; a kill between new tokens and their write leaves a usable file;
no token, code or secret in any output.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tap_atlassian.settings_file import SettingsFile
from tests.fake_atlassian.idp_oauth2 import CLOUD_ID, browser_command
from tests.tapdriver import ROOT, TAP, TapRun, fake_config, free_port, parse_messages, run_tap

STREAM_COUNTS = ("confluence_spaces", "jira_issues", "jsm_requests")


class OAuthRuns:
    """Tap runs sharing one OAuth 2.0 config and settings file; every output is kept."""

    def __init__(self, fake, tmp_path: Path, **extra) -> None:
        self.fake = fake
        self.tmp_path = tmp_path
        self.settings_path = tmp_path / "machine-a" / "OAuthSettings.txt"
        self.config = fake_config(fake, "oauth", **fake.oauth2.tap_config(
            str(self.settings_path), callback_url=f"http://localhost:{free_port()}"), **extra)
        self.outputs: list[str] = []

    def run(self, **kw) -> TapRun:
        config = {**self.config, **kw.pop("config", {})}
        result = run_tap(config, **kw)
        self.outputs += [result.stdout, result.stderr]
        return result

    def state(self, path: Path | None = None) -> dict:
        return SettingsFile(path or self.settings_path, self.config["oauth_client_secret"]).load()

    def seed_file(self, path: Path | None = None, **section) -> dict:
        """Tokens as a finished login leaves them (no browser involved)."""
        tokens = self.fake.oauth2.issue(" ".join(
            ["read:jira-work", "read:jira-user", "read:servicedesk-request",
             "read:confluence-content.all", "search:confluence", "read:confluence-space.summary",
             "read:space:confluence", "read:page:confluence", "offline_access"]))
        data = {"client_id": self.config["oauth_client_id"],
                "access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
                "expires_at": time.time() + tokens["expires_in"], "scope": tokens["scope"],
                **section}
        SettingsFile(path or self.settings_path, self.config["oauth_client_secret"]).save(
            {"oauth2": data})
        return data

    def assert_clean(self) -> None:
        """No code, token or client secret in any output, nor in plain text in the file."""
        text = "\n".join(self.outputs)
        secrets = self.fake.oauth2.all_secrets()
        assert secrets
        for secret in secrets:
            assert secret not in text
        for path in self.tmp_path.rglob("*"):
            if path.is_file() and path.suffix != ".py" and path.name != "config.json":
                raw = path.read_bytes()
                for secret in secrets:
                    assert secret.encode() not in raw, path


def assert_full_sync(run: TapRun, fake) -> None:
    assert run.returncode == 0, run.stderr[-3000:]
    for stream in STREAM_COUNTS:
        assert run.records.get(stream), stream
    assert len(run.records["jira_issues"]) == len(fake.data.issues())


def gateway_statuses(fake) -> list[int]:
    return [e.status for e in fake.log if e.path.startswith("/ex/")]


@pytest.fixture
def fake(fake_cloud):
    return fake_cloud


def test_headless_option_1_test_the_connection_then_sync(fake, tmp_path):
    runs = OAuthRuns(fake, tmp_path)
    # the user opened `tap-atlassian-auth url` elsewhere and pasted the code as oauth_verifier
    auth_url = (f"{fake.url}/authorize?audience=api.atlassian.com&client_id="
                f"{fake.oauth2.client_id}&scope=read%3Ajira-work+offline_access+read%3Aservicedesk-request"
                f"+read%3Aconfluence-content.all+search%3Aconfluence+read%3Aspace%3Aconfluence"
                f"&redirect_uri={runs.config['callback_url']}&state=x&response_type=code")
    runs.config["oauth_verifier"] = fake.oauth2.approve(auth_url)["code"]
    tested = runs.run(args=["--test"])
    assert tested.returncode == 0, tested.stderr[-3000:]
    assert stat.S_IMODE(runs.settings_path.stat().st_mode) == 0o600
    assert runs.state()["oauth2"]["cloud_id"] == CLOUD_ID

    synced = runs.run()  # oauth_verifier still set: ignored, the stored tokens are used
    assert_full_sync(synced, fake)
    grants = [e for e in fake.log if e.path == "/oauth/token"]
    assert len(grants) == 1  # one code exchange, no refresh needed
    runs.assert_clean()


def test_headless_option_2_copied_file_is_refreshed_in_place(fake, tmp_path):
    runs = OAuthRuns(fake, tmp_path)
    runs.seed_file(expires_at=time.time() - 5, cloud_id=CLOUD_ID, site_url=fake.url)
    machine_b = tmp_path / "machine-b" / "OAuthSettings.txt"
    machine_b.parent.mkdir()
    shutil.copy2(runs.settings_path, machine_b)
    fake.oauth2.expire_access_tokens()
    before = runs.state(machine_b)["oauth2"]

    run = runs.run(config={"oauth_settings_location": str(machine_b)})
    assert_full_sync(run, fake)
    after = runs.state(machine_b)["oauth2"]
    assert after["refresh_token"] != before["refresh_token"]
    assert after["expires_at"] > time.time() + 600
    # refreshed up front (the token was known to be expired): no 401 from the gateway
    assert 401 not in gateway_statuses(fake)
    assert [s["result"] for s in fake.oauth2.spends] == ["rotated"]
    runs.assert_clean()


def test_desktop_flow_runs_the_browser_once_then_refreshes(fake, tmp_path):
    runs = OAuthRuns(fake, tmp_path, initiate_oauth="GETANDREFRESH")
    env = {"BROWSER": browser_command(tmp_path)}
    first = runs.run(env=env)
    assert_full_sync(first, fake)  # every stdout line parsed as a Singer message
    assert all(line.startswith("{") for line in first.stdout.splitlines() if line.strip())
    assert [e.path for e in fake.log if not e.path.startswith("/ex/")][:3] == [
        "/authorize", "/oauth/token", "/oauth/token/accessible-resources"]

    # the second run must not open a browser: a BROWSER that fails proves it
    fake.oauth2.expire_access_tokens()
    fake.log.clear()
    second = runs.run(env={"BROWSER": "false"})
    assert_full_sync(second, fake)
    assert not fake.log.find("/authorize")
    assert [s["result"] for s in fake.oauth2.spends] == ["rotated"]
    runs.assert_clean()


def test_refresh_mode_without_tokens_is_a_clear_error(fake, tmp_path):
    runs = OAuthRuns(fake, tmp_path)
    run = runs.run()
    assert run.returncode != 0
    assert not run.records
    line = run.last_stderr_line
    assert "no tokens in the settings file" in line and "tap-atlassian-auth login" in line
    assert not fake.log.find("/authorize")


def test_off_mode_uses_the_token_as_given_and_401_says_it_expired(fake, tmp_path):
    runs = OAuthRuns(fake, tmp_path)
    token = fake.oauth2.issue("read:jira-work read:servicedesk-request read:confluence-content.all "
                              "search:confluence read:space:confluence read:page:confluence "
                              "read:confluence-space.summary")["access_token"]
    runs.config.update(initiate_oauth="OFF", oauth_access_token=token)
    assert_full_sync(runs.run(), fake)
    assert not fake.log.find("/oauth/token", method="POST")
    assert not runs.settings_path.exists()

    fake.oauth2.access_token_max_uses = 3
    failed = runs.run()
    assert failed.returncode != 0
    line = failed.last_stderr_line
    assert "expired" in line and "initiate_oauth OFF" in line
    runs.assert_clean()


def test_expiry_mid_sync_refreshes_and_the_next_process_uses_the_rotated_token(fake, tmp_path):
    runs = OAuthRuns(fake, tmp_path)
    runs.seed_file()
    # The token "expires" after 25 API calls: more than the requests in flight at once (up to
    # max_concurrent_requests, 8), so, like a real one-hour token, a fresh one is not used up
    # before the request that refreshed it is retried (at 12, other threads sometimes did,
    # and that request's second 401 in a row was fatal, as it must be).
    fake.oauth2.access_token_max_uses = 25
    first = runs.run()
    assert_full_sync(first, fake)
    rotations = [s for s in fake.oauth2.spends if s["result"] == "rotated"]
    assert len(rotations) >= 2
    assert all(s["result"] == "rotated" for s in fake.oauth2.spends)
    # one refresh per expiry, however many requests were in flight with the expired token
    # (up to max_concurrent_requests, default 8, get the 401; every one is retried)
    assert len(rotations) <= gateway_statuses(fake).count(401) <= 8 * len(rotations)

    stored = runs.state()["oauth2"]
    second = runs.run()  # a new process: starts from the last rotated pair on disk
    assert_full_sync(second, fake)
    assert not fake.oauth2.spent_more_than_once()
    assert all(s["result"] == "rotated" for s in fake.oauth2.spends)
    assert runs.state()["oauth2"]["refresh_token"] != stored["refresh_token"]
    assert stat.S_IMODE(runs.settings_path.stat().st_mode) == 0o600
    runs.assert_clean()


def test_refresh_60_seconds_before_expiry(fake, tmp_path):
    runs = OAuthRuns(fake, tmp_path)
    runs.seed_file(expires_at=time.time() + 45)  # still valid, but within the margin
    assert_full_sync(runs.run(), fake)
    first_api = next(i for i, e in enumerate(fake.log) if e.path.startswith("/ex/"))
    assert any(e.path == "/oauth/token" for e in list(fake.log)[:first_api])
    assert 401 not in gateway_statuses(fake)


def test_two_processes_on_one_file_spend_each_refresh_token_once(fake, tmp_path):
    runs = OAuthRuns(fake, tmp_path)
    runs.seed_file(expires_at=time.time() - 5)  # both start by refreshing: one does, one waits
    fake.oauth2.expire_access_tokens()
    fake.oauth2.access_token_max_uses = 25  # about 90 API calls in all: a few more refreshes
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: runs.run(), range(2)))
    for result in results:
        assert_full_sync(result, fake)
    assert len(fake.oauth2.spends) >= 2
    assert not fake.oauth2.spent_more_than_once()
    assert all(s["result"] == "rotated" for s in fake.oauth2.spends)
    runs.assert_clean()


def test_killed_between_new_tokens_and_their_write_leaves_a_usable_file(fake, tmp_path):
    runs = OAuthRuns(fake, tmp_path)
    runs.seed_file(expires_at=time.time() - 5)
    fake.oauth2.expire_access_tokens()
    before = runs.settings_path.read_bytes()
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(runs.config))
    fake.oauth2.hold_token_answers()
    proc = subprocess.Popen([*TAP, "--config", str(config_path)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        # the server has rotated the refresh token and is about to answer: kill the tap now
        assert fake.oauth2.held.wait(60)
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    finally:
        fake.oauth2.release()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    runs.outputs += [out.decode(), err.decode()]
    assert parse_messages(out.decode()) == [] or all(m["type"] != "RECORD" for m in parse_messages(out.decode()))
    assert runs.settings_path.read_bytes() == before  # the old file, whole
    # within Atlassian's grace window the old refresh token still works: the next run succeeds
    assert_full_sync(runs.run(), fake)
    assert [s["result"] for s in fake.oauth2.spends] == ["rotated", "grace"]
    runs.assert_clean()


def test_missing_refresh_token_after_grace_is_a_clear_error_and_keeps_the_file(fake, tmp_path):
    runs = OAuthRuns(fake, tmp_path)
    data = runs.seed_file(expires_at=time.time() - 5)
    fake.oauth2.grace_seconds = 0
    fake.oauth2.expire_access_tokens()
    # the refresh token was spent elsewhere (a copy of the file on another machine)
    other = tmp_path / "copy" / "OAuthSettings.txt"
    other.parent.mkdir()
    shutil.copy2(runs.settings_path, other)
    assert_full_sync(runs.run(config={"oauth_settings_location": str(other)}), fake)
    before = runs.settings_path.read_bytes()
    run = runs.run()
    assert run.returncode != 0
    line = run.last_stderr_line
    assert "403 invalid_grant: Unknown or invalid refresh token." in line
    assert "tap-atlassian-auth login" in line
    assert runs.settings_path.read_bytes() == before
    assert runs.state()["oauth2"]["refresh_token"] == data["refresh_token"]
    runs.assert_clean()


def test_stream_whose_scope_is_missing_is_skipped_with_a_warning(fake, tmp_path):
    runs = OAuthRuns(fake, tmp_path)
    tokens = fake.oauth2.issue("read:jira-work read:confluence-content.all search:confluence "
                               "read:confluence-space.summary offline_access")
    SettingsFile(runs.settings_path, runs.config["oauth_client_secret"]).save({"oauth2": {
        "client_id": runs.config["oauth_client_id"], "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"], "expires_at": time.time() + 3600,
        "scope": tokens["scope"]}})
    run = runs.run()
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.records.get("jira_issues") and run.records.get("confluence_pages")
    for stream in ("jsm_service_desks", "jsm_requests"):
        assert stream not in run.records
        assert any(f"{stream} skipped" in line and "read:servicedesk-request" in line
                   for line in run.stderr.splitlines()), stream
    assert not fake.log.find("/rest/servicedeskapi")
    runs.assert_clean()
