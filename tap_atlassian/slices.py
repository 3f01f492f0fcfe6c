"""The issue search read concurrently: its window cut into time slices read at once.

A search's pages follow one another (Cloud's ``nextPageToken``, Server/DC's keyset paging),
so one search cannot be read faster than one round trip per page. Slices of the window are
independent searches, read by worker threads and handed back in time order, so the issues
come out in ``updated`` order exactly as one search gives them, and a bookmark never passes
an issue not yet emitted.

Planning costs no round trip of its own. The first page of the whole window is read together
with its count (Cloud ``POST /rest/api/3/search/approximate-count``, see ``JqlSearch.count``;
Server/DC: the page's own ``total``). When more follows, the page holds everything updated
before its last issue's minute ``p``, and the rest of the window, ``[p, upper]``, is cut into
even minute-aligned slices expected to hold ``1 / SPREAD`` of a page each. A slice is read
one page: when that page is full and more follows (the issues are not spread evenly), the
slice is refined the same way, its rest cut by the density the page showed (Server/DC: by
its ``total``), and those parts are read at once too. A minute that holds more than a page
cannot be cut: it is read page after page in the stream's thread.

A slice ``[a, b)`` is searched as ``updated >= a AND updated < b`` (minute literals in the
user's zone, widened by an autumn hour where a literal names two instants) and kept to
``a <= updated < b`` on the issue's own UTC time, so each issue is in exactly one slice.
Up to ``workers`` slices are read at once and at most twice as many read or held (a page
each; a Cloud page held as its bytes, parsed when emitted, an overflowing one parsed once more
to find where its rest starts): memory stays bounded whatever the window's size, and the
slices still to read are made as they are needed.
Without a known time zone the query windows are widened by 14 hours, so the search is not
sliced.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import itertools
import math
import typing as t
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from tap_atlassian.windows import Window, floor_minute

MINUTE = dt.timedelta(minutes=1)
SPREAD = 1.25  # slices are cut to hold a page / SPREAD: few overflow into a second page
FAN = 64  # at most this many parts one slice's rest is cut into
Hit = tuple[dict, "dt.datetime | None"]  # a search hit: the issue and its ``updated`` (UTC)


class Page(t.NamedTuple):
    """The first page of a slice's search."""

    read: t.Callable[[], list[Hit]]  # its hits in the search's order (parsed when called)
    more: bool  # more pages follow
    total: int | None  # the search's own count (Server/DC), else None


class Search(t.Protocol):
    """What :class:`SliceReader` asks of a search (``JqlSearch``)."""

    window: Window

    def count(self) -> int | None:
        """The window's issues (Cloud's approximation), None when the search does not say."""

    def first_page(
        self, lower: dt.datetime | None, upper: dt.datetime | None, *, newest: bool = False
    ) -> Page:
        """``[lower, upper)``'s first page (None: the window's own end); ``newest``: the
        window's newest issues, newest first, their times only.
        """

    def whole(self, lower: dt.datetime | None, upper: dt.datetime | None) -> t.Iterator[Hit]:
        """Every hit of ``[lower, upper)``, page after page."""


@dataclasses.dataclass(eq=False)
class Part:
    """A slice ``[lower, upper)`` (None: the window's own end) and what was read of it."""

    lower: dt.datetime | None
    upper: dt.datetime | None
    whole: bool = False  # one minute holding more than a page: read page after page, in order
    future: Future[Page] | None = None
    take: t.Callable[[], list[Hit]] | None = None  # once read: the hits this part gives


