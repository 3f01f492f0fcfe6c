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
from array import array

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
    """A set of non-negative integers kept as sorted, disjoint, non-adjacent runs ``[start, end]``.

    The runs are two ``array('q')`` (16 bytes a run, against about 60 a member for a set of
    ints): a site's live set costs what its breaks cost, not what its size does.
    """

    def __init__(self, runs: t.Iterable[tuple[int, int]] = ()) -> None:
        """Runs must be sorted, disjoint and non-adjacent (every constructor here ensures it)."""
        self.starts = array("q")
        self.ends = array("q")
        for start, end in runs:
            self.starts.append(start)
            self.ends.append(end)

    @classmethod
    def of_arrays(cls, starts: array, ends: array) -> IdRuns:
        """Runs from their arrays as they are (not copied)."""
        runs = cls()
        runs.starts, runs.ends = starts, ends
        return runs

    @classmethod
    def from_ids(cls, ids: t.Iterable[int]) -> IdRuns:
        """Runs of any iterable of integers (duplicates and order do not matter; ascending
        input costs only its runs, see :class:`RunsBuilder`).
        """
        builder = RunsBuilder()
        for value in ids:
            builder.add(value)
        return builder.build()

    @classmethod
    def decode(cls, text: str | None) -> IdRuns:
        """The set of an :meth:`encode` string (empty when absent or unreadable)."""
        runs = cls()
        if not text:
            return runs
        position = -1
        try:
            for token in text.split(","):
                gap, _, length = token.partition(".")
                start = position + 1 + unb36(gap)
                end = start + (unb36(length) if length else 1) - 1
                if end < start:
                    return cls()
                if runs.ends and start == position + 1:  # a gap of 0: the same set, one run
                    runs.ends[-1] = end
                else:
                    runs.starts.append(start)
                    runs.ends.append(end)
                position = end
        except (ValueError, OverflowError):
            return cls()
        return runs

    def encode(self) -> str:
        """The compact string (see the module docstring)."""
        out = []
        position = -1
        for start, end in zip(self.starts, self.ends, strict=True):
            length = end - start + 1
            token = b36(start - position - 1)
            out.append(token if length == 1 else f"{token}.{b36(length)}")
            position = end
        return ",".join(out)

    @property
    def runs(self) -> list[tuple[int, int]]:
        """The runs as ``(start, end)`` pairs (a copy)."""
        return list(zip(self.starts, self.ends, strict=True))

    def __contains__(self, value: object) -> bool:
        """Whether ``value`` is in one of the runs."""
        if not isinstance(value, int):
            return False
        i = bisect.bisect_right(self.starts, value) - 1
        return i >= 0 and value <= self.ends[i]

    def __len__(self) -> int:
        """How many integers the runs hold."""
        return sum(self.ends) - sum(self.starts) + len(self.ends)

    def __iter__(self) -> t.Iterator[int]:
        """Every integer, ascending."""
        for start, end in zip(self.starts, self.ends, strict=True):
            yield from range(start, end + 1)

    def __eq__(self, other: object) -> bool:
        """Same runs."""
        return isinstance(other, IdRuns) and self.starts == other.starts and self.ends == other.ends

    __hash__ = None  # type: ignore[assignment]

    def union(self, ids: t.Iterable[int]) -> IdRuns:
        """These runs plus ``ids`` (another :class:`IdRuns`, or integers in any order): one
        merge, linear in both sets' runs.
        """
        other = ids if isinstance(ids, IdRuns) else IdRuns.from_ids(ids)
        if not other.ends:
            return self
        if not self.ends:
            return other
        merged = RunsBuilder()
        theirs = zip(other.starts, other.ends, strict=True)
        pending = next(theirs, None)
        for start, end in zip(self.starts, self.ends, strict=True):
            while pending is not None and pending[0] < start:
                merged.extend(*pending)
                pending = next(theirs, None)
            merged.extend(start, end)
        while pending is not None:
            merged.extend(*pending)
            pending = next(theirs, None)
        return merged.build()

    def difference(self, other: IdRuns) -> list[int]:
        """The integers here and not in ``other`` (both walked once, in order)."""
        out: list[int] = []
        j = 0
        their_starts, their_ends = other.starts, other.ends
        count = len(their_ends)
        for start, end in zip(self.starts, self.ends, strict=True):
            value = start
            while value <= end:
                while j < count and their_ends[j] < value:
                    j += 1
                if j < count and their_starts[j] <= value:
                    value = their_ends[j] + 1
                    continue
                stop = min(end, their_starts[j] - 1) if j < count else end
                out.extend(range(value, stop + 1))
                value = stop + 1
        return out

    def intersection(self, other: IdRuns) -> IdRuns:
        """The integers in both."""
        out = RunsBuilder()
        i = j = 0
        while i < len(self.ends) and j < len(other.ends):
            start = max(self.starts[i], other.starts[j])
            end = min(self.ends[i], other.ends[j])
            if start <= end:
                out.extend(start, end)
            if self.ends[i] < other.ends[j]:
                i += 1
            else:
                j += 1
        return out.build()


class RunsBuilder:
    """Collects integers arriving in any order into :class:`IdRuns` without a set of them.

    An integer at or past the end of the last run extends it or opens a new run; one before
    it (out of order) waits in a buffer, sorted and merged into the runs once the buffer is as
    long as the runs (at least ``MIN_BUFFER``). So ascending input (a sweep's listing, ordered
    by creation) holds only its runs, and any order holds at most twice the runs' size plus
    ``MIN_BUFFER`` integers, each merge paid for by the integers buffered since the last one.
    """

    MIN_BUFFER = 4096

    def __init__(self) -> None:
        """Nothing collected yet."""
        self.starts = array("q")
        self.ends = array("q")
        self.pending = array("q")

    def add(self, value: int) -> None:
        """One integer (a duplicate is harmless)."""
        ends = self.ends
        if ends:
            last = ends[-1]
            if value == last + 1:
                ends[-1] = value
                return
            if value > last:
                self.starts.append(value)
                ends.append(value)
                return
            if value >= self.starts[-1]:
                return
            self.pending.append(value)
            if len(self.pending) >= max(self.MIN_BUFFER, len(ends)):
                self.merge()
        else:
            self.starts.append(value)
            ends.append(value)

    def extend(self, start: int, end: int) -> None:
        """The run ``[start, end]``, which starts at or after the last run's start (merges)."""
        ends = self.ends
        if ends and start <= ends[-1] + 1:
            ends[-1] = max(ends[-1], end)
        else:
            self.starts.append(start)
            ends.append(end)

    def merge(self) -> None:
        """Sort the buffer into the runs (one pass over both)."""
        if not self.pending:
            return
        values = sorted(self.pending)
        self.pending = array("q")
        runs = zip(self.starts, self.ends, strict=True)
        self.starts, self.ends = array("q"), array("q")
        i, count = 0, len(values)
        for start, end in runs:
            while i < count and values[i] < start:
                self.extend(values[i], values[i])
                i += 1
            self.extend(start, end)
        for value in values[i:]:
            self.extend(value, value)

    def build(self) -> IdRuns:
        """The runs so far (a copy: the builder can go on collecting)."""
        self.merge()
        return IdRuns.of_arrays(self.starts[:], self.ends[:])


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
