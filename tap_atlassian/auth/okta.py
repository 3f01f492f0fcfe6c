"""``auth_scheme: okta``: SAML single sign-on through Okta, with Okta MFA.

Wire flow (AUTH_FLOWS.md "okta"; Okta Classic Authentication API,
https://developer.okta.com/docs/reference/api/authn):

1. ``POST {ORG}/api/v1/authn`` with the user's credentials and the remembered device
   token (``context.deviceToken``); ``Authorization: SSWS`` for a trusted application.
2. On ``MFA_REQUIRED``: verify the factor chosen by ``sso_properties.mfa_type`` (Okta
   Verify push polled until answered, TOTP, SMS or e-mail passcode), with
   ``rememberDevice=true`` so the next run skips MFA.
3. ``GET {sso_login_url}?sessionToken=...`` (the app's embed link) -> the SAML form,
   posted to ``sso_exchange_url`` -> the product's session cookies.

The device token is kept in the encrypted settings file (section ``okta:<product>``).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import secrets
import typing as t
from urllib.parse import urlencode, urlsplit, urlunsplit

from tap_atlassian.auth.saml import (
    Flow,
    FlowRequest,
    FlowResponse,
    LoginError,
    SamlSchemeAuth,
    Wait,
    server_answer,
    submit_saml_form,
    unexpected_page,
)
from tap_atlassian.config import ConfigError, parse_sso_properties

if t.TYPE_CHECKING:
    from tap_atlassian.config import Settings

LOGGER = logging.getLogger("tap-atlassian")
SCHEME = "okta"
MFA_TYPES = {"oktaverify": "OktaVerify", "sms": "SMS", "email": "Email"}
DEFAULT_POLL_SECONDS = 2.0
DEFAULT_PUSH_TIMEOUT_SECONDS = 120.0
_FATAL_STATUSES = {
    "LOCKED_OUT": "the Okta account is locked out: unlock it (or ask an Okta administrator)",
    "PASSWORD_EXPIRED": "the Okta password has expired: change it in Okta, then update password",
    "MFA_ENROLL": "Okta asks this user to enrol an MFA factor first: sign in to Okta once in a "
    "browser and enrol Okta Verify, SMS or Email",
    "RECOVERY": "the Okta account is in password recovery",
}


@dataclasses.dataclass(frozen=True)
class OktaOptions:
    """The Okta part of ``sso_properties`` (see SETTINGS.md), normalised."""

    api_token: str | None = None
    mfa_type: str | None = None  # OktaVerify | SMS | Email
    mfa_passcode: str | None = None
    mfa_remember_device: bool = True
    poll_seconds: float = DEFAULT_POLL_SECONDS
    push_timeout_seconds: float = DEFAULT_PUSH_TIMEOUT_SECONDS

    def __repr__(self) -> str:
        """Never shows the token or the passcode."""
        return (
            f"OktaOptions(mfa_type={self.mfa_type!r}, remember={self.mfa_remember_device}, "
            f"api_token={'set' if self.api_token else 'unset'})"
        )

    @classmethod
    def from_properties(cls, props: t.Mapping[str, t.Any]) -> OktaOptions:
        """Read ``sso_properties`` (as ``config.parse_sso_properties`` normalises them)."""
        norm = parse_sso_properties(props)
        mfa_type = norm.get("mfa_type")
        if mfa_type:
            key = re.sub(r"[^a-z]", "", str(mfa_type).lower())
            if key not in MFA_TYPES:
                msg = f"sso_properties: MFAType {mfa_type!r} is not one of OktaVerify, SMS, Email"
                raise ConfigError(msg)
            mfa_type = MFA_TYPES[key]
        try:
            poll = float(norm.get("mfa_poll_seconds", DEFAULT_POLL_SECONDS))
            limit = float(norm.get("mfa_timeout_seconds", DEFAULT_PUSH_TIMEOUT_SECONDS))
        except (TypeError, ValueError):
            msg = "sso_properties: MFAPollSeconds and MFATimeoutSeconds must be numbers"
            raise ConfigError(msg) from None
        return cls(
            api_token=str(norm["api_token"]) if norm.get("api_token") else None,
            mfa_type=mfa_type or None,
            mfa_passcode=str(norm["mfa_passcode"]).strip() if norm.get("mfa_passcode") else None,
            mfa_remember_device=norm.get("mfa_remember_device", True),
            poll_seconds=max(poll, 0.0),
            push_timeout_seconds=max(limit, 0.0),
        )


@dataclasses.dataclass(frozen=True)
class OktaResult:
    """What an Okta login produced: the consumer's answer and the device token to keep."""

    consumer: FlowResponse
    device_token: str | None
    mfa_factor: str | None  # the factorType verified, None when Okta asked for no MFA


