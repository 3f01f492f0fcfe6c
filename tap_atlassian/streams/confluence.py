"""Confluence streams: spaces, pages and blog posts (Cloud REST v2 + v1 CQL search, Server/DC REST v1).

Pages and blog posts share :class:`ConfluenceContentStream`; each names only its content
type (``/api/v2/pages`` vs ``/api/v2/blogposts``, CQL ``type = page`` vs ``type = blogpost``,
v1 ``type=page`` vs ``type=blogpost``). What follows says "pages" for either.

- Cloud full sync: v2 ``GET /wiki/api/v2/pages?body-format=storage&sort=id``
  (https://developer.atlassian.com/cloud/confluence/rest/v2/api-group-page/#api-pages-get).
- Cloud incremental: v1 CQL ``GET /wiki/rest/api/content/search`` for the changed ids
  (``lastmodified`` window, ``order by lastmodified asc``), then v2 ``/pages?id=...`` in
  batches, so every record has the v2 shape.
- Server/DC: v1 ``GET /rest/api/content`` (full) and ``/rest/api/content/search`` (CQL),
  expanded (https://developer.atlassian.com/server/confluence/rest/v1000/api-group-content-resource/).

``last_modified`` is the current version's time in UTC (v2 ``version.createdAt``, v1
``version.when``). A full sync reads pages by id, not by time, so its bookmark is only
written at the end (capped at the run's start by the SDK's signpost); incremental runs are
sorted by time and resumable.

Each record carries its ``labels`` (:meth:`ConfluenceContentStream.finish`): Cloud v2
``/{collection}/{id}/labels`` per record through ``ApiClient.map``, Server/DC the
``metadata.labels`` expansion. After the records, the delete sweep
(:mod:`tap_atlassian.streams.confluence_deletes`) emits tombstones for trashed, deleted and
purged content and restored content live again. Comments and attachments
(:mod:`~tap_atlassian.streams.confluence_items`) and page versions
(:mod:`~tap_atlassian.streams.confluence_versions`) build on the same class.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import typing as t

from tap_atlassian.client import Repeat
from tap_atlassian.errors import AccessError
from tap_atlassian.lookback import Lookback
from tap_atlassian.pagination import CursorLinkPaginator, StartLimitLinkPaginator, keyset_pages
from tap_atlassian.streams.base import AtlassianStream
from tap_atlassian.streams.confluence_deletes import ContentSweep
from tap_atlassian.streams.jira import quote_list
from tap_atlassian.windows import Window, format_utc, parse_time

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_atlassian.client import ApiClient

LOGGER = logging.getLogger("tap-atlassian")
CQL = (("search:confluence", "read:content-details:confluence"),)  # the OAuth 2.0 scope of a CQL search
V1_BODY_SEARCH_CAP = 50  # CQL search with body expansion (DC KB)
V1_BODY_CONTENT_CAP = 100
LOOKBACK_PAGE = 200  # the look-back search asks ids and versions only (DC KB: 200 with expansions)


def chunks(items: t.Iterable[dict], size: int) -> t.Iterator[list[dict]]:
    """Lists of up to ``size`` items, in order.

    Per-record reads go through ``ApiClient.map`` a batch at a time.
    """
    batch: list[dict] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def confluence_zone(client: ApiClient) -> dt.tzinfo | None:
    """The searching user's zone: ``/rest/api/user/current`` ``timeZone`` (cached per run)."""
    return client.user_zone("/rest/api/user/current")


def page_time(page: t.Mapping[str, t.Any]) -> dt.datetime | None:
    """The current version's time: v2 ``version.createdAt``, v1 ``version.when``."""
    version = page.get("version") or {}
    value = version.get("createdAt") or version.get("when")
    if not value:
        value = ((page.get("history") or {}).get("lastUpdated") or {}).get("when")
    return parse_time(value)


class ConfluenceStream(AtlassianStream):
    """A Confluence stream."""

    product = "confluence"
    oauth_scopes: t.ClassVar[tuple[tuple[str, ...], ...]] = (
        ("read:confluence-content.all", "read:page:confluence"),
    )

    def spaces(self) -> list[dict]:
        """The spaces (filtered by ``space_keys``), read once per run."""
        cache = self.client.cache
        if "spaces" not in cache:
            keys = list(self.settings.space_keys)
            if self.is_cloud:
                found = list(self.paginate("/api/v2/spaces", CursorLinkPaginator, {"keys": keys or None}))
            else:
                found = list(
                    self.paginate(
                        "/rest/api/space",
                        StartLimitLinkPaginator,
                        {"spaceKey": Repeat(keys) if keys else None},
                        500,
                    )
                )
            missing = set(keys) - {s.get("key") for s in found}
            for key in sorted(missing):
                LOGGER.warning(
                    "space_keys: space %s not found or not readable with these credentials; skipped", key
                )
            cache["spaces"] = found
        return cache["spaces"]


