"""The desktop half of a three-legged login: open the browser, catch the redirect locally.

Used by OAuth 2.0 (``code`` + ``state``) and OAuth 1.0a (``oauth_token`` +
``oauth_verifier``)::

    params = receive_redirect(authorization_url, settings.callback_url, state=state)
    code = params["code"]

The browser is opened with Python's :mod:`webbrowser`, so the ``BROWSER`` environment
variable chooses it (a script in tests, ``w3m`` or ``echo`` on a server). Before it is
opened, a one-shot HTTP listener is started on the host and port of ``callback_url``;
only a loopback host (``localhost``, ``127.0.0.1``, ``::1``) is accepted, because the
authorization code must never travel to, or be received from, another machine. The
listener answers the first request on the callback path, checks ``state`` (a mismatch is
refused: it is not our login), and stops. Requests for other paths (``/favicon.ico``)
get a 404 and do not count. Nothing received is logged.
"""

from __future__ import annotations

import contextlib
import http.server
import logging
import os
import socket
import sys
import threading
import time
import typing as t
import webbrowser
from urllib.parse import parse_qsl, urlsplit

from tap_atlassian.auth.base import AuthError

LOGGER = logging.getLogger("tap-atlassian")
LOOPBACK_HOSTS = {"localhost": "127.0.0.1", "127.0.0.1": "127.0.0.1", "::1": "::1"}
DEFAULT_TIMEOUT = 300.0

_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>tap-atlassian</title></head>"
    "<body><h1>{title}</h1><p>{text}</p></body></html>"
)


class BrowserLoginError(AuthError):
    """The desktop login did not complete (timeout, denied, wrong state, bad callback_url)."""


def callback_address(callback_url: str) -> tuple[str, int, str]:
    """(bind address, port, path) of a loopback ``callback_url``.

    Raises:
        BrowserLoginError: for a non-http or non-loopback URL.
    """
    parts = urlsplit(callback_url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "http" or host not in LOOPBACK_HOSTS:
        msg = (
            f"callback_url: the desktop login listens on this machine only; use "
            f"http://localhost:PORT (registered with the app), not {parts.scheme}://{host}"
        )
        raise BrowserLoginError(msg)
    port = parts.port or 80
    return LOOPBACK_HOSTS[host], port, parts.path or "/"


class _Catch(http.server.BaseHTTPRequestHandler):
    server: _OneShot

    def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002
        """Silent: the query string carries the authorization code."""

    def do_GET(self) -> None:
        srv = self.server
        parts = urlsplit(self.path)
        if parts.path.rstrip("/") != srv.path.rstrip("/") or srv.result is not None:
            self._answer(404, "Not found", "This is tap-atlassian's login listener.")
            return
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        if srv.state is not None and params.get("state") != srv.state:
            srv.result = BrowserLoginError(
                "login: the redirect to callback_url carried a different `state` than the "
                "authorization URL this login opened (another login, or a forged redirect); "
                "run the login again"
            )
            self._answer(400, "Login refused", "The state did not match. Run the login again.")
        elif "error" in params:
            detail = params.get("error_description") or params["error"]
            srv.result = BrowserLoginError(
                f"login: the authorization server answered error={params['error']!r}: {detail}"
            )
            self._answer(200, "Login not completed", "The authorization was not granted.")
        else:
            srv.result = params
            self._answer(
                200, "tap-atlassian is authorized", "You can close this window and return to the terminal."
            )
        srv.done.set()

    def _answer(self, status: int, title: str, text: str) -> None:
        body = _PAGE.format(title=title, text=text).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


class _OneShot(http.server.HTTPServer):
    allow_reuse_address = True

    def __init__(self, address: str, port: int, path: str, state: str | None) -> None:
        self.address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
        super().__init__((address, port), _Catch)
        self.path = path
        self.state = state
        self.result: dict[str, str] | BrowserLoginError | None = None
        self.done = threading.Event()


def receive_redirect(
    url: str,
    callback_url: str,
    *,
    state: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    open_browser: t.Callable[[str], bool] | None = None,
) -> dict[str, str]:
    """Open ``url`` in the browser and return the query parameters of the redirect.

    Args:
        url: the authorization URL to open.
        callback_url: where the authorization server redirects (a loopback URL).
        state: the ``state`` sent in ``url``; the redirect must carry the same value.
        timeout: seconds to wait for the redirect.
        open_browser: how to open the URL (default :func:`open_in_browser`).

    Raises:
        BrowserLoginError: bad ``callback_url``, port in use, timeout, denial, state mismatch.
    """
    address, port, path = callback_address(callback_url)
    try:
        server = _OneShot(address, port, path, state)
    except OSError as exc:
        msg = (
            f"callback_url: cannot listen on {address}:{port} ({exc.strerror}); free the "
            "port or register another callback_url with the app"
        )
        raise BrowserLoginError(msg) from None
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        daemon=True,
        name="tap-atlassian-login-listener",
    )
    thread.start()
    try:
        LOGGER.info(
            "Opening the browser to authorize tap-atlassian (waiting up to %.0f s for the "
            "redirect to %s). If no browser opens, visit: %s",
            timeout,
            callback_url,
            url,
        )
        opened = False
        with contextlib.suppress(webbrowser.Error, OSError):
            opened = (open_browser or open_in_browser)(url)
        if not opened:
            LOGGER.warning("No browser could be opened (set BROWSER); visit the URL above.")
        deadline = time.monotonic() + timeout
        while not server.done.wait(min(0.2, max(deadline - time.monotonic(), 0))):
            if time.monotonic() >= deadline:
                msg = (
                    f"login: no redirect reached {callback_url} within {timeout:.0f} s; "
                    "approve the app in the browser, or use the headless login "
                    "(`tap-atlassian-auth url`, then `exchange --verifier CODE`)"
                )
                raise BrowserLoginError(msg)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    if isinstance(server.result, BrowserLoginError):
        raise server.result
    assert server.result is not None  # noqa: S101 - done is set only with a result
    return server.result


def open_in_browser(url: str) -> bool:
    """:func:`webbrowser.open`, with the browser's stdout sent to stderr.

    A tap writes its Singer messages to stdout; a browser command (``BROWSER``,
    ``xdg-open``) inherits the descriptor and may print to it.
    """
    with _stdout_to_stderr():
        return webbrowser.open(url)


@contextlib.contextmanager
def _stdout_to_stderr() -> t.Iterator[None]:
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
