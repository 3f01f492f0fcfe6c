"""Helpers shared by the paging styles: opaque cursors, integer arguments, cached sorted views."""

from __future__ import annotations

import base64
import threading
from typing import TYPE_CHECKING, Callable

import orjson

from .http import FakeHTTPError

if TYPE_CHECKING:
    from .http import FakeRequest


def encode_cursor(**state: object) -> str:
    """An opaque cursor (base64url of a small JSON object), like Atlassian's."""
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


def decode_cursor(token: str, error: Callable[[str], FakeHTTPError]) -> dict:
    try:
        state = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(state, dict):
            raise ValueError(token)
    except (ValueError, orjson.JSONDecodeError) as e:
        raise error(f"Invalid cursor or page token: {token[:40]}") from e
    return state


def int_arg(req: FakeRequest, name: str, default: int, error: Callable[[str], FakeHTTPError],
            lo: int | None = None, hi: int | None = None, clamp: bool = True) -> int:
    """An integer query argument; out of range: clamped (Atlassian caps silently) or an error."""
    raw = req.arg(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError as e:
        raise error(f"'{name}' must be an integer, not '{raw[:20]}'") from e
    if lo is not None and v < lo:
        if not clamp:
            raise error(f"'{name}' must be at least {lo}")
        v = lo
    if hi is not None and v > hi:
        if not clamp:
            raise error(f"'{name}' must be at most {hi}")
        v = hi
    return v


class ViewCache:
    """Sorted/filtered index lists keyed by query, dropped when the data generation changes."""

    def __init__(self, maxsize: int = 256) -> None:
        self._d: dict[object, list[int]] = {}
        self._gen = -1
        self._lock = threading.Lock()
        self.maxsize = maxsize

    def get(self, key: object, generation: int, build: Callable[[], list[int]]) -> list[int]:
        with self._lock:
            if generation != self._gen:
                self._d.clear()
                self._gen = generation
            hit = self._d.get(key)
        if hit is not None:
            return hit
        value = build()
        with self._lock:
            if generation == self._gen:
                if len(self._d) >= self.maxsize:
                    self._d.pop(next(iter(self._d)))
                self._d[key] = value
        return value


def join_json(items: list[bytes]) -> bytes:
    return b"[" + b",".join(items) + b"]"
