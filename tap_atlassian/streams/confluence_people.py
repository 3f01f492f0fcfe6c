"""Confluence groups and their members (full tables).

- Cloud: v1 ``GET /wiki/rest/api/group`` (start/limit, ``_links.next``) and
  ``/wiki/rest/api/group/{groupId}/membersByGroupId``
  (https://developer.atlassian.com/cloud/confluence/rest/v1/api-group-group/); v2 has no groups.
- Server/DC: v1 ``GET /rest/api/group`` and ``/rest/api/group/{groupName}/member``
  (https://developer.atlassian.com/server/confluence/rest/v1000/api-group-group/).

A group's id differs by deployment: Cloud ``id``, Server/DC ``name``; the record's top-level
``id`` holds it. A member record is the API's user + ``groupId`` (that id) and ``accountId``
(Cloud ``accountId``, Server/DC the user key, ``userKey``). Members are read per group
through ``ApiClient.map``.
"""

from __future__ import annotations

import typing as t
from urllib.parse import quote

from tap_atlassian.errors import AccessError
from tap_atlassian.pagination import StartLimitLinkPaginator
from tap_atlassian.streams.confluence import ConfluenceStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

GROUP_CAP = 1000


def group_id(group: t.Mapping[str, t.Any]) -> str:
    """Cloud ``id``, Server/DC ``name``."""
    return str(group.get("id") or group.get("name"))


class ConfluenceGroupsStream(ConfluenceStream):
    """Every group the login can list."""

    name = "confluence_groups"
    oauth_scopes = (("read:confluence-groups", "read:group:confluence"),)
    primary_keys: tuple[str, ...] = ("id",)

    def groups(self) -> list[dict]:
        """The site's groups, read once per run (members read them too)."""
        cache = self.client.cache
        if "groups" not in cache:
            cache["groups"] = list(self.paginate("/rest/api/group", StartLimitLinkPaginator, {}, GROUP_CAP))
        return cache["groups"]

    def get_records(self, context: Context | None) -> t.Iterable[dict]:  # noqa: ARG002
        """Each group with its top-level ``id``."""
        for group in self.groups():
            yield {**group, "id": group_id(group)}


class ConfluenceGroupMembersStream(ConfluenceGroupsStream):
    """Each group's members, one record per (group, user)."""

    name = "confluence_group_members"
    primary_keys = ("groupId", "accountId")

    def get_records(self, context: Context | None) -> t.Iterable[dict]:  # noqa: ARG002
        """Members of every group, group after group."""
        groups = self.groups()
        for group, members in zip(groups, self.client.map(self._members, groups), strict=True):
            for user in members:
                yield {
                    **user,
                    "groupId": group_id(group),
                    "groupName": group.get("name"),
                    "accountId": user.get("accountId") or user.get("userKey"),
                }

    def _members(self, group: dict) -> list[dict]:
        """One group's members (a group gone since it was listed: a warning, none)."""
        if self.is_cloud:
            path = f"/rest/api/group/{quote(group_id(group), safe='')}/membersByGroupId"
        else:
            path = f"/rest/api/group/{quote(str(group.get('name')), safe='')}/member"
        try:
            return list(self.paginate(path, StartLimitLinkPaginator, {}, GROUP_CAP))
        except AccessError as exc:
            self.logger.warning("%s: group %s skipped: %s", self.name, group.get("name"), exc)
            return []


STREAMS = (ConfluenceGroupsStream, ConfluenceGroupMembersStream)
