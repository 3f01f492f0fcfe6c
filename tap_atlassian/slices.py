"""The issue search read concurrently: its window cut into time slices read at once.

A search's pages follow one another (Cloud's ``nextPageToken``, Server/DC's keyset paging),
so one search cannot be read faster than one round trip per page. Slices of the window are
independent searches: each is read whole by one worker, and they are handed back in time
order (``ApiClient.map``), so the issues come out in ``updated`` order exactly as one search
gives them, and a bookmark never passes an issue not yet emitted.

Planning: the window is counted (Cloud ``POST /rest/api/3/search/approximate-count``,
https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-approximate-count-post ;
Server/DC the ``total`` of a ``maxResults=0`` search), ranges holding more than ``target``
issues (with a quarter's slack) are cut into equal minute-aligned parts (half again as many
as its count needs, at most ``FAN``), all but the last counted concurrently (the last holds
what its siblings leave of the range's count), and neighbours are merged back while they hold ``target``
issues together (a count of 0 may be an approximation: such a range is merged, never
dropped). Each slice then holds about one page, and at most half of
``max_concurrent_requests`` slices are held at once: memory stays bounded.

A slice is ``[a, b)`` on the issue's own UTC ``updated``: a
:class:`~tap_atlassian.windows.Window` from ``a`` whose query reaches the minute ``b`` (it
overlaps the neighbours by a minute, and an autumn hour), filtered to ``a <= updated < b``,
so each issue is in exactly one slice. Without a known time zone the query
windows are widened by 14 hours, so the search is not sliced.
"""

from __future__ import annotations

import datetime as dt
import math
import typing as t

from tap_atlassian.errors import ApiError
from tap_atlassian.windows import Window, floor_minute

if t.TYPE_CHECKING:
    from tap_atlassian.client import ApiClient

MINUTE = dt.timedelta(minutes=1)
Slice = tuple[Window, "dt.datetime | None"]  # the query window, and the end its issues stay before
FAN = 64  # at most this many parts a too-large range is cut into per planning round
SLACK = 1.25  # a range up to this many times the target is a slice as it is (fewer counts)


class Slicer:
    """Plans the slices of one search (``jql_of(a, b)``: the JQL of ``[a, b)`` without order)."""

    def __init__(
        self, client: ApiClient, jql_of: t.Callable[[dt.datetime | None, dt.datetime], str], target: int
    ) -> None:
        """``target``: issues per slice (about one page)."""
        self.client, self.jql_of, self.target = client, jql_of, max(1, target)

    def plan(self, window: Window, first: t.Callable[[], dt.datetime | None]) -> list[Slice]:
        """The slices of ``window`` in time order; ``first()`` finds the earliest issue's time
        when the window has no lower end. One slice (the window itself) when small.

        A slice is ``(query window, end)``: its search asks up to and including the minute
        ``end`` (a minute literal's ``<=`` reads as that minute's first instant), and keeps
        the issues updated before ``end`` (the last slice: the window's own upper end).
        """
        end = window.upper + MINUTE
        total = self.count(window.bookmark, end)
        if total <= self.target:
            return [(window, None)]
        start = window.bookmark or first()
        if start is None:
            return [(window, None)]
        ranges = self._cut([(floor_minute(start), end, total)])
        out: list[Slice] = []
        for i, (a, b) in enumerate(ranges):
            lower = window.bookmark if i == 0 else a
            last = i == len(ranges) - 1
            out.append((Window(lower, window.upper if last else b, window.tz), None if last else b))
        return out

    def count(self, a: dt.datetime | None, b: dt.datetime) -> int:
        """Issues updated in ``[a, b)`` (Cloud: Atlassian's approximation)."""
        jql = self.jql_of(a, b)
        if self.client.site.is_cloud:
            try:
                body, _ = self.client.post("/rest/api/3/search/approximate-count", {"jql": jql})
            except ApiError:  # a site without the count: plan blind, with more slices
                return self.target + 1
            return int(body.get("count") or 0) if isinstance(body, dict) else 0
        body, _ = self.client.get("/rest/api/2/search", {"jql": jql, "maxResults": 0, "fields": "id"})
        return int(body.get("total") or 0) if isinstance(body, dict) else 0

    def _cut(
        self, ranges: list[tuple[dt.datetime, dt.datetime, int]]
    ) -> list[tuple[dt.datetime, dt.datetime]]:
        done: list[tuple[dt.datetime, dt.datetime, int]] = []
        while ranges:
            splits: list[tuple[int, list[tuple[dt.datetime, dt.datetime]]]] = []
            for a, b, n in ranges:
                if n <= self.target * SLACK or b - a <= MINUTE:
                    done.append((a, b, n))
                    continue
                parts_n = min(FAN, max(2, math.ceil(1.5 * n / self.target)))
                step = max(MINUTE, floor_minute(a + (b - a) / parts_n) - a)
                cuts = [a + step * k for k in range(parts_n) if a + step * k < b] + [b]
                splits.append((n, list(zip(cuts, cuts[1:]))))
            asked = [part for _, parts in splits for part in parts[:-1]]  # the last: what is left
            counts = dict(zip(asked, self.client.map(lambda ab: self.count(*ab), asked)))
            ranges = []
            for n, parts in splits:
                known = [(a, b, counts[(a, b)]) for a, b in parts[:-1]]
                ranges += [*known, (*parts[-1], max(0, n - sum(c for *_, c in known)))]
        done.sort()
        merged: list[list[t.Any]] = []
        for a, b, n in done:
            if merged and merged[-1][2] + n <= self.target:
                merged[-1][1], merged[-1][2] = b, merged[-1][2] + n
            else:
                merged.append([a, b, n])
        return [(a, b) for a, b, _ in merged]
