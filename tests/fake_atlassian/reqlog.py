"""The request log: what the fake saw, for tests to assert on (never wall-clock durations).

Each entry also says in which order requests arrived (``arrival``) and how many were in
flight when it arrived, itself included (``in_flight``): tests check "at most N requests at
once" and "nothing arrived while the tap was told to wait" from these, not from timings.
"""

from __future__ import annotations

import threading
import time
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
    arrival: int = 0  # 1, 2, 3 ... in the order requests arrived (0: not counted)
    in_flight: int = 0  # requests being answered when this one arrived, itself included
    answered: float = 0.0  # epoch seconds when its answer was ready (after injected latency)

    @classmethod
    def of(cls, req: FakeRequest, status: int, product: str, started: float) -> LogEntry:
        authz = req.headers.get("authorization") or ""
        ident = req.identity
        return cls(
            method=req.method, path=req.path, query=parse_qs(req.raw_query, keep_blank_values=True),
            headers={h: v for h in HEADERS_OF_INTEREST if (v := req.headers.get(h)) is not None},
            auth=ident.kind if ident else None, auth_scheme=authz.split(" ", 1)[0] or None,
            user=ident.user if ident else None, status=status, time=started, host=req.host,
            product=product, cookies=tuple(sorted(req.cookies)), arrival=req.arrival,
            in_flight=req.in_flight, answered=time.time(),
        )

    def arg(self, name: str) -> str | None:
        v = self.query.get(name)
        return v[0] if v else None


class InFlight:
    """Counts the requests being answered (shared by every listener of one fake)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrivals = 0
        self._now = 0

    def enter(self) -> tuple[int, int]:
        """A request arrived: its arrival number and the requests in flight, itself included."""
        with self._lock:
            self._arrivals += 1
            self._now += 1
            return self._arrivals, self._now

    def leave(self) -> None:
        """Its answer is ready."""
        with self._lock:
            self._now -= 1


class RequestLog(list):
    """A list of `LogEntry` (thread-safe appends) with a few finders."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.flight = InFlight()

    def max_in_flight(self, product: str | None = None) -> int:
        """The most requests in flight at once (``product``: counting only its requests'
        arrivals: an upper bound of that product's own concurrency is the global one)."""
        with self._lock:
            items = list(self)
        return max((e.in_flight for e in items if product is None or e.product == product), default=0)

    def by_arrival(self) -> list[LogEntry]:
        """The entries in the order the requests arrived (the list itself is in answer order)."""
        with self._lock:
            items = list(self)
        return sorted(items, key=lambda e: e.arrival)

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
                 "time": e.time, "host": e.host, "product": e.product, "cookies": list(e.cookies),
                 "arrival": e.arrival, "in_flight": e.in_flight, "answered": e.answered}
                for e in items]
