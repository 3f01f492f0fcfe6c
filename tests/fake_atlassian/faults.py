"""Fault injection: a fault matches requests by regex (searched in `path?query`), N times."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

from .http import FakeResponse

if TYPE_CHECKING:
    from .http import FakeRequest
    from .site import FakeAtlassian

KINDS = ("429", "503", "500", "403", "404", "unauthorized", "non_json", "truncated", "latency")


@dataclass
class Fault:
    """kind: one of KINDS. times: how many requests it hits (None: until cleared)."""

    pattern: str
    kind: str
    times: int | None = 1
    method: str | None = None
    retry_after: int | None = 1  # 429/503: seconds in Retry-After (None: no header)
    ms: int = 0  # latency
    hits: int = 0

    def matches(self, req: FakeRequest) -> bool:
        """Searched in `path?query` as sent and with the query URL-decoded (`project = SDA`)."""
        if self.method is not None and self.method.upper() != req.method:
            return False
        decoded = req.path + "?" + unquote_plus(req.raw_query)
        return re.search(self.pattern, req.target) is not None or re.search(self.pattern, decoded) is not None

    def response(self, fake: FakeAtlassian, req: FakeRequest, product: str) -> FakeResponse:
        conf = product == "confluence"
        if self.kind == "429":
            headers = [("RateLimit-Reason", "jira-burst-based"), ("X-RateLimit-Limit", "100"),
                       ("X-RateLimit-Remaining", "0")]
            if self.retry_after is not None:
                reset = time.gmtime(time.time() + self.retry_after)
                headers += [("Retry-After", str(self.retry_after)),
                            ("X-RateLimit-Reset", time.strftime("%Y-%m-%dT%H:%MZ", reset))]
            body = {"statusCode": 429, "message": "Rate limit exceeded."} if conf else \
                {"errorMessages": ["Rate limit exceeded."], "errors": {}}
            return FakeResponse(429, json=body, headers=headers)
        if self.kind in ("503", "500"):
            headers = [("Retry-After", str(self.retry_after))] \
                if self.kind == "503" and self.retry_after is not None else []
            return FakeResponse(int(self.kind), body=b"<html><body><h1>Service Unavailable</h1></body></html>",
                                headers=headers, content_type="text/html;charset=UTF-8")
        if self.kind == "403":
            body = {"statusCode": 403, "message": "Not permitted to use confluence"} if conf else \
                {"errorMessages": ["You do not have permission to view this resource."], "errors": {}}
            return FakeResponse(403, json=body)
        if self.kind == "404":
            from .site import not_found

            return not_found(fake, product)
        if self.kind == "unauthorized":  # an expired session / revoked token
            return fake.unauthorized(product)
        if self.kind == "non_json":
            return FakeResponse(200, body=b"<!DOCTYPE html><html><body>Atlassian is down for "
                                b"maintenance</body></html>", content_type="text/html;charset=UTF-8")
        raise ValueError(self.kind)


class Faults:
    def __init__(self) -> None:
        self._items: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        if fault.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {KINDS}")
        with self._lock:
            self._items.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def take(self, req: FakeRequest) -> Fault | None:
        with self._lock:
            for f in self._items:
                if (f.times is None or f.hits < f.times) and f.matches(req):
                    f.hits += 1
                    return f
        return None
