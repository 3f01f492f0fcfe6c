"""OAuth 1.0a application links on the fake site: three servlets and a signature checker.

``install(fake)`` (called by the fake at start-up) adds, on every listener (Jira's host and
a separate Confluence host each have their own application link, tokens and nonces):

- ``POST /plugins/servlet/oauth/request-token``: a signed request with ``oauth_callback``
  -> ``oauth_token``, ``oauth_token_secret``, ``oauth_callback_confirmed`` (form-encoded).
- ``GET /plugins/servlet/oauth/authorize?oauth_token=``: the user's approval. With
  ``fake.oauth1.decision == "approve"`` (the default) it approves at once as the demo user
  and redirects to the callback with ``oauth_token`` and ``oauth_verifier`` (for ``oob`` it
  shows the verifier on a page); ``"deny"`` redirects with ``oauth_verifier=denied``.
- ``POST /plugins/servlet/oauth/access-token``: signed with the approved request token and
  its ``oauth_verifier`` -> the access token.
- An authenticator that checks the RSA-SHA1 signature of every request that carries an
  ``Authorization: OAuth ...`` header against the consumer's registered public key.

The signature base string is built here from the request as received (RFC 5849 section
3.4.1), independently of any client library, and verified with ``cryptography``.
Failures answer like Atlassian's OAuth plugin: 401, a form-encoded body
``oauth_problem=...`` and ``WWW-Authenticate: OAuth realm="...", oauth_problem="..."``.

Test keys: a consumer ``tap-atlassian`` is registered on every host with a key pair
generated once per process (``fake.oauth1.private_key_pem``); register others with
``fake.oauth1.register_consumer(key, public_pem, host="main")``.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.fake_atlassian import idp_saml
from tests.fake_atlassian.http import FakeHTTPError, FakeRequest, FakeResponse, Identity

if TYPE_CHECKING:
    from collections.abc import Iterable

SERVLET = "/plugins/servlet/oauth"
CONSUMER_KEY = "tap-atlassian"
TIMESTAMP_WINDOW = 300  # seconds either side of the server clock (net.oauth's default)
REQUEST_TOKEN_TTL = 600
REQUIRED = ("oauth_consumer_key", "oauth_signature_method", "oauth_signature",
            "oauth_timestamp", "oauth_nonce")
FORM = "application/x-www-form-urlencoded"


# --------------------------------------------------------------------------- RFC 5849


def percent_encode(value: str) -> str:
    """RFC 5849 3.6: UTF-8, then every byte but ALPHA / DIGIT / - . _ ~ as %XX (upper)."""
    return quote(value.encode("utf-8"), safe="-._~")


def parse_authorization(header: str | None) -> dict[str, str] | None:
    """The parameters of an ``Authorization: OAuth k="v", ...`` header (RFC 5849 3.5.1)."""
    if not header or not header[:6].lower() == "oauth ":
        return None
    out: dict[str, str] = {}
    for part in header[6:].split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':  # noqa: PLR2004
            value = value[1:-1]
        out[unquote(name.strip())] = unquote(value)
    return out


def base_string_uri(scheme: str, host_header: str, path: str) -> str:
    """RFC 5849 3.4.1.2: lower-case scheme and host, default port dropped, no query."""
    scheme = scheme.lower()
    host = host_header.strip().lower()
    default = {"http": ":80", "https": ":443"}.get(scheme)
    if default and host.endswith(default):
        host = host[: -len(default)]
    return f"{scheme}://{host}{path or '/'}"


def normalized_parameters(pairs: Iterable[tuple[str, str]]) -> str:
    """RFC 5849 3.4.1.3.2: encode names and values, sort, join with ``=`` and ``&``."""
    encoded = sorted((percent_encode(k), percent_encode(v)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def signature_base_string(method: str, uri: str, pairs: Iterable[tuple[str, str]]) -> str:
    """RFC 5849 3.4.1.1: ``METHOD&enc(uri)&enc(normalized parameters)``."""
    return "&".join((method.upper(), percent_encode(uri),
                     percent_encode(normalized_parameters(pairs))))


def request_parameters(raw_query: str, auth: dict[str, str], content_type: str | None,
                       body: bytes) -> list[tuple[str, str]]:
    """RFC 5849 3.4.1.3.1: query, Authorization header (no realm, no signature), form body."""
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    pairs += [(k, v) for k, v in auth.items() if k not in {"realm", "oauth_signature"}]
    if content_type and content_type.split(";")[0].strip().lower() == FORM and body:
        pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return pairs


def verify_rsa_sha1(public_key: rsa.RSAPublicKey, base_string: str, signature: str) -> bool:
    """RFC 5849 3.4.3: RSASSA-PKCS1-v1_5 with SHA-1 over the base string."""
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, base_string.encode("utf-8"), padding.PKCS1v15(),
                          hashes.SHA1())  # noqa: S303 - the protocol's algorithm
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


# --------------------------------------------------------------------------- state


@dataclass
class _Token:
    consumer_key: str
    secret: str
    created: float
    callback: str = ""
    verifier: str | None = None
    decision: str | None = None  # "approve" / "deny" once the user answered
    user: str = ""


@dataclass
class _Host:
    """One application's link registry (Jira's host, or Confluence's own host)."""

    consumers: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    request_tokens: dict[str, _Token] = field(default_factory=dict)
    access_tokens: dict[str, _Token] = field(default_factory=dict)
    nonces: dict[tuple[str, str, str], float] = field(default_factory=dict)