def okta_org(login_url: str) -> str:
    """The Okta org: the origin of ``sso_login_url``."""
    parts = urlsplit(login_url)
    return f"{parts.scheme}://{parts.netloc}"


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _okta_json(step: str, answer: FlowResponse) -> dict[str, t.Any]:
    """An Okta JSON answer with a ``status``; anything else is an unexpected page."""
    data = answer.json()
    if answer.status == 401:  # noqa: PLR2004
        detail = "check user and password"
        if isinstance(data, dict) and data.get("errorCode") == "E0000011":
            detail = "the trusted application's api_token in sso_properties was refused"
        raise LoginError(SCHEME, step, f"Okta refused the login ({server_answer(answer)}): {detail}")
    if answer.status != 200 or not isinstance(data, dict) or "status" not in data:  # noqa: PLR2004
        raise unexpected_page(SCHEME, step, answer, "expected an Okta authentication answer")
    return data


def okta_flow(  # noqa: PLR0913  (keyword-only: each input is named at the call)
    *,
    user: str,
    password: str,
    login_url: str,
    exchange_url: str,
    options: OktaOptions,
    device_token: str | None = None,
) -> Flow[OktaResult]:
    """The Okta login as a flow; returns an :class:`OktaResult`."""
    org = okta_org(login_url)
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if options.api_token:
        headers["Authorization"] = f"SSWS {options.api_token}"
    body: dict[str, t.Any] = {"username": user, "password": password}
    if device_token:
        body["context"] = {"deviceToken": device_token}
    step = "Okta authentication (POST /api/v1/authn)"
    # Every Okta call is yielded to the driver (tap_atlassian.auth.flow.drive), which retries a
    # 429 under the tap's one retry policy until Okta's X-Rate-Limit-Reset (UTC epoch seconds,
    # https://developer.okta.com/docs/reference/rl-best-practices/), bounded by max_retries.
    data = _okta_json(
        step, (yield FlowRequest("POST", f"{org}/api/v1/authn", step=step, headers=headers, json=body))
    )
    data = yield from _past_password_warning(data, headers, step)
    factor_type = None
    if data["status"] == "MFA_REQUIRED":
        data, factor_type, dt_cookie = yield from _mfa(data, options, headers)
        device_token = dt_cookie or device_token
        data = yield from _past_password_warning(data, headers, step)
    if data["status"] in _FATAL_STATUSES:
        raise LoginError(SCHEME, step, f"Okta answered {data['status']}: {_FATAL_STATUSES[data['status']]}")
    if data["status"] != "SUCCESS" or not isinstance(data.get("sessionToken"), str):
        raise LoginError(
            SCHEME,
            step,
            f"Okta answered status {data['status']!r}, which tap-atlassian cannot complete without a browser",
        )
    page = yield FlowRequest(
        "GET",
        login_url,
        step="the Okta app's embed link (sso_login_url)",
        params={"sessionToken": data["sessionToken"]},
        headers={"Accept": "text/html"},
    )
    consumer = yield from submit_saml_form(SCHEME, page, exchange_url)
    remembered = device_token if options.mfa_remember_device else None
    return OktaResult(consumer=consumer, device_token=remembered, mfa_factor=factor_type)


def _past_password_warning(
    data: dict[str, t.Any], headers: dict[str, str], step: str
) -> Flow[dict[str, t.Any]]:
    """PASSWORD_WARN: the password is valid but expires soon; warn and ``skip`` (the
    transaction's ``_links.skip``) to go on, as the Okta sign-in widget's "Remind me later".
    """
    if data.get("status") != "PASSWORD_WARN":
        return data
    days = (((data.get("_embedded") or {}).get("policy") or {}).get("expiration") or {}).get(
        "passwordExpireDays"
    )
    LOGGER.warning(
        "okta: Okta says the password expires %s: change it in Okta, then update password; "
        "signing in meanwhile",
        f"in {days} days" if days is not None else "soon",
    )
    skip = ((data.get("_links") or {}).get("skip") or {}).get("href")
    if not skip:
        raise LoginError(
            SCHEME,
            step,
            "Okta answered PASSWORD_WARN without a skip link: change the "
            "password in Okta, then update password",
        )
    answer = yield FlowRequest(
        "POST",
        skip,
        step="Okta PASSWORD_WARN (skip)",
        headers=headers,
        json={"stateToken": data.get("stateToken")},
    )
    return _okta_json("Okta PASSWORD_WARN (skip)", answer)


