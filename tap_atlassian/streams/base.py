"""``AtlassianStream``: the base of every stream.

Its product's shared :class:`~tap_atlassian.client.ApiClient`, declarative paging, a STATE
after every page's worth of records, tombstones for deleted records, and the skips a run
makes instead of failing: a stream the login cannot read (an OAuth scope it lacks) and a
product the site does not have (``requires``: Jira Service Management, Jira Software) are
each one WARNING, and the run goes on with the rest.

The SDK steps it shapes (the record path, bookmarks, skipping) are reached through
:mod:`tap_atlassian.sdk_internals`, the one module that touches the SDK's internals: this
class fills its hooks (:meth:`prepare_record`, :meth:`moves_bookmark`, :meth:`sync_or_skip`).
"""

from __future__ import annotations

import datetime as dt
import logging
import typing as t

from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_atlassian import custom_fields, records
from tap_atlassian.client import PRODUCT_PROBES
from tap_atlassian.errors import AccessError
from tap_atlassian.progress import Progress
from tap_atlassian.schemas import schema
from tap_atlassian.sdk_internals import StreamInternals
from tap_atlassian.windows import format_utc

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_atlassian.client import ApiClient
    from tap_atlassian.config import Settings
    from tap_atlassian.pagination import Paginator
    from tap_atlassian.sites import Site

LOGGER = logging.getLogger("tap-atlassian")
DELETED_AT = "_sdc_deleted_at"


