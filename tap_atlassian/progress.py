"""Progress a person can read: a line per stream at most every ``progress_seconds`` on a long
sync, and one summary line per stream at its end.

    jira_issues: 41,200 records so far (1,370/s), 41% of about 100,000, ETA 1 min 13 s
    jira_issues: done: 100,000 records in 73.1 s (1,368/s); 1,001 requests, 2 retries, 1 429 (4.0 s waited)

Lines are INFO on the ``tap-atlassian`` logger and start with the stream's name, so they keep
it wherever the log goes (Meltano re-logs a tap's stderr line by line; the SDK's ``METRIC``
lines carry the stream only in a JSON tag that Meltano's metric parsing drops).

Totals come from the API where it gives one (Jira Cloud ``POST
/rest/api/3/search/approximate-count``, Server/DC search's ``total``): the stream's search
calls :func:`expect`. Request counts come from each product's :class:`RequestStats` (kept
by :class:`~tap_atlassian.client.ApiClient`); a stream's share is what its client counted
while the stream ran.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import typing as t

if t.TYPE_CHECKING:
    from tap_atlassian.client import ApiClient

LOGGER = logging.getLogger("tap-atlassian")


@dataclasses.dataclass
class RequestStats:
    """Requests, retries and 429 waits of one product's client (thread-safe counters)."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    waited: float = 0.0
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    def sent(self) -> None:
        """One request sent (whatever its answer)."""
        with self._lock:
            self.requests += 1

    def retried(self, wait: float, *, throttled: bool) -> None:
        """One retry after ``wait`` seconds; ``throttled``: it answered a 429."""
        with self._lock:
            self.retries += 1
            if throttled:
                self.throttled += 1
                self.waited += wait

    def snapshot(self) -> tuple[int, int, int, float]:
        """(requests, retries, 429s, seconds waited on 429s) so far."""
        with self._lock:
            return self.requests, self.retries, self.throttled, self.waited


class Progress:
    """One stream's progress (child streams included in their own instance)."""

    def __init__(self, name: str, interval: float, clock: t.Callable[[], float] = time.monotonic) -> None:
        """Nothing is logged until :meth:`start`."""
        self.name, self.interval, self.clock = name, interval, clock
        self.records = 0
        self.total: int | None = None
        self.started: float | None = None
        self._last_line = 0.0
        self._stats: RequestStats | None = None
        self._base = (0, 0, 0, 0.0)

    @property
    def running(self) -> bool:
        """Started and not finished."""
        return self.started is not None

    def start(self, stats: RequestStats | None) -> None:
        """The stream begins: remember its client's counters."""
        self.started = self._last_line = self.clock()
        self.records, self.total = 0, None
        self._stats = stats
        self._base = stats.snapshot() if stats else (0, 0, 0, 0.0)

    def record(self) -> None:
        """One record emitted; a progress line when ``interval`` has passed since the last."""
        self.records += 1
        if self.started is None:
            return
        now = self.clock()
        if now - self._last_line >= self.interval:
            self._last_line = now
            LOGGER.info("%s", self.line(now))

    def line(self, now: float) -> str:
        """The periodic line."""
        elapsed = max(now - (self.started or now), 1e-9)
        rate = self.records / elapsed
        text = f"{self.name}: {self.records:,} records so far ({rate:,.0f}/s)"
        if self.total:
            done = min(self.records / self.total, 1.0)
            text += f", {done:.0%} of about {self.total:,}"
            if rate > 0 and self.records < self.total:
                text += f", ETA {duration((self.total - self.records) / rate)}"
        return text

    def finish(self) -> None:
        """The summary line; the progress stops."""
        if self.started is None:
            return
        elapsed = self.clock() - self.started
        now = self._stats.snapshot() if self._stats else (0, 0, 0, 0.0)
        requests, retries, throttled, waited = (a - b for a, b in zip(now, self._base, strict=True))
        rate = f" ({self.records / elapsed:,.0f}/s)" if elapsed >= 1 else ""
        LOGGER.info(
            "%s: done: %s records in %s%s; %s %s, %s %s, %s 429%s (%.1f s waited)",
            self.name,
            f"{self.records:,}",
            duration(elapsed),
            rate,
            f"{requests:,}",
            "request" if requests == 1 else "requests",
            retries,
            "retry" if retries == 1 else "retries",
            throttled,
            "" if throttled == 1 else "s",
            waited,
        )
        self.started = None


def expect(client: ApiClient, total: int | None) -> None:
    """The API's count of what the running stream of ``client`` will read (first one wins)."""
    current = client.cache.get("progress")
    if isinstance(current, Progress) and current.total is None and isinstance(total, int) and total >= 0:
        current.total = total


MINUTE = 60  # seconds in a minute, minutes in an hour


def duration(seconds: float) -> str:
    """``4.2 s``, ``3 min 5 s``, ``2 h 10 min``."""
    if seconds < MINUTE:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), MINUTE)
    if minutes < MINUTE:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
