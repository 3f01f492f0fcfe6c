"""The seeded data of the fake site: a compact index of every object, full JSON built on demand.

Only a few integers per issue/page are kept (project, number, created, updated, version), so
100k+ issues cost a few MB; the full Atlassian JSON of one object is generated from the seed
when asked for (`jira_objects.py`, `confluence_objects.py`) and cached by the routes.
All times are epoch milliseconds, UTC.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from .timefmt import now_ms, parse_instant

# The seeded history ends here; "now" (touch/add) is later, so a touched record is always newest.
BASE_MS = 1717200000000  # 2024-06-01T00:00:00Z
DAY_MS = 86_400_000

SIZES: dict[str, dict[str, int]] = {
    "small": {"sd_projects": 3, "sw_projects": 2, "issues": 60, "spaces": 3, "pages": 45, "blogposts": 9,
              "users": 12},
    "medium": {"sd_projects": 4, "sw_projects": 4, "issues": 5_000, "spaces": 8, "pages": 2_000,
               "blogposts": 400, "users": 50},
    "large": {"sd_projects": 8, "sw_projects": 12, "issues": 100_000, "spaces": 20, "pages": 20_000,
              "blogposts": 4_000, "users": 200},
}

WORDS = (
    "alpha beta gamma delta invoice printer laptop vpn access password reset onboarding "
    "network outage billing report dashboard sprint release deploy database backup restore "
    "license renewal request approval budget quarterly roadmap security audit firewall email "
    "calendar meeting office badge monitor keyboard migration upgrade rollout feedback"
).split()

PROJECT_NAMES = ["IT Help", "HR Services", "Facilities", "Customer Care", "Legal Desk", "Finance Ops",
                 "Security Desk", "Procurement"]
SW_NAMES = ["Platform", "Mobile App", "Web Frontend", "Data Pipeline", "Billing Engine", "Search",
            "Identity", "Payments", "Analytics", "Infrastructure", "Docs Site", "Growth"]
SPACE_NAMES = ["Engineering", "Human Resources", "Marketing", "Product", "Support Knowledge Base",
               "Sales", "Finance", "Design", "Legal", "Operations", "Security", "Data", "Mobile",
               "Platform", "QA", "Research", "Partners", "Training", "Events", "Archive"]
FIRST = ["Ada", "Grace", "Alan", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Radia", "Edsger",
         "Frances", "John", "Hedy", "Tim", "Katherine", "Donald", "Sophie", "Vint", "Anita", "Guido"]
LAST = ["Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson",
        "Perlman", "Dijkstra", "Allen", "McCarthy", "Lamarr", "Berners-Lee", "Johnson", "Knuth"]


def rng_for(*parts: object) -> random.Random:
    return random.Random(":".join(str(p) for p in parts))


# a fixed word stream; words() takes a slice of it at a random offset (one RNG call, fast)
_STREAM = [random.Random(1234).choice(WORDS) for _ in range(8192)]


def words(rng: random.Random, n: int) -> str:
    start = rng.randrange(len(_STREAM) - n)
    return " ".join(_STREAM[start:start + n])


@dataclass(frozen=True)
class IssueRef:
    """The index entry of one issue (what a sync must return, without building the JSON)."""

    idx: int
    id: str
    key: str
    project_key: str
    project_id: str
    created: int
    updated: int
    version: int


@dataclass(frozen=True)
class PageRef:
    """The index entry of one page or blog post."""

    idx: int
    id: str
    space_id: str
    space_key: str
    created: int
    modified: int  # current version's createdAt / when
    version: int
    kind: str = "page"  # or "blogpost"


PAGE, BLOGPOST = 0, 1
KINDS = {"page": PAGE, "blogpost": BLOGPOST}


class Store:
    """Seeded objects and their mutations. Thread-safe (one lock)."""

    def __init__(self, seed: int = 7, size: str = "small", *, flavour: str = "cloud",
                 jira_tz: str = "America/Los_Angeles", confluence_tz: str = "Asia/Kolkata",
                 issues: int | None = None, pages: int | None = None, blogposts: int | None = None) -> None:
        if size not in SIZES:
            raise ValueError(f"size must be one of {sorted(SIZES)}")
        self.seed, self.size, self.flavour = seed, size, flavour
        self.jira_tz, self.confluence_tz = ZoneInfo(jira_tz), ZoneInfo(confluence_tz)
        self.jira_tz_name, self.confluence_tz_name = jira_tz, confluence_tz
        counts = dict(SIZES[size])
        if issues is not None:
            counts["issues"] = issues
        if pages is not None:
            counts["pages"] = pages
        if blogposts is not None:
            counts["blogposts"] = blogposts
        self.lock = threading.RLock()
        self.generation = 0  # bumped by every mutation: query caches key on it
        self.issue_writes: dict[int, int] = {}  # idx -> wall-clock ms of its last write (search lag)
        self.page_writes: dict[int, int] = {}
        self.jira_url = ""  # set by the site once bound (objects carry absolute self links)
        self.confluence_url = ""
        self._build_users(counts["users"])
        self._build_projects(counts["sd_projects"], counts["sw_projects"])
        self._build_issues(counts["issues"])
        self._build_spaces(counts["spaces"])
        self._build_pages(counts["pages"], counts["blogposts"])

    # ----------------------------------------------------------------- users
    def _build_users(self, n: int) -> None:
        rng = rng_for(self.seed, "users")
        self.users: list[dict] = []
        for i in range(n):
            first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
            name = f"{first.lower()}.{last.lower()}{i if i >= len(FIRST) else ''}"
            self.users.append({
                "account_id": "5b10a2844c20165700ede" + f"{rng.getrandbits(12):03x}" + f"{i:04d}",
                "name": name, "key": f"JIRAUSER{10000 + i}",
                "display": f"{first} {last}", "email": f"{name}@example.com",
            })
        # the demo user every Basic/PAT login resolves to
        self.demo_user = self.users[0]

    # ----------------------------------------------------------------- projects
    def _build_projects(self, n_sd: int, n_sw: int) -> None:
        self.projects: list[dict] = []
        for i in range(n_sd + n_sw):
            sd = i < n_sd
            name = PROJECT_NAMES[i % len(PROJECT_NAMES)] if sd else SW_NAMES[(i - n_sd) % len(SW_NAMES)]
            key = ("SD" if sd else "SW") + chr(ord("A") + (i if sd else i - n_sd) % 26)
            if (i if sd else i - n_sd) >= 26:
                key += str((i if sd else i - n_sd) // 26)
            self.projects.append({
                "idx": i, "id": str(10000 + i), "key": key, "name": name,
                "type": "service_desk" if sd else "software",
                "service_desk_id": str(i + 1) if sd else None,
            })
        self._project_by_key = {p["key"]: p for p in self.projects}
        self.request_types: dict[str, list[dict]] = {}
        rt_names = ["Get IT help", "Request new hardware", "Report a problem", "Ask a question",
                    "Request access"]
        rt_id = 1
        for p in self.projects:
            if p["service_desk_id"]:
                self.request_types[p["service_desk_id"]] = [
                    {"id": str(rt_id + j), "name": rt_names[j], "issue_type_id": str(10100 + j % 3)}
                    for j in range(len(rt_names))
                ]
                rt_id += len(rt_names)

    def project(self, key_or_id: str) -> dict | None:
        p = self._project_by_key.get(key_or_id) or self._project_by_key.get(str(key_or_id).upper())
        if p:
            return p
        return next((p for p in self.projects if p["id"] == str(key_or_id)), None)

    def service_desks(self) -> list[dict]:
        return [p for p in self.projects if p["service_desk_id"]]

    # ----------------------------------------------------------------- issues
    def _build_issues(self, n: int) -> None:
        rng = rng_for(self.seed, "issues")
        nproj = len(self.projects)
        self._i_proj = [i % nproj for i in range(n)]
        self._i_num = [i // nproj + 1 for i in range(n)]
        self._i_created: list[int] = []
        self._i_updated: list[int] = []
        span = 720 * DAY_MS
        for _ in range(n):
            created = BASE_MS - 30 * DAY_MS - rng.randrange(span)
            self._i_created.append(created)
            self._i_updated.append(created + rng.randrange(25 * DAY_MS))
        self._i_ver = [0] * n
        self._i_deleted: set[int] = set()
        self._next_num = [0] * nproj
        for p in range(nproj):
            self._next_num[p] = len(range(p, n, nproj)) + 1
        self._extra_keys: dict[str, int] = {}

    def _issue_idx(self, id_or_key: str | int) -> int | None:
        s = str(id_or_key)
        if s.isdigit():
            idx = int(s) - 10000
        else:
            idx = self._extra_keys.get(s.upper(), -1)
            if idx < 0 and "-" in s:
                pkey, _, num = s.upper().rpartition("-")
                p = self._project_by_key.get(pkey)
                if p and num.isdigit() and int(num) > 0:
                    idx = (int(num) - 1) * len(self.projects) + p["idx"]
        if 0 <= idx < len(self._i_proj) and idx not in self._i_deleted:
            # a parsed key must really be that issue's key
            if not s.isdigit() and self.issue_key(idx) != s.upper():
                return None
            return idx
        return None

    def issue_key(self, idx: int) -> str:
        return f"{self.projects[self._i_proj[idx]]['key']}-{self._i_num[idx]}"

    def issue_ref(self, id_or_key: str | int) -> IssueRef | None:
        idx = self._issue_idx(id_or_key)
        return None if idx is None else self._ref(idx)

    def _ref(self, idx: int) -> IssueRef:
        p = self.projects[self._i_proj[idx]]
        return IssueRef(idx, str(10000 + idx), self.issue_key(idx), p["key"], p["id"],
                        self._i_created[idx], self._i_updated[idx], self._i_ver[idx])

    def issues(self, project_keys: list[str] | None = None) -> list[IssueRef]:
        """Every live issue (optionally of some projects), in id order."""
        with self.lock:
            wanted = None if project_keys is None else {
                self._project_by_key[k]["idx"] for k in project_keys if k in self._project_by_key}
            return [self._ref(i) for i in range(len(self._i_proj))
                    if i not in self._i_deleted and (wanted is None or self._i_proj[i] in wanted)]

    def issue_count(self) -> int:
        return len(self._i_proj) - len(self._i_deleted)

    def issue_columns(self) -> tuple[list[int], list[int], list[int], set[int]]:
        """(project idx, updated, created, deleted) columns for fast query evaluation."""
        return self._i_proj, self._i_updated, self._i_created, self._i_deleted

    # ----------------------------------------------------------------- spaces / pages
    def _build_spaces(self, n: int) -> None:
        rng = rng_for(self.seed, "spaces")
        self.spaces: list[dict] = []
        for i in range(n):
            name = SPACE_NAMES[i % len(SPACE_NAMES)]
            parts = name.split()
            key = ("".join(w[0] for w in parts) if len(parts) > 1 else name[:3]).upper()[:3]
            key += "" if i < len(SPACE_NAMES) else str(i)
            if any(s["key"] == key for s in self.spaces):
                key = f"{key}{i}"
            self.spaces.append({
                "idx": i, "id": str(32768 + i * 65536 + 1), "key": key, "name": name,
                "created": BASE_MS - 800 * DAY_MS + rng.randrange(30 * DAY_MS),
                "homepage_idx": i,  # page i is the homepage of space i
            })
        self._space_by_key = {s["key"]: s for s in self.spaces}
        self._space_by_id = {s["id"]: s for s in self.spaces}

    def space(self, key_or_id: str) -> dict | None:
        return self._space_by_key.get(str(key_or_id)) or self._space_by_id.get(str(key_or_id))

    def _build_pages(self, n: int, blogs: int) -> None:
        """Pages first (idx < n; the first `spaces` are the homepages), then blog posts."""
        n = max(n, len(self.spaces))
        rng = rng_for(self.seed, "pages")
        ns = len(self.spaces)
        self._p_kind = [PAGE] * n + [BLOGPOST] * blogs
        n += blogs
        self._p_space = [i % ns for i in range(n)]
        self._p_created: list[int] = []
        self._p_modified: list[int] = []
        self._p_version: list[int] = []
        for i in range(n):
            created = max(self.spaces[i % ns]["created"] + DAY_MS,
                          BASE_MS - 30 * DAY_MS - rng.randrange(700 * DAY_MS))
            versions = 1 + rng.randrange(6)
            self._p_created.append(created)
            self._p_modified.append(created if versions == 1 else created + rng.randrange(25 * DAY_MS))
            self._p_version.append(versions)
        self._p_deleted: set[int] = set()

    def page_id(self, idx: int) -> str:
        return str(98304 + idx * 3)

    def _page_idx(self, page_id: str | int, kind: str | None = None) -> int | None:
        """Index of a live page/blog post by id (of that kind only, when given)."""
        s = str(page_id)
        if not s.isdigit() or (int(s) - 98304) % 3:
            return None
        idx = (int(s) - 98304) // 3
        if 0 <= idx < len(self._p_space) and idx not in self._p_deleted and (
                kind is None or self._p_kind[idx] == KINDS[kind]):
            return idx
        return None

    def _pref(self, idx: int) -> PageRef:
        sp = self.spaces[self._p_space[idx]]
        return PageRef(idx, self.page_id(idx), sp["id"], sp["key"], self._p_created[idx],
                       self._p_modified[idx], self._p_version[idx],
                       "page" if self._p_kind[idx] == PAGE else "blogpost")

    def page_ref(self, page_id: str | int, kind: str | None = "page") -> PageRef | None:
        """A page's ref (kind="blogpost": a blog post's; None: either)."""
        idx = self._page_idx(page_id, kind)
        return None if idx is None else self._pref(idx)

    def pages(self, space_keys: list[str] | None = None, kind: str = "page") -> list[PageRef]:
        """Every live page (or blog post, with kind="blogpost"), optionally of some spaces, in id order."""
        code = KINDS[kind]
        with self.lock:
            wanted = None if space_keys is None else {
                self._space_by_key[k]["idx"] for k in space_keys if k in self._space_by_key}
            return [self._pref(i) for i in range(len(self._p_space))
                    if i not in self._p_deleted and self._p_kind[i] == code
                    and (wanted is None or self._p_space[i] in wanted)]

    def blogposts(self, space_keys: list[str] | None = None) -> list[PageRef]:
        return self.pages(space_keys, kind="blogpost")

    def page_count(self, kind: str = "page") -> int:
        code = KINDS[kind]
        return sum(1 for i, k in enumerate(self._p_kind) if k == code and i not in self._p_deleted)

    def page_columns(self) -> tuple[list[int], list[int], list[int], set[int]]:
        """(space idx, modified, created, deleted) of pages and blog posts (see `_p_kind`)."""
        return self._p_space, self._p_modified, self._p_created, self._p_deleted

    def page_parent_idx(self, idx: int) -> int | None:
        """Homepages have no parent; other pages hang under an earlier page of their space."""
        ns = len(self.spaces)
        if idx < ns or self._p_kind[idx] != PAGE:
            return None
        choices = [j for j in range(self._p_space[idx], idx, ns) if self._p_kind[j] == PAGE]
        return rng_for(self.seed, "parent", idx).choice(choices)

    def unindexed(self, writes: dict[int, int], lag_ms: int) -> set[int]:
        """Objects written less than `lag_ms` ago: a search index would not show them yet."""
        if not lag_ms or not writes:
            return set()
        cutoff = now_ms() - lag_ms
        with self.lock:
            return {i for i, w in writes.items() if w > cutoff}

    # ----------------------------------------------------------------- mutations
    def _bump(self) -> None:
        self.generation += 1

    def touch_issue(self, id_or_key: str | int, at: str | int | None = None) -> IssueRef:
        with self.lock:
            idx = self._issue_idx(id_or_key)
            if idx is None:
                raise KeyError(f"no issue {id_or_key}")
            self._i_updated[idx] = now_ms() if at is None else parse_instant(at)
            self._i_ver[idx] += 1
            self.issue_writes[idx] = now_ms()
            self._bump()
            return self._ref(idx)

    def add_issue(self, project_key: str, at: str | int | None = None) -> IssueRef:
        with self.lock:
            p = self._project_by_key[project_key]
            idx = len(self._i_proj)
            ts = now_ms() if at is None else parse_instant(at)
            self._i_proj.append(p["idx"])
            self._i_num.append(self._next_num[p["idx"]])
            self._next_num[p["idx"]] += 1
            self._i_created.append(ts)
            self._i_updated.append(ts)
            self._i_ver.append(0)
            self._extra_keys[self.issue_key(idx)] = idx
            self.issue_writes[idx] = now_ms()
            self._bump()
            return self._ref(idx)

    def delete_issue(self, id_or_key: str | int) -> None:
        with self.lock:
            idx = self._issue_idx(id_or_key)
            if idx is None:
                raise KeyError(f"no issue {id_or_key}")
            self._i_deleted.add(idx)
            self._bump()

    def touch_page(self, page_id: str | int, at: str | int | None = None) -> PageRef:
        """A new version of the page: version.number + 1, modified at `at` (default now)."""
        with self.lock:
            idx = self._page_idx(page_id)
            if idx is None:
                raise KeyError(f"no page {page_id}")
            self._p_modified[idx] = now_ms() if at is None else parse_instant(at)
            self._p_version[idx] += 1
            self.page_writes[idx] = now_ms()
            self._bump()
            return self._pref(idx)

    def add_page(self, space_key: str, at: str | int | None = None, kind: str = "page") -> PageRef:
        with self.lock:
            sp = self._space_by_key[space_key]
            ts = now_ms() if at is None else parse_instant(at)
            idx = len(self._p_space)
            self._p_kind.append(KINDS[kind])
            self._p_space.append(sp["idx"])
            self._p_created.append(ts)
            self._p_modified.append(ts)
            self._p_version.append(1)
            self.page_writes[idx] = now_ms()
            self._bump()
            return self._pref(idx)

    def delete_page(self, page_id: str | int) -> None:
        with self.lock:
            idx = self._page_idx(page_id)
            if idx is None:
                raise KeyError(f"no page {page_id}")
            self._p_deleted.add(idx)
            self._bump()
