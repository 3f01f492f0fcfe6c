"""Jira Service Management dimensions: organizations, each service desk's customers and queues.

Full-table streams (no endpoint filters by time), paged ``start``/``limit``/``isLastPage``,
Cloud and Data Center alike (https://docs.atlassian.com/jira-servicedesk/REST/server/):

- ``GET /rest/servicedeskapi/organization``: every organization of the site, once.
  https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-organization/#api-rest-servicedeskapi-organization-get
- ``GET /rest/servicedeskapi/servicedesk/{serviceDeskId}/customer`` (experimental: the client
  sends ``X-ExperimentalApi: opt-in``), per service desk.
  https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-servicedesk/#api-rest-servicedeskapi-servicedesk-servicedeskid-customer-get
- ``GET /rest/servicedeskapi/servicedesk/{serviceDeskId}/queue?includeCount=true``, per desk.
  https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-servicedesk/#api-rest-servicedeskapi-servicedesk-servicedeskid-queue-get

The per-desk listings go through :meth:`ApiClient.map` (one desk per item); a desk the login
may not read is a warning naming it, and the run goes on.
"""

from __future__ import annotations

import logging
import typing as t

from tap_atlassian.errors import AccessError
from tap_atlassian.pagination import IsLastPagePaginator
from tap_atlassian.streams.jira import JiraStream
from tap_atlassian.streams.jsm import JSM, service_desks
from tap_atlassian.streams.jsm_request_children import with_account_id

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

LOGGER = logging.getLogger("tap-atlassian")


class OrganizationsStream(JiraStream):
    """``GET /rest/servicedeskapi/organization``: the site's customer organizations."""

    name = "jsm_organizations"
    # the granular read scope first (named in the warning), or the classic
    # manage:servicedesk-customer, which also reads organizations and customers
    oauth_scopes = (("read:organization:jira-service-management", "manage:servicedesk-customer"),)
    primary_keys = ("id",)
    requires = "servicedesk"
    path = f"{JSM}/organization"
    paginator = IsLastPagePaginator

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """The listing; a login that may not list organizations (403: not a service desk agent)
        is a warning, and the run goes on.
        """
        try:
            yield from super().get_records(context)
        except AccessError as exc:
            LOGGER.warning(
                "%s skipped: %s (listing organizations needs a service desk agent)", self.name, exc
            )


class DeskListingStream(JiraStream):
    """One paged listing per service desk (``project_keys`` filters the desks); records get
    ``serviceDeskId``.
    """

    requires = "servicedesk"
    resource: t.ClassVar[str]  # below /servicedesk/{id}/
    params: t.ClassVar[dict[str, t.Any]] = {}

    def read(self, desk: dict) -> list[dict] | AccessError:
        """One desk's records (runs on a worker thread: reads only)."""
        try:
            return list(
                self.paginate(
                    f"{JSM}/servicedesk/{desk['id']}/{self.resource}", IsLastPagePaginator, self.params
                )
            )
        except AccessError as exc:
            return exc

    def get_records(self, context: Context | None) -> t.Iterable[dict]:  # noqa: ARG002
        """Every desk's records, desk by desk."""
        desks = service_desks(self)
        for desk, records in zip(desks, self.client.map(self.read, desks), strict=True):
            if isinstance(records, AccessError):
                LOGGER.warning(
                    "%s: service desk %s (%s) skipped: %s",
                    self.name,
                    desk["id"],
                    desk.get("projectKey"),
                    records,
                )
                continue
            for record in records:
                record["serviceDeskId"] = str(desk["id"])
                yield self.shape(record)

    def shape(self, record: dict) -> dict:
        """Per-stream touch-ups (default: none)."""
        return record


class CustomersStream(DeskListingStream):
    """Each service desk's customers (experimental API). Server/DC: ``accountId`` is the user key."""

    name = "jsm_customers"
    oauth_scopes = (
        ("read:servicedesk-request",),
        ("read:servicedesk.customer:jira-service-management", "manage:servicedesk-customer"),
    )
    primary_keys = ("serviceDeskId", "accountId")
    resource = "customer"

    def shape(self, record: dict) -> dict:
        """``accountId`` on both deployments."""
        return with_account_id(record)


class QueuesStream(DeskListingStream):
    """Each service desk's queues with ``issueCount`` (the requests in the queue when read)."""

    name = "jsm_queues"
    oauth_scopes = (("read:servicedesk-request",), ("read:jira-work", "read:queue:jira-service-management"))
    primary_keys = ("serviceDeskId", "id")
    resource = "queue"
    params: t.ClassVar[dict[str, t.Any]] = {"includeCount": True}


STREAMS = (OrganizationsStream, CustomersStream, QueuesStream)
