"""Jira catalog streams: the dimension tables issues are joined to.

Projects (with description, lead, issue types, category), each project's versions and
components, the issue types, statuses, priorities and resolutions, users and groups; full
table every run (none of these endpoints filters by modification time). Cloud reads REST v3
and its paged forms, Server/DC REST v2 and its lists; which endpoint each stream reads is in
``docs/STREAMS.md``.

- Projects: Cloud ``GET /rest/api/3/project/search`` (``PageBeanProject``, at most 100 a page,
  ``keys=`` for ``project_keys``), Server/DC ``GET /rest/api/2/project`` (one unpaged list);
  Atlassian's documents:
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-projects/#api-rest-api-3-project-search-get
  and https://docs.atlassian.com/software/jira/docs/api/REST/9.12.0/#api/2/project-getAllProjects .
  The listing is read once per run and shared by the versions and components streams.
- Versions and components are read per project through :meth:`ApiClient.map`: Cloud
  ``/project/{id}/version`` and ``/project/{id}/component`` (paged), Server/DC
  ``/project/{id}/versions`` and ``/project/{id}/components`` (lists). A project hidden or gone
  meanwhile (403/404) is a WARNING naming it; the run goes on.
- Users: Cloud ``/rest/api/3/users/search`` (a bare list without a total: read until an empty
  page); Server/DC ``/rest/api/2/user/search?username=.&includeInactive=true``, which only ever
  reaches the first matching users: 100 on Jira 10 ("the combination of maxResults and
  startAt is limited to the first 100 results", JRASERVER-78660), 1,000 on older builds
  (JRASERVER-65089); past that, pages are empty. A listing that ends at exactly such a cap is
  a WARNING (users may be missing), and so is a server answering a next page with users
  already read. Each record gets ``id``: Cloud ``accountId``, Server/DC ``key``.
- Groups: Cloud ``/rest/api/3/group/bulk`` (paged); Server/DC ``/rest/api/2/groups/picker``
  (unpaged and capped by the system property ``jira.ajax.autocomplete.limit``: asked again
  with the groups already read as ``exclude=`` until its ``total`` is reached). ``id``: Cloud
  ``groupId``, Server/DC ``name``.
"""

from __future__ import annotations

import logging
import typing as t

from tap_atlassian.client import Repeat
from tap_atlassian.errors import AccessError
from tap_atlassian.pagination import PageBeanPaginator, Paginator
from tap_atlassian.projects import existing_project_keys
from tap_atlassian.streams.jira import JiraStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

LOGGER = logging.getLogger("tap-atlassian")
CLOUD = "/rest/api/3"
SERVER = "/rest/api/2"
PROJECT_EXPAND = {
    "cloud": "description,lead,issueTypes,url,insight",
    "server": "description,lead,url,projectKeys,issueTypes",
}
MAX_KEYS = 50  # /project/search takes at most 50 keys
GROUP_PICKER_MAX = 1000
MAX_EXCLUDE_CHARS = 6000  # exclude=... names kept under a URL length every proxy takes
# Server/DC /user/search reaches only the first N matching users (startAt + maxResults <= N)
USER_SEARCH_CAPS = {100: "Jira 10 and later, JRASERVER-78660", 1000: "older Jira, JRASERVER-65089"}


class ListPaginator(Paginator):
    """A bare JSON list paged by ``startAt``/``maxResults`` without a total: until an empty page.

    (Cloud ``/users/search`` may return fewer than asked before the end: privacy filtering.)
    """

    def start_params(self) -> None:
        """First page at 0."""
        self.params["maxResults"] = self.page_size
        self.params.setdefault("startAt", 0)

    def advance(self, body: t.Any, headers: t.Mapping[str, str]) -> None:  # noqa: ANN401, ARG002
        """Next offset by what came back."""
        got = len(self.records(body))
        if not got:
            self.finished = True
            return
        self.params["startAt"] = int(self.params["startAt"]) + got


def visible_projects(stream: JiraStream) -> list[dict]:
    """The projects this login may browse, filtered by ``project_keys``; read once per run.

    ``project_keys`` are checked as every stream checks them
    (:func:`~tap_atlassian.projects.existing_project_keys`: one WARNING naming the unknown
    keys, a clear error when none exists), and the run goes on with the others.
    """
    cache = stream.client.cache
    if "catalog:projects" not in cache:
        wanted = [k.upper() for k in existing_project_keys(stream.client, stream.settings.project_keys)]
        if stream.is_cloud:
            params: dict[str, t.Any] = {"expand": PROJECT_EXPAND["cloud"], "orderBy": "key"}
            if wanted and len(wanted) <= MAX_KEYS:
                params["keys"] = Repeat(wanted)
            projects = list(
                stream.paginate(f"{CLOUD}/project/search", PageBeanPaginator, params, max_limit=100)
            )
        else:
            body, _ = stream.client.get(f"{SERVER}/project", {"expand": PROJECT_EXPAND["server"]})
            projects = body if isinstance(body, list) else []
        if wanted:
            projects = [p for p in projects if str(p.get("key", "")).upper() in wanted]
        cache["catalog:projects"] = projects
    return cache["catalog:projects"]


