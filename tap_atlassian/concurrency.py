"""Requests in flight for one product: the rate gate and the ordered, bounded map.

Atlassian's rate limits are per site and per product, and a 429 applies to every client of
it, not only to the request that got it
(https://developer.atlassian.com/cloud/jira/platform/rate-limiting/,
https://developer.atlassian.com/cloud/confluence/rate-limiting/). So each product's
:class:`~tap_atlassian.client.ApiClient` owns one :class:`RateGate`, and every request of
that product, from any stream and any thread, passes through it:

- at most ``limit`` requests are in flight (``max_concurrent_requests``);
- a 429 or 503 with a wait (``Retry-After``, else ``X-RateLimit-Reset``) closes the gate for
  every thread until that time;
- a 429 that comes after the tap had already paused and resumed halves ``limit`` (down to 1),
  and after a quiet spell without 429s ``limit`` climbs back by one, up to the setting.

:func:`ordered_map` is the one way streams run reads concurrently: ``fn(item)`` on a thread
pool, results handed back in input order, at most ``window`` items read ahead (memory stays
bounded whatever the stream's size). With one worker it is a plain loop in the caller's
thread, the sequential behaviour.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor

T = t.TypeVar("T")
R = t.TypeVar("R")
QUIET_SECONDS = 30.0  # without a 429 for this long, the lowered limit climbs back by one


class RateGate:
    """Requests in flight for one product, and the pause every one of them honours."""

    def __init__(
        self, limit: int, quiet_seconds: float = QUIET_SECONDS, clock: t.Callable[[], float] = time.monotonic
    ) -> None:
        """``limit``: the most requests in flight (``max_concurrent_requests``)."""
        self.max_limit = max(1, int(limit))
        self.limit = self.max_limit
        self.quiet_seconds = quiet_seconds
        self._clock = clock
        self._cond = threading.Condition()
        self._in_flight = 0
        self._paused_until = 0.0
        self._last_throttle: float | None = None
        self._last_change = clock()

    @contextlib.contextmanager
    def slot(self) -> t.Iterator[None]:
        """Hold one of the ``limit`` places for the duration of one request."""
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def acquire(self) -> None:
        """Wait until the gate is open and a place is free, then take it."""
        with self._cond:
            while True:
                now = self._clock()
                self._climb(now)
                closed_for = self._paused_until - now
                if closed_for > 0:
                    self._cond.wait(closed_for)
                elif self._in_flight < self.limit:
                    self._in_flight += 1
                    return
                else:
                    self._cond.wait(self.quiet_seconds)

    def release(self) -> None:
        """Give a place back."""
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def pause(self, seconds: float, *, throttled: bool) -> None:
        """Close the gate for ``seconds`` (the server's wait); ``throttled``: it was a 429."""
        with self._cond:
            now = self._clock()
            if throttled:
                repeated = self._last_throttle is not None and now - self._last_throttle < self.quiet_seconds
                if repeated and now >= self._paused_until and self.limit > 1:
                    # a 429 after we had already waited once: fewer at a time
                    self.limit = max(1, self.limit // 2)
                    self._last_change = now
                self._last_throttle = now
            self._paused_until = max(self._paused_until, now + max(0.0, seconds))
            self._cond.notify_all()

    def _climb(self, now: float) -> None:
        if self.limit >= self.max_limit or self._last_throttle is None:
            return
        if now - self._last_throttle >= self.quiet_seconds and now - self._last_change >= self.quiet_seconds:
            self.limit += 1
            self._last_change = now
            self._cond.notify_all()

    @property
    def in_flight(self) -> int:
        """Requests holding a place now."""
        return self._in_flight


def ordered_map(
    fn: t.Callable[[T], R], items: t.Iterable[T], workers: int, window: int | None = None
) -> t.Iterator[R]:
    """``fn(item)`` for each item on up to ``workers`` threads, yielded in input order.

    At most ``window`` (default ``2 * workers``; a smaller window also means fewer workers)
    items are read ahead of the one the caller is waiting for, so memory is bounded by the
    window, never by the stream. An exception raised by ``fn`` is raised here at that item's
    place. ``items`` is iterated in the
    caller's thread. Closing the iterator early cancels what has not started.
    """
    if workers <= 1:
        for item in items:
            yield fn(item)
        return
    if window is not None:
        workers = max(1, min(workers, window))
        if workers == 1:
            yield from (fn(item) for item in items)
            return
    ahead = max(workers, window or 2 * workers)
    pending: collections.deque[Future[R]] = collections.deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tap-atlassian-read")
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
