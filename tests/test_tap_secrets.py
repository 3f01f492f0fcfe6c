"""No configured secret appears in any log line or Singer message, on success or failure."""

from __future__ import annotations

import pytest

from tests.tapdriver import fake_config, leaks, run_tap


@pytest.mark.parametrize(("flavour", "scheme"), [("cloud", "basic"), ("server", "basic"), ("server", "pat")])
def test_no_secret_in_a_successful_run(fake_factory, flavour: str, scheme: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=7, size="small")
    config = fake_config(fake, scheme, include_custom_fields=True)
    run = run_tap(config, env={"LOGLEVEL": "DEBUG", "TAP_ATLASSIAN_LOG_LEVEL": "DEBUG"})
    assert run.returncode == 0, run.last_stderr_line
    assert run.records and run.states
    assert not leaks(run, config)


def test_no_secret_when_login_fails(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=7, size="small")
    config = fake_config(fake, api_token="not-the-right-token-123")
    run = run_tap(config)
    assert run.returncode != 0
    assert not leaks(run, config)


def test_no_secret_when_the_run_fails_midway(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", seed=7, size="small")
    fake.control.inject(r"/rest/api/2/search", "truncated", times=None)
    config = fake_config(fake, "pat", max_retries=0)
    run = run_tap(config)
    assert run.returncode != 0 and "truncated" in run.last_stderr_line
    assert not leaks(run, config)


def test_no_secret_in_a_config_error() -> None:
    config = {"url": "https://acme.atlassian.net", "auth_scheme": "basic", "user": "ada@example.com",
              "password": "my-password-value", "personal_access_token": "pat-value-0001"}
    run = run_tap(config)
    assert run.returncode == 1
    assert not leaks(run, config)


def test_a_secret_echoed_by_the_server_is_masked(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", seed=7, size="small")
    config = fake_config(fake, project_keys=[fake.credentials["password"]])  # JQL error echoes it
    run = run_tap(config)
    assert run.returncode != 0
    assert "***" in run.last_stderr_line
    assert not leaks(run, config)
