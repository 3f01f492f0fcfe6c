"""Every error says what happened, where, and what to do: one line, no traceback, no secret.

Refusals in each of Atlassian's shapes (Confluence v2's ``errors`` list, Cloud's plain-text
answer to a refused API token, a Server HTML page), hosts that cannot be reached, and the
config file, settings and catalog a user can get wrong.
"""

from __future__ import annotations

import json
import subprocess

from tests.fake_atlassian.http import FakeHTTPError, FakeResponse
from tests.tapdriver import ROOT, TAP, discover, fake_config, free_port, leaks, run_tap


def no_traceback(run) -> None:  # noqa: ANN001
    assert "Traceback" not in run.stderr, run.stderr[-3000:]


def test_confluence_v2_error_list_is_reported_with_title_and_detail(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud")

    def refuse(req):  # noqa: ANN001, ANN202  (what Cloud answers a token lacking a scope)
        raise FakeHTTPError(401, {"errors": [{"status": 401, "code": "UNAUTHORIZED",
                                              "title": "Unauthorized; scope does not match",
                                              "detail": "read:page:confluence is required"}]})

    fake.route("GET", r"/wiki/api/v2/pages", refuse, product="confluence")
    run = run_tap(fake_config(fake, products=["confluence"]))
    assert run.returncode == 1
    line = run.last_stderr_line
    assert "GET /wiki/api/v2/pages" in line
    assert "Unauthorized; scope does not match: read:page:confluence is required" in line
    no_traceback(run)


def test_a_refused_cloud_api_token_is_told_as_such(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud")
    config = fake_config(fake, products=["jira_service_desk"], api_token="ATATT3xFfGF0wrongTokenValue")
    run = run_tap(config)
    assert run.returncode == 1
    line = run.last_stderr_line
    assert "refused the API token" in line and "password given instead of an API token" in line
    assert "deprecated" not in line
    assert not leaks(run, config)
    no_traceback(run)


def test_a_server_html_page_is_named_by_its_title_never_cut_mid_word(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server")  # Confluence DC answers a refused Basic login with Tomcat's page
    config = fake_config(fake, products=["confluence"], password="not-the-password")
    run = run_tap(config)
    assert run.returncode == 1
    line = run.last_stderr_line
    assert 'an HTML page titled "HTTP Status 401 – Unauthorized"' in line
    assert "<" not in line and "Apache Tomcat" not in line
    assert not leaks(run, config)


def test_a_jira_login_page_instead_of_json_is_named_by_its_title(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server")

    def login_page(req):  # noqa: ANN001, ANN202  (a proxy or SSO front answering 200 with a login form)
        body = (b"<!DOCTYPE html><html><head><title>Log in - Acme Jira</title></head><body>"
                + b"<form action='/login.jsp'>" + b"x" * 3000 + b"</form></body></html>")
        return FakeResponse(200, body=body, content_type="text/html;charset=UTF-8")

    fake.route("GET", r"/rest/api/2/field", login_page, product="jira")
    run = run_tap(fake_config(fake, products=["jira_service_desk"]))
    assert run.returncode == 1
    line = run.last_stderr_line
    assert 'an HTML page titled "Log in - Acme Jira"' in line and "GET /rest/api/2/field" in line


def test_an_unreachable_host_is_named_not_blamed_on_the_password() -> None:
    port = free_port()  # nothing listens there
    config = {"url": f"http://127.0.0.1:{port}", "auth_scheme": "basic", "user": "ann",
              "password": "pw-for-an-unreachable-host", "retry_initial_wait_seconds": 0.01, "max_retries": 1}
    run = run_tap(config)
    assert run.returncode == 1
    line = run.last_stderr_line
    assert f"could not reach 127.0.0.1:{port}" in line and "connection refused" in line
    assert "password" not in line
    no_traceback(run)


def test_a_host_name_that_does_not_resolve_is_named_and_not_retried() -> None:
    config = {"url": "https://jira.example.invalid", "deployment": "server", "auth_scheme": "pat",
              "personal_access_token": "NjE0pat-for-no-host", "retry_initial_wait_seconds": 0.01,
              "products": ["jira_service_desk"]}
    run = run_tap(config)
    assert run.returncode == 1
    line = run.last_stderr_line
    assert "could not reach jira.example.invalid" in line and "does not resolve" in line
    assert "retrying" not in run.stderr
    no_traceback(run)


def test_a_site_that_goes_away_mid_run_is_named_in_every_retry(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud")
    config = fake_config(fake, products=["jira_service_desk"], max_retries=1)
    host = fake.url.split("//", 1)[1]
    fake.stop()
    run = run_tap(config)
    assert run.returncode == 1
    retries = [ln for ln in run.stderr.splitlines() if "retrying" in ln]
    assert retries and all(host in ln for ln in retries)
    assert f"could not reach {host}: connection refused" in run.last_stderr_line
    assert "gave up after 2 tries" in run.last_stderr_line


def test_a_timeout_names_the_host_and_the_setting(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud")
    fake.control.inject(r"/rest/api/3/field", "latency", times=None, ms=2500)
    run = run_tap(fake_config(fake, products=["jira_service_desk"], request_timeout=1, max_retries=0))
    assert run.returncode == 1
    line = run.last_stderr_line
    assert fake.url.split("//", 1)[1] in line and "request_timeout" in line


def test_default_timeout_and_retries_fit_a_nightly_schedule() -> None:
    about = subprocess.run([*TAP, "--about", "--format=json"], capture_output=True, text=True, check=True,
                           cwd=ROOT).stdout
    props = json.loads(about)["settings"]["properties"]
    timeout, retries = props["request_timeout"]["default"], props["max_retries"]["default"]
    waits = sum(min(props["retry_initial_wait_seconds"]["default"] * 2**i,
                    props["retry_max_wait_seconds"]["default"]) for i in range(retries))
    assert timeout * (retries + 1) + waits * 1.3 <= 10 * 60  # a request that never answers: minutes, not half an hour
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "never answers" in readme and f"request_timeout` ({timeout:g} s)" in readme


def _cli(*args: str, cwd: str) -> subprocess.CompletedProcess:
    return subprocess.run([*TAP, *args], capture_output=True, text=True, cwd=cwd, timeout=60, check=False,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_a_config_file_that_is_not_json_or_missing_is_one_line(tmp_path) -> None:  # noqa: ANN001
    bad = tmp_path / "config.json"
    bad.write_text('{"url": "https://x.atlassian.net",\n "auth_scheme": basic}\n', encoding="utf-8")
    for path, words in ((bad, "not valid JSON"), (tmp_path / "nope.json", "no such file")):
        proc = _cli("--config", str(path), cwd=str(tmp_path))
        assert proc.returncode == 1
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert len(lines) <= 3, proc.stderr
        assert f"--config {path}: {words}" in lines[-1]
        assert "Traceback" not in proc.stderr
    listed = tmp_path / "list.json"
    listed.write_text("[]", encoding="utf-8")
    proc = _cli("--config", str(listed), cwd=str(tmp_path))
    assert proc.returncode == 1 and "not a JSON object" in proc.stderr.splitlines()[-1]


def test_an_unknown_setting_warns_naming_the_closest(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud")
    run = run_tap(fake_config(fake, products=["jira_service_desk"], project_key="SDA", spacekeys=["ENG"]))
    assert run.returncode == 0, run.last_stderr_line
    warnings = [ln for ln in run.stderr.splitlines() if "WARNING" in ln and "not a setting" in ln]
    assert any("project_key: not a setting of tap-atlassian (did you mean project_keys?)" in ln for ln in warnings)
    assert any("spacekeys: not a setting of tap-atlassian (did you mean space_keys?)" in ln for ln in warnings)
    assert len(warnings) == 2


def test_a_catalog_naming_a_stream_the_tap_does_not_have_warns(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud")
    config = fake_config(fake, products=["jira_service_desk"])
    catalog = discover(config)
    entry = json.loads(json.dumps(next(s for s in catalog["streams"] if s["tap_stream_id"] == "jira_issues")))
    entry["tap_stream_id"] = entry["stream"] = "jira_isues"
    catalog["streams"].append(entry)
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    assert any("WARNING" in ln and "catalog: jira_isues is not a stream of tap-atlassian (did you mean jira_issues?)"
               in ln for ln in run.stderr.splitlines())


def test_a_missing_ca_bundle_file_is_one_line(fake_factory, tmp_path) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server")
    run = run_tap(fake_config(fake, ca_bundle=str(tmp_path / "corp-ca.pem")))
    assert run.returncode == 1
    assert f"ca_bundle: no such file: {tmp_path / 'corp-ca.pem'}" in run.stderr
    no_traceback(run)
