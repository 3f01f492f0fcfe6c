"""The settings of tap-atlassian: JSON schema, typed view and up-front validation.

This is the one place that reads the raw config mapping. The names and meanings are the
contract in ``SETTINGS.md``; settings added here beyond it (``page_size``,
``max_retries``, ``retry_initial_wait_seconds``, ``retry_max_wait_seconds``,
``request_timeout``) are documented in their
descriptions.

Validation happens before any request: a missing or contradictory setting raises
:class:`ConfigError` whose message is one line naming the setting and what to do.
Messages never contain a configured secret.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import difflib
import os
import re
import ssl
import typing as t
from urllib.parse import urlsplit

from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError

PRODUCTS = ("confluence", "jira_service_desk")
# What users write for a Jira without Service Management; its JSM streams are skipped (404 probe).
PRODUCT_ALIASES = {"jira": "jira_service_desk"}
AUTH_SCHEMES = ("basic", "oauth", "crowd", "okta", "pat")
DEPLOYMENTS = ("auto", "cloud", "server")


class ConfigError(ConfigValidationError):
    """A missing, malformed or contradictory setting; the message is one line."""

    def __init__(self, message: str) -> None:
        """Keep the one-line message as the only error (the SDK's CLI logs each one)."""
        super().__init__(message, errors=[message])


def _s(name: str, description: str, **kw: t.Any) -> th.Property:
    return th.Property(name, th.StringType, description=description, **kw)


def _secret(name: str, description: str) -> th.Property:
    return th.Property(name, th.StringType, secret=True, description=description)


def _strings(name: str, description: str, **kw: t.Any) -> th.Property:
    return th.Property(name, th.ArrayType(th.StringType), description=description, **kw)


CONFIG_SCHEMA = th.PropertiesList(
    # Where the data is
    _s(
        "url", "Site URL: https://SITE.atlassian.net (Cloud) or the Jira base URL (Server/DC).", required=True
    ),
    _s("confluence_url", "Confluence base URL when it differs (default: Cloud {url}/wiki, Server url)."),
    _s("jira_url", "Jira / Jira Service Management base URL when it differs (default: url)."),
    _s(
        "deployment",
        "auto (detect), cloud, or server (covers Data Center).",
        default="auto",
        allowed_values=list(DEPLOYMENTS),
    ),
    th.Property(
        "products",
        th.ArrayType(th.StringType(allowed_values=[*PRODUCTS, *PRODUCT_ALIASES])),
        description="Products to extract: confluence, jira_service_desk (alias jira) (default both).",
    ),
    th.Property("start_date", th.DateTimeType, description="Lower bound of the first incremental sync."),
    _strings("space_keys", "Only these Confluence spaces (default all)."),
    _strings("project_keys", "Only these Jira / service desk projects (default all)."),
    th.Property(
        "search_lag_minutes",
        th.IntegerType,
        default=5,
        description="The upper end of incremental queries stays this many minutes in the past.",
    ),
    th.Property(
        "include_custom_fields",
        th.BooleanType,
        default=False,
        description="Add every Jira custom field, typed, under `fields` of jira_issues.",
    ),
    th.Property(
        "custom_field_names",
        th.BooleanType,
        default=False,
        description="With include_custom_fields: custom fields under a column-safe name made "
        "from the field's name (story_point_estimate) instead of their id; jira_fields keeps "
        "the mapping.",
    ),
    _s(
        "ca_bundle",
        "PEM file of the certificate authorities to trust for every request (Server/DC "
        "behind an internal CA); default: the system's trust store. Verification is never turned off.",
    ),
    th.Property(
        "max_concurrent_requests",
        th.IntegerType,
        default=8,
        description="Requests in flight at once per product (Jira, Confluence), shared by every "
        "stream of the run; 1 reads sequentially. Output and STATE are the same at any value.",
    ),
    th.Property(
        "delete_sweep_hours",
        th.NumberType,
        default=24,
        description="How often the issue-id sweep that reports deleted issues runs; 0: never.",
    ),
    th.Property(
        "lookback_minutes",
        th.IntegerType,
        default=720,
        description="How far before the bookmark each incremental run looks again for records "
        "indexed late (only records not emitted at that version before are emitted).",
    ),
    # Added settings (beyond the seeds)
    th.Property(
        "page_size",
        th.IntegerType,
        default=100,
        description="Records requested per page (capped per endpoint by Atlassian's maximum).",
    ),
    th.Property(
        "max_retries",
        th.IntegerType,
        default=5,
        description="Retries of a request after 429, 5xx, timeouts and connection resets.",
    ),
    th.Property(
        "retry_initial_wait_seconds",
        th.NumberType,
        default=1,
        description="First wait of the exponential back-off (no Retry-After given).",
    ),
    th.Property(
        "retry_max_wait_seconds",
        th.NumberType,
        default=60,
        description="Longest wait between two retries (also caps Retry-After).",
    ),
    th.Property(
        "request_timeout",
        th.NumberType,
        default=60,
        description="Seconds to wait for a server's answer before retrying (connecting: at most "
        "30). With the default retries a request that never answers fails after about 7 minutes.",
    ),
    th.Property(
        "progress_seconds",
        th.NumberType,
        default=30,
        description="Seconds between two progress lines of a stream (records so far, rate, and "
        "percent and ETA where the API gives a total); each stream also ends with one summary line.",
    ),
    # How it logs in
    _s("auth_scheme", "basic, oauth, crowd, okta or pat.", required=True, allowed_values=list(AUTH_SCHEMES)),
    _s("user", "Basic, Crowd, Okta user (Cloud: the account e-mail)."),
    _secret("password", "Server/DC password (Basic), Crowd or Okta password."),
    _secret("api_token", "Cloud Basic: the Atlassian API token."),
    _secret("personal_access_token", "Data Center personal access token (pat scheme)."),
    _s(
        "oauth_version",
        "OAuth version: 2.0 (Cloud 3LO) or 1.0 (Server/DC application links).",
        default="2.0",
        allowed_values=["2.0", "1.0"],
    ),
    _s("oauth_client_id", "OAuth 2.0 client id; OAuth 1.0 consumer key."),
    _secret("oauth_client_secret", "OAuth 2.0 client secret."),
    _s("callback_url", "Redirect URI registered with the app.", default="http://localhost:33333"),
    _s("scope", "Space-separated OAuth 2.0 scopes (default: a read-only set with offline_access)."),
    _s(
        "initiate_oauth",
        "OFF, GETANDREFRESH or REFRESH.",
        default="REFRESH",
        allowed_values=["OFF", "GETANDREFRESH", "REFRESH"],
    ),
    _secret("oauth_verifier", "The code from the authorization redirect."),
    _secret("oauth_access_token", "Access token for initiate_oauth=OFF."),
    _secret("oauth_refresh_token", "Refresh token seed for REFRESH when no settings file exists."),
    _s("oauth_settings_location", "Path of the encrypted login-state file."),
    _secret("oauth_settings_passphrase", "Key material for the login-state file."),
    _secret("oauth_jwt_cert", "OAuth 1.0 private key: a path or the PEM text."),
    _s(
        "oauth_jwt_cert_type",
        "PEMKEY_FILE or PEMKEY_BLOB.",
        default="PEMKEY_FILE",
        allowed_values=["PEMKEY_FILE", "PEMKEY_BLOB"],
    ),
    _secret("oauth_jwt_cert_password", "Passphrase of an encrypted private key."),
    _s("cloud_id", "OAuth 2.0 Cloud site id (found from accessible-resources when empty)."),
    _s(
        "oauth_authorization_url",
        "OAuth 2.0 authorization URL.",
        default="https://auth.atlassian.com/authorize",
    ),
    _s("oauth_token_url", "OAuth 2.0 token URL.", default="https://auth.atlassian.com/oauth/token"),
    _s("oauth_api_url", "Atlassian API gateway URL.", default="https://api.atlassian.com"),
    _s("sso_login_url", "Crowd IdP SSO URL or Okta app embed link."),
    _s("sso_exchange_url", "The product's SAML assertion consumer URL."),
    _s("confluence_sso_login_url", "SSO login URL for a Confluence on its own host."),
    _s("confluence_sso_exchange_url", "SAML assertion consumer of a Confluence on its own host."),
    _s("sso_app_name", "Crowd application name."),
    _secret("sso_app_password", "Crowd application password."),
    th.Property(
        "sso_properties",
        th.AnyOf(th.ObjectType(additional_properties=True), th.StringType),
        secret=True,
        description="Okta: api_token, mfa_type, mfa_passcode, mfa_remember_device (object or "
        "the seeds' `APIToken=...;MFAType=...` string).",
    ),
).to_dict()

SECRET_SETTINGS = tuple(name for name, prop in CONFIG_SCHEMA["properties"].items() if prop.get("writeOnly"))
URL_SETTINGS = (
    "url",
    "confluence_url",
    "jira_url",
    "callback_url",
    "oauth_authorization_url",
    "oauth_token_url",
    "oauth_api_url",
    "sso_login_url",
    "sso_exchange_url",
    "confluence_sso_login_url",
    "confluence_sso_exchange_url",
)
_SSO_KEYS = {
    "apitoken": "api_token",
    "mfatype": "mfa_type",
    "mfapasscode": "mfa_passcode",
    "mfarememberdevice": "mfa_remember_device",
    "mfapollseconds": "mfa_poll_seconds",
    "mfatimeoutseconds": "mfa_timeout_seconds",
    "remoteaddress": "remote_address",
}


def parse_sso_properties(value: t.Any) -> dict[str, t.Any]:
    """Normalise ``sso_properties`` (object or ``Key=value;...`` string, keys case-insensitive,
    ``_`` optional) to the keys the schemes read (``mfa_type``, ``remote_address``, ...).
    """
    if not value:
        return {}
    if isinstance(value, str):
        pairs = [p.split("=", 1) for p in value.split(";") if p.strip()]
        if any(len(p) != 2 for p in pairs):
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


def _parse_datetime(name: str, value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        msg = f"{name}: not an ISO 8601 date-time (for example 2024-01-31T00:00:00Z)"
        raise ConfigError(msg) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


@dataclasses.dataclass(frozen=True)
class Settings:
    """A typed, validated view of the tap's config (build it with :meth:`from_config`)."""

    url: str
    auth_scheme: str
    confluence_url: str | None = None
    jira_url: str | None = None
    deployment: str = "auto"
    products: tuple[str, ...] = PRODUCTS
    start_date: dt.datetime | None = None
    space_keys: tuple[str, ...] = ()
    project_keys: tuple[str, ...] = ()
    search_lag_minutes: int = 5
    include_custom_fields: bool = False
    custom_field_names: bool = False
    ca_bundle: str | None = None
    max_concurrent_requests: int = 8
    delete_sweep_hours: float = 24.0
    lookback_minutes: int = 720
    page_size: int = 100
    max_retries: int = 5
    retry_initial_wait_seconds: float = 1.0
    retry_max_wait_seconds: float = 60.0
    request_timeout: float = 60.0
    progress_seconds: float = 30.0
    user: str | None = None
    password: str | None = None
    api_token: str | None = None
    personal_access_token: str | None = None
    oauth_version: str = "2.0"
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    callback_url: str = "http://localhost:33333"
    scope: str | None = None
    initiate_oauth: str = "REFRESH"
    oauth_verifier: str | None = None
    oauth_access_token: str | None = None
    oauth_refresh_token: str | None = None
    oauth_settings_location: str | None = None
    oauth_settings_passphrase: str | None = None
    oauth_jwt_cert: str | None = None
    oauth_jwt_cert_type: str = "PEMKEY_FILE"
    oauth_jwt_cert_password: str | None = None
    cloud_id: str | None = None
    oauth_authorization_url: str = "https://auth.atlassian.com/authorize"
    oauth_token_url: str = "https://auth.atlassian.com/oauth/token"
    oauth_api_url: str = "https://api.atlassian.com"
    sso_login_url: str | None = None
    sso_exchange_url: str | None = None
    confluence_sso_login_url: str | None = None
    confluence_sso_exchange_url: str | None = None
    sso_app_name: str | None = None
    sso_app_password: str | None = None
    sso_properties: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    raw: t.Mapping[str, t.Any] = dataclasses.field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        """Never show a secret."""
        return f"Settings(url={self.url!r}, auth_scheme={self.auth_scheme!r}, deployment={self.deployment!r})"

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any]) -> Settings:
        """Read, normalise and validate a raw config mapping (raises :class:`ConfigError`)."""
        config = numbers_from_text(config)
        check_types(config)
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in config.items() if k in fields and v not in (None, "")}
        for name in ("url", "auth_scheme"):
            if not values.get(name):
                msg = f"{name}: required setting is missing"
                raise ConfigError(msg)
        for name in URL_SETTINGS:
            if name in values:
                values[name] = _check_url(name, values[name])
        for name in (
            "retry_initial_wait_seconds",
            "retry_max_wait_seconds",
            "request_timeout",
            "delete_sweep_hours",
            "progress_seconds",
        ):
            if name in values:
                values[name] = float(values[name])
        for name in ("products", "space_keys", "project_keys"):
            if name in values:
                values[name] = tuple(values[name])
        if "products" in values:
            values["products"] = tuple(dict.fromkeys(PRODUCT_ALIASES.get(p, p) for p in values["products"]))
        if "products" in values and not values["products"]:
            msg = "products: empty; list confluence and/or jira_service_desk (or leave it unset)"
            raise ConfigError(msg)
        values["start_date"] = _parse_datetime("start_date", values.get("start_date"))
        if values.get("ca_bundle"):
            check_ca_bundle(values["ca_bundle"])
        values["sso_properties"] = parse_sso_properties(values.get("sso_properties"))
        settings = cls(**values, raw=dict(config))
        settings.check_numbers()
        validate_scheme_settings(settings)
        return settings

    def check_numbers(self) -> None:
        """Reject settings outside their sensible range."""
        bounds = {
            "search_lag_minutes": (0, 24 * 60),
            "page_size": (1, 1000),
            "max_retries": (0, 50),
            "retry_initial_wait_seconds": (0, 600),
            "retry_max_wait_seconds": (0, 3600),
            "request_timeout": (1, 3600),
            "max_concurrent_requests": (1, 64),
            "delete_sweep_hours": (0, 24 * 365),
            "lookback_minutes": (0, 7 * 24 * 60),
            "progress_seconds": (0.1, 24 * 3600),
        }
        for name, (low, high) in bounds.items():
            value = getattr(self, name)
            if not low <= value <= high:
                msg = f"{name}: {value} is outside {low}..{high}"
                raise ConfigError(msg)

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
        return [v for v in values if isinstance(v, str) and len(v) >= 4]

    def wants(self, product: str) -> bool:
        """Whether a product (``confluence`` / ``jira_service_desk``) is extracted."""
        return product in self.products


