"""Late-indexed records: each incremental run looks back ``lookback_minutes`` before its bookmark.

Jira's and Confluence's search indexes are eventually consistent: a record can become
searchable minutes or hours after its ``updated`` time, when the bookmark has already
passed it. So every incremental run also searches ``[bookmark - lookback_minutes,
bookmark]`` cheaply (ids and times only: Jira ``fields=updated``), and reads in full only
the records it had not emitted at that version. The ``(id, updated)`` pairs of the records
emitted in that span live in the stream's state (:class:`~tap_atlassian.state_sets.Versions`,
about 10 bytes a pair), so an unchanged record is never emitted twice, neither by the
look-back nor at the boundary of the main window.

Reading the late issues in full:
- Cloud ``POST /rest/api/3/issue/bulkfetch`` (up to 100 ids a call, issues in id order)
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-bulkfetch-post
- Server/DC ``GET /rest/api/2/search?jql=id in (...)`` with ``validateQuery=false`` (an id
  deleted meanwhile is left out instead of failing the query; should a Jira answer 400 all
  the same, each issue of the batch is read with ``GET /rest/api/2/issue/{id}``, 404 = gone)
  https://docs.atlassian.com/software/jira/docs/api/REST/9.12.0/#api/2/search-search

The mechanism is product-neutral (:class:`Lookback` takes ids as integers and times as
aware datetimes), so Confluence pages and blog posts can use it with their own search.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from http import HTTPStatus

from tap_atlassian.errors import AccessError, ApiError
from tap_atlassian.state_sets import Versions, as_int
from tap_atlassian.windows import Window

if t.TYPE_CHECKING:
    from tap_atlassian.client import ApiClient

STATE_KEY = "lookback"  # the (id, updated) pairs of the span, in the stream's state
BULK = 100  # bulkfetch's limit, and a JQL id list that keeps the URL short


def millis(value: dt.datetime) -> int:
    """Epoch milliseconds of an aware time."""
    return int(value.timestamp() * 1000)


class Lookback:
    """The look-back span of one stream run and the versions emitted in it.

    ``state`` is the stream's state dict; the pairs are read from it at start and written
    back by :meth:`save` (every page and at the end), pruned to the span before the bookmark.
    """

    def __init__(self, state: dict, bookmark: dt.datetime | None, minutes: int) -> None:
        """Pairs from the state; nothing is requested."""
        self.state, self.bookmark, self.minutes = state, bookmark, max(0, minutes)
        self.seen = Versions.decode(state.get(STATE_KEY))
        self.latest = bookmark
        self._prune_at = max(10_000, 2 * len(self.seen))  # a first run's pairs stay few in memory

    def window(self, main: Window) -> Window | None:
        """The span searched for late records (None on a first run or with ``lookback_minutes: 0``)."""
        if self.bookmark is None or not self.minutes:
            return None
        lower = self.bookmark - dt.timedelta(minutes=self.minutes)
        return Window(lower, self.bookmark, main.tz)

    def is_new(self, ident: t.Any, updated: dt.datetime | None) -> bool:  # noqa: ANN401
        """Whether this version of the record was not emitted yet (as far as the span knows)."""
        number = as_int(ident)
        if number is None or updated is None:
            return True
        return self.seen.get(number) != millis(updated)

    def emitted(self, ident: t.Any, updated: dt.datetime | None) -> None:  # noqa: ANN401
        """Remember an emitted version."""
        number = as_int(ident)
        if number is None or updated is None:
            return
        self.seen.pairs[number] = millis(updated)
        if self.latest is None or updated > self.latest:
            self.latest = updated
        if len(self.seen) > self._prune_at:
            self._prune()
            self._prune_at = max(10_000, 2 * len(self.seen))

    def _prune(self) -> None:
        """Keep the pairs inside ``[latest - lookback, latest]`` (what the state will hold)."""
        if self.latest is not None:
            floor = millis(self.latest - dt.timedelta(minutes=self.minutes))
            self.seen = self.seen.keep(lambda _id, version: version >= floor)

    def save(self) -> None:
        """Write the pairs still inside ``[latest - lookback, latest]`` to the state."""
        if self.latest is None:
            return
        self._prune()
        encoded = self.seen.encode()
        if encoded:
            self.state[STATE_KEY] = encoded
        else:
            self.state.pop(STATE_KEY, None)


def read_issues(client: ApiClient, ids: list[str], fields: str) -> t.Iterator[dict]:
    """The issues of ``ids`` that still exist and can be read, ``BULK`` per request.

    ``fields`` is Jira's list (``*all``, ``updated``, ``project``); requests go through
    ``client.map`` (concurrent when ``max_concurrent_requests`` allows).
    """
    batches = [ids[i : i + BULK] for i in range(0, len(ids), BULK)]

    def cloud(batch: list[str]) -> list[dict]:
        body, _ = client.post(
            "/rest/api/3/issue/bulkfetch", {"issueIdsOrKeys": batch, "fields": fields.split(",")}
        )
        return body.get("issues") or []

    def server(batch: list[str]) -> list[dict]:
        jql = f"id in ({', '.join(batch)}) ORDER BY id ASC"
        try:
            body, _ = client.get(
                "/rest/api/2/search",
                {
                    "jql": jql,
                    "fields": fields,
                    "maxResults": len(batch),
                    "startAt": 0,
                    "validateQuery": "false",
                },
            )
        except ApiError as exc:
            if exc.status != HTTPStatus.BAD_REQUEST:
                raise
            # a Jira that still validates the ids (one deleted meanwhile): one read per issue
            return [issue for ident in batch if (issue := one(ident)) is not None]
        return body.get("issues") or []

    def one(ident: str) -> dict | None:
        try:
            body, _ = client.get(f"/rest/api/2/issue/{ident}", {"fields": fields})
        except AccessError:
            return None
        return body

    for issues in client.map(cloud if client.site.is_cloud else server, batches):
        yield from issues


def late_pairs(
    search: t.Iterable[tuple[dict, dt.datetime | None]], lookback: Lookback
) -> list[tuple[dict, dt.datetime | None]]:
    """The ``(issue, updated)`` pairs of a look-back search not emitted at that version."""
    return [(issue, updated) for issue, updated in search if lookback.is_new(issue.get("id"), updated)]
