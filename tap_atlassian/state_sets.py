"""Compact encodings of the sets a stream keeps in its STATE between runs.

Two sets are kept, both as short strings inside the stream's bookmark:

- :class:`IdRuns`: the issue ids known live (for the delete sweep, :mod:`tap_atlassian.deletes`).
  Jira issue ids are integers handed out in order, so a site's ids are long runs of
  consecutive numbers broken only by deleted issues and other projects' issues. A run is
  written as ``<gap>.<length>`` in base 36 (the gap from the end of the previous run; the
  length is left out when it is 1), runs separated by ``,``. 1,000,000 consecutive ids cost
  a few bytes; each break costs about 6 more.
- :class:`Versions`: ``(id, updated)`` pairs of the records emitted in the lookback span
  (:mod:`tap_atlassian.lookback`) or of one issue's children (comment ids per issue):
  ``<id delta>:<ms offset>`` in base 36 from a base time, sorted by id, about 10 bytes a pair.

Both decode what they encode and nothing else: a string that does not parse (hand-edited
state, another version of the tap) is treated as empty, which costs one re-read, never a
wrong tombstone (a tombstone needs an id that was known live).
"""

from __future__ import annotations

import bisect
import itertools
import typing as t

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def b36(value: int) -> str:
    """A non-negative integer in base 36."""
    if value < 0:
        msg = f"cannot encode {value}"
        raise ValueError(msg)
    if value == 0:
        return "0"
    out = []
    while value:
        value, rem = divmod(value, 36)
        out.append(DIGITS[rem])
    return "".join(reversed(out))


def unb36(text: str) -> int:
    """The integer of a base-36 string."""
    return int(text, 36)


def as_int(value: t.Any) -> int | None:  # noqa: ANN401
    """An id as an integer (Jira ids are numeric strings), else None."""
    text = str(value)
    return int(text) if text.isdigit() else None


class IdRuns:
    """A set of non-negative integers kept as sorted, disjoint runs ``[start, end]``."""

    def __init__(self, runs: list[tuple[int, int]] | None = None) -> None:
        """Runs must be sorted and disjoint (``from_ids``/``decode`` guarantee it)."""
        self.runs: list[tuple[int, int]] = runs or []

    @classmethod
    def from_ids(cls, ids: t.Iterable[int]) -> IdRuns:
        """Runs of any iterable of integers (duplicates and order do not matter)."""
        runs: list[tuple[int, int]] = []
        for value in sorted(set(ids)):
            if runs and value == runs[-1][1] + 1:
                runs[-1] = (runs[-1][0], value)
            else:
                runs.append((value, value))
        return cls(runs)

    @classmethod
    def decode(cls, text: str | None) -> IdRuns:
        """The set of an :meth:`encode` string (empty when absent or unreadable)."""
        runs: list[tuple[int, int]] = []
        if not text:
            return cls(runs)
        position = -1
        try:
            for token in text.split(","):
                gap, _, length = token.partition(".")
                start = position + 1 + unb36(gap)
                end = start + (unb36(length) if length else 1) - 1
                if end < start:
                    return cls([])
                runs.append((start, end))
                position = end
        except ValueError:
            return cls([])
        return cls(runs)

    def encode(self) -> str:
        """The compact string (see the module docstring)."""
        out = []
        position = -1
        for start, end in self.runs:
            length = end - start + 1
            token = b36(start - position - 1)
            out.append(token if length == 1 else f"{token}.{b36(length)}")
            position = end
        return ",".join(out)

    def __contains__(self, value: object) -> bool:
        """Whether ``value`` is in one of the runs."""
        if not isinstance(value, int):
            return False
        i = bisect.bisect_right(self.runs, (value, float("inf"))) - 1
        return i >= 0 and self.runs[i][0] <= value <= self.runs[i][1]

    def __len__(self) -> int:
        """How many integers the runs hold."""
        return sum(end - start + 1 for start, end in self.runs)

    def __iter__(self) -> t.Iterator[int]:
        """Every integer, ascending."""
        for start, end in self.runs:
            yield from range(start, end + 1)

    def __eq__(self, other: object) -> bool:
        """Same runs."""
        return isinstance(other, IdRuns) and self.runs == other.runs

    __hash__ = None  # type: ignore[assignment]

    def union(self, ids: t.Iterable[int]) -> IdRuns:
        """These runs plus ``ids`` (a merge: linear in runs plus the new ids' sort)."""
        extra = IdRuns.from_ids(ids).runs
        merged: list[tuple[int, int]] = []
        for start, end in sorted(self.runs + extra):
            if merged and start <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return IdRuns(merged)

    def difference(self, other: IdRuns) -> list[int]:
        """The integers here and not in ``other`` (both walked once, in order)."""
        out: list[int] = []
        j = 0
        theirs = other.runs
        for start, end in self.runs:
            value = start
            while value <= end:
                while j < len(theirs) and theirs[j][1] < value:
                    j += 1
                if j < len(theirs) and theirs[j][0] <= value:
                    value = theirs[j][1] + 1
                    continue
                stop = min(end, theirs[j][0] - 1) if j < len(theirs) else end
                out.extend(range(value, stop + 1))
                value = stop + 1
        return out

    def intersection(self, other: IdRuns) -> IdRuns:
        """The integers in both."""
        out: list[tuple[int, int]] = []
        i = j = 0
        while i < len(self.runs) and j < len(other.runs):
            start = max(self.runs[i][0], other.runs[j][0])
            end = min(self.runs[i][1], other.runs[j][1])
            if start <= end:
                out.append((start, end))
            if self.runs[i][1] < other.runs[j][1]:
                i += 1
            else:
                j += 1
        return IdRuns(out)