def _pick_factor(data: dict[str, t.Any], options: OktaOptions) -> dict[str, t.Any]:
    factors = data.get("_embedded", {}).get("factors") or []
    offered = sorted({f.get("factorType", "?") for f in factors})
    if not options.mfa_type:
        raise LoginError(
            SCHEME,
            "MFA",
            f"Okta requires MFA (offered: {', '.join(offered)}); "
            "set sso_properties.mfa_type to OktaVerify, SMS or Email",
        )
    if options.mfa_type == "OktaVerify":
        wanted = ["token:software:totp"] if options.mfa_passcode else ["push"]
    else:
        wanted = [options.mfa_type.lower()]
    candidates = [f for f in factors if f.get("factorType") in wanted]
    # Okta Verify's own TOTP before a third-party authenticator's.
    candidates.sort(key=lambda f: f.get("provider") != "OKTA")
    if not candidates:
        raise LoginError(
            SCHEME,
            "MFA",
            f"mfa_type {options.mfa_type} needs a {wanted[0]} factor "
            f"but Okta offers this user only: {', '.join(offered)}",
        )
    return candidates[0]


def _mfa(
    data: dict[str, t.Any], options: OktaOptions, headers: dict[str, str]
) -> Flow[tuple[dict[str, t.Any], str, str | None]]:
    """Okta step 2: verify one factor. Returns (final answer, factorType, DT cookie)."""
    factor = _pick_factor(data, options)
    kind = factor["factorType"]
    state = data["stateToken"]
    verify = factor["_links"]["verify"]["href"]
    if options.mfa_remember_device:
        verify = _with_query(verify, rememberDevice="true")
    step = f"MFA ({kind} verify)"
    # The bare verify call: it starts a push, or has Okta send an SMS / e-mail code.
    challenge = FlowRequest("POST", verify, step=step, headers=headers, json={"stateToken": state})
    LOGGER.info(
        "okta: Okta asks for MFA; verifying the %s factor%s",
        kind,
        " (remembering this device)" if options.mfa_remember_device else "",
    )
    if kind == "push":
        answer = yield challenge
        result, answer = yield from _poll_push(answer, state, options, headers, step)
    elif options.mfa_passcode:
        answer = yield FlowRequest(
            "POST",
            verify,
            step=step,
            headers=headers,
            json={"stateToken": state, "passCode": options.mfa_passcode},
        )
        if answer.status == 403 or (answer.json() or {}).get("factorResult") in {  # noqa: PLR2004
            "FAILED",
            "PASSCODE_REPLAYED",
            "TIME_WINDOW_EXCEEDED",
        }:
            if kind == "token:software:totp":
                raise LoginError(
                    SCHEME,
                    step,
                    f"Okta refused the passcode in "
                    f"sso_properties.mfa_passcode ({server_answer(answer)}); set a "
                    "current code from the authenticator app and run again",
                )
            yield from _send_challenge(challenge, kind, refused=answer)
        result = _okta_json(step, answer)
    else:
        yield from _send_challenge(challenge, kind, refused=None)
    if result.get("status") != "SUCCESS":
        raise LoginError(
            SCHEME,
            step,
            f"Okta answered {result.get('status')} / {result.get('factorResult')} instead of SUCCESS",
        )
    return result, kind, answer.cookies.get("DT")


def _send_challenge(challenge: FlowRequest, kind: str, *, refused: FlowResponse | None) -> Flow[t.NoReturn]:
    """SMS / e-mail without a (good) passcode: have Okta send one, then stop and say so."""
    answer = yield challenge
    if answer.status != 200:  # noqa: PLR2004
        raise unexpected_page(SCHEME, challenge.step, answer, f"Okta did not send a new {kind} code")
    where = {"sms": "by SMS", "email": "by e-mail"}.get(kind, f"by {kind}")
    why = (
        f"Okta refused the passcode in sso_properties.mfa_passcode ({server_answer(refused)}). "
        if refused
        else ""
    )
    raise LoginError(
        SCHEME,
        "MFA",
        f"{why}Okta has sent a new one-time code {where}: set "
        "sso_properties.mfa_passcode (MFAPassCode) to that code and run again",
    )


