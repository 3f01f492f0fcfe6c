"""The desktop login's local redirect listener and browser launch (real sockets)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tap_atlassian.auth.browser import BrowserLoginError, callback_address, receive_redirect
from tests.tapdriver import free_port

ROOT = Path(__file__).resolve().parents[1]


def visitor(query: dict[str, str], path: str = "/", extra: list[str] | None = None):
    """An `open_browser` that requests the callback like a browser following a redirect."""
    seen: list[int] = []

    def open_browser(url: str) -> bool:
        callback = open_browser.callback  # type: ignore[attr-defined]
        for other in extra or []:
            try:
                urllib.request.urlopen(callback + other, timeout=5)  # noqa: S310
            except urllib.error.HTTPError as exc:
                seen.append(exc.code)
        try:
            with urllib.request.urlopen(f"{callback}{path}?{urlencode(query)}", timeout=5) as r:  # noqa: S310
                seen.append(r.status)
        except urllib.error.HTTPError as exc:
            seen.append(exc.code)
        return True

    open_browser.seen = seen  # type: ignore[attr-defined]
    return open_browser


def test_redirect_with_matching_state_returns_its_parameters():
    port = free_port()
    callback = f"http://localhost:{port}"
    opener = visitor({"code": "the-code", "state": "s1"}, extra=["/favicon.ico"])
    opener.callback = f"http://127.0.0.1:{port}"
    params = receive_redirect("https://auth.example/authorize", callback, state="s1",
                              timeout=10, open_browser=opener)
    assert params == {"code": "the-code", "state": "s1"}
    assert opener.seen == [404, 200]  # the favicon did not count
    # one request only: the listener is gone
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/?code=x", timeout=2)  # noqa: S310


def test_callback_path_is_honoured():
    port = free_port()
    opener = visitor({"oauth_token": "t", "oauth_verifier": "v"}, path="/cb", extra=["/"])
    opener.callback = f"http://127.0.0.1:{port}"
    params = receive_redirect("u", f"http://127.0.0.1:{port}/cb", timeout=10, open_browser=opener)
    assert params["oauth_verifier"] == "v"
    assert opener.seen == [404, 200]


def test_state_mismatch_is_refused():
    port = free_port()
    opener = visitor({"code": "c0de-from-elsewhere", "state": "forged"})
    opener.callback = f"http://127.0.0.1:{port}"
    with pytest.raises(BrowserLoginError, match="state") as err:
        receive_redirect("u", f"http://localhost:{port}", state="s1", timeout=10, open_browser=opener)
    assert "c0de-from-elsewhere" not in str(err.value)
    assert opener.seen == [400]


def test_denied_authorization_is_an_error_naming_the_answer():
    port = free_port()
    opener = visitor({"error": "access_denied", "error_description": "The user denied access", "state": "s"})
    opener.callback = f"http://127.0.0.1:{port}"
    with pytest.raises(BrowserLoginError, match="access_denied.*denied"):
        receive_redirect("u", f"http://localhost:{port}", state="s", timeout=10, open_browser=opener)


def test_timeout_has_a_clear_message():
    port = free_port()
    with pytest.raises(BrowserLoginError, match=r"no redirect reached .* within 0 s.*headless"):
        receive_redirect("u", f"http://localhost:{port}", state="s", timeout=0.3,
                         open_browser=lambda url: False)


@pytest.mark.parametrize("url", ["http://example.com:8080", "https://localhost:33333",
                                 "http://192.168.1.5:33333"])
def test_only_loopback_http_callbacks(url):
    with pytest.raises(BrowserLoginError, match="callback_url"):
        callback_address(url)


def test_port_in_use_is_a_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(BrowserLoginError, match=f"cannot listen on 127.0.0.1:{port}"):
            receive_redirect("u", f"http://localhost:{port}", timeout=1, open_browser=lambda u: True)


FOLLOW = """
import sys, urllib.request
url = sys.argv[1]
print("BROWSER-SCRIPT-STDOUT")
urllib.request.urlopen(url.replace("/authorize", "/cb"), timeout=5)
"""

DRIVER = """
import sys
from tap_atlassian.auth.browser import receive_redirect
p = receive_redirect(sys.argv[1], sys.argv[2], state="st", timeout=20)
print("RESULT", p["code"])
"""


def test_webbrowser_honours_BROWSER_and_keeps_stdout_clean(tmp_path):
    port = free_port()
    script = tmp_path / "follow.py"
    script.write_text(FOLLOW)
    env = dict(os.environ, BROWSER=f"{sys.executable} {script} %s")
    auth_url = f"http://127.0.0.1:{port}/authorize?code=k&state=st"
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(DRIVER), auth_url, f"http://localhost:{port}/cb"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["RESULT", "k"]  # the browser's own output went to stderr
    assert "BROWSER-SCRIPT-STDOUT" in proc.stderr
