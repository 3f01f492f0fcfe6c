"""Confluence comments, attachments, labels, page histories and groups of the fake site.

Seeded lazily (on the first request that needs them) from the same seed as the pages, so a
site that never reads them starts as fast as before. Comments and attachments are small
mutable records; labels are a pure function of (seed, page); page versions are the page's
seeded history (version 1 at `created`, the last at `modified`) plus one entry per edit made
through `touch` or `edit`. Trash, restore and purge work on pages, blog posts, comments and
attachments (see README "Confluence: comments, attachments, versions, labels, groups").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .data import BASE_MS, DAY_MS, PAGE, rng_for, words
from .timefmt import now_ms, parse_instant

if TYPE_CHECKING:
    from .data import Store

LABELS = ("howto", "meeting-notes", "decision", "architecture", "onboarding", "faq", "runbook",
          "retrospective", "release", "policy", "draft", "kb-article")
MEDIA = (("application/pdf", "PDF document", "pdf"), ("image/png", "PNG image", "png"),
         ("text/plain", "Text file", "txt"), ("application/zip", "Zip archive", "zip"))
GROUPS = ("confluence-users", "confluence-administrators", "site-admins", "engineering", "human-resources",
          "marketing", "support", "finance", "design", "legal", "operations", "security", "contractors",
          "alumni")
COMMENT_BASE, ATTACHMENT_BASE, LABEL_BASE = 5_000_000, 7_000_000, 3_000_000


@dataclass
class Item:
    """One comment or attachment: its container is a page or blog post (index in the store)."""

    id: int
    kind: str  # "comment" | "attachment"
    container: int
    created: int
    modified: int
    version: int = 1
    status: str = "current"  # "current" | "trashed"; purged items are removed
    location: str = "footer"  # comments: "footer" | "inline"
    parent: int | None = None  # a reply's parent comment id
    media: int = 0  # attachments: index in MEDIA
    size: int = 0

    @property
    def ident(self) -> str:
        """The API id: comments numeric, attachments `att<n>` (both v2 and v1)."""
        return f"att{self.id}" if self.kind == "attachment" else str(self.id)


class ExtraStore:
    """Everything of Confluence beyond spaces, pages and blog posts. Uses the store's lock."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.lock = store.lock
        self.items: dict[int, Item] | None = None  # seeded on first use
        self.writes: dict[int, int] = {}  # item id -> wall-clock ms of its last write (index lag)
        self.trashed_pages: dict[int, int] = {}  # page idx -> when it was trashed
        self.edits: dict[int, list[int]] = {}  # page idx -> times of versions after the seeded ones
        self.base_version = list(store._p_version)  # seeded versions per page
        self.base_modified = list(store._p_modified)
        self.next_id = 0
        self.groups = self._seed_groups()

    # ----------------------------------------------------------------- seeding
    def all_items(self) -> dict[int, Item]:
        with self.lock:
            if self.items is None:
                self.items = {}
                for idx in range(len(self.base_version)):
                    self._seed_container(idx)
                self.next_id = len(self.items)
            return self.items

    def _seed_container(self, idx: int) -> None:
        s = self.store
        rng = rng_for(s.seed, "extra", idx)
        assert self.items is not None
        created = s._p_created[idx]

        def times() -> tuple[int, int, int]:
            start = created + rng.randrange(max(1, min(BASE_MS, self.base_modified[idx] + 20 * DAY_MS) - created))
            start = min(start, BASE_MS - DAY_MS)
            edits = rng.randrange(3)
            return start, min(BASE_MS - 1, start + edits * rng.randrange(1, 3 * DAY_MS)), 1 + edits

        footers: list[int] = []
        for _ in range(rng.randrange(4)):
            c, m, v = times()
            parent = rng.choice(footers) if footers and rng.random() < 0.4 else None
            if parent is not None:  # a reply comes after its parent
                c = max(c, self.items[parent].created + 60_000)
                m = max(m, c)
            item = Item(COMMENT_BASE + len(self.items), "comment", idx, c, m, v, parent=parent)
            self.items[item.id] = item
            footers.append(item.id)
        for _ in range(rng.randrange(3)):
            c, m, v = times()
            item = Item(COMMENT_BASE + len(self.items), "comment", idx, c, m, v, location="inline")
            self.items[item.id] = item
        for _ in range(rng.randrange(3)):
            c, m, v = times()
            item = Item(ATTACHMENT_BASE + len(self.items), "attachment", idx, c, m, v,
                        media=rng.randrange(len(MEDIA)), size=1024 + rng.randrange(5_000_000))
            self.items[item.id] = item

    def _seed_groups(self) -> list[dict]:
        s = self.store
        rng = rng_for(s.seed, "groups")
        out = []
        for i, name in enumerate(GROUPS):
            members = list(range(len(s.users))) if i == 0 else sorted(
                rng.sample(range(len(s.users)), rng.randrange(0, len(s.users) + 1)))
            gid = f"{rng.getrandbits(32):08x}-{i:04x}-4{rng.getrandbits(12):03x}-8{rng.getrandbits(12):03x}-{rng.getrandbits(48):012x}"
            out.append({"id": gid, "name": name, "members": members})
        return out

    # ----------------------------------------------------------------- reads
    def container_live(self, idx: int) -> bool:
        return idx not in self.store._p_deleted

    def visible(self, item: Item) -> bool:
        """Listed and searchable: current, in a live page or blog post."""
        return item.status == "current" and self.container_live(item.container)

    def item(self, ident: str, kind: str | None = None) -> Item | None:
        """A comment or attachment by API id (`att` prefix optional), whatever its status."""
        text = ident[3:] if ident.startswith("att") else ident
        if not text.isdigit():
            return None
        item = self.all_items().get(int(text))
        if item is None or (kind is not None and item.kind != kind):
            return None
        return item

    def labels(self, idx: int) -> list[dict]:
        """A page's or blog post's labels (global prefix; ids are per label name, site-wide)."""
        rng = rng_for(self.store.seed, "labels", idx)
        picks = sorted(rng.sample(range(len(LABELS)), rng.randrange(4)))
        return [{"id": str(LABEL_BASE + 7 * k + 1), "name": LABELS[k], "prefix": "global"} for k in picks]

    def version_times(self, idx: int) -> list[int]:
        """Times of versions 1..current of a page (ascending)."""
        s = self.store
        created = s._p_created[idx]
        base = self.base_version[idx] if idx < len(self.base_version) else 1
        last = self.base_modified[idx] if idx < len(self.base_modified) else created
        seeded = [created] if base == 1 else [created + (last - created) * k // (base - 1) for k in range(base)]
        return (seeded + self.edits.get(idx, []))[: s._p_version[idx]]

    def title(self, item: Item) -> str:
        if item.kind == "attachment":
            rng = rng_for(self.store.seed, "att", item.id)
            return words(rng, 2).replace(" ", "-") + f"-{item.id}." + MEDIA[item.media][2]
        return "Re: " + words(rng_for(self.store.seed, "comment", item.id), 3)

    def body(self, item: Item) -> str:
        rng = rng_for(self.store.seed, "cbody", item.id, item.version)
        return f"<p>{words(rng, 8 + rng.randrange(20)).capitalize()}.</p>"

    # ----------------------------------------------------------------- mutations
    def _write(self) -> None:
        self.store._bump()

    def on_page_touched(self, idx: int, modified: int) -> None:
        """A page or blog post got a new version (control.touch): remember that version's time."""
        with self.lock:
            self.edits.setdefault(idx, []).append(modified)

    def add(self, kind: str, container: str, *, location: str = "footer", parent: str | None = None,
            at: str | int | None = None) -> Item:
        """A new comment or attachment on a page or blog post (by id)."""
        with self.lock:
            items = self.all_items()
            idx = self.store._page_idx(container)
            if idx is None:
                raise KeyError(f"no page or blog post {container}")
            ts = now_ms() if at is None else parse_instant(at)
            base = ATTACHMENT_BASE if kind == "attachment" else COMMENT_BASE
            item = Item(base + 500_000 + self.next_id, kind, idx, ts, ts, location=location,
                        parent=int(parent) if parent else None, media=self.next_id % len(MEDIA),
                        size=2048 + self.next_id)
            self.next_id += 1
            items[item.id] = item
            self.writes[item.id] = now_ms()
            self._write()
            return item

    def edit(self, kind: str, ident: str, at: str | int | None = None) -> Item | None:
        """A new version of a comment or attachment (pages: use control.touch)."""
        with self.lock:
            item = self.item(ident, kind)
            if item is None or not self.visible(item):
                raise KeyError(f"no {kind} {ident}")
            item.version += 1
            item.modified = now_ms() if at is None else parse_instant(at)
            self.writes[item.id] = now_ms()
            self._write()
            return item

    def trash(self, kind: str, ident: str) -> None:
        """To the trash: gone from listings and searches; pages 404 on direct reads, trashed
        comments and attachments answer with `status: trashed`."""
        with self.lock:
            if kind in ("page", "blogpost"):
                idx = self.store._page_idx(ident, kind)
                if idx is None:
                    raise KeyError(f"no {kind} {ident}")
                self.store._p_deleted.add(idx)
                self.trashed_pages[idx] = now_ms()
            else:
                item = self.item(ident, kind)
                if item is None or item.status != "current":
                    raise KeyError(f"no {kind} {ident}")
                item.status = "trashed"
            self._write()

    def restore(self, kind: str, ident: str) -> None:
        """Out of the trash, as it was (same version and time)."""
        with self.lock:
            if kind in ("page", "blogpost"):
                idx = self._trashed_idx(ident)
                del self.trashed_pages[idx]
                self.store._p_deleted.discard(idx)
            else:
                item = self.item(ident, kind)
                if item is None or item.status != "trashed":
                    raise KeyError(f"no trashed {kind} {ident}")
                item.status = "current"
            self._write()

    def purge(self, kind: str, ident: str) -> None:
        """Gone for good (from the trash or straight from live)."""
        with self.lock:
            if kind in ("page", "blogpost"):
                s = str(ident)
                try:
                    idx = self._trashed_idx(s)
                    del self.trashed_pages[idx]
                except KeyError:
                    self.store.delete_page(s)
            else:
                item = self.item(ident, kind)
                if item is None:
                    raise KeyError(f"no {kind} {ident}")
                assert self.items is not None
                del self.items[item.id]
            self._write()

    def _trashed_idx(self, ident: str) -> int:
        s = str(ident)
        if s.isdigit() and (int(s) - 98304) % 3 == 0 and (int(s) - 98304) // 3 in self.trashed_pages:
            return (int(s) - 98304) // 3
        raise KeyError(f"no trashed page or blog post {ident}")

    def is_page(self, idx: int) -> bool:
        return self.store._p_kind[idx] == PAGE
