"""HTTP plumbing of the fake site: request/response objects and the threading listener.

Nothing Atlassian-specific lives here; `site.py` routes, authenticates and logs.
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading
import traceback
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import orjson


@dataclass
class Identity:
    """Who a request authenticated as.

    kind: "basic", "pat", "session", "oauth2", "oauth1", ... (never a secret).
    """

    kind: str
    user: str


class Headers:
    """Case-insensitive, read-only view of request headers."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._d: dict[str, str] = {}
        for k, v in pairs:
            self._d[k.lower()] = v

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._d.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._d

    def __getitem__(self, name: str) -> str:
        return self._d[name.lower()]

    def items(self) -> list[tuple[str, str]]:
        return list(self._d.items())


@dataclass
class FakeRequest:
    """One request as handlers see it.

    host: the listener tag ("main" or "confluence" for a separate Confluence host).
    base_url: scheme://host:port of the listener that received it.
    params: named groups of the route regex.
    """

    method: str
    path: str
    raw_query: str
    headers: Headers
    body: bytes
    host: str
    base_url: str
    params: dict[str, str] = field(default_factory=dict)
    identity: Identity | None = None
    arrival: int = 0  # arrival order and requests in flight at arrival (see reqlog.InFlight)
    in_flight: int = 0

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.raw_query, keep_blank_values=True)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        """All values of a (repeatable or comma-separated) query parameter."""
        out: list[str] = []
        for v in self.query.get(name, []):
            out.extend(p for p in v.split(",") if p != "")
        return out

    @property
    def cookies(self) -> dict[str, str]:
        jar = SimpleCookie()
        raw = self.headers.get("cookie")
        if raw:
            try:
                jar.load(raw)
            except Exception:  # noqa: BLE001 - a malformed cookie header is just ignored
                return {}
        return {k: m.value for k, m in jar.items()}

    def json(self) -> Any:
        """The JSON body (None when empty); malformed JSON is a 400, as Atlassian answers."""
        if not self.body:
            return None
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as e:
            raise FakeHTTPError(400, {"errorMessages": [f"Unexpected character in the JSON body: {e}"],
                                      "errors": {}}) from e

    @property
    def target(self) -> str:
        return self.path + ("?" + self.raw_query if self.raw_query else "")


@dataclass
class FakeResponse:
    """What a handler returns. Give `json` (serialized with orjson) or `body` bytes."""

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json;charset=UTF-8"
    truncate: bool = False  # fault: announce the full length, send half, close

    def payload(self) -> bytes:
        if self.body is not None:
            return self.body
        if self.json is None:
            return b""
        return orjson.dumps(self.json)


class FakeHTTPError(Exception):
    """Raise from a handler or authenticator to answer with this status and JSON body."""

    def __init__(self, status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or []

    def response(self) -> FakeResponse:
        if isinstance(self.body, bytes):
            return FakeResponse(self.status, body=self.body, headers=list(self.headers))
        return FakeResponse(self.status, json=self.body, headers=list(self.headers))


Dispatcher = Callable[[FakeRequest], FakeResponse]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "FakeAtlassian/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
        return

    def _serve(self) -> None:
        srv: _Server = self.server  # type: ignore[assignment]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        req = FakeRequest(
            method=self.command,
            path=parts.path,
            raw_query=parts.query,
            headers=Headers(list(self.headers.items())),
            body=body,
            host=srv.tag,
            base_url=srv.base_url,
        )
        counted = srv.flight is not None and not parts.path.startswith("/__fake__/")
        if counted:
            req.arrival, req.in_flight = srv.flight.enter()
        try:
            resp = srv.dispatch(req)
        except Exception:  # noqa: BLE001 - a bug in the fake answers 500, it never drops the client
            traceback.print_exc(file=sys.stderr)
            resp = FakeResponse(500, json={"errorMessages": ["Internal server error (fake)"], "errors": {}})
        finally:
            if counted:
                srv.flight.leave()  # before the answer is written: the count never over-states
        payload = resp.payload()
        self.send_response(resp.status)
        names = {k.lower() for k, _ in resp.headers}
        if payload and "content-type" not in names:
            self.send_header("Content-Type", resp.content_type)
        for k, v in resp.headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        if resp.truncate:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload[: len(payload) // 2] if resp.truncate else payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve  # noqa: N815


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, tag: str, advertised_host: str, dispatch: Dispatcher, port: int = 0,
                 flight: Any = None) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.tag = tag
        self.flight = flight  # reqlog.InFlight shared by the fake's listeners, or None
        self.dispatch = dispatch
        self.base_url = f"http://{advertised_host}:{self.server_address[1]}"

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.open_connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().server_bind()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.conn_lock:
            self.open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.conn_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Hang up on keep-alive clients so their handler threads end with the server."""
        with self.conn_lock:
            conns = list(self.open_connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer (e.g. after a truncated body) is not an error."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class Listener:
    """One bound port served by a background thread."""

    def __init__(self, tag: str, advertised_host: str, dispatch: Dispatcher, port: int = 0,
                 flight: Any = None) -> None:
        self.server = _Server(tag, advertised_host, dispatch, port, flight)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
            name=f"fake-atlassian-{tag}",
        )

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def use_tls(self, context: ssl.SSLContext) -> None:
        """Serve HTTPS from now on with ``context`` (a server-side context holding the
        certificate); the handshake happens in each connection's handler thread."""
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True,
                                                 do_handshake_on_connect=False)
        self.server.base_url = self.server.base_url.replace("http://", "https://", 1)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.server.close_connections()
        self.thread.join(timeout=5)