class JiraProjectsStream(JiraStream):
    """Projects with ``description``, ``lead``, ``issueTypes``, ``url`` and Cloud's ``insight``
    (Server/DC: ``projectKeys``) expanded; ``projectCategory`` comes without asking.
    """

    name = "jira_projects"
    primary_keys = ("id",)

    def get_records(self, context: Context | None) -> t.Iterable[dict]:  # noqa: ARG002
        """The visible (and selected) projects."""
        yield from visible_projects(self)


class ProjectChildStream(JiraStream):
    """Records read per project (versions, components), each with the project's ``projectId``."""

    primary_keys = ("id",)
    cloud_path: t.ClassVar[str]  # paged (PageBean), formatted with ``project`` (the id)
    server_path: t.ClassVar[str]  # an unpaged list

    def get_records(self, context: Context | None) -> t.Iterable[dict]:  # noqa: ARG002
        """Every visible project's children, in project order; a project we may not read is a warning."""
        for project, records, error in self.client.map(self.read_project, visible_projects(self)):
            if error is not None:
                LOGGER.warning(
                    "%s: project %s (id %s) skipped: %s",
                    self.name,
                    project.get("key"),
                    project.get("id"),
                    error,
                )
                continue
            for record in records:
                if record.get("projectId") is None:
                    record["projectId"] = int(project["id"])
                yield record

    def read_project(self, project: dict) -> tuple[dict, list[dict], AccessError | None]:
        """One project's records (runs on a worker thread: reads only)."""
        pid = project["id"]
        try:
            if self.is_cloud:
                records = list(self.paginate(self.cloud_path.format(project=pid), PageBeanPaginator))
            else:
                body, _ = self.client.get(self.server_path.format(project=pid))
                records = body if isinstance(body, list) else []
        except AccessError as exc:
            return project, [], exc
        return project, records, None


class JiraProjectVersionsStream(ProjectChildStream):
    """Versions (releases): Cloud ``/project/{id}/version``, Server/DC ``/project/{id}/versions``.

    https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-project-versions/#api-rest-api-3-project-projectidorkey-version-get
    """

    name = "jira_project_versions"
    cloud_path = f"{CLOUD}/project/{{project}}/version"
    server_path = f"{SERVER}/project/{{project}}/versions"


class JiraProjectComponentsStream(ProjectChildStream):
    """Components: Cloud ``/project/{id}/component`` (with ``issueCount``), Server/DC
    ``/project/{id}/components``.

    https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-project-components/#api-rest-api-3-project-projectidorkey-component-get
    """

    name = "jira_project_components"
    cloud_path = f"{CLOUD}/project/{{project}}/component"
    server_path = f"{SERVER}/project/{{project}}/components"


class LookupStream(JiraStream):
    """A short lookup list: ``cloud`` / ``server`` name each deployment's path and paginator."""

    primary_keys = ("id",)
    cloud: t.ClassVar[tuple[str, type[Paginator]]]
    server: t.ClassVar[tuple[str, type[Paginator]]]

    def get_records(self, context: Context | None) -> t.Iterable[dict]:  # noqa: ARG002
        """Every value."""
        path, paginator = self.cloud if self.is_cloud else self.server
        yield from self.paginate(path, paginator)


class JiraIssueTypesStream(LookupStream):
    """``/issuetype``: every issue type the login may see (team-managed ones carry ``scope``)."""

    name = "jira_issue_types"
    cloud = (f"{CLOUD}/issuetype", Paginator)
    server = (f"{SERVER}/issuetype", Paginator)


class JiraStatusesStream(LookupStream):
    """``/status`` (``StatusDetails`` with ``statusCategory``); Cloud's ``/statuses/search`` needs
    an admin scope, so it is not used.
    """

    name = "jira_statuses"
    cloud = (f"{CLOUD}/status", Paginator)
    server = (f"{SERVER}/status", Paginator)


class JiraPrioritiesStream(LookupStream):
    """``/priority``. Cloud's paged ``/priority/search`` asks for ``manage:jira-configuration``
    (an admin scope) in Atlassian's document, so the list every login may read is used.
    """

    name = "jira_priorities"
    cloud = (f"{CLOUD}/priority", Paginator)
    server = (f"{SERVER}/priority", Paginator)


class JiraResolutionsStream(LookupStream):
    """Cloud ``/resolution/search`` (paged; the list ``/resolution`` is deprecated), Server/DC
    ``/resolution``.
    """

    name = "jira_resolutions"
    cloud = (f"{CLOUD}/resolution/search", PageBeanPaginator)
    server = (f"{SERVER}/resolution", Paginator)


