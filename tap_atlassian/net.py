"""The network side of every request the tap makes: trust, proxies and network failures.

Every ``requests.Session`` of the tap (each product's :class:`~tap_atlassian.client.ApiClient`,
the OAuth 2.0 / OAuth 1.0a token sessions, deployment detection) is a :class:`Session`:

- ``ca_bundle`` (a PEM file) is the trust store of every request when set; verification is
  never turned off. Without it, ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` (requests' own
  variables) and then ``SSL_CERT_FILE`` (OpenSSL's, which requests ignores) are honoured.
- Proxies come from ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY`` as requests reads them;
  :func:`send` does the environment merge that ``Session.send`` alone skips.

:func:`network_failure` puts a failure below HTTP (refused connection, unknown host,
certificate, timeout) into one line that names the host, and says whether it is worth
retrying: a certificate or an unknown host does not get better by asking again.
"""

from __future__ import annotations

import os
import socket
import ssl
import typing as t
from urllib.parse import urlsplit

import requests

if t.TYPE_CHECKING:
    from tap_atlassian.config import Settings


class Session(requests.Session):
    """A ``requests.Session`` whose trust store is ``ca_bundle`` (else the environment's)."""

    def __init__(self, ca_bundle: str | None = None) -> None:
        """``ca_bundle``: the PEM file every request of this session verifies against."""
        super().__init__()
        self.ca_bundle = ca_bundle
        if ca_bundle:
            self.verify = ca_bundle

    def merge_environment_settings(
        self,
        url: str | bytes | None,
        proxies: t.Any,  # noqa: ANN401  (requests' own argument types)
        stream: t.Any,  # noqa: ANN401
        verify: t.Any,  # noqa: ANN401
        cert: t.Any,  # noqa: ANN401
    ) -> t.Any:  # noqa: ANN401  (requests' settings mapping, typed only in its stubs)
        """Requests' merge (proxies, ``REQUESTS_CA_BUNDLE``), then ``ca_bundle`` wins, and
        ``SSL_CERT_FILE`` stands in for the default store when nothing else was given.
        """
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if self.ca_bundle:
            merged["verify"] = self.ca_bundle
        elif merged.get("verify") is True and os.environ.get("SSL_CERT_FILE"):
            merged["verify"] = os.environ["SSL_CERT_FILE"]
        return merged


def new_session(settings: Settings | None) -> Session:
    """A session for ``settings`` (its ``ca_bundle``); None: the environment's trust only."""
    return Session(settings.ca_bundle if settings is not None else None)


def send(session: requests.Session, prepared: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
    """``session.send`` with the environment merged in (proxies, CA bundle), as
    ``session.request`` would do; ``kwargs`` (timeout, allow_redirects) pass through.
    """
    env = session.merge_environment_settings(prepared.url or "", {}, None, None, None)
    return session.send(prepared, **{**env, **kwargs})


def host_of(url: str | None) -> str:
    """``host[:port]`` of a URL (what messages name)."""
    parts = urlsplit(url or "")
    return parts.netloc.rsplit("@", 1)[-1] or (url or "?")


def network_failure(exc: BaseException, url: str | None) -> tuple[str, bool]:  # noqa: PLR0911  (one per failure kind)
    """``(one line naming the host, worth retrying)`` for a failure below HTTP."""
    host = host_of(url)
    if isinstance(exc, requests.exceptions.SSLError):
        reason = _ssl_reason(exc)
        return (
            f"the TLS certificate of {host} could not be verified ({reason}); if the site uses "
            "an internal certificate authority, set ca_bundle to a PEM file of it "
            "(verification is never turned off)"
        ), False
    if isinstance(exc, requests.exceptions.ProxyError):
        return (
            (
                f"the proxy refused or failed the connection to {host} ({_root_text(exc)}): "
                "check HTTPS_PROXY / NO_PROXY"
            ),
            True,
        )
    if isinstance(exc, requests.Timeout):
        kind = (
            "connecting" if isinstance(exc, requests.exceptions.ConnectTimeout) else "waiting for an answer"
        )
        return f"{host} timed out while {kind}", True
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return f"{host} closed the connection before the whole answer arrived (truncated body)", True
    root = _root(exc)
    if isinstance(root, socket.gaierror):
        permanent = root.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME))
        return (
            f"could not reach {host}: its name does not resolve (DNS: {root.strerror or root}); "
            "check the URL settings and the network"
        ), not permanent
    if isinstance(root, ConnectionRefusedError):
        return f"could not reach {host}: connection refused (is the site up, and the URL's port right?)", True
    if isinstance(root, (ConnectionResetError, ConnectionAbortedError)):
        return f"{host} reset the connection", True
    return f"could not reach {host}: {_root_text(exc)}", True


def _root(exc: BaseException) -> BaseException:
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nxt = exc.__cause__ or exc.__context__
        if nxt is None:
            # urllib3 keeps the socket error as MaxRetryError.reason, not as a cause
            args = [a for a in getattr(exc, "args", ()) if isinstance(a, BaseException)]
            reason = getattr(exc, "reason", None)
            nxt = reason if isinstance(reason, BaseException) else (args[0] if args else None)
        if nxt is None:
            break
        exc = nxt
    return exc


def _root_text(exc: BaseException) -> str:
    root = _root(exc)
    text = getattr(root, "strerror", None) or str(root) or type(root).__name__
    return " ".join(str(text).split())[:160]


def _ssl_reason(exc: BaseException) -> str:
    root = _root(exc)
    if isinstance(root, ssl.SSLCertVerificationError):
        return root.verify_message or "certificate verify failed"
    if isinstance(root, OSError) and not isinstance(root, ssl.SSLError) and "No such file" in str(root):
        return "the CA bundle file cannot be read"
    text = str(root)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "certificate verify failed"
    return " ".join(text.split())[:160] or "TLS handshake failed"