def check_ca_bundle(path: str) -> None:
    """``ca_bundle`` must be a readable file holding at least one PEM certificate."""
    if not os.path.isfile(path):
        msg = f"ca_bundle: no such file: {path} (a PEM file of the certificate authorities to trust)"
        raise ConfigError(msg)
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError, ValueError):
        msg = f"ca_bundle: {path} holds no readable PEM certificate"
        raise ConfigError(msg) from None


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


def _check_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        msg = f"{name}: expected an http(s) URL such as https://example.atlassian.net"
        raise ConfigError(msg)
    return value.rstrip("/")


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float, decimal.Decimal),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
}


def _type_ok(value: t.Any, schema: dict) -> bool:
    if "anyOf" in schema:
        return any(_type_ok(value, s) for s in schema["anyOf"])
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if value is None:
        return "null" in types or not types
    for name in types:
        kinds = _JSON_TYPES.get(name, ())
        if isinstance(value, kinds) and not (name in {"integer", "number"} and isinstance(value, bool)):
            return True
    return not types


def numbers_from_text(config: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """``number`` settings given as text (``TAP_ATLASSIAN_REQUEST_TIMEOUT=60``: the SDK's
    environment parser converts integers and booleans but leaves numbers as strings).
    """
    out = dict(config)
    for name, schema in CONFIG_SCHEMA["properties"].items():
        value = out.get(name)
        if isinstance(value, str) and "number" in (schema.get("type") or []):
            try:
                out[name] = float(value)
            except ValueError:
                pass  # check_types names the setting
    return out


def check_types(config: t.Mapping[str, t.Any]) -> None:
    """Type and enum checks with one-line messages that never echo a secret value."""
    for name, schema in CONFIG_SCHEMA["properties"].items():
        if name not in config or config[name] is None:
            continue
        value = config[name]
        if not _type_ok(value, schema):
            kind = schema.get("type") or "string or object"
            msg = f"{name}: expected {kind if isinstance(kind, str) else kind[0]}"
            raise ConfigError(msg)
        allowed = schema.get("enum")
        if allowed and value not in allowed and value != "":
            shown = "" if name in SECRET_SETTINGS else f"{value!r} "
            msg = f"{name}: {shown}is not one of {', '.join(map(str, allowed))}"
            raise ConfigError(msg)
        items = schema.get("items", {})
        if items.get("enum") and isinstance(value, list):
            bad = [v for v in value if v not in items["enum"]]
            if bad:
                msg = f"{name}: {bad[0]!r} is not one of {', '.join(items['enum'])}"
                raise ConfigError(msg)


# Per scheme: the settings it needs (checked here, before the scheme's own `validate`).
REQUIRED_BY_SCHEME: dict[str, tuple[str, ...]] = {
    "basic": ("user",),
    "pat": ("personal_access_token",),
    "oauth": ("oauth_client_id",),
    "crowd": ("user", "password", "sso_login_url", "sso_app_name", "sso_app_password"),
    "okta": ("user", "password", "sso_login_url"),
}
# Schemes that cannot work against one kind of deployment.
WRONG_DEPLOYMENT: dict[tuple[str, str], str] = {
    ("pat", "cloud"): "personal access tokens exist only on Server/Data Center; on Cloud use "
    "auth_scheme basic with api_token",
    ("crowd", "cloud"): "Crowd SSO logs in to Server/Data Center only; set deployment to server",
    ("okta", "cloud"): "Okta SAML login is for Server/Data Center here; on Cloud use basic "
    "(api_token) or oauth",
}


def validate_scheme_settings(settings: Settings) -> None:
    """Check that the chosen scheme has what it needs for the chosen deployment."""
    scheme = settings.auth_scheme
    if scheme == "oauth" and settings.oauth_version == "2.0" and settings.deployment == "server":
        msg = "oauth_version: OAuth 2.0 (3LO) is Cloud only; use oauth_version 1.0 for Server/DC"
        raise ConfigError(msg)
    if scheme == "oauth" and settings.oauth_version == "1.0" and settings.deployment_hint == "cloud":
        msg = "oauth_version: OAuth 1.0 application links are Server/DC only; use 2.0 on Cloud"
        raise ConfigError(msg)
    needs = REQUIRED_BY_SCHEME.get(scheme, ())
    if scheme == "oauth" and settings.initiate_oauth == "OFF":
        needs = ("oauth_access_token",)
    for name in needs:
        if not getattr(settings, name):
            msg = f"{name}: required when auth_scheme is {scheme}"
            raise ConfigError(msg)
    check_deployment(settings, settings.deployment_hint)


def check_deployment(settings: Settings, deployment: str | None) -> None:
    """Checks that depend on the deployment (known up front, or once detected)."""
    scheme = settings.auth_scheme
    if deployment and (scheme, deployment) in WRONG_DEPLOYMENT:
        msg = f"auth_scheme: {WRONG_DEPLOYMENT[(scheme, deployment)]}"
        raise ConfigError(msg)
    if scheme == "basic":
        check_basic_credentials(settings, deployment)


def check_basic_credentials(settings: Settings, deployment: str | None) -> None:
    """Cloud Basic needs ``api_token``; Server Basic needs ``password``; auto needs one."""
    if deployment == "cloud" and not settings.api_token:
        hint = " (Cloud Basic uses an API token, not the password)" if settings.password else ""
        msg = f"api_token: required for basic login to Atlassian Cloud{hint}"
        raise ConfigError(msg)
    if deployment == "server" and not settings.password:
        msg = "password: required for basic login to Server/Data Center"
        raise ConfigError(msg)
    if deployment is None and not (settings.password or settings.api_token):
        msg = "password: required for basic login (or api_token on Cloud)"
        raise ConfigError(msg)