def _poll_push(
    answer: FlowResponse,
    state: str,
    options: OktaOptions,
    headers: dict[str, str],
    step: str,
) -> Flow[tuple[dict[str, t.Any], FlowResponse]]:
    """Okta Verify push: poll ``_links.next`` while WAITING; REJECTED / TIMEOUT are fatal."""
    waited = 0.0
    announced = False
    while True:
        data = _okta_json(step, answer)
        result = data.get("factorResult")
        if result == "WAITING" and not announced:
            announced = True
            challenge = (
                data.get("_embedded", {})
                .get("factor", {})
                .get("_embedded", {})
                .get("challenge", {})
                .get("correctAnswer")
            )
            LOGGER.warning(
                "okta: Okta Verify push sent: approve it on your device%s (waiting up to %.0f s)",
                f", choosing {challenge}" if challenge else "",
                options.push_timeout_seconds,
            )
        if data["status"] == "SUCCESS":
            return data, answer
        if result == "REJECTED":
            raise LoginError(SCHEME, step, "the Okta Verify push was rejected on the device")
        if result == "TIMEOUT" or (result == "WAITING" and waited >= options.push_timeout_seconds):
            raise LoginError(
                SCHEME,
                step,
                "the Okta Verify push was not answered in time "
                f"(after {waited:.0f} s); approve it on the device within the time "
                "limit, or use MFAPassCode with a TOTP code",
            )
        if result != "WAITING":
            raise LoginError(
                SCHEME, step, f"unexpected Okta push result {result!r} (status {data['status']})"
            )
        next_href = data.get("_links", {}).get("next", {}).get("href")
        if not next_href:
            raise unexpected_page(SCHEME, step, answer, "a WAITING push answer without a poll link")
        yield Wait(options.poll_seconds)
        waited += options.poll_seconds
        if options.mfa_remember_device:
            next_href = _with_query(next_href, rememberDevice="true")
        answer = yield FlowRequest(
            "POST", next_href, step=step + " poll", headers=headers, json={"stateToken": state}
        )


class OktaAuth(SamlSchemeAuth[OktaResult]):
    """Okta SSO with MFA; the device token is remembered in the encrypted settings file."""

    name = SCHEME
    required = ("user", "password", "sso_login_url")
    deployments = ("server",)
    wrong_deployment = (
        "auth_scheme: Okta SAML login is for Server/Data Center here; on Cloud use basic (api_token) or oauth"
    )

    @classmethod
    def validate(cls, settings: Settings) -> None:
        """``sso_properties`` must name a known MFA factor."""
        OktaOptions.from_properties(settings.sso_properties)

    def __init__(self, *args: t.Any) -> None:
        """Read the Okta options once."""
        super().__init__(*args)
        self.options = OktaOptions.from_properties(self.settings.sso_properties)

    # -- remembered device (settings file, this product's section) ----------------------

    def _owner(self) -> dict[str, str]:
        return {"user": self.settings.user or "", "org": okta_org(self.target.login_url)}

    def _stored_device_token(self) -> str | None:
        if not self.options.mfa_remember_device:
            return None
        state = self.load_state()
        # The token names this machine to the Okta org, whichever product's login stored it.
        others = [k for k in sorted(state) if k.startswith("okta:") and k != self.section]
        for section in (self.section, *others):
            stored = state.get(section) or {}
            if stored.get("device_token") and all(stored.get(k) == v for k, v in self._owner().items()):
                return stored["device_token"]
        return None

    def state_after_login(self, result: OktaResult) -> dict[str, t.Any]:
        """Keep Okta's device token (when remembering devices) for the next run."""
        return {**self._owner(), "device_token": result.device_token} if result.device_token else {}

    def login_flow(self) -> Flow[OktaResult]:
        """Okta steps 1-3 for this product, with this machine's device token."""
        device = self._stored_device_token()
        if device is None and self.options.mfa_remember_device:
            device = secrets.token_hex(16)  # Okta accepts a client-chosen token (<= 32 chars)
        s = self.settings
        return okta_flow(
            user=s.user or "",
            password=s.password or "",
            login_url=self.target.login_url,
            exchange_url=self.target.exchange_url,
            options=self.options,
            device_token=device,
        )

    def status(self) -> dict[str, t.Any]:
        """Whether a device token is remembered (never the token)."""
        try:
            remembered = bool(self._stored_device_token())
        except LoginError:  # status must not fail on an unreadable file
            remembered = False
        status = super().status()
        return {
            **status,
            "stored_state": remembered or status["session_stored"],
            "device_remembered": remembered,
            "mfa_type": self.options.mfa_type,
        }
