"""The request log: what the fake saw, for tests to assert on (never wall-clock durations)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from .http import FakeRequest

# headers worth asserting on; Authorization is reduced to its scheme, cookies to their names
HEADERS_OF_INTEREST = ("accept", "content-type", "x-experimentalapi", "user-agent", "x-atlassian-token")


@dataclass(frozen=True)
class LogEntry:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    auth: str | None  # identity kind ("basic", "pat", "session", ...) or None when refused/anonymous
    auth_scheme: str | None  # scheme word of the Authorization header ("Basic", "Bearer", ...)
    user: str | None
    status: int
    time: float  # epoch seconds when the request arrived
    host: str  # listener tag: "main" or "confluence"
    product: str  # "jira", "jsm", "confluence", ...
    cookies: tuple[str, ...] = field(default=())  # cookie names only

    @classmethod
    def of(cls, req: FakeRequest, status: int, product: str, started: float) -> LogEntry:
        authz = req.headers.get("authorization") or ""
        ident = req.identity
        return cls(
            method=req.method, path=req.path, query=parse_qs(req.raw_query, keep_blank_values=True),
            headers={h: v for h in HEADERS_OF_INTEREST if (v := req.headers.get(h)) is not None},
            auth=ident.kind if ident else None, auth_scheme=authz.split(" ", 1)[0] or None,
            user=ident.user if ident else None, status=status, time=started, host=req.host,
            product=product, cookies=tuple(sorted(req.cookies)),
        )

    def arg(self, name: str) -> str | None:
        v = self.query.get(name)
        return v[0] if v else None


class RequestLog(list):
    """A list of `LogEntry` (thread-safe appends) with a few finders."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def append(self, entry: LogEntry) -> None:  # type: ignore[override]
        with self._lock:
            super().append(entry)

    def clear(self) -> None:
        with self._lock:
            super().clear()

    def find(self, path_contains: str = "", method: str | None = None,
             status: int | None = None) -> list[LogEntry]:
        with self._lock:
            items = list(self)
        return [e for e in items if path_contains in e.path and (method is None or e.method == method)
                and (status is None or e.status == status)]

    def as_dicts(self) -> list[dict]:
        with self._lock:
            items = list(self)
        return [{"method": e.method, "path": e.path, "query": e.query, "headers": e.headers,
                 "auth": e.auth, "auth_scheme": e.auth_scheme, "user": e.user, "status": e.status,
                 "time": e.time, "host": e.host, "product": e.product, "cookies": list(e.cookies)}
                for e in items]
