"""Okta answers a nightly run must live with: PASSWORD_WARN (the password still works, it
expires soon) continues with a warning; a 429 from Okta is retried after its reset time."""

from __future__ import annotations

from pathlib import Path

from tests.tapdriver import discover, fake_config, run_tap, select


def okta_run(fake, tmp_path: Path, max_retries: int = 5, **props):  # noqa: ANN001, ANN003, ANN201
    config = fake_config(fake, **fake.okta.settings(), products=["jira_service_desk"], max_retries=max_retries,
                         oauth_settings_location=str(tmp_path / "OAuthSettings.txt"))
    if props:
        config["sso_properties"] = props
    catalog = select(discover(fake_config(fake, products=["jira_service_desk"])), ["jira_issues"])
    return run_tap(config, catalog=catalog)


def test_password_warn_continues_with_a_warning(fake_factory, tmp_path) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server")
    fake.okta.user.status = "PASSWORD_WARN"
    run = okta_run(fake, tmp_path)
    assert run.returncode == 0, run.last_stderr_line
    assert len(run.records["jira_issues"]) == fake.data.issue_count()
    warns = [ln for ln in run.stderr.splitlines() if "WARNING" in ln and "okta" in ln]
    assert len(warns) == 1 and "password expires in 4 days" in warns[0]
    assert [e.path for e in fake.log if e.path.startswith("/api/v1/authn")] == ["/api/v1/authn", "/api/v1/authn/skip"]


def test_password_warn_then_mfa(fake_factory, tmp_path) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server")
    fake.okta.user.status = "PASSWORD_WARN"
    fake.okta.user.mfa = True
    run = okta_run(fake, tmp_path, mfa_type="OktaVerify", mfa_passcode=fake.okta.totp_now())
    assert run.returncode == 0, run.last_stderr_line
    assert len(run.records["jira_issues"]) == fake.data.issue_count()


def test_an_okta_429_is_retried_after_its_reset_time(fake_factory, tmp_path) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server")
    fake.okta.rate_limited = 1
    fake.okta.rate_limit_reset_seconds = 1
    run = okta_run(fake, tmp_path)
    assert run.returncode == 0, run.last_stderr_line
    authn = [e for e in fake.log if e.path == "/api/v1/authn"]
    assert [e.status for e in authn] == [429, 200]
    assert authn[1].time >= int(authn[0].time) + 1  # not before the reset second
    warns = [ln for ln in run.stderr.splitlines() if "WARNING" in ln and "429" in ln]
    assert len(warns) == 1 and "authn" in warns[0] and "retrying in" in warns[0]


def test_okta_rate_limit_that_does_not_lift_is_one_line(fake_factory, tmp_path) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server")
    fake.okta.rate_limited = 1000
    fake.okta.rate_limit_reset_seconds = 0
    run = okta_run(fake, tmp_path, max_retries=1)
    assert run.returncode == 1
    assert "okta" in run.last_stderr_line and "429" in run.last_stderr_line
    assert 1 < len([e for e in fake.log if e.path == "/api/v1/authn"]) <= 30  # retried, and bounded
    assert "Traceback" not in run.stderr