class PeopleStream(JiraStream):
    """Users and groups: their listings need the *Browse users and groups* global permission.

    A login without it gets 403 (404 from a Jira without the endpoint); that is a WARNING
    naming the permission and the stream ends, so a ``*.*`` selection still loads everything
    else. (Atlassian: https://confluence.atlassian.com/x/x4dKLg)
    """

    oauth_scopes = (("read:jira-user",),)
    primary_keys = ("id",)

    def get_records(self, context: Context | None) -> t.Iterable[dict]:  # noqa: ARG002
        """:meth:`people`, with a permission refusal turned into a warning."""
        try:
            yield from self.people()
        except AccessError as exc:
            LOGGER.warning(
                "%s skipped: %s (listing %s needs the 'Browse users and groups' global permission)",
                self.name,
                exc,
                "users" if self.name == "jira_users" else "groups",
            )

    def people(self) -> t.Iterator[dict]:
        """Every user or group."""
        raise NotImplementedError


class JiraUsersStream(PeopleStream):
    """Every user (active and inactive), ``id`` = Cloud ``accountId`` / Server/DC ``key``."""

    name = "jira_users"

    def people(self) -> t.Iterator[dict]:
        """Page until an empty page, or a page of users already read (a server ignoring ``startAt``)."""
        if self.is_cloud:
            path, params, ident = f"{CLOUD}/users/search", {}, "accountId"
        else:
            path, ident = f"{SERVER}/user/search", "key"
            params = {"username": ".", "includeActive": True, "includeInactive": True}
        seen: set[str] = set()
        for users in self.client.pages(path, ListPaginator(params, self.settings.page_size, 1000)):
            fresh = [u for u in users if u.get(ident) is not None and str(u[ident]) not in seen]
            if users and not fresh:  # (an empty page is the normal end)
                LOGGER.warning(
                    "jira_users: %s answered a next page with users already read (it ignores "
                    "startAt); %d users read, the site may have more",
                    path,
                    len(seen),
                )
                return
            for user in fresh:
                user["id"] = str(user[ident])
                seen.add(user["id"])
                yield user
        if not self.is_cloud and len(seen) in USER_SEARCH_CAPS:
            LOGGER.warning(
                "jira_users: %s listed exactly %d users and then none: Jira's user search stops at "
                "the first %d (%s), so the site may have users that were not read",
                path,
                len(seen),
                len(seen),
                USER_SEARCH_CAPS[len(seen)],
            )


class JiraGroupsStream(PeopleStream):
    """Every group, ``id`` = Cloud ``groupId`` / Server/DC ``name``."""

    name = "jira_groups"

    def people(self) -> t.Iterator[dict]:
        """Cloud: ``/group/bulk`` paged; Server/DC: ``/groups/picker`` (see :meth:`picked_groups`)."""
        if self.is_cloud:
            for group in self.paginate(f"{CLOUD}/group/bulk", PageBeanPaginator):
                group["id"] = str(group.get("groupId") or group["name"])
                yield group
            return
        yield from self.picked_groups()

    def picked_groups(self) -> t.Iterator[dict]:
        """Server/DC: ``/groups/picker`` lists at most ``jira.ajax.autocomplete.limit`` groups (default
        20) whatever ``maxResults`` asks, with the full ``total``; so the next answer is asked for
        with every group already read as ``exclude=`` (repeated), until ``total`` is reached. Should
        that stall, or the list of names outgrow a URL, a WARNING says how many of how many.
        """
        seen: set[str] = set()
        total: int | None = None
        while True:
            params = {"query": "", "maxResults": GROUP_PICKER_MAX, "exclude": Repeat(sorted(seen))}
            body, _ = self.client.get(f"{SERVER}/groups/picker", params)
            fresh = [g for g in body.get("groups") or [] if g.get("name") and g["name"] not in seen]
            if total is None:
                total = body.get("total") if isinstance(body.get("total"), int) else len(fresh)
            for group in fresh:
                seen.add(group["name"])
                group["id"] = str(group["name"])
                yield group
            if len(seen) >= total:
                return
            if not fresh or sum(len(n) + 9 for n in seen) > MAX_EXCLUDE_CHARS:
                LOGGER.warning(
                    "jira_groups: Jira listed %d of %d groups: /rest/api/2/groups/picker is capped "
                    "by the system property jira.ajax.autocomplete.limit; ask an administrator to "
                    "raise it to at least %d to read every group",
                    len(seen),
                    total,
                    total,
                )
                return


STREAMS = (
    JiraProjectsStream,
    JiraProjectVersionsStream,
    JiraProjectComponentsStream,
    JiraIssueTypesStream,
    JiraStatusesStream,
    JiraPrioritiesStream,
    JiraResolutionsStream,
    JiraUsersStream,
    JiraGroupsStream,
)
