"""Jira Service Management streams (``/rest/servicedeskapi``, Cloud and Data Center).

https://developer.atlassian.com/cloud/jira/service-desk/rest/intro/ : paged with
``start``/``limit``/``isLastPage``; the client sends ``X-ExperimentalApi: opt-in`` (needed
by ``/requesttype``). No JSM endpoint filters by modification time, so ``jsm_requests``
searches the service desks' projects with JQL (``updated`` window) and then reads
``/request/{issueKey}`` for each changed issue, concurrently (``ApiClient.map``).
"""

from __future__ import annotations

import logging
import typing as t

from tap_atlassian.errors import AccessError
from tap_atlassian.pagination import IsLastPagePaginator
from tap_atlassian.schemas import schema
from tap_atlassian.streams.jira import JiraIssuesStream, JiraStream, JqlSearch, quote_list, user_zone
from tap_atlassian.windows import format_utc

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

LOGGER = logging.getLogger("tap-atlassian")
JSM = "/rest/servicedeskapi"


def service_desks(stream: JiraStream) -> list[dict]:
    """The service desks (filtered by ``project_keys``), read once per run."""
    cache = stream.client.cache
    if "desks" not in cache:
        keys = {k.upper() for k in stream.settings.project_keys}
        desks = stream.paginate(f"{JSM}/servicedesk", IsLastPagePaginator)
        cache["desks"] = [d for d in desks if not keys or str(d.get("projectKey", "")).upper() in keys]
    return cache["desks"]


def desk_clauses(stream: JiraStream) -> list[str]:
    """The JQL that keeps the service desks' projects (none: the site has no service desk)."""
    keys = sorted({str(d["projectKey"]) for d in desks_and_zone(stream) if d.get("projectKey")})
    return [f"project in ({quote_list(keys)})"] if keys else []


def desks_and_zone(stream: JiraStream) -> list[dict]:
    """The service desks, with the searching user's time zone asked at the same time (both
    are read once per run: the first JSM stream waits one round trip for them, not two).
    """
    if "desks" not in stream.client.cache:
        asks: list[t.Callable[[], t.Any]] = [lambda: service_desks(stream), lambda: user_zone(stream.client)]
        for _ in stream.client.map(lambda ask: ask(), asks):
            pass
    return service_desks(stream)


class ServiceDesksStream(JiraStream):
    """``GET /rest/servicedeskapi/servicedesk``."""

    name = "jsm_service_desks"
    oauth_scopes = (("read:servicedesk-request",),)
    primary_keys = ("id",)
    requires = "servicedesk"

    def get_records(self, context: Context | None) -> t.Iterable[dict]:  # noqa: ARG002
        """Every service desk of the selected projects."""
        yield from service_desks(self)

    def get_child_context(self, record: dict, context: Context | None) -> dict:  # noqa: ARG002
        """Request types are read per service desk."""
        return {"service_desk_id": str(record["id"]), "project_key": record.get("projectKey")}


class RequestTypesStream(JiraStream):
    """``GET /rest/servicedeskapi/servicedesk/{id}/requesttype`` (experimental API)."""

    name = "jsm_request_types"
    oauth_scopes = (("read:servicedesk-request",),)
    primary_keys = ("id",)
    requires = "servicedesk"
    parent_stream_type = ServiceDesksStream
    state_partitioning_keys: t.ClassVar[list[str]] = []

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """One desk's request types; a desk we may not read is a warning, not the end."""
        desk = (context or {})["service_desk_id"]
        try:
            for record in self.paginate(f"{JSM}/servicedesk/{desk}/requesttype", IsLastPagePaginator):
                record.setdefault("serviceDeskId", desk)
                yield record
        except AccessError as exc:
            LOGGER.warning(
                "jsm_request_types: service desk %s (%s) skipped: %s",
                desk,
                (context or {}).get("project_key"),
                exc,
            )


class RequestsStream(JiraIssuesStream):
    """Requests of issues updated in the window: JQL, then ``/request/{issueKey}``."""

    name = "jsm_requests"
    oauth_scopes = (("read:servicedesk-request",), ("read:jira-work",))
    primary_keys = ("issueId",)
    requires = "servicedesk"
    replication_key = "updated"
    is_sorted = True
    # What fills the documented properties in the same call (``expand``, multi-valued):
    # https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-request/#api-rest-servicedeskapi-request-issueidorkey-get
    request_expand: t.ClassVar[str] = "sla,status,participant,requestType,serviceDesk,action"

    @classmethod
    def discover_schema(cls, tap: t.Any) -> dict[str, t.Any]:  # noqa: ANN401
        """The deployment's schema (``requestFieldValues`` as the API gives them)."""
        return schema(cls.name, tap.sites.deployment)

    late_fields = None  # a late issue's request is read like any changed issue's
    sweep_key = "issueId"

    def sweep_projects(self) -> list[str] | None:
        """The service desks' projects: the sweep never reports an issue moved out of them."""
        return [str(d["projectKey"]) for d in service_desks(self) if d.get("projectKey")]

    def gone_when_moved_to(self, project_key: str) -> bool:
        """A request moved to a project without a service desk is no request any more (moved
        to another desk outside ``project_keys``: that shard emits it). The site's desks are
        listed once, when it happens.
        """
        cache = self.client.cache
        if "all_desk_keys" not in cache:
            desks = self.paginate(f"{JSM}/servicedesk", IsLastPagePaginator)
            cache["all_desk_keys"] = {str(d.get("projectKey", "")).upper() for d in desks}
        return project_key.upper() not in cache["all_desk_keys"]

    def jql_clauses(self) -> list[str]:
        """The service desks' projects."""
        return desk_clauses(self)

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """Each changed issue's request, with the issue's ``updated`` at top level."""
        clauses = self.jql_clauses()
        if not clauses:
            LOGGER.info("jsm_requests: no service desks; nothing to read")
            return
        window = self.window(context)
        search = JqlSearch(self.client, clauses, window, "updated", self.settings.page_size)
        for (issue, updated), request in self.client.map(
            self._read_request, self.track(context, window, search)
        ):
            if isinstance(request, AccessError):
                LOGGER.warning(
                    "jsm_requests: request %s skipped: %s", issue.get("key") or issue["id"], request
                )
                continue
            request["updated"] = format_utc(updated)
            yield request
        yield from self.track_done()

    def _read_request(self, found: tuple[dict, t.Any]) -> tuple[tuple[dict, t.Any], dict | AccessError]:
        """One changed issue's ``/request/{issueKey}`` (read on a worker thread, in order)."""
        issue = found[0]
        try:
            request, _ = self.client.get(
                f"{JSM}/request/{issue.get('key') or issue['id']}", {"expand": self.request_expand}
            )
        except AccessError as exc:
            return found, exc
        return found, request


STREAMS = (ServiceDesksStream, RequestTypesStream, RequestsStream)
