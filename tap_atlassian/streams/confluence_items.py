"""Confluence comments and attachments: content that hangs off a page or blog post.

Both are incremental on ``last_modified`` (their own current version's time, UTC) with the
windows, time zones and delete sweep of pages (:class:`ConfluenceContentStream`); they differ
from pages only in where they are read:

- Cloud full sync: the v2 site-wide listings, ``GET /wiki/api/v2/footer-comments`` and
  ``/inline-comments`` (replies included, https://developer.atlassian.com/cloud/confluence/rest/v2/api-group-comment/),
  ``/attachments`` (https://developer.atlassian.com/cloud/confluence/rest/v2/api-group-attachment/).
- Cloud incremental runs (and full syncs limited by ``space_keys``: v2 listings have no space
  filter): v1 CQL ``type = comment`` / ``type = attachment`` with the ``lastmodified`` window for
  the ids (comments: with ``extensions.location``), then one v2 read per id through
  ``ApiClient.map`` (``/footer-comments/{id}``, ``/inline-comments/{id}``, ``/attachments/{id}``),
  so every Cloud record has the v2 shape.
- Server/DC: v1 CQL ``/rest/api/content/search`` (full and incremental), expanded with the
  version and the container; comments say ``extensions.location`` (``footer`` | ``inline``).

Every record carries ``containerId`` and ``containerType`` (``page`` | ``blogpost``) and the
container's id as ``pageId`` or ``blogPostId``; comments carry ``location``.
"""

from __future__ import annotations

import typing as t
from http import HTTPStatus

from tap_atlassian.errors import AccessError
from tap_atlassian.pagination import CursorLinkPaginator
from tap_atlassian.streams.confluence import CQL, ConfluenceContentStream, page_time
from tap_atlassian.windows import Window, format_utc

if t.TYPE_CHECKING:
    import datetime as dt

CONTAINER_KEYS = (
    ("pageId", "page"),
    ("blogPostId", "blogpost"),
    ("attachmentId", "attachment"),
    ("customContentId", "custom"),
)


