"""The settings of tap-atlassian, each declared once as a field of :class:`Settings`.

A field's name, annotation, default and :func:`~tap_atlassian.settings_schema.setting`
spec (description, secret, allowed values, bounds, kind) are the whole declaration: the
config JSON schema (:data:`CONFIG_SCHEMA`, so ``--about`` and the README's settings
table), the type, value and range checks, and the typed values all follow from it
(:mod:`tap_atlassian.settings_schema`). The names and meanings are the contract in
``docs/SETTINGS.md``; settings added beyond it are documented in their descriptions.

This is the one place that reads the raw config mapping. Validation happens before any
request: a missing or contradictory setting raises :class:`ConfigError` whose message is
one line naming the setting and what to do; messages never contain a configured secret.
What each login scheme needs is checked by the scheme (:func:`tap_atlassian.auth.load_settings`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt  # noqa: TC003  (the Settings annotations are read at run time)
import difflib
import os
import re
import ssl
import typing as t
from urllib.parse import urlsplit

from tap_atlassian import settings_schema
from tap_atlassian.settings_schema import ConfigError, setting

__all__ = ["CONFIG_SCHEMA", "LOGINS", "ConfigError", "Settings", "numbers_from_text", "unknown_settings"]

PRODUCTS = ("confluence", "jira_service_desk")
# What users write for a Jira without Service Management; its JSM streams are skipped (404 probe).
PRODUCT_ALIASES = {"jira": "jira_service_desk"}
DEPLOYMENTS = ("auto", "cloud", "server")
# The login schemes: (auth_scheme, oauth_version or None) -> "module:Class" below
# tap_atlassian.auth. Registering a scheme is one line here; its module states what it needs.
LOGINS: dict[tuple[str, str | None], str] = {
    ("basic", None): "basic:BasicAuth",
    ("oauth", "2.0"): "oauth2:OAuth2Auth",
    ("oauth", "1.0"): "oauth1:OAuth1Scheme",
    ("crowd", None): "crowd:CrowdAuth",
    ("okta", None): "okta:OktaAuth",
    ("pat", None): "pat:PatAuth",
}
AUTH_SCHEMES = tuple(dict.fromkeys(scheme for scheme, _ in LOGINS))
OAUTH_VERSIONS = tuple(version for _, version in LOGINS if version)
_SSO_KEYS = {
    "apitoken": "api_token",
    "mfatype": "mfa_type",
    "mfapasscode": "mfa_passcode",
    "mfarememberdevice": "mfa_remember_device",
    "mfapollseconds": "mfa_poll_seconds",
    "mfatimeoutseconds": "mfa_timeout_seconds",
    "remoteaddress": "remote_address",
}


def parse_sso_properties(value: t.Any) -> dict[str, t.Any]:  # noqa: ANN401
    """Normalise ``sso_properties`` (object or ``Key=value;...`` string, keys case-insensitive,
    ``_`` optional) to the keys the schemes read (``mfa_type``, ``remote_address``, ...).
    """
    if not value:
        return {}
    if isinstance(value, str):
        pairs = [p.split("=", 1) for p in value.split(";") if p.strip()]
        if any(len(p) != 2 for p in pairs):  # noqa: PLR2004
            msg = "sso_properties: expected `Key=value;Key=value` (for example MFAType=OktaVerify)"
            raise ConfigError(msg)
        value = {k.strip(): v.strip() for k, v in pairs}
    out: dict[str, t.Any] = {}
    for key, item in value.items():
        norm = re.sub(r"[^a-z]", "", str(key).lower())
        out[_SSO_KEYS.get(norm, norm)] = item
    remember = out.get("mfa_remember_device", True)
    if isinstance(remember, str):
        remember = remember.strip().lower() not in {"false", "0", "no", "off"}
    out["mfa_remember_device"] = bool(remember)
    return out


def _products(value: tuple[str, ...]) -> tuple[str, ...]:
    """Aliases resolved, each product once; an empty list is a mistake, not "none"."""
    if not value:
        msg = "products: empty; list confluence and/or jira_service_desk (or leave it unset)"
        raise ConfigError(msg)
    return tuple(dict.fromkeys(PRODUCT_ALIASES.get(p, p) for p in value))


def check_ca_bundle(path: str) -> str:
    """``ca_bundle`` must be a readable file holding at least one PEM certificate."""
    if not os.path.isfile(path):  # noqa: PTH113
        msg = f"ca_bundle: no such file: {path} (a PEM file of the certificate authorities to trust)"
        raise ConfigError(msg)
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError, ValueError):
        msg = f"ca_bundle: {path} holds no readable PEM certificate"
        raise ConfigError(msg) from None
    return path


def _words(values: t.Sequence[str]) -> str:
    return f"{', '.join(values[:-1])} or {values[-1]}"


# sso_properties: an object, or the seeds' `Key=value;...` text
_OBJECT_OR_TEXT = {
    "anyOf": [
        {"type": "object", "properties": {}, "additionalProperties": True},
        {"type": ["string"]},
        {"type": "null"},
    ]
}
URL = "url"  # the kind of a setting that is an http(s) URL


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """A typed, validated view of the tap's config (build it with :meth:`from_config`)."""

    # Where the data is
    url: str = setting(
        (
            "Cloud: https://SITE.atlassian.net. Server/DC: the Jira base URL (and Confluence's, when both"
            " share a host)."
        ),
        required=True,
        kind=URL,
        label="Site URL",
    )
    confluence_url: str | None = setting(
        "Confluence base URL when it differs (default: Cloud {url}/wiki, Server url).",
        None,
        kind=URL,
        label="Confluence URL",
    )
    jira_url: str | None = setting(
        "Jira / Jira Service Management base URL when it differs (default: url).",
        None,
        kind=URL,
        label="Jira URL",
    )
    deployment: str = setting(
        (
            "auto (a *.atlassian.net host or OAuth 2.0 is Cloud, otherwise ask serverInfo), cloud, or "
            "server (covers Data Center)."
        ),
        "auto",
        allowed=DEPLOYMENTS,
        label="Deployment",
        option_labels={"auto": "Detect", "cloud": "Cloud", "server": "Server / Data Center"},
    )
    products: tuple[str, ...] = setting(
        "Products to extract: confluence, jira_service_desk (alias jira) (default both).",
        PRODUCTS,
        allowed=(*PRODUCTS, *PRODUCT_ALIASES),
        convert=_products,
        label="Products",
    )
    start_date: dt.datetime | None = setting(  # noqa: RUF009  (setting() is a dataclasses.field)
        "Lower bound of the first incremental sync (default everything).", None, label="Start date"
    )
    space_keys: tuple[str, ...] = setting(
        "Only these Confluence spaces (default all). Split a large site into jobs by this.",
        (),
        label="Confluence space keys",
    )
    project_keys: tuple[str, ...] = setting(
        "Only these Jira / service desk projects (default all). Split a large site into jobs by this.",
        (),
        label="Jira project keys",
    )
    search_lag_minutes: int = setting(
        (
            "The upper end of each incremental query stays this far in the past (search indexes lag "
            "behind writes)."
        ),
        5,
        bounds=(0, 24 * 60),
        label="Search lag (minutes)",
    )
    include_custom_fields: bool = setting(
        "Add every Jira custom field, typed from /field metadata, under `fields` of jira_issues.",
        default=False,
        label="Include custom fields",
    )
    custom_field_names: bool = setting(
        (
            "With include_custom_fields: custom fields under a column-safe name made from the field's "
            "name (story_point_estimate) instead of their id; jira_fields keeps the mapping."
        ),
        default=False,
        label="Custom field names",
    )
    ca_bundle: str | None = setting(
        (
            "PEM file of the certificate authorities to trust for every request (Server/DC behind an "
            "internal CA); default: the system's trust store. Verification is never turned off."
        ),
        None,
        convert=check_ca_bundle,
        label="CA bundle",
    )
    max_concurrent_requests: int = setting(
        (
            "Requests in flight at once per product (Jira, Confluence), shared by every stream of the "
            "run; 1 reads sequentially. Output and STATE are the same at any value."
        ),
        8,
        bounds=(1, 64),
        label="Max concurrent requests",
    )
    delete_sweep_hours: float = setting(
        "How often the issue-id sweep that reports deleted issues runs; 0: never.",
        24,
        bounds=(0, 24 * 365),
        label="Delete sweep hours",
    )
    lookback_minutes: int = setting(
        (
            "How far before the bookmark each incremental run looks again for records indexed late (only "
            "records not emitted at that version before are emitted)."
        ),
        720,
        bounds=(0, 7 * 24 * 60),
        label="Lookback minutes",
    )
    # Added settings (beyond the seeds)
    page_size: int = setting(
        "Records requested per page (capped per endpoint by Atlassian's maximum).",
        100,
        bounds=(1, 1000),
        label="Page size",
    )
    max_retries: int = setting(
        "Retries of a request after 429, 5xx, timeouts and connection resets.",
        5,
        bounds=(0, 50),
        label="Max retries",
    )
    retry_initial_wait_seconds: float = setting(
        "First wait of the exponential back-off (when no Retry-After is given).",
        1,
        bounds=(0, 600),
        label="First retry wait (seconds)",
    )
    retry_max_wait_seconds: float = setting(
        "Longest wait between two retries (also caps Retry-After).",
        60,
        bounds=(0, 3600),
        label="Max retry wait (seconds)",
    )
    request_timeout: float = setting(
        (
            "Seconds to wait for a server's answer before retrying (connecting: at most 30). With the "
            "default retries a request that never answers fails after about 7 minutes."
        ),
        60,
        bounds=(1, 3600),
        label="Request timeout (seconds)",
    )
    progress_seconds: float = setting(
        (
            "Seconds between two progress lines of a stream (records so far, rate, and percent and ETA "
            "where the API gives a total); each stream also ends with one summary line."
        ),
        30,
        bounds=(0.1, 24 * 3600),
        label="Progress interval (seconds)",
    )
    # How it logs in
    auth_scheme: str = setting(
        "basic (Cloud API token or Server password), pat, oauth, crowd or okta.",
        required=True,
        allowed=AUTH_SCHEMES,
        label="Authentication scheme",
        option_labels={
            "basic": "Basic (API token / password)",
            "pat": "Personal access token (Data Center)",
            "oauth": "OAuth",
            "crowd": "Crowd SSO",
            "okta": "Okta SSO",
        },
    )
    user: str | None = setting("Basic, Crowd, Okta user (Cloud: the account e-mail).", None, label="User")
    password: str | None = setting(
        "Server/DC password (Basic), Crowd or Okta password. Not used for Cloud Basic.",
        None,
        secret=True,
        label="Password",
    )
    api_token: str | None = setting(
        "Cloud Basic: the Atlassian API token (id.atlassian.com > Security > API tokens).",
        None,
        secret=True,
        label="API token",
    )
    personal_access_token: str | None = setting(
        "Data Center personal access token (pat scheme), sent as Bearer.",
        None,
        secret=True,
        label="Personal access token",
    )
    oauth_version: str = setting(
        "2.0 (Cloud 3LO) or 1.0 (Server/DC application links signed with RSA-SHA1).",
        "2.0",
        allowed=OAUTH_VERSIONS,
        label="OAuth version",
        option_labels={"2.0": "OAuth 2.0", "1.0": "OAuth 1.0a"},
    )
    oauth_client_id: str | None = setting(
        "OAuth 2.0 client id; OAuth 1.0 consumer key.", None, label="OAuth client id"
    )
    oauth_client_secret: str | None = setting(
        "OAuth 2.0 client secret (OAuth 1.0 unused).", None, secret=True, label="OAuth client secret"
    )
    callback_url: str = setting(
        "Redirect URI registered with the app.", "http://localhost:33333", kind=URL, label="Callback URL"
    )
    scope: str | None = setting(
        "Space-separated OAuth 2.0 scopes (default: a read-only set with offline_access).",
        None,
        label="OAuth scopes",
    )
    initiate_oauth: str = setting(
        (
            "OFF: use oauth_access_token as given. GETANDREFRESH: run the browser flow when no token is "
            "stored, then refresh. REFRESH: never open a browser."
        ),
        "REFRESH",
        allowed=("OFF", "GETANDREFRESH", "REFRESH"),
        label="Initiate OAuth",
        option_labels={"OFF": "Off", "GETANDREFRESH": "Get and refresh", "REFRESH": "Refresh"},
    )
    oauth_verifier: str | None = setting(
        "The code from the authorization redirect (headless option 1).",
        None,
        secret=True,
        label="OAuth verifier",
    )
    oauth_access_token: str | None = setting(
        "Access token for initiate_oauth=OFF.", None, secret=True, label="OAuth access token"
    )
    oauth_refresh_token: str | None = setting(
        "Refresh token seed for REFRESH when no settings file exists yet.",
        None,
        secret=True,
        label="OAuth refresh token",
    )
    oauth_settings_location: str | None = setting(
        (
            "Path of the encrypted login-state file (default OAuthSettings.txt in the user's config "
            "directory)."
        ),
        None,
        label="OAuth settings file",
    )
    oauth_settings_passphrase: str | None = setting(
        "Key material for the login-state file (default derived from the scheme's secret).",
        None,
        secret=True,
        label="OAuth settings passphrase",
    )
    oauth_jwt_cert: str | None = setting(
        "OAuth 1.0 private key: a path (PEMKEY_FILE) or the PEM text (PEMKEY_BLOB).",
        None,
        secret=True,
        label="OAuth 1.0 private key",
    )
    oauth_jwt_cert_type: str = setting(
        "PEMKEY_FILE (a path) or PEMKEY_BLOB (the PEM text).",
        "PEMKEY_FILE",
        allowed=("PEMKEY_FILE", "PEMKEY_BLOB"),
        label="OAuth 1.0 private key type",
        option_labels={"PEMKEY_FILE": "File", "PEMKEY_BLOB": "PEM text"},
    )
    oauth_jwt_cert_password: str | None = setting(
        "Passphrase of an encrypted private key.", None, secret=True, label="OAuth 1.0 private key passphrase"
    )
    cloud_id: str | None = setting(
        "OAuth 2.0 Cloud site id (found from accessible-resources by matching url when empty).",
        None,
        label="Cloud id",
    )
    oauth_authorization_url: str = setting(
        "OAuth 2.0 authorization URL.",
        "https://auth.atlassian.com/authorize",
        kind=URL,
        label="OAuth authorization URL",
    )
    oauth_token_url: str = setting(
        "OAuth 2.0 token URL.", "https://auth.atlassian.com/oauth/token", kind=URL, label="OAuth token URL"
    )
    oauth_api_url: str = setting(
        "Atlassian API gateway (accessible-resources and /ex/{product}/{cloud_id}).",
        "https://api.atlassian.com",
        kind=URL,
        label="OAuth API URL",
    )
    sso_login_url: str | None = setting(
        "Crowd: the IdP SSO URL. Okta: the app's embed link.", None, kind=URL, label="SSO login URL"
    )
    sso_exchange_url: str | None = setting(
        "The product's SAML assertion consumer (https://HOST/plugins/servlet/samlconsumer).",
        None,
        kind=URL,
        label="SSO exchange URL",
    )
    confluence_sso_login_url: str | None = setting(
        "SSO login URL for a Confluence on its own host.", None, kind=URL, label="Confluence SSO login URL"
    )
    confluence_sso_exchange_url: str | None = setting(
        "SAML assertion consumer of a Confluence on its own host.",
        None,
        kind=URL,
        label="Confluence SSO exchange URL",
    )
    sso_app_name: str | None = setting("Crowd application name.", None, label="Crowd application name")
    sso_app_password: str | None = setting(
        "Crowd application password.", None, secret=True, label="Crowd application password"
    )
    sso_properties: dict[str, t.Any] = setting(  # noqa: RUF009  (setting() is a dataclasses.field)
        (
            "Okta: api_token, mfa_type (OktaVerify, Email, SMS), mfa_passcode, mfa_remember_device. In "
            'Meltano give the JSON object form ({"mfa_type": "OktaVerify"}); the seeds\' Key=value;... '
            "string works in a plain config.json only."
        ),
        secret=True,
        schema=_OBJECT_OR_TEXT,
        convert=parse_sso_properties,
        default_factory=dict,
        label="SSO properties",
    )
    # not a setting: the config as given (for secrets() and the unknown-settings warning)
    raw: t.Mapping[str, t.Any] = dataclasses.field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        """Never show a secret."""
        return f"Settings(url={self.url!r}, auth_scheme={self.auth_scheme!r}, deployment={self.deployment!r})"

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any]) -> Settings:
        """Read, check and type a raw config mapping (raises :class:`ConfigError`).

        Types, allowed values and ranges are checked against the schema first, in its order,
        then required settings (an empty text is unset), then each setting is read.
        """
        config = numbers_from_text(config)
        problem = settings_schema.first_error(CONFIG_SCHEMA, config)
        if problem:
            raise ConfigError(problem)
        values: dict[str, t.Any] = {}
        for item in DECLARED:
            value = config.get(item.name)
            if value is None or value == "":
                if item.spec.required:
                    msg = f"{item.name}: required setting is missing"
                    raise ConfigError(msg)
                value = item.default
            if value is not None and value is not dataclasses.MISSING:
                values[item.name] = settings_schema.read(item, value)
        return cls(**values, raw=dict(config))

    @property
    def deployment_hint(self) -> str | None:
        """``cloud`` / ``server`` when known without a request, else None (auto, unknown host)."""
        if self.deployment != "auto":
            return self.deployment
        if self.auth_scheme == "oauth" and self.oauth_version == "2.0":
            return "cloud"
        hosts = [urlsplit(u).hostname or "" for u in (self.url, self.jira_url) if u]
        if any(h.endswith(".atlassian.net") for h in hosts):
            return "cloud"
        return None

    def secrets(self) -> list[str]:
        """Every configured secret value (for redaction and for tests)."""
        values = [self.raw.get(name) for name in SECRET_SETTINGS]
        values += [self.sso_properties.get(k) for k in ("api_token", "mfa_passcode")]
        return [v for v in values if isinstance(v, str) and len(v) >= 4]  # noqa: PLR2004

    def wants(self, product: str) -> bool:
        """Whether a product (``confluence`` / ``jira_service_desk``) is extracted."""
        return product in self.products


DECLARED = settings_schema.declared(Settings)
CONFIG_SCHEMA = settings_schema.json_schema(Settings)
SECRET_SETTINGS = tuple(item.name for item in DECLARED if item.spec.secret)


def numbers_from_text(config: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """``number`` settings given as text read as numbers (see ``settings_schema.numbers_from_text``)."""
    return settings_schema.numbers_from_text(CONFIG_SCHEMA, config)


def unknown_settings(config: t.Mapping[str, t.Any], known: t.Iterable[str]) -> list[str]:
    """One warning per setting the tap does not know (``project_key``), naming the closest."""
    names = sorted(set(known))
    out = []
    for key in sorted(config):
        if key in names or key.startswith("_"):
            continue
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        out.append(f"{key}: not a setting of tap-atlassian{hint}; ignored")
    return out