class Versions:
    """``id -> version`` (epoch milliseconds, or any non-negative integer), compactly encoded."""

    def __init__(self, pairs: dict[int, int] | None = None) -> None:
        """An empty or given mapping."""
        self.pairs: dict[int, int] = pairs or {}

    @classmethod
    def decode(cls, text: str | None) -> Versions:
        """The mapping of an :meth:`encode` string (empty when absent or unreadable)."""
        pairs: dict[int, int] = {}
        if not text:
            return cls(pairs)
        try:
            base_text, _, body = text.partition("|")
            base = unb36(base_text)
            ident = 0
            for token in body.split(",") if body else []:
                delta, _, offset = token.partition(":")
                ident += unb36(delta)
                pairs[ident] = base + unb36(offset)
        except ValueError:
            return cls({})
        return cls(pairs)

    def encode(self) -> str:
        """``<base>|<id delta>:<offset>,...``, ids ascending (deltas stay short)."""
        if not self.pairs:
            return ""
        base = min(self.pairs.values())
        out = []
        previous = 0
        for ident in sorted(self.pairs):
            out.append(f"{b36(ident - previous)}:{b36(self.pairs[ident] - base)}")
            previous = ident
        return f"{b36(base)}|{','.join(out)}"

    def get(self, ident: int) -> int | None:
        """The version recorded for ``ident``."""
        return self.pairs.get(ident)

    def __len__(self) -> int:
        """How many ids."""
        return len(self.pairs)

    def keep(self, predicate: t.Callable[[int, int], bool]) -> Versions:
        """The pairs for which ``predicate(id, version)`` holds."""
        return Versions({k: v for k, v in self.pairs.items() if predicate(k, v)})


class Groups:
    """``parent id -> sorted child ids`` (an issue's comment ids), compactly encoded.

    ``<parent delta>:<first child>.<child delta>...`` groups joined by ``;``, parents ascending,
    every number base 36: about 4 to 6 bytes per child id plus 4 per parent. Parents with no
    children are not kept.
    """

    def __init__(self, groups: dict[int, list[int]] | None = None) -> None:
        """An empty or given mapping."""
        self.groups: dict[int, list[int]] = groups or {}

    @classmethod
    def decode(cls, text: str | None) -> Groups:
        """The mapping of an :meth:`encode` string (empty when absent or unreadable)."""
        groups: dict[int, list[int]] = {}
        if not text:
            return cls(groups)
        parent = 0
        try:
            for token in text.split(";"):
                head, _, body = token.partition(":")
                parent += unb36(head)
                children: list[int] = []
                for part in body.split("."):
                    children.append((children[-1] if children else 0) + unb36(part))
                groups[parent] = children
        except ValueError:
            return cls({})
        return cls(groups)

    def encode(self) -> str:
        """The compact string."""
        out = []
        previous = 0
        for parent in sorted(self.groups):
            children = self.groups[parent]
            if not children:
                continue
            deltas = [b36(children[0])] + [b36(b - a) for a, b in itertools.pairwise(children)]
            out.append(f"{b36(parent - previous)}:{'.'.join(deltas)}")
            previous = parent
        return ";".join(out)

    def get(self, parent: int) -> list[int]:
        """The children recorded for ``parent`` (empty when none)."""
        return self.groups.get(parent, [])

    def put(self, parent: int, children: t.Iterable[int]) -> None:
        """Record ``parent``'s children (none: forget the parent)."""
        values = sorted(set(children))
        if values:
            self.groups[parent] = values
        else:
            self.groups.pop(parent, None)