class ConfluenceItemStream(ConfluenceContentStream):
    """Comments or attachments (see the module docstring); subclasses name ``content_type``,
    ``collections`` (v2 site-wide listings) and ``v1_expand``.
    """

    collections: t.ClassVar[tuple[str, ...]]
    collection = ""  # no v2 batch-by-id listing: read per id
    body_format: t.ClassVar[str | None] = None

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Containers of the comments read this run, for replies that name only their parent."""
        super().__init__(*args, **kwargs)
        self._containers: dict[str, tuple[str, str]] = {}

    def _full_window(self) -> Window:
        return Window.build(None, self.settings.search_lag_minutes, None)

    def _cloud_full(self) -> t.Iterator[dict]:
        if self.settings.space_keys:
            yield from self._cloud_changed(self._full_window())
            return
        params = {"body-format": self.body_format}
        for collection in self.collections:
            for record in self.paginate(f"/api/v2/{collection}", CursorLinkPaginator, params, 250):
                record["location"] = collection.split("-")[0] if collection.endswith("comments") else None
                yield record

    def _server_full(self) -> t.Iterator[dict]:
        yield from self._server_changed(self._full_window())

    def _server_changed(self, window: Window) -> t.Iterator[dict]:
        for record in super()._server_changed(window):
            location = (record.get("extensions") or {}).get("location")
            record["location"] = location if self.content_type == "comment" else None
            yield record

    def _cloud_changed(self, window: Window) -> t.Iterator[dict]:
        """CQL for the changed ids (and locations), then each item's v2 object."""
        params = {"cql": self._cql(window, window.query_lower), "expand": "extensions.location"}
        paginator = CursorLinkPaginator(params, self.settings.page_size, 250)
        for hits in self.client.pages("/rest/api/content/search", paginator):
            wanted = [h for h in hits if h.get("id")]
            found = [r for r in self.client.map(self._v2_item, wanted) if r is not None]
            yield from self._emit(found, window)

    def _v2_path(self, ident: str, location: str | None) -> str:
        if self.content_type == "attachment":
            return f"/api/v2/attachments/{ident}"
        return f"/api/v2/{location or 'footer'}-comments/{ident}"

    def _v2_item(self, hit: dict) -> dict | None:
        """One item's v2 object (None when it is gone since the search: a warning)."""
        location = (hit.get("extensions") or {}).get("location") if self.content_type == "comment" else None
        try:
            return self.fetch_one(str(hit["id"]), location)
        except AccessError as exc:
            self.logger.warning("%s %s skipped: %s", self.content_type, hit.get("id"), exc)
            return None

    def fetch_one(self, ident: str, location: str | None = None) -> dict | None:
        """One comment or attachment by id (Cloud v2, Server v1); raises ``AccessError`` on 404.

        A Cloud comment whose location is not known is looked up as a footer comment, then
        as an inline one.
        """
        if not self.is_cloud:
            body, _ = self.client.get(f"/rest/api/content/{ident}", {"expand": self.v1_expand})
            if isinstance(body, dict) and self.content_type == "comment":
                body["location"] = (body.get("extensions") or {}).get("location")
            return body if isinstance(body, dict) else None
        params = {"body-format": self.body_format} if self.body_format else {}
        tries = [location] if location or self.content_type != "comment" else ["footer", "inline"]
        for i, where in enumerate(tries):
            try:
                body, _ = self.client.get(self._v2_path(ident, where), params)
            except AccessError as exc:
                if exc.status == HTTPStatus.NOT_FOUND and i + 1 < len(tries):
                    continue
                raise
            if isinstance(body, dict) and self.content_type == "comment":
                body["location"] = where
            return body if isinstance(body, dict) else None
        return None

    def finish(self, batch: list[dict]) -> list[dict]:
        """``last_modified``, the container's id and type (and ``location``, comments)."""
        for record in batch:
            record["last_modified"] = format_utc(page_time(record))
            container = record.get("container") if isinstance(record.get("container"), dict) else None
            if container is not None:  # v1: the expanded container
                kind = str(container.get("type") or "page")
                record["containerId"], record["containerType"] = str(container.get("id")), kind
                record.setdefault("pageId" if kind == "page" else "blogPostId", str(container.get("id")))
            else:  # v2: pageId / blogPostId
                for key, kind in CONTAINER_KEYS:
                    if record.get(key):
                        record["containerId"], record["containerType"] = str(record[key]), kind
                        break
                else:  # a reply that names only its parent: the parent's container (read before it)
                    parent = self._containers.get(str(record.get("parentCommentId")))
                    if parent:
                        record["containerId"], record["containerType"] = parent
            if record.get("containerId"):
                self._containers[str(record.get("id"))] = (record["containerId"], record["containerType"])
            if self.content_type == "comment":
                record.setdefault("location", None)
            else:
                record.pop("location", None)
        return batch

    def time_of(self, record: t.Mapping[str, t.Any]) -> dt.datetime | None:
        """The item's current version time."""
        return page_time(record)


class ConfluenceCommentsStream(ConfluenceItemStream):
    """Footer and inline comments (replies included) of pages and blog posts, with their body."""

    name = "confluence_comments"
    oauth_scopes = (*CQL, ("read:confluence-content.all", "read:comment:confluence"))
    content_type = "comment"
    collections = ("footer-comments", "inline-comments")
    body_format = "storage"
    v1_expand = "body.storage,version,container,ancestors,extensions.inlineProperties,extensions.resolution"


class ConfluenceAttachmentsStream(ConfluenceItemStream):
    """Attachment metadata (title, media type, size, container): never the file."""

    name = "confluence_attachments"
    oauth_scopes = (*CQL, ("read:confluence-content.all", "read:attachment:confluence"))
    content_type = "attachment"
    collections = ("attachments",)
    id_prefix = "att"
    v1_expand = "version,container,metadata"


STREAMS = (ConfluenceCommentsStream, ConfluenceAttachmentsStream)
