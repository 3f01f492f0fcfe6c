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
time its request changes.
"""

from __future__ import annotations

import logging
import typing as t

from tap_atlassian.errors import AccessError
from tap_atlassian.pagination import IsLastPagePaginator
from tap_atlassian.streams.jira import IssueChildStream, JqlSearch
from tap_atlassian.streams.jsm import JSM, RequestsStream
from tap_atlassian.windows import format_utc

if t.TYPE_CHECKING:
    import datetime as dt

LOGGER = logging.getLogger("tap-atlassian")
Found = tuple[dict, "dt.datetime | None", "list[dict] | AccessError"]


class RequestChildStream(IssueChildStream):
    """Records read per changed request through :meth:`ApiClient.map` (one resource per request)."""

    requires = "servicedesk"
    child: t.ClassVar[str]  # the resource below /request/{issueId}/
    child_params: t.ClassVar[dict[str, t.Any]] = {}

    jql_clauses = RequestsStream.jql_clauses

    def read(self, issue_id: str) -> list[dict]:
        """One request's records (runs on a worker thread: reads only)."""
        path = f"{JSM}/request/{issue_id}/{self.child}"
        return list(self.paginate(path, IsLastPagePaginator, self.child_params))

    def get_records(self, context: dict | None) -> t.Iterable[dict]:
        """Each changed request's records, oldest request first; a request gone or hidden is a warning."""
        clauses = self.jql_clauses()
        if not clauses:
            LOGGER.info("%s: no service desks; nothing to read", self.name)
            return
        search = JqlSearch(self.client, clauses, self.window(context), "updated", self.settings.page_size)

        def fetch(found: tuple[dict, dt.datetime | None]) -> Found:
            issue, updated = found
            try:
                return issue, updated, self.read(str(issue["id"]))
            except AccessError as exc:
                return issue, updated, exc

        for issue, updated, records in self.client.map(fetch, search):
            issue_id = str(issue["id"])
            if isinstance(records, AccessError):
                LOGGER.warning("%s: request %s skipped: %s", self.name, issue.get("key") or issue_id, records)
                continue
            if not records and updated is not None:
                # A request without records (most have no feedback, many no approval) was read
                # all the same: the bookmark passes it, else every run would read again every
                # request changed since the last one that had a record.
                self._increment_stream_state({self.replication_key: format_utc(updated)}, context=context)
            yield from self.emit(issue_id, format_utc(updated), records, context)

    def emit(self, issue_id: str, issue_updated: str | None, records: list[dict],
             context: dict | None) -> t.Iterator[dict]:  # noqa: ARG002
        """The request's records with their parent's id and time."""
        for record in records:
            record["issueId"] = issue_id
            record["issueUpdated"] = issue_updated
            yield record


class RequestCommentsStream(RequestChildStream):
    """Public and internal comments (``public`` kept); comments gone from a re-read request
    become tombstones (see :class:`SeenIds`)."""

    name = "jsm_request_comments"
    child = "comment"
    child_params: t.ClassVar[dict[str, t.Any]] = {"public": True, "internal": True}

    def emit(self, issue_id: str, issue_updated: str | None, records: list[dict],
             context: dict | None) -> t.Iterator[dict]:
        """Tombstones for the comments read before and gone now, then the live ones."""
        seen = SeenIds(self.get_context_state(context), "seen_comment_ids")
        for gone in seen.replace(issue_id, [str(r["id"]) for r in records]):
            yield {**self.tombstone({"id": gone}, issue_updated), "issueId": issue_id}
        yield from super().emit(issue_id, issue_updated, records, context)


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

    def read(self, issue_id: str) -> list[dict]:
        """Participants, each with an ``accountId``."""
        return [with_account_id(user) for user in super().read(issue_id)]


class RequestApprovalsStream(RequestChildStream):
    """Approvals with their approvers, each approver's decision and the final decision."""

    name = "jsm_request_approvals"
    child = "approval"


class RequestFeedbackStream(RequestChildStream):
    """Customer satisfaction (CSAT) feedback: Cloud only; a request without feedback has none (404)."""

    name = "jsm_request_feedback"
    primary_keys = ("issueId",)
    child = "feedback"

    def read(self, issue_id: str) -> list[dict]:
        """The one feedback object, or nothing (404: the customer gave none)."""
        try:
            body, _ = self.client.get(f"{JSM}/request/{issue_id}/feedback")
        except AccessError as exc:
            if exc.status == 404:
                return []
            raise
        return [body] if isinstance(body, dict) and body else []

    def get_records(self, context: dict | None) -> t.Iterable[dict]:
        """Nothing on Server/DC, which has no feedback resource."""
        if not self.is_cloud:
            LOGGER.info("%s: Jira Service Management Data Center has no feedback API; nothing to read",
                        self.name)
            return
        yield from super().get_records(context)


def with_account_id(user: dict) -> dict:
    """A JSM ``UserDTO`` with ``accountId`` (Server/DC: the user ``key``, its stable id)."""
    if not user.get("accountId") and user.get("key"):
        user["accountId"] = user["key"]
    return user


class SeenIds:
    """The child ids each request had when it was last read, kept in the stream's state.

    Compact: one entry per request that has children, ``{issueId: "<ids>"}`` where numeric
    ids are sorted and written as base-36 differences joined by ``.`` (five comments of
    a request take about 20 characters); other ids are kept as they are, joined by ``,``.
    """

    def __init__(self, state: dict, key: str) -> None:
        """The ledger under ``state[key]`` (created on first use)."""
        self.ids: dict[str, str] = state.setdefault(key, {})

    def replace(self, parent: str, ids: list[str]) -> list[str]:
        """Remember ``ids`` for ``parent``; return the ids it had before that are gone now."""
        before = decode(self.ids.get(parent, ""))
        if ids:
            self.ids[parent] = encode(ids)
        else:
            self.ids.pop(parent, None)
        now = set(ids)
        return [i for i in before if i not in now]


def encode(ids: list[str]) -> str:
    """Sorted numeric ids as base-36 deltas (``"a.1.2s"``); anything else comma-joined."""
    if not all(i.isdigit() for i in ids):
        return "," + ",".join(ids)
    out, last = [], 0
    for n in sorted(int(i) for i in ids):
        out.append(_b36(n - last))
        last = n
    return ".".join(out)


def decode(text: str) -> list[str]:
    """The ids :func:`encode` wrote."""
    if not text:
        return []
    if text.startswith(","):
        return text[1:].split(",")
    out, total = [], 0
    for part in text.split("."):
        total += int(part, 36)
        out.append(str(total))
    return out


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


STREAMS = (RequestCommentsStream, RequestSlaStream, RequestParticipantsStream, RequestApprovalsStream,
           RequestFeedbackStream)