class ConfluenceSpacesStream(ConfluenceStream):
    """Cloud v2 ``/spaces`` / Server v1 ``/rest/api/space``."""

    name = "confluence_spaces"
    oauth_scopes = (("read:confluence-space.summary", "read:space:confluence"),)
    primary_keys = ("id",)

    def get_records(self, context: Context | None) -> t.Iterable[dict]:  # noqa: ARG002
        """Every selected space."""
        yield from self.spaces()


class ConfluenceContentStream(ConfluenceStream):
    """One content type (pages or blog posts) with its storage body, incremental on
    ``last_modified``. Subclasses only name the type: ``content_type`` (v1 ``type`` and CQL
    ``type =``), ``collection`` (the v2 path, ``/api/v2/{collection}``) and ``v1_expand``.
    """

    content_type: t.ClassVar[str]
    collection: t.ClassVar[str]
    v1_expand: t.ClassVar[str]
    primary_keys: tuple[str, ...] = ("id",)
    replication_key = "last_modified"
    # found by CQL search, then read (a subclass names its own read scope)
    oauth_scopes = (*CQL, ("read:confluence-content.all", "read:page:confluence"))

    @property
    def is_sorted(self) -> bool:
        """Incremental runs come in time order (resumable); full syncs come by id."""
        return self._incremental()

    @property
    def check_sorted(self) -> bool:
        """Full syncs keep the greatest value; incremental runs never raise on a small disorder
        (CQL's time and the version's time may differ): the bookmark then moves back, which
        only re-reads.
        """
        return not self.is_sorted

    def _incremental(self) -> bool:
        """Whether this run reads what changed since a time (its bookmark, or ``start_date``);
        the start itself is the SDK's ``get_starting_timestamp``.
        """
        # the state as given, read-only: `stream_state` would build the state manager, which
        # reads `is_sorted`, which asks this
        bookmark = self.tap_state.get("bookmarks", {}).get(self.name) or {}
        return bool(bookmark.get("replication_key_value")) or self.settings.start_date is not None

    id_prefix: t.ClassVar[str] = ""  # attachments: ``att``

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """Full or incremental, Cloud or Server; late-indexed records of the look-back span;
        then the delete sweep (tombstones, restores).
        """
        start = self.get_starting_timestamp(context) if self._incremental() else None
        sweep = ContentSweep(self)
        state = self.get_context_state(None)
        lookback = Lookback(
            state, parse_time(state.get("replication_key_value")), self.settings.lookback_minutes
        )
        if start is None:
            records = self._cloud_full() if self.is_cloud else self._server_full()
        else:
            window = Window.build(start, self.settings.search_lag_minutes, confluence_zone(self.client))
            late = self._late(window, lookback)
            records = itertools.chain(
                late, self._cloud_changed(window) if self.is_cloud else self._server_changed(window)
            )
        for batch in chunks(records, self.settings.page_size):
            fresh = [r for r in batch if lookback.is_new(self._number(r.get("id")), self.time_of(r))]
            for record in self.finish(fresh):
                lookback.emitted(self._number(record.get("id")), self.time_of(record))
                sweep.saw(record.get("id"))
                yield record
            lookback.save()
        yield from sweep.run(start, full=start is None)

    def _number(self, ident: t.Any) -> int | None:  # noqa: ANN401
        """An id as an integer (``att123`` -> 123), for the state's id sets."""
        text = str(ident).removeprefix(self.id_prefix)
        return int(text) if text.isdigit() else None

    def _late(self, window: Window, lookback: Lookback) -> t.Iterator[dict]:
        """Records of ``[bookmark - lookback_minutes, bookmark]`` not emitted at their version:
        the span is searched for ids and versions only (CQL, ``expand=version``), and only
        the new ones are read in full, by id through ``ApiClient.map``.
        """
        span = lookback.window(window)
        if span is None:
            return
        params = {"cql": self._cql(span, span.query_lower), "expand": "version"}
        if self.is_cloud:
            paginator: CursorLinkPaginator = CursorLinkPaginator(params, LOOKBACK_PAGE, 250)
        else:
            paginator = StartLimitLinkPaginator(params, LOOKBACK_PAGE, LOOKBACK_PAGE)
        late: list[str] = []
        for hits in self.client.pages("/rest/api/content/search", paginator):
            late += [
                str(h["id"])
                for h in hits
                if h.get("id")
                and span.admits(self.time_of(h))
                and lookback.is_new(self._number(h["id"]), self.time_of(h))
            ]
        if late:
            LOGGER.info(
                "%s: %d records indexed after the bookmark passed them (look-back)", self.name, len(late)
            )
        for record in self.client.map(self._late_one, late):
            if record is not None and record.get("status", "current") == "current":
                yield record

    def _late_one(self, ident: str) -> dict | None:
        """One late record by id (gone meanwhile: None)."""
        try:
            return self.fetch_one(ident)
        except AccessError:
            return None

    def time_of(self, record: t.Mapping[str, t.Any]) -> dt.datetime | None:
        """The record's replication time (the current version's)."""
        return page_time(record)

    def finish(self, batch: list[dict]) -> list[dict]:
        """``last_modified`` and the ``labels`` (names and ids) of a batch of pages or blog posts:
        Cloud v2 ``/{collection}/{id}/labels`` per record (``ApiClient.map``), Server/DC the
        ``metadata.labels`` expansion (paged on when a record has more labels than it holds).
        """
        reader = self._v2_labels if self.is_cloud else self._v1_labels
        kept = []
        for record, labels in zip(batch, self.client.map(reader, batch), strict=True):
            record.pop("metadata", None)  # Server: held the labels, which the record now carries
            when = page_time(record) or self._time_by_id(record)
            if when is None:  # no replication key: it would pass every window and break the schema
                LOGGER.warning(
                    "%s: %s has no version time (neither version nor history.lastUpdated, "
                    "also when read by id); skipped",
                    self.name,
                    record.get("id"),
                )
                continue
            record["last_modified"] = format_utc(when)
            record["labels"] = labels
            kept.append(record)
        return kept

    def _time_by_id(self, record: dict) -> dt.datetime | None:
        """One extra read for a record answered without its version's time (a v1 item with
        neither ``version`` nor ``history.lastUpdated``): ``GET /rest/api/content/{id}?expand=
        version,history.lastUpdated`` (https://developer.atlassian.com/server/confluence/rest/v1000/api-group-content-resource/);
        the version read is kept on the record.
        """
        try:
            body, _ = self.client.get(
                f"/rest/api/content/{record.get('id')}", {"expand": "version,history.lastUpdated"}
            )
        except AccessError:
            return None
        when = page_time(body) if isinstance(body, dict) else None
        if when is not None:  # the record's own time from now on (time_of, the look-back pairs)
            record["version"] = {**(body.get("version") or {}), "when": format_utc(when)}
        return when

    def _v2_labels(self, record: dict) -> list[dict]:
        """A Cloud record's labels, from v2 (none, and a warning, when it is gone since listed).

        https://developer.atlassian.com/cloud/confluence/rest/v2/api-group-label/#api-pages-id-labels-get
        """
        try:
            return list(
                self.paginate(
                    f"/api/v2/{self.collection}/{record['id']}/labels", CursorLinkPaginator, {}, 250
                )
            )
        except AccessError as exc:  # gone since it was listed: no labels to read
            LOGGER.warning("%s: labels of %s not read: %s", self.name, record.get("id"), exc)
            return []

    def _v1_labels(self, record: dict) -> list[dict]:
        """``metadata.labels`` of v1 content, then ``/rest/api/content/{id}/label`` for the rest."""
        held = ((record.get("metadata") or {}).get("labels")) or {}
        labels = list(held.get("results") or [])
        if held.get("size", 0) >= held.get("limit", 0) > 0:
            params = {"start": len(labels)}
            labels += list(
                self.paginate(f"/rest/api/content/{record['id']}/label", StartLimitLinkPaginator, params, 200)
            )
        return labels

    def fetch_one(self, ident: str) -> dict | None:
        """One page or blog post by id (the delete sweep's check); raises ``AccessError`` on 404."""
        if self.is_cloud:
            body, _ = self.client.get(f"/api/v2/{self.collection}/{ident}", {"body-format": "storage"})
        else:
            body, _ = self.client.get(f"/rest/api/content/{ident}", {"expand": self.v1_expand})
        return body if isinstance(body, dict) else None

    def _cql(self, window: Window, lower: dt.datetime | None) -> str:
        parts = [f"type = {self.content_type}"]
        if lower is not None:
            parts.append(f'lastmodified >= "{window.lower_literal(lower)}"')
        parts.append(f'lastmodified <= "{window.upper_literal()}"')
        if self.settings.space_keys:
            parts.append(f"space in ({quote_list(self.settings.space_keys)})")
        return " and ".join(parts) + " order by lastmodified asc"

    def _cloud_full(self) -> t.Iterator[dict]:
        params: dict[str, t.Any] = {"body-format": "storage", "sort": "id"}
        if not self.settings.space_keys:
            yield from self.paginate(f"/api/v2/{self.collection}", CursorLinkPaginator, params)
            return
        ids = [s["id"] for s in self.spaces()]
        for i in range(0, len(ids), 100):  # space-id takes at most 100 ids
            yield from self.paginate(
                f"/api/v2/{self.collection}", CursorLinkPaginator, {**params, "space-id": ids[i : i + 100]}
            )

    def _server_full(self) -> t.Iterator[dict]:
        params = {"type": self.content_type, "expand": self.v1_expand}
        keys = self.settings.space_keys
        for key in keys or [None]:
            try:
                yield from self.paginate(
                    "/rest/api/content",
                    StartLimitLinkPaginator,
                    {**params, "spaceKey": key},
                    V1_BODY_CONTENT_CAP,
                )
            except AccessError as exc:  # noqa: PERF203  (one listing per space: a refused space is skipped, the rest read)
                if key is None:
                    raise
                LOGGER.warning("%s: space %s skipped: %s", self.name, key, exc)

    def _emit(self, pages: list[dict], window: Window) -> t.Iterator[dict]:
        timed = [(self.time_of(p), p) for p in pages]
        timed = [(when, p) for when, p in timed if window.admits(when)]
        timed.sort(key=lambda pair: pair[0] or dt.datetime.min.replace(tzinfo=dt.timezone.utc))
        for _, page in timed:
            yield page

    def _cloud_changed(self, window: Window) -> t.Iterator[dict]:
        """CQL pages of changed ids; each page's v2 batch (``/pages?id=``, up to 250 ids) is read
        concurrently with the next search pages (``ApiClient.map``), emitted in search order.
        """
        paginator = CursorLinkPaginator(
            {"cql": self._cql(window, window.query_lower)}, self.settings.page_size, 250
        )
        batches = (
            [str(h["id"]) for h in hits if h.get("id")]
            for hits in self.client.pages("/rest/api/content/search", paginator)
        )
        for pages in self.client.map(self._v2_batch, (ids for ids in batches if ids)):
            yield from self._emit(pages, window)

    def _v2_batch(self, ids: list[str]) -> list[dict]:
        """The v2 objects of up to 250 ids in one request."""
        body, _ = self.client.get(
            f"/api/v2/{self.collection}", {"id": ids, "body-format": "storage", "limit": len(ids)}
        )
        return body.get("results") or []

    def _server_changed(self, window: Window) -> t.Iterator[dict]:
        limit = min(self.settings.page_size, V1_BODY_SEARCH_CAP)

        def fetch(lower: dt.datetime | None, start: int) -> tuple[list[dict], bool]:
            params = {
                "cql": self._cql(window, lower),
                "expand": self.v1_expand,
                "start": start,
                "limit": limit,
            }
            body, _ = self.client.get("/rest/api/content/search", params)
            results = body.get("results") or []
            return results, not (body.get("_links") or {}).get("next")

        for hits in keyset_pages(fetch, self.time_of, window.query_lower, keyset=window.tz is not None):
            yield from self._emit(hits, window)


class ConfluencePagesStream(ConfluenceContentStream):
    """Pages: v2 ``/pages``, v1 ``type=page`` (with their ancestors)."""

    name = "confluence_pages"
    content_type = "page"
    collection = "pages"
    v1_expand = "body.storage,version,space,history,ancestors,metadata.labels"


class ConfluenceBlogPostsStream(ConfluenceContentStream):
    """Blog posts: v2 ``/blogposts`` (``BlogPostBulk``), v1 ``type=blogpost`` (no ancestors)."""

    name = "confluence_blogposts"
    content_type = "blogpost"
    collection = "blogposts"
    v1_expand = "body.storage,version,space,history,metadata.labels"


STREAMS = (ConfluenceSpacesStream, ConfluencePagesStream, ConfluenceBlogPostsStream)
