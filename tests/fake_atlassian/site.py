"""`FakeAtlassian`: the handle tests, the demo and benchmarks use (see README.md)."""

from __future__ import annotations

import base64
import importlib
import os
import pkgutil
import re
import ssl
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Callable

import requests

from .data import Store
from .faults import Faults
from .http import FakeHTTPError, FakeRequest, FakeResponse, Identity, Listener
from .reqlog import LogEntry, RequestLog

Handler = Callable[[FakeRequest], FakeResponse]
Authenticator = Callable[[FakeRequest], "Identity | None"]

# 401 bodies as Atlassian sends them without (or with non-Basic) credentials; see README "Auth".
UNAUTHORIZED = {
    ("cloud", "jira"): b"Client must be authenticated to access this resource.",
    ("server", "jira"): {"errorMessages": [
        "You are not authenticated. Authentication required to perform this operation."], "errors": {}},
    ("cloud", "confluence"): {"code": 401, "message": "Unauthorized"},
    ("server", "confluence"): {"statusCode": 401, "data": {"authorized": False, "valid": True,
                               "errors": [], "successful": False},
                               "message": "This request requires authentication"},
}

BASIC_DEPRECATED_JIRA = (b"Basic authentication with passwords is deprecated.  For more information, see: "
                         b"https://developer.atlassian.com/cloud/jira/platform/deprecation-notice-basic-auth/\n")
BASIC_DEPRECATED_CONFLUENCE = (b"Basic authentication with passwords is deprecated.  For more information, see: "
                               b"https://developer.atlassian.com/cloud/confluence/deprecation-notice-basic-auth/\n")
TOMCAT_401 = (b"<!doctype html><html lang=\"en\"><head><title>HTTP Status 401 \xe2\x80\x93 Unauthorized</title>"
              b"</head><body><h1>HTTP Status 401 \xe2\x80\x93 Unauthorized</h1><hr class=\"line\" /><p><b>Type</b> "
              b"Status Report</p><p><b>Message</b> Basic Authentication Failure - Reason : AUTHENTICATED_FAILED"
              b"</p><p><b>Description</b> The request has not been applied to the target resource because it "
              b"lacks valid authentication credentials for that resource.</p><hr class=\"line\" />"
              b"<h3>Apache Tomcat/9.0.82</h3></body></html>")


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool
    host: str | None
    product: str