class OAuth1Provider:
    """The OAuth 1.0a side of the fake (``fake.oauth1``); see the module docstring."""

    def __init__(self, fake: Any) -> None:
        self.fake = fake
        self.decision = "approve"
        self.clock_offset = 0.0  # seconds added to the server clock (stale-timestamp tests)
        self.verified = 0  # API requests whose signature was checked and accepted
        self.problems: list[str] = []  # every oauth_problem answered, in order
        self._hosts: dict[str, _Host] = {}
        self._lock = threading.Lock()
        self._forced: list[str] = []
        self._issued_secrets: list[str] = []
        self._issued_access_tokens: list[str] = []  # grow-only: revoke_all() keeps them here

    # -- test controls --------------------------------------------------------------

    @property
    def consumer_key(self) -> str:
        return CONSUMER_KEY

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        """The test consumer's private key."""
        return idp_saml.signing_key("oauth1-consumer")

    @property
    def private_key_pem(self) -> str:
        """The test consumer's private key (unencrypted PKCS#8 PEM)."""
        return self.private_key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()).decode()

    @property
    def public_key_pem(self) -> str:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def register_consumer(self, consumer_key: str, public_pem: str | bytes,
                          host: str = "main") -> None:
        """Register an incoming application link (consumer key + public key) on an app.

        ``host``: an application id as :meth:`app_of` gives it ("main", "confluence", or
        listener + context path such as "main/jira").
        """
        key = serialization.load_pem_public_key(
            public_pem.encode() if isinstance(public_pem, str) else public_pem)
        if not isinstance(key, rsa.RSAPublicKey):
            raise TypeError("application links take RSA public keys")  # noqa: EM101, TRY003
        self._host(host).consumers[consumer_key] = key

    def fail_next(self, problem: str, times: int = 1) -> None:
        """Answer the next ``times`` signed API requests with this ``oauth_problem``."""
        with self._lock:
            self._forced.extend([problem] * times)

    def revoke_all(self, host: str = "main") -> None:
        """Forget every access token of a host (an administrator revoked them)."""
        self._host(host).access_tokens.clear()

    def access_tokens(self, host: str = "main") -> list[str]:
        """The access tokens issued on a host (for tests that look for leaks)."""
        return list(self._host(host).access_tokens)

    def issued_access_tokens(self) -> list[str]:
        """Every access token ever issued on any host, revoked ones too (leak checks)."""
        return list(self._issued_access_tokens)

    def token_secrets(self) -> list[str]:
        """Every token secret issued on any host (for tests that look for leaks)."""
        return list(self._issued_secrets)

    def contexts(self) -> list[str]:
        """The context paths of the products on this fake ("/jira", "/confluence", ...)."""
        found = (getattr(self.fake, "jira_context", ""), getattr(self.fake, "confluence_context", ""))
        return [c for c in found if c]

    def app_of(self, request: FakeRequest) -> str:
        """Which application (and so which application link) a request is for.

        Each listener is one application, unless products sit under context paths: then
        ``/jira/...`` and ``/confluence/...`` are two applications on one host.
        """
        for context in self.contexts():
            if request.path.startswith(context + "/"):
                return f"{request.host}{context}"
        return request.host

    def _host(self, tag: str) -> _Host:
        with self._lock:
            if tag not in self._hosts:
                state = _Host()
                state.consumers[CONSUMER_KEY] = self.private_key.public_key()
                self._hosts[tag] = state
            return self._hosts[tag]

    def now(self) -> float:
        return time.time() + self.clock_offset

    # -- answers ----------------------------------------------------------------------

    def _problem(self, request: FakeRequest, problem: str, status: int = 401,
                 **extra: str) -> FakeHTTPError:
        self.problems.append(problem)
        realm = request.base_url
        body = urlencode({"oauth_problem": problem, **extra}).encode()
        header = f'OAuth realm="{realm}", oauth_problem="{problem}"'
        return FakeHTTPError(status, body, [("WWW-Authenticate", header),
                                            ("Content-Type", "text/plain;charset=UTF-8")])

    def check(self, request: FakeRequest, auth: dict[str, str]) -> tuple[_Host, dict[str, str]]:
        """Verify a signed request; raise Atlassian's ``oauth_problem`` answer if it fails."""
        host = self._host(self.app_of(request))
        content_type = request.headers.get("content-type")
        pairs = request_parameters(request.raw_query, auth, content_type, request.body)
        params = {**dict(pairs), "oauth_signature": auth.get("oauth_signature", "")}
        absent = [name for name in REQUIRED if not params.get(name)]
        if absent:
            raise self._problem(request, "parameter_absent",
                                oauth_parameters_absent="&".join(absent))
        if params.get("oauth_version", "1.0") != "1.0":
            raise self._problem(request, "version_rejected", oauth_acceptable_versions="1.0-1.0")
        if params["oauth_signature_method"] != "RSA-SHA1":
            raise self._problem(request, "signature_method_rejected")
        public_key = host.consumers.get(params["oauth_consumer_key"])
        if public_key is None:
            raise self._problem(request, "consumer_key_unknown")
        try:
            stamp = int(params["oauth_timestamp"])
        except ValueError:
            raise self._problem(request, "parameter_rejected",
                                oauth_parameters_rejected="oauth_timestamp") from None
        now = self.now()
        if abs(now - stamp) > TIMESTAMP_WINDOW:
            raise self._problem(request, "timestamp_refused", oauth_acceptable_timestamps=(
                f"{int(now - TIMESTAMP_WINDOW)}-{int(now + TIMESTAMP_WINDOW)}"))
        scheme = urlsplit(request.base_url).scheme
        uri = base_string_uri(scheme, request.headers.get("host") or urlsplit(
            request.base_url).netloc, request.path)
        base = signature_base_string(request.method, uri, pairs)
        if not verify_rsa_sha1(public_key, base, auth.get("oauth_signature", "")):
            raise self._problem(request, "signature_invalid",
                                oauth_signature_base_string=base,
                                oauth_signature_method="RSA-SHA1")
        nonce_key = (params["oauth_consumer_key"], params["oauth_timestamp"],
                     params["oauth_nonce"])
        with self._lock:
            for seen_key, seen_at in list(host.nonces.items()):
                if seen_at < now - 2 * TIMESTAMP_WINDOW:
                    del host.nonces[seen_key]
            if nonce_key in host.nonces:
                raise self._problem(request, "nonce_used")
            host.nonces[nonce_key] = now
        return host, params

    # -- the authenticator ------------------------------------------------------------

    def authenticate(self, request: FakeRequest) -> Identity | None:
        """Identity of a request signed with a valid access token; None if not OAuth 1.0."""
        auth = parse_authorization(request.headers.get("authorization"))
        if auth is None:
            return None
        host, params = self.check(request, auth)
        with self._lock:
            forced = self._forced.pop(0) if self._forced else None
        if forced:
            # Jira echoes the signature base string (access token included) with a refused
            # signature: a client must not repeat that body.
            echo = f"{request.method}&{request.path}&oauth_token={params.get('oauth_token', '')}"
            extra = {"oauth_signature_base_string": echo} if forced == "signature_invalid" else {}
            raise self._problem(request, forced, **extra)
        token = host.access_tokens.get(params.get("oauth_token", ""))
        if token is None or token.consumer_key != params["oauth_consumer_key"]:
            raise self._problem(request, "token_rejected")
        self.verified += 1
        return Identity(kind="oauth1", user=token.user)

    # -- the servlets -----------------------------------------------------------------

    def _signed(self, request: FakeRequest) -> tuple[_Host, dict[str, str]]:
        """A servlet request's checked parameters (this fake takes them in the header only)."""
        auth = parse_authorization(request.headers.get("authorization"))
        if not auth:
            raise self._problem(request, "parameter_absent",
                                oauth_parameters_absent="&".join(REQUIRED))
        return self.check(request, auth)

    def request_token(self, request: FakeRequest) -> FakeResponse:
        host, params = self._signed(request)
        if params.get("oauth_token"):
            raise self._problem(request, "parameter_rejected", oauth_parameters_rejected="oauth_token")
        callback = params.get("oauth_callback")
        if not callback:
            raise self._problem(request, "parameter_absent",
                                oauth_parameters_absent="oauth_callback")
        token, secret = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        host.request_tokens[token] = _Token(params["oauth_consumer_key"], secret, self.now(),
                                            callback=callback)
        self._issued_secrets.append(secret)
        body = urlencode({"oauth_token": token, "oauth_token_secret": secret,
                          "oauth_callback_confirmed": "true"})
        return FakeResponse(200, body=body.encode(), content_type=FORM)

    def authorize(self, request: FakeRequest) -> FakeResponse:
        host = self._host(self.app_of(request))
        token_id = request.arg("oauth_token") or ""
        token = host.request_tokens.get(token_id)
        if token is None:
            raise self._problem(request, "token_rejected")
        if token.decision is None:
            token.decision = self.decision
            token.verifier = secrets.token_urlsafe(8) if self.decision == "approve" else "denied"
            token.user = str((getattr(self.fake, "credentials", None) or {}).get("user", "admin"))
        if token.callback == "oob":
            page = (f"<html><body><p>You have successfully authorized the application. Your "
                    f"verification code is '{token.verifier}'.</p></body></html>")
            return FakeResponse(200, body=page.encode(), content_type="text/html;charset=UTF-8")
        sep = "&" if "?" in token.callback else "?"
        location = token.callback + sep + urlencode({"oauth_token": token_id,
                                                     "oauth_verifier": token.verifier})
        return FakeResponse(302, body=b"", headers=[("Location", location)])

    def access_token(self, request: FakeRequest) -> FakeResponse:
        host, params = self._signed(request)
        token_id = params.get("oauth_token", "")
        token = host.request_tokens.get(token_id)
        if token is None or token.consumer_key != params["oauth_consumer_key"]:
            raise self._problem(request, "token_rejected")
        if self.now() - token.created > REQUEST_TOKEN_TTL:
            del host.request_tokens[token_id]
            raise self._problem(request, "token_expired")
        if token.decision is None:
            raise self._problem(request, "permission_unknown")
        if token.decision == "deny":
            del host.request_tokens[token_id]
            raise self._problem(request, "permission_denied")
        verifier = params.get("oauth_verifier")
        if not verifier:
            raise self._problem(request, "parameter_absent",
                                oauth_parameters_absent="oauth_verifier")
        if not secrets.compare_digest(verifier, token.verifier or ""):
            raise self._problem(request, "token_rejected")
        del host.request_tokens[token_id]  # a request token is exchanged once
        access, secret = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        host.access_tokens[access] = _Token(token.consumer_key, secret, self.now(),
                                            user=token.user)
        self._issued_secrets.append(secret)
        self._issued_access_tokens.append(access)
        body = urlencode({"oauth_token": access, "oauth_token_secret": secret,
                          "oauth_expires_in": "157680000",
                          "oauth_session_handle": secrets.token_urlsafe(8),
                          "oauth_authorization_expires_in": "160010000"})
        return FakeResponse(200, body=body.encode(), content_type=FORM)


def install(fake: Any) -> OAuth1Provider:
    """Add the servlets and the signature authenticator to a fake site (``fake.oauth1``)."""
    provider = OAuth1Provider(fake)
    fake.oauth1 = provider
    prefix = "(?:" + "|".join(re.escape(c) for c in provider.contexts()) + ")?"
    for method, step, handler in (("POST", "request-token", provider.request_token),
                                  ("GET", "authorize", provider.authorize),
                                  ("POST", "access-token", provider.access_token)):
        fake.route(method, f"{prefix}{SERVLET}/{step}", handler, auth=False, product="oauth1")
    fake.add_authenticator(provider.authenticate)
    return provider
