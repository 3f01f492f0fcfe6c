"""``confluence_page_versions``: every version of each changed page (no bodies).

Which pages: the pages changed since the bookmark, found with the pages' CQL window
(``type = page`` and ``lastmodified``, ``order by lastmodified asc``, expanded with ``version``:
Cloud ``/wiki/rest/api/content/search``, Server/DC ``/rest/api/content/search`` paged by keyset);
the first run reads every page. Which versions: only the ones not read before. The stream's
state keeps, for the pages read near the bookmark (within ``lookback_minutes`` before it), the
highest version number read (``versions_read``); for any other page the versions older than
the bookmark were read by the run whose window held their time, so versions from the bookmark
on are new. Versions never change once written.

Per page, newest first until an already-read version, through ``ApiClient.map``:
- Cloud: v2 ``GET /wiki/api/v2/pages/{id}/versions?sort=-modified-date`` (cursor paging,
  https://developer.atlassian.com/cloud/confluence/rest/v2/api-group-version/#api-pages-id-versions-get).
- Server/DC 7.x-9.x: ``GET /rest/experimental/content/{id}/version`` (start/limit, newest
  first), the endpoint Atlassian's Data Center knowledge base gives for "all previous versions
  of content" (https://confluence.atlassian.com/confkb/how-to-retrieve-all-previous-versions-of-content-using-the-rest-api-1044789048.html):
  ``/rest/api/content/{id}/history`` only holds the previous and next version. A build that
  answers 404 there for a page that exists is asked ``/rest/api/content/{id}/version`` (the
  same resource outside the experimental namespace); the first page of the run decides, once.

Records: the API's version (Cloud ``PageVersion``, Server v1 ``Version``) + ``pageId`` +
``pageLastModified`` (the page's current version time, UTC: the replication key).
"""

from __future__ import annotations

import datetime as dt
import typing as t
from http import HTTPStatus

from tap_atlassian.errors import AccessError
from tap_atlassian.pagination import CursorLinkPaginator, StartLimitLinkPaginator
from tap_atlassian.streams.confluence import ConfluenceContentStream, chunks, confluence_zone, page_time
from tap_atlassian.windows import Window, format_utc, parse_time

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

DC_PREFIXES = ("/rest/experimental", "/rest/api")  # where a Data Center build serves page histories
READ_KEY = "versions_read"  # page id -> [highest version number read, page time (epoch s)]
SEARCH_CAP = 200  # DC KB: CQL search with expansions other than the body


class Job(t.NamedTuple):
    """One page to read: its id, current time, and the floor below which versions were read."""

    page_id: str
    when: dt.datetime
    after_number: int | None
    from_time: dt.datetime | None


class ConfluencePageVersionsStream(ConfluenceContentStream):
    """Versions of changed pages (see the module docstring); shares the pages' CQL window."""

    name = "confluence_page_versions"
    content_type = "page"
    collection = "pages"
    v1_expand = "version"
    primary_keys = ("pageId", "number")
    replication_key = "pageLastModified"

    @property
    def is_sorted(self) -> bool:
        """Pages come in time order, full or incremental (resumable)."""
        return True

    @property
    def check_sorted(self) -> bool:
        """CQL's time and the version's may differ by a little: never raise on it."""
        return False

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """The new versions of each changed page, page after page in time order."""
        start = self.get_starting_timestamp(context) if self._incremental() else None
        window = Window.build(start, self.settings.search_lag_minutes, confluence_zone(self.client))
        state = self.get_context_state(None)
        read: dict[str, list[int]] = dict(state.get(READ_KEY) or {})
        pages = self._cloud_pages(window) if self.is_cloud else self._server_changed(window)
        self._prefix: str | None = None
        for batch in chunks(pages, self.settings.page_size):
            jobs = [self._job(page, read, window) for page in batch]
            if not self.is_cloud and self._prefix is None:
                self._prefix = self._dc_prefix(jobs)
            for job, versions in zip(jobs, self.client.map(self._versions, jobs), strict=True):
                if versions is None:
                    continue
                for version in versions:
                    version["pageId"] = job.page_id
                    version["pageLastModified"] = format_utc(job.when)
                    yield version
                top = max([v.get("number") or 0 for v in versions] + [job.after_number or 0])
                if top:
                    read[job.page_id] = [top, int(job.when.timestamp())]
            state[READ_KEY] = self._pruned(read, state)
            self.state_changed()

    def _pruned(self, read: dict[str, list[int]], state: dict) -> dict[str, list[int]]:
        """Only pages whose time is within ``lookback_minutes`` (at least one minute) of the bookmark."""
        bookmark = parse_time(state.get("replication_key_value"))
        if bookmark is None:
            return read
        span = dt.timedelta(minutes=max(1, int(self.settings.lookback_minutes or 0)))
        floor = (bookmark - span).timestamp()
        return {k: v for k, v in read.items() if v[1] >= floor}

    def _job(self, page: dict, read: dict[str, list[int]], window: Window) -> Job:
        when = page_time(page) or window.upper
        known = read.get(str(page["id"]))
        if known:
            return Job(str(page["id"]), when, known[0], None)
        return Job(str(page["id"]), when, None, window.bookmark)

    def _cloud_pages(self, window: Window) -> t.Iterator[dict]:
        """Changed pages from the v1 CQL search (ids and versions only)."""
        params = {"cql": self._cql(window, window.query_lower), "expand": "version"}
        paginator = CursorLinkPaginator(params, self.settings.page_size, 250)
        for hits in self.client.pages("/rest/api/content/search", paginator):
            yield from self._emit(hits, window)

    def _dc_prefix(self, jobs: list[Job]) -> str | None:
        """Which of :data:`DC_PREFIXES` this Data Center serves page histories under: asked
        with the batch's pages (a page deleted meanwhile is a 404 on both: the next one decides).
        """
        for job in jobs:
            for prefix in DC_PREFIXES:
                try:
                    self.client.get(f"{prefix}/content/{job.page_id}/version", {"limit": 1})
                except AccessError as exc:
                    if exc.status != HTTPStatus.NOT_FOUND:
                        raise
                    continue
                if prefix != DC_PREFIXES[0]:
                    self.logger.info("%s: this Confluence serves page histories under %s", self.name, prefix)
                return prefix
        return None

    def _versions(self, job: Job) -> list[dict] | None:
        """A page's versions above its floor, oldest first (None: the page is gone: a warning)."""
        if self.is_cloud:
            path = f"/api/v2/pages/{job.page_id}/versions"
            paginator = CursorLinkPaginator({"sort": "-modified-date"}, self.settings.page_size, 250)
        else:
            path = f"{self._prefix or DC_PREFIXES[0]}/content/{job.page_id}/version"
            paginator = StartLimitLinkPaginator({}, self.settings.page_size, SEARCH_CAP)
        out: list[dict] = []
        try:
            for versions in self.client.pages(path, paginator):
                for version in versions:
                    if self._read_before(version, job):
                        return out[::-1]
                    out.append(version)
        except AccessError as exc:
            self.logger.warning("%s: page %s skipped: %s", self.name, job.page_id, exc)
            return None
        return out[::-1]

    @staticmethod
    def _read_before(version: t.Mapping[str, t.Any], job: Job) -> bool:
        if job.after_number is not None:
            return int(version.get("number") or 0) <= job.after_number
        if job.from_time is not None:
            when = parse_time(version.get("createdAt") or version.get("when"))
            return when is not None and when < job.from_time
        return False


STREAMS = (ConfluencePageVersionsStream,)