class SliceReader:
    """The hits of ``search``'s window in ``updated`` order, read as concurrent slices."""

    def __init__(
        self, search: Search, workers: int, on_total: t.Callable[[int | None], None] | None = None
    ) -> None:
        """``workers``: slices read at once (twice as many read or held); ``on_total``: told
        the window's count.
        """
        self.search, self.window, self.workers = search, search.window, max(2, workers)
        self.on_total = on_total
        self.queue: collections.deque[Part] = collections.deque()  # in time order
        self.tail: t.Iterator[Part] = iter(())  # the window's slices not yet in the queue
        self.pool: ThreadPoolExecutor | None = None

    def __iter__(self) -> t.Iterator[Hit]:
        """Each hit of the window once, in time order (the pool is shut when the caller stops)."""
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="tap-atlassian-slice")
        try:
            yield from self._read(self.pool)
        finally:
            for part in self.queue:
                if part.future is not None:
                    part.future.cancel()
            self.pool.shutdown(wait=True, cancel_futures=True)

    def _read(self, pool: ThreadPoolExecutor) -> t.Iterator[Hit]:
        counted = pool.submit(self.search.count)
        newest = pool.submit(self.search.first_page, None, None, newest=True)
        first = Part(None, None)
        first.future = pool.submit(self.search.first_page, None, None)
        page = first.future.result()
        total = counted.result()
        total = page.total if total is None else total
        if self.on_total is not None:
            self.on_total(total)
        self.queue.append(first)
        self.tail = iter(self._settle(first, page, total, newest))
        while self.queue:
            self._fill()
            head = self.queue[0]
            if head.whole:
                self.queue.popleft()
                self._fill()
                yield from self.search.whole(head.lower, head.upper)
                continue
            while head.take is None:
                self._wait(head)
            take, head.take = head.take, None
            self.queue.popleft()
            self._fill()
            yield from take()

    def _fill(self) -> None:
        """Read the earliest slices not yet read while fewer than twice ``workers`` are read or
        held (held as bytes: a page each).
        """
        assert self.pool is not None  # noqa: S101 (set by __iter__)
        busy = sum(1 for part in self.queue if part.future is not None)
        for k, part in enumerate(itertools.chain(list(self.queue), self._from_tail())):
            if busy >= 2 * self.workers and k > 0:  # the head is read whatever is held after it
                return
            if part.future is None and not part.whole:
                part.future = self.pool.submit(self.search.first_page, part.lower, part.upper)
                busy += 1

    def _from_tail(self) -> t.Iterator[Part]:
        for part in self.tail:
            self.queue.append(part)
            yield part

    def _wait(self, head: Part) -> None:
        """Until a slice is read; each slice read meanwhile is refined at once, so its parts
        are read while the stream is busy with earlier ones (a failed read raises at its turn).
        """
        assert head.future is not None  # noqa: S101 (the head is read before it is waited for)
        if head.future.done():
            self._refine(head, head.future.result())
            return
        reading = [p.future for p in self.queue if p.future is not None and not p.future.done()]
        wait(reading, return_when=FIRST_COMPLETED)
        for part in list(self.queue):
            done = part.future is not None and part.future.done() and part.take is None
            if done and part.future is not None and part.future.exception() is None:
                self._refine(part, part.future.result())

    def _refine(self, part: Part, page: Page) -> None:
        """Keep what ``page`` holds of ``part``; its rest, if any, as new parts right after it."""
        at = self.queue.index(part) + 1
        for k, child in enumerate(self._settle(part, page, page.total)):
            self.queue.insert(at + k, child)

    def _settle(
        self, part: Part, page: Page, total: int | None, newest: Future[Page] | None = None
    ) -> t.Iterable[Part]:
        """Set ``part.take`` from its first page; return the parts its rest is cut into (for
        the window's first part, lazily, up to the ``newest`` issues, which make a part of their own).
        """
        if not page.more:
            part.take = lambda: [(i, u) for i, u in page.read() if u is None or self._holds(part, u)]
            return ()
        hits = page.read()
        last = hits[-1][1] if hits else None
        if last is None:  # no time to cut at: the whole part, page after page
            part.take = list
            return (Part(part.lower, part.upper, whole=True),)
        lower = self.window.bookmark if part.lower is None else part.lower
        start = floor_minute(lower or hits[0][1] or last)
        end = part.upper or self.window.upper + MINUTE
        cut = floor_minute(last)  # every issue updated before it is in this page
        parts: list[Part] = []
        if cut <= start:  # the page lies in the part's first minute: that minute is read whole
            cut = start + MINUTE
            if cut >= end:
                part.take = list
                return (Part(part.lower, part.upper, whole=True),)
            parts.append(Part(part.lower, cut, whole=True))
            part.take = list
        else:
            # Parsed again when emitted (Cloud: ``read`` parses the bytes at each call): held
            # parsed, an overflowing page weighs about five times its bytes, and several can
            # wait behind the head at once.
            part.take = lambda: [
                (i, u) for i, u in page.read() if u is None or (u < cut and self._holds(part, u))
            ]
        final: list[Part] = []  # the window's newest issues, when the probe found where they start
        in_final = 0
        if newest is not None:
            end, final, in_final = self._newest(newest.result(), cut, end)
        read = sum(1 for _, u in hits if u is not None and u < cut)
        if total is not None:
            rest = max(0, total - read - in_final)
        else:  # Cloud's slices: as dense as this page was
            rest = math.ceil(len(hits) * ((end - cut) / max(MINUTE, cut - start)))
        per_page = max(1, len(hits))  # the server's page size (it may cap what was asked)
        n = max(1, math.ceil(rest * SPREAD / per_page))
        if newest is None:
            return [*parts, *self._cuts(cut, end, part.upper, min(n, FAN))]
        return itertools.chain(parts, self._cuts(cut, end, end if final else None, n), final)

    @staticmethod
    def _newest(probe: Page, cut: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, list[Part], int]:
        """Where the window's newest page of issues starts (``probe``: newest first): the end
        of the slices to cut, that page as the last part, and its issues. Sparse recent times
        (a project gone quiet) are not cut into empty slices.
        """
        hits = probe.read() if probe.more else []
        oldest = hits[-1][1] if hits else None
        if oldest is None:
            return end, [], 0
        start = floor_minute(oldest) + MINUTE  # every issue updated from here on is in the probe
        if start >= end:
            return end, [], 0
        start = max(start, cut)
        return start, [Part(start, None)], sum(1 for _, u in hits if u is not None and u >= start)

    @staticmethod
    def _cuts(a: dt.datetime, end: dt.datetime, upper: dt.datetime | None, n: int) -> t.Iterator[Part]:
        """``[a, upper)`` in ``n`` even minute-aligned parts (``end``: ``upper``'s instant)."""
        n = max(1, min(n, (end - a) // MINUTE))
        step = max(MINUTE, floor_minute(a + (end - a) / n) - a)
        for k in range(n):
            lo = a + step * k
            if lo >= end:
                return
            last = k == n - 1 or lo + step >= end
            yield Part(lo, upper if last else lo + step)
            if last:
                return

    def _holds(self, part: Part, updated: dt.datetime) -> bool:
        if part.lower is not None and updated < part.lower:
            return False
        if part.upper is not None and updated >= part.upper:
            return False
        return self.window.admits(updated)
