"""OAuth 1.0a with an RSA key pair: Jira / Confluence Server and Data Center application links.

An administrator registers a *consumer key* and the *public key* in Application Links
(incoming link); the tap signs every request with the matching private key
(``oauth_signature_method="RSA-SHA1"``, authlib's signer). The three-legged flow
(``docs/auth-oauth1.md``, ``docs/AUTH_FLOWS.md``) runs against the servlets of the product's
own base URL, so a Confluence on its own host is a second application link with its own
token:

1. ``POST {base}/plugins/servlet/oauth/request-token`` (``oauth_callback``) -> request token
   and secret; the secret is kept in the settings file until step 3.
2. The user approves at ``{base}/plugins/servlet/oauth/authorize?oauth_token=...``; the
   redirect to ``callback_url`` carries ``oauth_verifier``.
3. ``POST {base}/plugins/servlet/oauth/access-token`` signed with the request token and the
   verifier -> access token and secret, stored encrypted in the settings file.

https://developer.atlassian.com/server/jira/platform/oauth/
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import logging
import typing as t
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from authlib.integrations.requests_client import OAuth1Auth
from authlib.oauth1 import SIGNATURE_RSA_SHA1
from authlib.oauth1.rfc5849.signature import generate_signature_base_string
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tap_atlassian import net
from tap_atlassian.auth import flow
from tap_atlassian.auth.base import AuthError, SchemeAuth
from tap_atlassian.auth.browser import BrowserLoginError, callback_address, receive_redirect
from tap_atlassian.config import ConfigError
from tap_atlassian.errors import server_message
from tap_atlassian.settings_file import SettingsFile, SettingsFileError, resolve_passphrase
from tap_atlassian.sites import product_base_url

if t.TYPE_CHECKING:
    import requests
    from authlib.oauth1.rfc5849.wrapper import OAuth1Request
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

    from tap_atlassian.config import Settings
    from tap_atlassian.sites import Site

LOGGER = logging.getLogger("tap-atlassian")

KEY_SETTING = "oauth_jwt_cert"
SERVLET = "/plugins/servlet/oauth"
OOB = "oob"
SHOWN_PATH_CHARS = 300  # a longer "path" is most likely a key pasted in the wrong setting

# What each of Atlassian's `oauth_problem` answers means for the user, and what to do.
PROBLEM_ADVICE = {
    "consumer_key_unknown": "oauth_client_id is not the Consumer Key of an incoming "
    "application link on this server",
    "signature_invalid": "the private key in oauth_jwt_cert does not match the public key "
    "registered in the application link",
    "signature_method_rejected": "the application link does not accept RSA-SHA1 signatures",
    "timestamp_refused": "the server refused the request time; check this machine's clock",
    "nonce_used": "the server saw this request's nonce before; run again",
    "token_rejected": "the server does not know the token; run `tap-atlassian-auth url` and approve again",
    "token_expired": "the token expired; run `tap-atlassian-auth url` and approve again",
    "permission_unknown": "the request token was not approved yet; open the authorize URL "
    "and approve it first",
    "permission_denied": "the user denied access; run `tap-atlassian-auth url` and approve",
    "parameter_absent": "the server missed an OAuth parameter (is oauth_verifier set?)",
}


def _setting(settings: Settings | t.Mapping[str, object], name: str, default: str | None = None) -> object:
    """Read a setting from the typed settings object or a plain mapping."""
    if isinstance(settings, t.Mapping):
        value = settings.get(name, default)
    else:
        value = getattr(settings, name, default)
    return default if value in (None, "") else value


# --------------------------------------------------------------------------- keys


def _looks_like_pem(text: str) -> bool:
    return "-----BEGIN" in text


def _read_key_bytes(settings: Settings | t.Mapping[str, object]) -> bytes:
    """The PEM bytes named by ``oauth_jwt_cert`` / ``oauth_jwt_cert_type``, never echoed."""
    value = _setting(settings, KEY_SETTING)
    kind = _setting(settings, "oauth_jwt_cert_type", "PEMKEY_FILE")
    if not value:
        msg = (
            f"{KEY_SETTING}: required for oauth_version 1.0 (the path of the private key "
            "file, or its PEM text with oauth_jwt_cert_type PEMKEY_BLOB)"
        )
        raise ConfigError(msg)
    if kind == "PEMKEY_BLOB":
        text = str(value)
        if "\n" not in text and "\\n" in text:  # a one-line environment variable
            text = text.replace("\\n", "\n")
        return text.encode()
    if kind != "PEMKEY_FILE":
        msg = "oauth_jwt_cert_type: expected PEMKEY_FILE or PEMKEY_BLOB"
        raise ConfigError(msg)
    if _looks_like_pem(str(value)):
        msg = (
            f"{KEY_SETTING}: holds PEM text but oauth_jwt_cert_type is PEMKEY_FILE; "
            "set oauth_jwt_cert_type to PEMKEY_BLOB (or give the key file's path)"
        )
        raise ConfigError(msg)
    path = Path(str(value)).expanduser()
    shown = str(path) if len(str(path)) < SHOWN_PATH_CHARS and "\n" not in str(path) else "the given path"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        msg = f"{KEY_SETTING}: no private key file at {shown}"
    except IsADirectoryError:
        msg = f"{KEY_SETTING}: {shown} is a directory, not a private key file"
    except PermissionError:
        msg = f"{KEY_SETTING}: cannot read {shown} (permission denied)"
    except OSError as exc:
        msg = f"{KEY_SETTING}: cannot read {shown} ({exc.strerror or type(exc).__name__})"
    raise ConfigError(msg)


@functools.lru_cache(maxsize=4)
def _parse_pem(data: bytes, password: bytes | None) -> PrivateKeyTypes:
    """Parse once per process: validating a 2048-bit RSA key costs about 0.1 s."""
    return serialization.load_pem_private_key(data, password=password)


def load_private_key(settings: Settings | t.Mapping[str, object]) -> rsa.RSAPrivateKey:
    """Load the RSA private key (PKCS#1 or PKCS#8 PEM, encrypted or not).

    Every failure is a :class:`ConfigError` naming the setting at fault; no message
    contains key material or the key's password.
    """
    data = _read_key_bytes(settings)
    password = _setting(settings, "oauth_jwt_cert_password")
    if b"PRIVATE KEY-----" not in data:
        if any(m in data for m in (b"PUBLIC KEY-----", b"CERTIFICATE-----")):
            msg = (
                f"{KEY_SETTING}: holds a public key or certificate; give the private key "
                "(jira_privatekey.pem or .pcks8); the public key belongs in the "
                "application link"
            )
        else:
            msg = (
                f"{KEY_SETTING}: not a PEM private key (expected a -----BEGIN RSA PRIVATE "
                "KEY----- or -----BEGIN PRIVATE KEY----- block)"
            )
        raise ConfigError(msg)
    encrypted = b"ENCRYPTED" in data
    if encrypted and not password:
        msg = "oauth_jwt_cert_password: required, the private key in oauth_jwt_cert is encrypted"
        raise ConfigError(msg)
    secret = str(password).encode() if (encrypted and password) else None
    try:
        key = _parse_pem(data, secret)
    except (ValueError, TypeError):
        if encrypted:
            msg = (
                "oauth_jwt_cert_password: does not decrypt the private key in "
                "oauth_jwt_cert (wrong password?)"
            )
        else:
            msg = f"{KEY_SETTING}: the private key does not parse (damaged or not PEM)"
        raise ConfigError(msg) from None
    except Exception:  # noqa: BLE001  (an unsupported cipher or format surfaces as other errors)
        msg = f"{KEY_SETTING}: the private key cannot be loaded (unsupported format)"
        raise ConfigError(msg) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        msg = f"{KEY_SETTING}: application links need an RSA key, not this key type"
        raise ConfigError(msg)
    return key


def public_key_pem(key: rsa.RSAPrivateKey) -> str:
    """The public half, as it is pasted into the application link."""
    return (
        key.public_key()
        .public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode()
    )


def passphrase_from_key(key: rsa.RSAPrivateKey) -> str:
    """Default passphrase of the settings file: derived from the private key's secret part."""
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return hashlib.sha256(b"tap-atlassian oauth1 settings\0" + der).hexdigest()


# --------------------------------------------------------------------------- the flow


class OAuth1Error(AuthError):
    """A failed step of the OAuth 1.0a flow; the message is one line without secrets."""


def _sign_rsa_sha1(client: _KeySigner, request: OAuth1Request) -> str:
    """Authlib's RSA-SHA1 method, with the key loaded once instead of on every request.

    authlib's own ``sign_rsa_sha1`` parses (and fully validates) the PEM each time, about
    0.1 s per request for a 2048-bit key; the base string is still authlib's.
    """
    base_string = generate_signature_base_string(request).encode("utf-8")
    signature = client.private_key.sign(base_string, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    return base64.b64encode(signature).decode("ascii")


class _KeySigner(OAuth1Auth):
    """authlib's ``requests`` OAuth 1 auth (header style) holding a loaded RSA key."""

    SIGNATURE_METHODS: t.ClassVar[dict] = {**OAuth1Auth.SIGNATURE_METHODS, SIGNATURE_RSA_SHA1: _sign_rsa_sha1}
    private_key: rsa.RSAPrivateKey


def signer(
    consumer_key: str,
    key: rsa.RSAPrivateKey,
    token: str | None = None,
    verifier: str | None = None,
    callback: str | None = None,
) -> OAuth1Auth:
    """A ``requests`` auth that signs with RSA-SHA1 (authlib), header style."""
    auth = _KeySigner(
        consumer_key,
        token=token,
        token_secret=None,  # RSA-SHA1 does not use the token secret
        redirect_uri=callback,
        verifier=verifier,
        signature_method=SIGNATURE_RSA_SHA1,
    )
    auth.private_key = key
    return auth


def oauth_problem(response: requests.Response) -> str | None:
    """Atlassian's ``oauth_problem`` from the body or the ``WWW-Authenticate`` header."""
    body = response.text or ""
    if "oauth_problem=" in body:
        values = dict(parse_qsl(body.strip(), keep_blank_values=True))
        if values.get("oauth_problem"):
            return values["oauth_problem"]
    header = response.headers.get("WWW-Authenticate", "")
    marker = 'oauth_problem="'
    if marker in header:
        return header.split(marker, 1)[1].split('"', 1)[0]
    return None


def describe_failure(step: str, url: str, response: requests.Response) -> str:
    """One line: the step, the server's status and ``oauth_problem``, and what to do."""
    problem = oauth_problem(response)
    line = f"oauth 1.0: {step} at {url} failed: HTTP {response.status_code}"
    if problem:
        line += f" oauth_problem={problem}"
        if problem in PROBLEM_ADVICE:
            line += f" ({PROBLEM_ADVICE[problem]})"
    elif response.content.strip():
        line += f" ({server_message(response)})"
    return line


def _token_answer(step: str, url: str, response: requests.Response) -> dict[str, str]:
    if response.status_code != 200:  # noqa: PLR2004
        raise OAuth1Error(describe_failure(step, url, response))
    values = dict(parse_qsl((response.text or "").strip(), keep_blank_values=True))
    if not values.get("oauth_token"):
        msg = (
            f"oauth 1.0: {step} at {url} answered HTTP 200 without oauth_token "
            "(is the URL the Jira/Confluence base URL?)"
        )
        raise OAuth1Error(msg)
    return values


def request_token(  # noqa: PLR0913  (RFC 5849's inputs for this step; timeout and settings by name)
    session: requests.Session,
    base_url: str,
    consumer_key: str,
    key: rsa.RSAPrivateKey,
    callback: str | None,
    *,
    timeout: float = 60,
    settings: Settings | None = None,
) -> dict[str, str]:
    """Step 1: a signed POST for a request token (``oauth_token``, ``oauth_token_secret``)."""
    url = f"{base_url}{SERVLET}/request-token"
    response = _post(
        session,
        "request-token",
        url,
        settings,
        auth=signer(consumer_key, key, callback=callback or OOB),
        timeout=timeout,
    )
    return _token_answer("request-token", url, response)


def authorize_url(base_url: str, token: str) -> str:
    """Step 2: where the user approves the request token."""
    return f"{base_url}{SERVLET}/authorize?{urlencode({'oauth_token': token})}"


def access_token(  # noqa: PLR0913, PLR0917  (RFC 5849's inputs for this step, in its order)
    session: requests.Session,
    base_url: str,
    consumer_key: str,
    key: rsa.RSAPrivateKey,
    token: str,
    verifier: str,
    *,
    timeout: float = 60,
    settings: Settings | None = None,
) -> dict[str, str]:
    """Step 3: trade the approved request token and its verifier for an access token."""
    url = f"{base_url}{SERVLET}/access-token"
    response = _post(
        session,
        "access-token",
        url,
        settings,
        auth=signer(consumer_key, key, token=token, verifier=verifier),
        timeout=timeout,
    )
    return _token_answer("access-token", url, response)


def _post(
    session: requests.Session, step: str, url: str, settings: Settings | None, **kw: t.Any
) -> requests.Response:
    """A token request under the tap's retry policy; a failure below HTTP (host,
    certificate) is one line naming the host.
    """
    try:
        return flow.request(session, "POST", url, settings=settings, what=f"oauth1: {step} at {url}", **kw)
    except flow.UnreachableError as exc:
        msg = f"oauth1: {step} at {url}: {exc}"
        raise AuthError(msg) from None


# --------------------------------------------------------------------------- the scheme


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


class OAuth1Scheme(SchemeAuth):
    """``auth_scheme: oauth`` with ``oauth_version: "1.0"``: every request signed RSA-SHA1.

    The token lives in the settings file section ``oauth1:<product>``; a Confluence that
    shares Jira's base URL is the same application as Jira and shares its section.
    """

    name = "oauth1"
    required = ("oauth_client_id",)  # the Consumer Key of the incoming application link
    deployments = ("server",)
    wrong_deployment = "oauth_version: OAuth 1.0 application links are Server/DC only; use 2.0 on Cloud"

    def __init__(self, settings: Settings, product: str, site: Site) -> None:
        """Load the key (errors name the setting); nothing is requested yet."""
        super().__init__(settings, product, site)
        key = load_private_key(settings)
        self._key = key
        self._passphrase = passphrase_from_key(key)
        self.consumer_key = str(settings.oauth_client_id or "")
        self.base_url = site.base_url.rstrip("/")
        self._token: str | None = None
        self._session: requests.Session | None = None

    @classmethod
    def validate(cls, settings: Settings) -> None:
        """A loadable private key is needed for every request."""
        load_private_key(settings)

    # -- where the state lives ---------------------------------------------------------

    @property
    def section(self) -> str:
        """``oauth1:jira`` or ``oauth1:confluence`` (a Confluence on Jira's URL shares Jira's)."""
        if self.product == "confluence":
            jira = product_base_url(self.settings, "jira", self.site.deployment).rstrip("/")
            if jira == self.base_url:
                return "oauth1:jira"
        return f"oauth1:{self.product}"

    @property
    def link(self) -> str:
        """The product whose application link (and token) this scheme uses."""
        return self.section.split(":", 1)[1]

    @property
    def _product_flag(self) -> str:
        return f" --product {self.link}" if self.link != "jira" else ""

    def settings_file(self) -> SettingsFile:
        """The encrypted settings file (passphrase default: derived from the private key)."""
        try:
            passphrase = resolve_passphrase(
                self.settings.oauth_settings_passphrase, self._passphrase, KEY_SETTING
            )
            return SettingsFile(self.settings.oauth_settings_location, passphrase)
        except SettingsFileError as exc:
            raise self._file_error(exc) from None

    def _file_error(self, exc: SettingsFileError) -> AuthError:
        message = f"oauth 1.0: {exc}"
        if "cannot decrypt" in message and not self.settings.oauth_settings_passphrase:
            message += (
                " (without oauth_settings_passphrase the key is derived from the "
                "private key in oauth_jwt_cert: a file written with another key "
                "does not open)"
            )
        return AuthError(message)

    def _stored(self) -> dict[str, t.Any]:
        try:
            state = self.settings_file().load()
        except SettingsFileError as exc:
            raise self._file_error(exc) from None
        return self._usable(state.get(self.section) or {})

    def _usable(self, entry: dict[str, t.Any]) -> dict[str, t.Any]:
        """The entry, or {} when it belongs to another server or consumer key."""
        if entry and (
            entry.get("base_url") != self.base_url or entry.get("consumer_key") != self.consumer_key
        ):
            LOGGER.warning(
                "oauth 1.0: the settings file holds a %s token for another URL or consumer key; ignoring it",
                self.product,
            )
            return {}
        return entry

    # -- signing -----------------------------------------------------------------------

    def _http(self) -> requests.Session:
        if self._session is None:
            self._session = net.new_session(self.settings)  # ca_bundle, proxies, CA variables
        return self._session

    def apply(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Sign the request with the access token (RSA-SHA1)."""
        if self._token is None:
            self._token = self._access_token()
        return signer(self.consumer_key, self._key, token=self._token)(request)

    def prepare_session(self, session: requests.Session) -> None:  # noqa: ARG002  (SchemeAuth's signature)
        """Find the access token before the first request (finishing a pending approval)."""
        if self._token is None:
            self._token = self._access_token()

    def renew(self, session: requests.Session, response: requests.Response) -> bool:  # noqa: ARG002
        """A refused nonce is retried once (re-signing makes a new one).

        An access token cannot be refreshed in OAuth 1.0a: any other rejection (a revoked
        token, a clock that is off) is fatal, with the server's ``oauth_problem`` and what
        to do.
        """
        if oauth_problem(response) == "nonce_used":
            return True
        raise OAuth1Error(
            describe_failure(f"{self.product} API request", response.url.split("?")[0], response)
        )

    def _access_token(self) -> str:
        """The token every request is signed with: configured, stored, or exchanged now."""
        mode = self.settings.initiate_oauth
        if mode == "OFF":
            if not self.settings.oauth_access_token:
                msg = "oauth_access_token: required when initiate_oauth is OFF"
                raise ConfigError(msg)
            return str(self.settings.oauth_access_token)
        stored = self._stored()
        if stored.get("pending") and self.settings.oauth_verifier:
            LOGGER.info("oauth 1.0: exchanging oauth_verifier for a %s access token", self.link)
            self._exchange(str(self.settings.oauth_verifier), required=False)
            stored = self._stored()
        if stored.get("oauth_token"):
            return str(stored["oauth_token"])
        if self.settings.oauth_access_token:
            return str(self.settings.oauth_access_token)
        if mode == "GETANDREFRESH":
            self.login()
            stored = self._stored()
            if stored.get("oauth_token"):
                return str(stored["oauth_token"])
        path = self.settings_file().path
        flag = self._product_flag
        if stored.get("pending") or self.settings.oauth_verifier:
            hint = (
                "set oauth_verifier to the verifier of the latest approval"
                if stored.get("pending")
                else f"oauth_verifier is set but no request token is pending; run "
                f"`tap-atlassian-auth url --config C{flag}` first"
            )
        else:
            hint = (
                f"run `tap-atlassian-auth url --config C{flag}`, approve, then "
                f"`tap-atlassian-auth exchange --config C{flag} --verifier CODE` (or set "
                "initiate_oauth GETANDREFRESH)"
            )
        msg = (
            f"oauth 1.0: no {self.link} access token for {self.base_url} in the settings file {path}: {hint}"
        )
        raise AuthError(msg)

    # -- tap-atlassian-auth --------------------------------------------------------------

    def authorization_url(self, callback: str | None = None) -> str:
        """Obtain a request token (its secret kept in the settings file); the URL to approve."""
        sf = self.settings_file()
        try:
            with sf.transaction() as state:
                answer = request_token(
                    self._http(),
                    self.base_url,
                    self.consumer_key,
                    self._key,
                    callback or self.settings.callback_url,
                    timeout=self.settings.request_timeout,
                    settings=self.settings,
                )
                entry = self._usable(dict(state.get(self.section) or {}))
                entry.update(
                    base_url=self.base_url,
                    consumer_key=self.consumer_key,
                    pending={
                        "oauth_token": answer["oauth_token"],
                        "oauth_token_secret": answer.get("oauth_token_secret", ""),
                        "created_at": _now(),
                    },
                )
                state[self.section] = entry
        except SettingsFileError as exc:
            raise self._file_error(exc) from None
        return authorize_url(self.base_url, answer["oauth_token"])

    def exchange(self, verifier: str) -> None:
        """Trade the pending request token and ``verifier`` for an access token; store it."""
        self._exchange(verifier, required=True)

    def _exchange(self, verifier: str, *, required: bool) -> None:
        """``required=False``: another scheme instance may have finished it meanwhile."""
        verifier = verifier.strip()
        sf = self.settings_file()
        try:
            with sf.transaction() as state:
                entry = self._usable(dict(state.get(self.section) or {}))
                pending = entry.get("pending")
                if not pending and not required and entry.get("oauth_token"):
                    return
                if not pending:
                    msg = (
                        f"oauth 1.0: no request token is pending for {self.link} in "
                        f"{sf.path}: run `tap-atlassian-auth url --config "
                        f"C{self._product_flag}` first"
                    )
                    raise AuthError(msg)
                answer = access_token(
                    self._http(),
                    self.base_url,
                    self.consumer_key,
                    self._key,
                    pending["oauth_token"],
                    verifier,
                    timeout=self.settings.request_timeout,
                    settings=self.settings,
                )
                state[self.section] = {
                    "base_url": self.base_url,
                    "consumer_key": self.consumer_key,
                    "oauth_token": answer["oauth_token"],
                    "oauth_token_secret": answer.get("oauth_token_secret", ""),
                    "authorized_at": _now(),
                }
        except SettingsFileError as exc:
            raise self._file_error(exc) from None
        self._token = None

    def login(self) -> None:
        """The desktop flow: request token, browser approval, local redirect, exchange."""
        callback = self.settings.callback_url
        callback_address(callback)  # a non-loopback callback_url fails before any request
        url = self.authorization_url(callback)
        token = dict(parse_qsl(urlsplit(url).query)).get("oauth_token")
        params = receive_redirect(url, callback)
        if params.get("oauth_token") != token:
            msg = (
                "oauth 1.0: login: the redirect to callback_url carried another "
                "oauth_token than the one this login asked to approve; run the login again"
            )
            raise BrowserLoginError(msg)
        verifier = params.get("oauth_verifier") or ""
        if not verifier or verifier == "denied":
            msg = (
                f"oauth 1.0: login: access was not granted at {self.base_url} (the user "
                "denied it); run the login again and choose Allow"
            )
            raise BrowserLoginError(msg)
        self.exchange(verifier)

    def status(self) -> dict[str, t.Any]:
        """What the settings file holds for this product; never a token or secret."""
        stored = self._stored()
        out = super().status()
        out.update(
            scheme="oauth1",
            base_url=self.base_url,
            consumer_key=self.consumer_key,
            section=self.section,
            settings_file=str(self.settings_file().path),
            stored_state=bool(stored.get("oauth_token")),
            authorized_at=stored.get("authorized_at"),
            pending_request_token=bool(stored.get("pending")),
            public_key_sha256=hashlib.sha256(public_key_pem(self._key).encode()).hexdigest(),
        )
        return out