class AtlassianStream(StreamInternals):
    """Base of every stream: its product's client, declarative paging, no per-record conformance.

    Subclasses set ``product`` (``confluence`` / ``jira``) and usually only ``get_records``
    or ``path`` + ``paginator``; ``requires`` names a feature the site may lack
    (``servicedesk``, ``agile``: see ``tap_atlassian.client.PRODUCT_PROBES``).
    """

    name: str = ""  # each stream class names itself (the SDK keeps it per instance too)
    product: t.ClassVar[str] = "jira"
    requires: t.ClassVar[str | None] = None
    cloud_only: t.ClassVar[bool] = False  # True: Server/DC has no such resource; not discovered there
    oauth_scopes: t.ClassVar[tuple[tuple[str, ...], ...]] = ()  # OAuth 2.0 (see auth/oauth2.py)
    path: t.ClassVar[str] = ""
    paginator: t.ClassVar[type[Paginator] | None] = None
    # Records keep Atlassian's shape and the schemas are written to match it; the SDK's
    # per-record type walk is the costliest step of a sync, and not needed.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """A STATE message after every page's worth of records, so a killed run resumes close by."""
        super().__init__(*args, **kwargs)
        self.STATE_MSG_FREQUENCY = self.settings.page_size
        self.progress = Progress(self.name, self.settings.progress_seconds)
        self._planned = False
        self._date_plan: records.Plan = ()
        self._declared: frozenset[str] = frozenset()
        self._renames: dict[str, str] = {}

    @classmethod
    def discover_schema(cls, tap: t.Any) -> dict[str, t.Any]:  # noqa: ANN401
        """The schema of the deployment the tap talks to (``tap_atlassian/schemas/<name>.json``)."""
        return schema(cls.name, tap.sites.deployment)

    def prepare_record(self, record: dict) -> None:
        """Every property is kept (the schemas are open: ``additionalProperties``); the values at
        the schema's ``date-time`` paths are made RFC 3339 UTC, and custom fields get their
        ``custom_field_names`` column.
        """
        self.progress.record()
        if not self._planned:
            self._planned = True
            self._date_plan = records.plan(self.schema)
            self._declared = frozenset(self.schema.get("properties", {}))
            self._renames = custom_fields.renames(self.schema)
            if self._renames:
                self._warn_renamed_fields()
        if self._renames and type(record.get("fields")) is dict:
            custom_fields.rename(record["fields"], self._renames)
        records.apply(record, self._date_plan)
        self._note_undeclared(record)

    def _warn_renamed_fields(self) -> None:
        """``custom_field_names``: a field renamed on the site since discovery keeps its column
        (the catalog's) and is named in one WARNING (``/rest/api/{3,2}/field``).
        """
        try:
            body, _ = self.client.get(f"/rest/api/{'3' if self.is_cloud else '2'}/field")
        except AccessError as exc:
            LOGGER.warning("%s: custom field names not checked: %s", self.name, exc)
            return
        custom_fields.warn_renamed(self.schema, body if isinstance(body, list) else [])

    def _note_undeclared(self, record: dict) -> None:
        """One INFO per top-level property the schema does not declare: it is emitted, but a
        loader that makes columns from the schema keeps it only once declared.
        """
        extra = records.undeclared(record, self._declared)
        if extra:
            self._declared |= frozenset(extra)
            LOGGER.info(
                "%s: records carry %s, which the schema does not declare (kept in the "
                "record; declared loosely by additionalProperties)",
                self.name,
                ", ".join(extra),
            )

    def moves_bookmark(self, record: dict, context: Context | None) -> bool:
        """Bookmarks follow live records only: a tombstone's (older, or unknown) time never moves
        one, nor does a record older than the bookmark (a late one, re-read by the look-back).
        """
        if record.get(DELETED_AT) is not None:
            return False
        self.record_seen(record)
        current = self.get_context_state(context).get("replication_key_value")
        value = record.get(self.replication_key or "")
        return not (isinstance(current, str) and isinstance(value, str) and value < current)

    def record_seen(self, record: dict) -> None:
        """A live record handed to the loader (in emission order, on the sync's thread, so in
        step with the STATE messages): streams that keep what they emitted note it here.
        """

    def state_changed(self) -> None:
        """The stream changed its state itself (delete sweep, look-back pairs): the SDK's final
        STATE message must be written even when the last record's was.
        """
        self.state_manager.is_flushed = False

    def _sync_with_progress(self, context: Context | None) -> None:
        """The SDK's sync, with progress lines and, for a top-level stream, one summary line for
        it and each of its child streams at the end (:mod:`tap_atlassian.progress`).
        """
        if not self.progress.running:
            self.progress.start(self.client.stats)
        previous = self.client.cache.get("progress")
        self.client.cache["progress"] = self.progress
        self.sdk_sync(context)
        self.client.cache["progress"] = previous
        if self.parent_stream_type is None:
            for child in self.child_streams:
                child.progress.finish()  # type: ignore[attr-defined]
            self.progress.finish()

    def tombstone(self, keys: t.Mapping[str, t.Any], replication_value: t.Any = None) -> dict:  # noqa: ANN401
        """A deleted record: its key properties, the replication key (the last known value,
        else null) and ``_sdc_deleted_at`` (now, UTC), the Singer soft-delete convention.
        """
        record = dict(keys)
        if self.replication_key:
            record[self.replication_key] = replication_value
        record[DELETED_AT] = format_utc(dt.datetime.now(dt.timezone.utc))
        return record

    @property
    def settings(self) -> Settings:
        """The run's typed settings."""
        return self._tap.settings  # type: ignore[attr-defined]

    @property
    def client(self) -> ApiClient:
        """The product's shared client."""
        return self._tap.client(self.product)  # type: ignore[attr-defined]

    @property
    def site(self) -> Site:
        """The product's site (base URL, deployment)."""
        return self.client.site

    @property
    def is_cloud(self) -> bool:
        """Atlassian Cloud (else Server / Data Center)."""
        return self.site.is_cloud

    def paginate(
        self,
        path: str,
        paginator_cls: type[Paginator],
        params: t.Mapping[str, t.Any] | None = None,
        max_limit: int | None = None,
    ) -> t.Iterator[dict]:
        """Every record of a paged endpoint, page by page (``max_limit``: the endpoint's cap)."""
        paginator = paginator_cls(dict(params or {}), self.settings.page_size, max_limit)
        for page in self.client.pages(path, paginator):
            yield from page

    def get_url_params(self, context: Context | None) -> dict[str, t.Any]:  # noqa: ARG002
        """Query parameters of the declarative path (override per stream)."""
        return {}

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """Declarative default: ``path`` paged with ``paginator``."""
        assert self.paginator is not None  # noqa: S101
        yield from self.paginate(
            self.path.format(**(context or {})), self.paginator, self.get_url_params(context)
        )

    def skip_reason(self) -> str | None:
        """Why this run skips the stream: a scope the login lacks, a product the site lacks."""
        reason = self.client.auth.scheme.skip_reason(self.name)
        if reason:
            return reason
        missing = self.missing_product()
        if missing:
            return f"this site has no {missing}"
        return None

    def missing_product(self) -> str | None:
        """The product this stream ``requires`` and the site lacks (probed once per run), else None."""
        return self.client.lacks(self.requires) if self.requires else None

    def sync_or_skip(self, context: Context | None) -> None:
        """Skip, with a warning, a stream this run cannot read (see :meth:`skip_reason`).

        A missing product is one WARNING for all its streams (named, with the probe's answer),
        however many are selected; a missing scope is one WARNING per stream.
        """
        reason = self.skip_reason()
        if not reason:
            self._sync_with_progress(context)
            return
        missing = None if self.client.auth.scheme.skip_reason(self.name) else self.missing_product()
        if not missing:
            LOGGER.warning("%s skipped: %s", self.name, reason)
            return
        warned = self.client.cache.setdefault("skip_warned", set())
        if missing not in warned:
            warned.add(missing)
            probe = PRODUCT_PROBES[t.cast("str", self.requires)][0]
            streams = sorted(
                s.name
                for s in self._tap.streams.values()
                if getattr(s, "requires", None) == self.requires and s.selected
            )
            LOGGER.warning(
                "%s streams skipped (%s): this site has no %s (GET %s answered 404); "
                "the run goes on with the other streams",
                missing,
                ", ".join(streams),
                missing,
                self.client.url(probe),
            )
