"""Seeded Jira catalog objects (the dimension tables): project details, versions, components,
issue types, statuses, priorities, resolutions, users and groups.

Deterministic from the site's seed and consistent with the issues `jira_objects.py` builds:
version `10000 + n` is the `fixVersions` entry an issue may carry (same name and `released`),
each project's `General` component is `10000 + project idx` (every issue's component), and
statuses, priorities, issue types and the `Done` resolution keep the ids issues use. Project 0
has more versions and components than a small page; the last project has no versions.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .data import BASE_MS, DAY_MS, rng_for, words
from .jira_objects import ISSUETYPES, PRIORITIES, STATUSES

# extra lookups beyond what seeded issues use (ids unused by jira_objects)
EXTRA_ISSUETYPES = [("10000", "Epic", 1, False), ("10004", "Sub-task", -1, True)]
EXTRA_STATUSES = [("1", "Open", 2, "new", "blue-gray", "To Do"),
                  ("10003", "Canceled", 3, "done", "green", "Done")]
RESOLUTIONS = [("10000", "Done", "Work has been completed on this issue."),
               ("10001", "Won't Do", "This issue won't be actioned."),
               ("10002", "Duplicate", "The problem is a duplicate of an existing issue."),
               ("10003", "Cannot Reproduce", "All attempts at reproducing this issue failed."),
               ("10004", "Declined", "This request was declined."),
               ("10005", "Known Error", "A workaround exists; the root cause is known."),
               ("10006", "Hardware failure", "Resolved by replacing hardware.")]
CATEGORIES = [("10000", "Service", "Service desks"), ("10001", "Engineering", "Product engineering"),
              ("10002", "Internal", "Internal tools")]
GROUPS = ["administrators", "developers", "finance", "hr-team", "it-ops", "jira-admins",
          "jira-administrators", "jira-servicemanagement-users", "jira-software-users", "jira-users",
          "marketing", "security", "site-admins", "support-team"]
COMPONENT_NAMES = ["Backend", "Frontend", "API", "Database", "Mobile", "Billing", "Auth",
                   "Reporting", "Network", "Hardware"]
PROJECT0_VERSIONS = 12
PROJECT0_EXTRA_COMPONENTS = 7


def group_id(name: str) -> str:
    """The groupId `jira_objects._group` gives the same group."""
    return f"{zlib.crc32(name.encode()):08x}-0000-4000-8000-000000000000"


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d")


def _user_day(ms: int) -> str:
    """Jira's `userReleaseDate` form (the user's date format, e.g. `6/Jul/24`)."""
    d = datetime.fromtimestamp(ms / 1000, timezone.utc)
    return f"{d.day}/{d.strftime('%b')}/{d.strftime('%y')}"


@dataclass
class Version:
    n: int  # global number: id 10000 + n, as issues' fixVersions
    project_idx: int
    description: str
    start_ms: int
    release_ms: int
    archived: bool

    @property
    def id(self) -> str:
        return str(10000 + self.n)

    @property
    def name(self) -> str:
        return f"{self.n // 10 + 1}.{self.n % 10}"

    @property
    def released(self) -> bool:
        return self.n % 3 == 0


@dataclass
class Component:
    id: str
    name: str
    project_idx: int
    description: str
    lead: int | None  # users[] index
    assignee_type: str


@dataclass
class CatalogData:
    """Every seeded catalog object of one site."""

    versions: dict[int, list[Version]] = field(default_factory=dict)  # project idx -> versions
    components: dict[int, list[Component]] = field(default_factory=dict)
    descriptions: dict[int, str] = field(default_factory=dict)
    leads: dict[int, int] = field(default_factory=dict)  # project idx -> users[] index
    categories: dict[int, tuple[str, str, str] | None] = field(default_factory=dict)
    inactive_users: set[int] = field(default_factory=set)

    @classmethod
    def build(cls, seed: int, projects: list[dict], n_users: int) -> CatalogData:
        out = cls()
        rng = rng_for(seed, "jira-catalog")
        n = 0
        comp_id = 10100
        last = len(projects) - 1
        for p in projects:
            i = p["idx"]
            out.descriptions[i] = words(rng, 8 + rng.randrange(8)).capitalize() + "."
            out.leads[i] = (i * 3) % n_users
            sw_idx = i - sum(1 for q in projects if q["service_desk_id"])
            out.categories[i] = (CATEGORIES[0] if p["service_desk_id"] else  # every 3rd: none
                                 None if sw_idx % 3 == 1 else CATEGORIES[1 + sw_idx % 3 // 2])
            count = PROJECT0_VERSIONS if i == 0 else 0 if i == last else 1 + rng.randrange(6)
            versions = []
            for _ in range(count):
                start = BASE_MS - rng.randrange(400) * DAY_MS
                versions.append(Version(n, i, words(rng, 5).capitalize(), start,
                                        start + (14 + rng.randrange(60)) * DAY_MS, n % 7 == 6))
                n += 1
            out.versions[i] = versions
            comps = [Component(str(10000 + i), "General", i, "Everything else", None, "PROJECT_DEFAULT")]
            extra = PROJECT0_EXTRA_COMPONENTS if i == 0 else rng.randrange(4)
            for k in range(extra):
                lead = rng.randrange(n_users) if rng.random() < 0.7 else None
                comps.append(Component(str(comp_id), COMPONENT_NAMES[k % len(COMPONENT_NAMES)], i,
                                       words(rng, 6).capitalize(), lead,
                                       "COMPONENT_LEAD" if lead is not None else "UNASSIGNED"))
                comp_id += 1
            out.components[i] = comps
        out.inactive_users = {n_users - 1} if n_users > 2 else set()
        return out


def issue_types() -> list[tuple[str, str, int, bool]]:
    """(id, name, hierarchyLevel, subtask) of every issue type."""
    return [(i, name, 0, False) for i, name in ISSUETYPES] + EXTRA_ISSUETYPES


def statuses() -> list[tuple]:
    return list(STATUSES) + EXTRA_STATUSES


def priorities() -> list[tuple[str, str]]:
    return list(PRIORITIES)


COLORS = {"1": "#d04437", "2": "#f15C75", "3": "#f79232", "4": "#707070", "5": "#999999"}


def version_json(v: Version, base: str, api: str) -> dict:
    out = {"self": f"{base}/rest/api/{api}/version/{v.id}", "id": v.id, "description": v.description,
           "name": v.name, "archived": v.archived, "released": v.released,
           "startDate": _day(v.start_ms), "releaseDate": _day(v.release_ms),
           "userStartDate": _user_day(v.start_ms), "userReleaseDate": _user_day(v.release_ms),
           "projectId": 10000 + v.project_idx}
    if not v.released:
        out["overdue"] = v.release_ms < BASE_MS
    return out
