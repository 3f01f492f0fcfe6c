"""The products' SAML service provider: ``/plugins/servlet/samlconsumer`` (and ``/samlsso``).

What the bundled "SSO for Atlassian Data Center" does with an IdP's HTTP-POST binding
(docs/ATLASSIAN_API.md section 8), reduced to what a client can observe:

- accepts only a ``SAMLResponse`` it can verify as issued by a configured IdP: a trusted
  issuer, a valid signature by that issuer's key, ``Destination`` = this consumer, the
  audience = this product, not expired, not replayed; anything else answers 403;
- then opens a ``JSESSIONID`` session (``fake.new_session``), whose lifetime is
  configurable, and redirects to ``RelayState``;
- an API request with an expired session answers 401 (``expired_answer="401"``) or a
  redirect to ``/login.jsp`` (``"redirect"``), as Jira and Confluence do.

Signing is a reduced XML-DSig: ``ds:SignatureValue`` is RSA-SHA256 over the exclusive
canonical form of the ``saml:Assertion`` without its ``ds:Signature``. The consumer checks
it with the issuer's public key; the tap never needs to (it only forwards the form).

Tests use ``fake.saml`` (a :class:`ServiceProvider`) and the IdP modules use
:func:`issue_response` and :func:`form_page`.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from .http import FakeHTTPError, FakeResponse, Identity

if TYPE_CHECKING:
    from .http import FakeRequest
    from .site import FakeAtlassian

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
CONSUMER_PATH = r"(?P<ctx>(?:/[^/]+)*)/plugins/servlet/(?:samlconsumer|samlsso)"
_KEYS: dict[str, rsa.RSAPrivateKey] = {}  # one key per issuer name per process (slow to make)
_KEYS_LOCK = threading.Lock()


def signing_key(name: str) -> rsa.RSAPrivateKey:
    """The private key of an IdP (made once per process)."""
    with _KEYS_LOCK:
        if name not in _KEYS:
            _KEYS[name] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return _KEYS[name]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _c14n(element: etree._Element) -> bytes:
    copy = etree.fromstring(etree.tostring(element))
    for sig in copy.findall(f"{{{DS}}}Signature"):
        copy.remove(sig)
    return etree.tostring(copy, method="c14n", exclusive=True)


def issue_response(*, issuer: str, key: rsa.RSAPrivateKey, user: str, destination: str,
                   audience: str, lifetime: int = 300) -> str:
    """A signed SAML 2.0 Response for ``user``, base64 (what an IdP's form carries)."""
    now = _now()
    nsmap = {"samlp": SAMLP, "saml": SAML}
    resp = etree.Element(f"{{{SAMLP}}}Response", nsmap=nsmap, ID="_" + secrets.token_hex(16),
                         Version="2.0", IssueInstant=_iso(now), Destination=destination)
    etree.SubElement(resp, f"{{{SAML}}}Issuer").text = issuer
    status = etree.SubElement(resp, f"{{{SAMLP}}}Status")
    etree.SubElement(status, f"{{{SAMLP}}}StatusCode", Value=SUCCESS)
    assertion = etree.SubElement(resp, f"{{{SAML}}}Assertion", ID="_" + secrets.token_hex(16),
                                 Version="2.0", IssueInstant=_iso(now))
    etree.SubElement(assertion, f"{{{SAML}}}Issuer").text = issuer
    subject = etree.SubElement(assertion, f"{{{SAML}}}Subject")
    etree.SubElement(subject, f"{{{SAML}}}NameID").text = user
    until = _iso(now + dt.timedelta(seconds=lifetime))
    conditions = etree.SubElement(assertion, f"{{{SAML}}}Conditions", NotBefore=_iso(now),
                                  NotOnOrAfter=until)
    restriction = etree.SubElement(conditions, f"{{{SAML}}}AudienceRestriction")
    etree.SubElement(restriction, f"{{{SAML}}}Audience").text = audience
    etree.SubElement(assertion, f"{{{SAML}}}AuthnStatement", AuthnInstant=_iso(now))
    value = key.sign(_c14n(assertion), padding.PKCS1v15(), hashes.SHA256())
    sig = etree.SubElement(assertion, f"{{{DS}}}Signature", nsmap={"ds": DS})
    etree.SubElement(sig, f"{{{DS}}}SignatureValue").text = base64.b64encode(value).decode()
    return base64.b64encode(etree.tostring(resp, xml_declaration=True, encoding="UTF-8")).decode()


def form_page(action: str, saml_response: str, relay_state: str | None = "/") -> FakeResponse:
    """The IdP's auto-submit page (HTTP-POST binding)."""
    relay = (f'<input type="hidden" name="RelayState" value="{html.escape(relay_state)}"/>'
             if relay_state is not None else "")
    page = (f'<!DOCTYPE html><html><head><title>Signing in...</title></head>'
            f'<body onload="document.forms[0].submit()"><noscript><p>Press Continue.</p>'
            f'</noscript><form method="post" action="{html.escape(action)}">'
            f'<input type="hidden" name="SAMLResponse" value="{saml_response}"/>{relay}'
            f'<noscript><input type="submit" value="Continue"/></noscript></form></body></html>')
    return FakeResponse(200, body=page.encode(), content_type="text/html;charset=UTF-8")


def html_page(status: int, title: str, text: str = "") -> FakeResponse:
    """A small HTML page (login pages, error pages)."""
    body = f"<html><head><title>{title}</title></head><body><h1>{title}</h1><p>{text}</p></body></html>"
    return FakeResponse(status, body=body.encode(), content_type="text/html;charset=UTF-8")


@dataclass
class _Session:
    expires: float
    requests_left: int | None


@dataclass
class ServiceProvider:
    """The products' SAML consumer state (``fake.saml``); tests tune the public fields."""

    fake: Any
    session_lifetime: float = 3600.0  # seconds a JSESSIONID from SSO lives
    expired_answer: str = "401"  # "401" or "redirect" (302 to /login.jsp)
    trusted: dict[str, Any] = field(default_factory=dict)  # issuer -> public key
    accepted: list[dict[str, str]] = field(default_factory=list)  # what logged in: user, issuer, consumer
    refused: list[str] = field(default_factory=list)  # why assertions were refused
    _sessions: dict[str, _Session] = field(default_factory=dict)
    _seen_ids: set[str] = field(default_factory=set)
    _requests_per_session: int | None = None
    _limited_sessions: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def trust(self, issuer: str, public_key: Any) -> None:
        """Accept assertions signed by ``public_key`` for ``issuer``."""
        self.trusted[issuer] = public_key

    def expire_sessions_after(self, requests: int | None, sessions: int | None = None) -> None:
        """The next ``sessions`` sessions (None: all) die after serving ``requests`` API
        requests (None: never)."""
        self._requests_per_session = requests
        self._limited_sessions = sessions

    def expire_all(self) -> None:
        """End every SSO session now (the next API call is rejected)."""
        with self._lock:
            for s in self._sessions.values():
                s.expires = 0.0

    # -- the consumer -------------------------------------------------------------------

    def consume(self, req: FakeRequest) -> FakeResponse:
        form = parse_qs(req.body.decode("utf-8", "replace"))
        saml = (form.get("SAMLResponse") or [""])[0]
        relay = (form.get("RelayState") or ["/"])[0]
        consumer = req.base_url + req.path
        audience = req.base_url + req.params.get("ctx", "")
        try:
            user, issuer = self._verify(saml, consumer, audience)
        except ValueError as exc:
            self.refused.append(str(exc))
            return html_page(403, "SAML single sign-on failed", "The assertion was not accepted.")
        sid = self.fake.new_session(Identity("session", user))
        with self._lock:
            limit = self._requests_per_session
            if self._limited_sessions is not None:
                if self._limited_sessions <= 0:
                    limit = None
                self._limited_sessions -= 1
            self._sessions[sid] = _Session(time.time() + self.session_lifetime, limit)
            self.accepted.append({"user": user, "issuer": issuer, "consumer": consumer})
        location = relay if relay.startswith("/") else "/"
        cookie = f"JSESSIONID={sid}; Path=/; HttpOnly"
        return FakeResponse(302, body=b"", headers=[("Location", req.base_url + location),
                                                     ("Set-Cookie", cookie)])

    def _verify(self, saml: str, consumer: str, audience: str) -> tuple[str, str]:
        try:
            parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
            root = etree.fromstring(base64.b64decode(saml), parser=parser)
        except (ValueError, etree.XMLSyntaxError):
            raise ValueError("not a SAML document") from None
        assertion = root.find(f"{{{SAML}}}Assertion")
        if root.tag != f"{{{SAMLP}}}Response" or assertion is None:
            raise ValueError("not a SAML Response with an Assertion")
        issuer = assertion.findtext(f"{{{SAML}}}Issuer") or ""
        key = self.trusted.get(issuer)
        if key is None:
            raise ValueError(f"untrusted issuer {issuer!r}")
        sig = assertion.findtext(f"{{{DS}}}Signature/{{{DS}}}SignatureValue") or ""
        try:
            key.verify(base64.b64decode(sig), _c14n(assertion), padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            raise ValueError("bad signature") from None
        if root.get("Destination") != consumer:
            raise ValueError(f"Destination {root.get('Destination')!r} is not {consumer!r}")
        if assertion.findtext(f".//{{{SAML}}}Audience") != audience:
            raise ValueError("wrong audience")
        cond = assertion.find(f"{{{SAML}}}Conditions")
        until = dt.datetime.fromisoformat(cond.get("NotOnOrAfter").replace("Z", "+00:00"))
        if until <= _now():
            raise ValueError("assertion expired")
        with self._lock:
            if assertion.get("ID") in self._seen_ids:
                raise ValueError("assertion replayed")
            self._seen_ids.add(assertion.get("ID"))
        return assertion.findtext(f"{{{SAML}}}Subject/{{{SAML}}}NameID") or "", issuer

    # -- the session check (before the core's JSESSIONID authenticator) ------------------

    def authenticate(self, req: FakeRequest) -> Identity | None:
        sid = req.cookies.get("JSESSIONID")
        with self._lock:
            s = self._sessions.get(sid) if sid else None
            if s is None:
                return None  # not an SSO session: the core decides
            # control.expire_sessions() clears the core's sessions: dead here too
            alive = (sid in self.fake.sessions and time.time() < s.expires
                     and (s.requests_left is None or s.requests_left > 0))
            if alive and s.requests_left is not None:
                s.requests_left -= 1
        if alive:
            return self.fake.sessions.get(sid)
        self.fake.sessions.pop(sid, None)
        if self.expired_answer == "redirect":
            target = req.base_url + "/login.jsp?os_destination=" + req.path
            raise FakeHTTPError(302, b"", headers=[("Location", target)])
        return None


def install(fake: FakeAtlassian) -> ServiceProvider:
    """The consumer on every listener, its session check, and ``/login.jsp`` (idempotent:
    the IdP modules call it first to register their issuers)."""
    if isinstance(getattr(fake, "saml", None), ServiceProvider):
        return fake.saml
    sp = ServiceProvider(fake)
    fake.saml = sp
    fake.route("POST", CONSUMER_PATH, sp.consume, auth=False)
    fake.route("GET", r"(?:/[^/]+)*/login\.jsp",
               lambda req: html_page(200, "Log in", "Username / password form"), auth=False)
    fake.add_authenticator(sp.authenticate, first=True)
    return sp
