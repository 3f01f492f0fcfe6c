"""Deleted Confluence content: trashed, deleted and purged pages, blog posts, comments and
attachments become tombstones; content restored from the trash is emitted live again.

What each deployment lets a reader see (Atlassian's documentation):

- Cloud: CQL search (``/wiki/rest/api/content/search``) and the v2 listings show current
  content only; v2 reads of one object (``/api/v2/pages/{id}``, ``/blogposts/{id}``,
  ``/footer-comments/{id}``, ``/inline-comments/{id}``, ``/attachments/{id}``) look in
  ``status [current, archived]`` unless told otherwise, so trashed and purged content answers
  404 (https://developer.atlassian.com/cloud/confluence/rest/v2/api-group-page/#api-pages-id-get;
  the 404 body is quoted in https://jira.atlassian.com/browse/CONFCLOUD-77296); an answer
  with ``status`` ``trashed`` / ``deleted`` counts as gone too. Comments have no trash: their
  deletion is permanent.
- Server / Data Center: CQL (``/rest/api/content/search``) shows current content and has no
  status field for the trash (https://jira.atlassian.com/browse/CONFSERVER-61075); ``GET
  /rest/api/content/{id}`` answers 404 for trashed and purged content
  (https://developer.atlassian.com/server/confluence/rest/v1000/api-group-content-resource/).

No deployment has a feed of deletions a non-admin can read, and a trashed page keeps its
last-modified time, so the method is a sweep, like the issue-id sweep of Jira: at most every
``delete_sweep_hours`` (``0``: never) the ids of the stream's live content are listed with one
CQL search (ids only, large pages) and compared with the ids known live, kept in the stream's
state as :class:`~tap_atlassian.state_sets.IdRuns`. An id that is gone is read once directly
(through ``ApiClient.map``): a 404 or a ``trashed``/``deleted`` status makes a tombstone, a live
answer (the search index lagging) keeps it. An id that is back, and older than the bookmark
(so no window will read it), was restored: it is read and emitted live, without moving the
bookmark.
"""

from __future__ import annotations

import datetime as dt
import itertools
import typing as t
from http import HTTPStatus

from tap_atlassian.errors import AccessError
from tap_atlassian.pagination import CursorLinkPaginator, StartLimitLinkPaginator
from tap_atlassian.state_sets import IdRuns
from tap_atlassian.streams.jira import quote_list
from tap_atlassian.windows import format_utc, parse_time

if t.TYPE_CHECKING:
    from tap_atlassian.streams.confluence import ConfluenceContentStream

LIVE_KEY = "live_ids"
SWEPT_KEY = "swept_at"
GONE_STATUSES = {"trashed", "deleted", "purged"}
CLOUD_SWEEP_LIMIT = 250  # the v1 search's page without expansions (v2's maximum, to be safe)
SERVER_SWEEP_LIMIT = 1000  # DC KB: CQL search without expansions


def is_gone(record: t.Mapping[str, t.Any] | None) -> bool:
    """Whether a direct read says the object is no longer live."""
    return record is None or str(record.get("status") or "current") in GONE_STATUSES


