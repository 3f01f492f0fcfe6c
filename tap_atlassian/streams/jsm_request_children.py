"""What each Jira Service Management request holds: comments, SLAs, participants, approvals, feedback.

No JSM endpoint filters by modification time, so, like ``jsm_requests``, these streams search
the service desks' projects with JQL (``fields=updated``, the ``updated`` window of
:class:`~tap_atlassian.streams.jira.JqlSearch`) and read each changed request's resource:

- ``GET /rest/servicedeskapi/request/{issueIdOrKey}/comment?public=true&internal=true``
  https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-request/#api-rest-servicedeskapi-request-issueidorkey-comment-get
- ``.../request/{issueIdOrKey}/sla`` (agent permission)
  https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-request/#api-rest-servicedeskapi-request-issueidorkey-sla-get
- ``.../request/{issueIdOrKey}/participant``
  https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-request/#api-rest-servicedeskapi-request-issueidorkey-participant-get
- ``.../request/{issueIdOrKey}/approval``
  https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-request/#api-rest-servicedeskapi-request-issueidorkey-approval-get
- ``.../request/{requestIdOrKey}/feedback`` (Cloud, experimental; 404 when the customer gave none)
  https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-request/#api-rest-servicedeskapi-request-requestidorkey-feedback-get

The first four exist on Data Center too (https://docs.atlassian.com/jira-servicedesk/REST/server/),
all paged ``start``/``limit``/``isLastPage``. Each record carries ``issueId`` and ``issueUpdated``
(the request's issue ``updated``, UTC): the replication key, so a run reads only the requests
changed since the bookmark (a comment added, edited or deleted, a participant added, an
approval answered or a transition recalculating an SLA moves the issue's ``updated``). An SLA
breached only by the passing of time does not move it: such a metric is read again the next
time its request changes. The search, the look-back span, the concurrent reads and the
tombstones of deleted comments are :class:`~tap_atlassian.streams.jira.IssueChildStream`'s;
the bookmark passes requests read without records (most have no feedback, many no approval).
"""

from __future__ import annotations

import logging
import typing as t
from http import HTTPStatus

from tap_atlassian.errors import AccessError
from tap_atlassian.pagination import IsLastPagePaginator
from tap_atlassian.streams.jira import IssueChildStream
from tap_atlassian.streams.jsm import JSM, RequestsStream, desk_clauses

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

LOGGER = logging.getLogger("tap-atlassian")


class RequestChildStream(IssueChildStream):
    """One resource below ``/rest/servicedeskapi/request/{issueId}/`` per changed request."""

    requires = "servicedesk"
    passes_empty_issues = True
    child: t.ClassVar[str]  # the resource below /request/{issueId}/
    child_params: t.ClassVar[dict[str, t.Any]] = {}

    oauth_scopes = RequestsStream.oauth_scopes

    def children(self, issue_id: str) -> list[dict]:
        """One request's records (read on a worker thread: it only requests)."""
        path = f"{JSM}/request/{issue_id}/{self.child}"
        return list(self.paginate(path, IsLastPagePaginator, self.child_params))

    def jql_clauses(self) -> list[str]:
        """The service desks' projects, as for ``jsm_requests``."""
        return desk_clauses(self)

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """Nothing to search when the site has no service desk (or none in ``project_keys``)."""
        if not self.jql_clauses():
            LOGGER.info("%s: no service desks; nothing to read", self.name)
            return
        yield from super().get_records(context)


class RequestCommentsStream(RequestChildStream):
    """Public and internal comments (``public`` kept); comments read before and gone from a
    re-read request become tombstones (:class:`~tap_atlassian.deletes.ChildIds`), and so do
    every comment of a deleted request: like ``jira_issue_comments``, the stream sweeps the
    desks' issue ids every ``delete_sweep_hours`` (:class:`~tap_atlassian.deletes.IssueSweep`,
    with ``jsm_requests``' rules for a request moved out of the desks).
    """

    name = "jsm_request_comments"
    child = "comment"
    child_params: t.ClassVar[dict[str, t.Any]] = {"public": True, "internal": True}
    tracks_children = True
    sweeps = True
    sweep_projects = RequestsStream.sweep_projects
    gone_when_moved_to = RequestsStream.gone_when_moved_to


class RequestSlaStream(RequestChildStream):
    """Each SLA metric with its completed cycles and ongoing cycle, as read."""

    name = "jsm_request_sla"
    primary_keys = ("issueId", "id")
    child = "sla"


class RequestParticipantsStream(RequestChildStream):
    """Request participants; Server/DC users have no ``accountId``: their ``key`` is used."""

    name = "jsm_request_participants"
    primary_keys = ("issueId", "accountId")
    child = "participant"

    def children(self, issue_id: str) -> list[dict]:
        """Participants, each with an ``accountId``."""
        return [with_account_id(user) for user in super().children(issue_id)]


class RequestApprovalsStream(RequestChildStream):
    """Approvals with their approvers, each approver's decision and the final decision."""

    name = "jsm_request_approvals"
    child = "approval"


class RequestFeedbackStream(RequestChildStream):
    """Customer satisfaction (CSAT) feedback: Cloud only; a request without feedback has none (404)."""

    name = "jsm_request_feedback"
    primary_keys = ("issueId",)
    child = "feedback"
    cloud_only = True

    def children(self, issue_id: str) -> list[dict]:
        """The one feedback object, or nothing (404: the customer gave none)."""
        try:
            body, _ = self.client.get(f"{JSM}/request/{issue_id}/feedback")
        except AccessError as exc:
            if exc.status == HTTPStatus.NOT_FOUND:
                return []
            raise
        return [body] if isinstance(body, dict) and body else []

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """Nothing on Server/DC, which has no feedback resource (not discovered there; this is
        for a catalog written against Cloud).
        """
        if not self.is_cloud:
            LOGGER.info(
                "%s: Jira Service Management Data Center has no feedback API; nothing to read", self.name
            )
            return
        yield from super().get_records(context)


def with_account_id(user: dict) -> dict:
    """A JSM ``UserDTO`` with ``accountId`` (Server/DC: the user ``key``, its stable id)."""
    if not user.get("accountId") and user.get("key"):
        user["accountId"] = user["key"]
    return user


STREAMS = (
    RequestCommentsStream,
    RequestSlaStream,
    RequestParticipantsStream,
    RequestApprovalsStream,
    RequestFeedbackStream,
)