class FakeAtlassian:
    """A fake Atlassian site (Jira, JSM and Confluence) on 127.0.0.1, free port.

    flavour: "cloud" or "server". size: "small" | "medium" | "large" (or issues=/pages= counts).
    deployment_type: Server flavour's `serverInfo.deploymentType` ("Server" or "DataCenter").
    confluence_host: "same" or "separate" (Server: Confluence on a second listener, `localhost`).
    render_cache: how many rendered issues / pages / requests to keep (None: all, for benchmarks
    that read the same site twice and want the fake to only copy bytes the second time).
    service_management: False for a Jira without Jira Service Management (every
    `/rest/servicedeskapi/` path answers 404).
    """

    def __init__(self, flavour: str = "cloud", seed: int = 7, size: str = "small", *,
                 latency_ms: int = 0, jira_tz: str = "America/Los_Angeles",
                 confluence_tz: str = "Asia/Kolkata", jira_context: str = "",
                 confluence_context: str = "", confluence_host: str = "same",
                 deployment_type: str | None = None, issues: int | None = None,
                 pages: int | None = None, blogposts: int | None = None, install_idp: bool = True, port: int = 0,
                 render_cache: int | None = 4096, service_management: bool = True) -> None:
        if flavour not in ("cloud", "server"):
            raise ValueError("flavour must be 'cloud' or 'server'")
        if confluence_host not in ("same", "separate"):
            raise ValueError("confluence_host must be 'same' or 'separate'")
        if flavour == "cloud" and (jira_context or confluence_context or confluence_host != "same"):
            raise ValueError("context paths and a separate Confluence host are Server/DC options")
        self.flavour = flavour
        self.seed = seed
        self.deployment_type = deployment_type or ("Cloud" if flavour == "cloud" else "Server")
        self.jira_context = jira_context.rstrip("/")
        self.confluence_context = "/wiki" if flavour == "cloud" else confluence_context.rstrip("/")
        self.confluence_host = confluence_host
        self.data = Store(seed, size, flavour=flavour, jira_tz=jira_tz, confluence_tz=confluence_tz,
                          issues=issues, pages=pages, blogposts=blogposts)
        self.log = RequestLog()
        self.faults = Faults()
        self.latency_ms = latency_ms
        self.quirks: set[str] = set()  # opt-in known Atlassian bugs, see Control.quirk
        self.index_lag_ms = 0  # JQL/CQL searches miss objects written less than this ago
        self.routes: list[Route] = []
        self.authenticators: list[Authenticator] = []
        self.sessions: dict[str, Identity] = {}  # JSESSIONID value -> identity (SSO modules)
        # every session id / IdP token ever handed out, grow-only (tests' secret scans; the
        # live dicts forget expired and used ones)
        self.issued_secrets: list[str] = []
        self._session_lock = threading.Lock()
        self._local = threading.local()
        self._install_idp = install_idp
        self._port = port
        # rendered objects kept per kind (issues, pages, requests); None: keep all (benchmarks)
        self.render_cache = render_cache
        self.service_management = service_management  # False: a Jira without JSM (404 on /rest/servicedeskapi/)
        self._listeners: list[Listener] = []
        self.credentials = self._demo_credentials()
        from .control import Control

        self.control = Control(self)
        self.url = self.jira_url = self.confluence_url = ""

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeAtlassian:
        main = Listener("main", "127.0.0.1", self.dispatch, self._port, flight=self.log.flight)
        self._listeners.append(main)
        self.url = main.base_url
        self.jira_url = self.url + self.jira_context
        if self.confluence_host == "separate":
            conf = Listener("confluence", "localhost", self.dispatch, flight=self.log.flight)
            self._listeners.append(conf)
            self.confluence_url = conf.base_url + self.confluence_context
        else:
            self.confluence_url = self.url + self.confluence_context
        self.data.jira_url, self.data.confluence_url = self.jira_url, self.confluence_url
        self._register_core()
        if self._install_idp:
            self._install_identity_modules()
        for lst in self._listeners:
            lst.start()
        return self

    def stop(self) -> None:
        for lst in self._listeners:
            lst.stop()
        self._listeners.clear()

    def __enter__(self) -> FakeAtlassian:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_tls(self, context: ssl.SSLContext) -> FakeAtlassian:
        """Serve every listener over HTTPS with ``context`` (a server-side ``ssl.SSLContext``
        holding a certificate for 127.0.0.1 / localhost); call right after ``start()``.
        ``url``, ``jira_url`` and ``confluence_url`` become ``https://`` URLs."""
        for lst in self._listeners:
            lst.use_tls(context)
        self.url = self.url.replace("http://", "https://", 1)
        self.jira_url = self.jira_url.replace("http://", "https://", 1)
        self.confluence_url = self.confluence_url.replace("http://", "https://", 1)
        self.data.jira_url, self.data.confluence_url = self.jira_url, self.confluence_url
        return self

    @property
    def confluence_host_tag(self) -> str:
        return "confluence" if self.confluence_host == "separate" else "main"

    # ------------------------------------------------------------------ seams
    def route(self, method: str, path_regex: str, handler: Handler, auth: bool = True,
              host: str | None = None, product: str = "other") -> None:
        """Serve `method` on paths fully matching `path_regex` (named groups -> request.params).

        host: None (every listener), "main" or "confluence". Later routes win over earlier ones
        (so a module can override a core route).
        """
        self.routes.insert(0, Route(method.upper(), re.compile(path_regex), handler, auth, host, product))

    def add_authenticator(self, fn: Authenticator, first: bool = True) -> None:
        """fn(request) -> Identity (accepted), None (not mine / not valid), or raise FakeHTTPError."""
        if first:
            self.authenticators.insert(0, fn)
        else:
            self.authenticators.append(fn)

    def new_session(self, identity: Identity) -> str:
        """Open a cookie session (JSESSIONID value) for an identity; SSO modules call this."""
        value = base64.b32encode(os.urandom(15)).decode().rstrip("=")
        with self._session_lock:
            self.sessions[value] = identity
            self.issued_secrets.append(value)
        return value

    def client(self, kind: str | None = "basic") -> requests.Session:
        """A keep-alive `requests.Session` logged in with the demo credentials: "basic" or "pat"
        (None: anonymous). For tests of the fake itself and quick scripts."""
        s = requests.Session()
        c = self.credentials
        if kind == "basic":
            s.auth = (c["user"], c.get("api_token") or c["password"])
        elif kind == "pat":
            s.headers["Authorization"] = "Bearer " + c["personal_access_token"]
        return s

    # ------------------------------------------------------------------ dispatch
    def dispatch(self, req: FakeRequest) -> FakeResponse:
        """Route one request: control API, latency, faults, auth, handler, log."""
        if req.path.startswith("/__fake__/"):
            return self.control.http(req)
        nested = getattr(self._local, "depth", 0) > 0  # a gateway re-dispatching an inner path
        started = time.time()
        route = self._find(req)
        product = route.product if route else self._guess_product(req)
        self._local.depth = getattr(self._local, "depth", 0) + 1
        try:
            resp = self._answer(req, route, product)
        finally:
            self._local.depth -= 1
        if nested:
            return resp  # logged (and delayed) once, as the outer request
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        self.log.append(LogEntry.of(req, resp.status, product, started))
        return resp

    def _answer(self, req: FakeRequest, route: Route | None, product: str) -> FakeResponse:
        fault = self.faults.take(req)
        if fault is not None and fault.kind != "truncated":
            if fault.kind == "latency":
                time.sleep(fault.ms / 1000)
            else:
                return fault.response(self, req, product)
        if route is None:
            return not_found(self, product)
        try:
            if route.auth:
                req.identity = self.authenticate(req)
                if req.identity is None:
                    return self.unauthorized(product, req)
            resp = route.handler(req)
        except FakeHTTPError as e:
            resp = e.response()
        except Exception:  # noqa: BLE001 - a fake bug must show, as a 500, not hang the client
            traceback.print_exc(file=sys.stderr)
            resp = FakeResponse(500, json={"errorMessages": ["Internal server error (fake)"], "errors": {}})
        if fault is not None and fault.kind == "truncated" and resp.status == 200:
            resp.truncate = True
        return resp

    def _find(self, req: FakeRequest) -> Route | None:
        for r in self.routes:
            if r.method == req.method and (r.host is None or r.host == req.host):
                m = r.pattern.fullmatch(req.path)
                if m:
                    req.params = {k: v for k, v in m.groupdict().items() if v is not None}
                    return r
        return None

    def _guess_product(self, req: FakeRequest) -> str:
        if req.host == "confluence" or (self.confluence_context and req.path.startswith(self.confluence_context + "/")):
            return "confluence"
        return "jira"

    def authenticate(self, req: FakeRequest) -> Identity | None:
        for fn in self.authenticators:
            ident = fn(req)
            if ident is not None:
                return ident
        return None

    def unauthorized(self, product: str, req: FakeRequest | None = None) -> FakeResponse:
        """The product's 401. A refused Basic login gets what Atlassian sends for it: Cloud's
        plain-text deprecation notice, Confluence DC's Tomcat HTML page."""
        conf = product == "confluence"
        body = UNAUTHORIZED[(self.flavour, "confluence" if conf else "jira")]
        headers = [("WWW-Authenticate", 'Basic realm="protected-area"')]
        if self.flavour == "server":
            headers.append(("X-Seraph-LoginReason", "AUTHENTICATED_FAILED"))
        basic = req is not None and (req.headers.get("authorization") or "").lower().startswith("basic ")
        if basic and self.flavour == "cloud":
            body = BASIC_DEPRECATED_CONFLUENCE if conf else BASIC_DEPRECATED_JIRA
        elif basic and conf:
            return FakeResponse(401, body=TOMCAT_401, headers=headers, content_type="text/html;charset=utf-8")
        if isinstance(body, bytes):
            return FakeResponse(401, body=body, headers=headers, content_type="text/plain;charset=UTF-8")
        return FakeResponse(401, json=body, headers=headers)

    # ------------------------------------------------------------------ core pieces
    def _demo_credentials(self) -> dict[str, str]:
        u = self.data.demo_user
        token = f"ATATT3xFfGF0fake{self.seed:04d}demoToken"
        creds = {"user": u["email"] if self.flavour == "cloud" else u["name"],
                 "personal_access_token": f"NjE0fakePAT{self.seed:04d}demo"}
        if self.flavour == "cloud":
            creds["api_token"] = token
        else:
            creds["password"] = f"demo-password-{self.seed}"
        return creds

    def _register_core(self) -> None:
        from . import auth, confluence, jira, jsm, jsm_children

        auth.install(self)
        jira.install(self)
        importlib.import_module(f"{__package__}.jira_catalog").install(self)  # Jira catalog (dimension tables)
        importlib.import_module(f"{__package__}.jira_worklogs").install(self)  # worklogs: per issue, feeds
        importlib.import_module(f"{__package__}.jira_deletes").install(self)  # deleted comments, issue bulkfetch
        importlib.import_module(f"{__package__}.jira_bulk").install(self)  # changelog bulkfetch, embedded comments
        importlib.import_module(f"{__package__}.agile").install(self)  # Jira Software boards, sprints
        if self.service_management:
            jsm.install(self)
            jsm_children.install(self)
        confluence.install(self)
        importlib.import_module(f"{__package__}.confluence_extra").install(self)

    def _install_identity_modules(self) -> None:
        pkg = importlib.import_module(__package__)
        for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
            if mod.name.startswith("idp_"):
                module = importlib.import_module(f"{__package__}.{mod.name}")
                install = getattr(module, "install", None)
                if install is not None:
                    install(self)


def not_found(fake: FakeAtlassian, product: str) -> FakeResponse:
    if product == "confluence":
        return FakeResponse(404, json={"statusCode": 404, "message": "No content found", "data": {}}
                            if fake.flavour == "server" else
                            {"errors": [{"status": 404, "code": "NOT_FOUND", "title": "Not Found",
                                         "detail": None}]})
    return FakeResponse(404, json={"errorMessages": ["The requested resource was not found."], "errors": {}})


def error_400(messages: list[str]) -> FakeHTTPError:
    """Jira's 400 shape."""
    return FakeHTTPError(400, {"errorMessages": messages, "errors": {}})