class ContentSweep:
    """The delete sweep of one content stream for one run (see the module docstring).

    The stream tells it each id it emits (:meth:`saw`); :meth:`run` comes after the stream's
    records and yields tombstones and restored records.
    """

    def __init__(self, stream: ConfluenceContentStream) -> None:
        """Nothing is requested yet."""
        self.stream = stream
        self.hours = float(stream.settings.delete_sweep_hours or 0)
        self.seen: list[int] = []

    def number(self, ident: t.Any) -> int | None:  # noqa: ANN401
        """An id as the integer kept in state (``att123`` -> 123)."""
        text = str(ident).removeprefix(self.stream.id_prefix)
        return int(text) if text.isdigit() else None

    def ident(self, number: int) -> str:
        """The API id of a kept integer."""
        return f"{self.stream.id_prefix}{number}"

    def saw(self, ident: t.Any) -> None:  # noqa: ANN401
        """A live record of this run."""
        number = self.number(ident)
        if number is not None:
            self.seen.append(number)

    def run(self, bookmark: dt.datetime | None, *, full: bool) -> t.Iterator[dict]:
        """Tombstones and restored records, and the new ids-known-live (in the stream's state)."""
        state = self.stream.get_context_state(None)
        if self.hours <= 0:
            changed = state.pop(LIVE_KEY, None) is not None
            changed = state.pop(SWEPT_KEY, None) is not None or changed
            if changed:
                self.stream.state_changed()
            return
        now = dt.datetime.now(dt.timezone.utc)
        known_text = state.get(LIVE_KEY)
        swept_at = parse_time(state.get(SWEPT_KEY))
        if known_text is None or swept_at is None:  # first run, or sweeping just turned on
            live = IdRuns.from_ids(self.seen) if full else self.listing().union(self.seen)
            self._save(state, live, now)
            return
        known = IdRuns.decode(known_text)
        if now - swept_at < dt.timedelta(hours=self.hours):
            state[LIVE_KEY] = known.union(self.seen).encode()
            self.stream.state_changed()
            return
        listed = self.listing().union(self.seen)
        gone = known.difference(listed)
        back = [] if full else listed.difference(known.union(self.seen))
        still_live: list[int] = []
        dead: set[int] = set()
        reads = self.stream.client.map(self._read, [self.ident(n) for n in gone])
        for number, record in zip(gone, reads, strict=True):
            if is_gone(record):
                dead.add(number)
                yield self.stream.tombstone({"id": self.ident(number)})
            else:
                still_live.append(number)
        restored = self._restored(back, bookmark, dead)
        if restored:
            yield from self.stream.finish(restored)
        # streamed into the runs builder: no tuple of every listed id
        live = IdRuns.from_ids(n for n in itertools.chain(listed, still_live) if n not in dead)
        self._save(state, live, now)

    def _restored(self, back: list[int], bookmark: dt.datetime | None, dead: set[int]) -> list[dict]:
        """The ids that are back and older than the bookmark, read; those gone after all join ``dead``."""
        restored: list[dict] = []
        reads = self.stream.client.map(self._read, [self.ident(n) for n in back])
        for number, record in zip(back, reads, strict=True):
            if record is None or is_gone(record):
                dead.add(number)
                continue
            when = self.stream.time_of(record)
            if bookmark is None or when is None or when < bookmark:
                restored.append(record)
        return restored

    def _save(self, state: dict, live: IdRuns, now: dt.datetime) -> None:
        state[LIVE_KEY] = live.encode()
        state[SWEPT_KEY] = format_utc(now)
        self.stream.state_changed()

    def _read(self, ident: str) -> dict | None:
        """One object by id, or None when it is not found (404)."""
        try:
            return self.stream.fetch_one(ident)
        except AccessError as exc:
            if exc.status == HTTPStatus.NOT_FOUND:
                return None
            raise

    def listing(self) -> IdRuns:
        """The ids of the stream's live content: one CQL search, ids only, large pages."""
        stream = self.stream
        parts = [f"type = {stream.content_type}"]
        if stream.settings.space_keys:
            parts.append(f"space in ({quote_list(stream.settings.space_keys)})")
        params = {"cql": " and ".join(parts) + " order by created asc"}
        if stream.is_cloud:
            paginator = CursorLinkPaginator(params, CLOUD_SWEEP_LIMIT, CLOUD_SWEEP_LIMIT)
        else:
            paginator = StartLimitLinkPaginator(params, SERVER_SWEEP_LIMIT, SERVER_SWEEP_LIMIT)
        numbers: list[int] = []
        for hits in stream.client.pages("/rest/api/content/search", paginator):
            numbers.extend(n for n in (self.number(h.get("id")) for h in hits) if n is not None)
        return IdRuns.from_ids(numbers)
