"""The CQL subset the tap uses; anything else is Confluence's 400.

    query  := clause ("and" clause)* ["order by" key [asc|desc] ("," ...)*]
    clause := type (= | in) page-or-list | space[.key] (= | in) value-or-list
            | (lastmodified|created) (< | <= | > | >= | =) "yyyy-MM-dd HH:mm" (or yyyy/MM/dd [HH:mm])
    key    := lastmodified | created | id | title

Dates are read in the searching user's time zone (`/rest/api/user/current` timeZone), minute
granularity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .http import FakeHTTPError
from .jql import local_instant, token_value, tokenize

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo


def cql_error(message: str) -> FakeHTTPError:
    return FakeHTTPError(400, {"statusCode": 400, "data": {"authorized": True, "valid": False,
                                                           "errors": [], "successful": False},
                               "message": f"Could not parse cql : {message}"})


@dataclass
class Cql:
    types: set[str] = field(default_factory=lambda: {"page", "blogpost"})
    spaces: set[str] | None = None
    ranges: list[tuple[str, str, int]] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)
    typed: bool = False  # a `type` clause was given (else pages and blog posts)

    def cache_key(self) -> tuple:
        return (frozenset(self.types), frozenset(self.spaces or ()), self.spaces is None,
                tuple(self.ranges), tuple(self.order))


class _P:
    def __init__(self, text: str, tz: ZoneInfo) -> None:
        try:
            self.toks = tokenize(text)
        except FakeHTTPError as e:
            raise cql_error(text) from e
        self.i, self.tz, self.text, self.q = 0, tz, text, Cql()

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def next(self) -> tuple[str, str]:
        t = self.peek()
        if t is None:
            raise cql_error(self.text)
        self.i += 1
        return t

    def is_word(self, *w: str) -> bool:
        t = self.peek()
        return t is not None and t[0] == "word" and t[1].lower() in w

    def values(self) -> list[str]:
        op = self.next()
        if op == ("op", "="):
            return [self.value()]
        if op[0] == "word" and op[1].lower() == "in" and self.next() == ("punct", "("):
            out = [self.value()]
            while (sep := self.next()) == ("punct", ","):
                out.append(self.value())
            if sep == ("punct", ")"):
                return out
        raise cql_error(self.text)

    def value(self) -> str:
        v = token_value(self.next())
        if v is None:
            raise cql_error(self.text)
        return v

    def date(self) -> int:
        kind, val = self.next()
        ms = local_instant(val[1:-1], self.tz) if kind == "str" else None
        if ms is None:
            raise cql_error(self.text)
        return ms

    def parse(self) -> Cql:
        while self.peek() is not None and not self.is_word("order"):
            self.clause()
            if self.is_word("and"):
                self.i += 1
            elif self.peek() is not None and not self.is_word("order"):
                raise cql_error(self.text)
        if self.is_word("order"):
            self.i += 1
            if not self.is_word("by"):
                raise cql_error(self.text)
            self.i += 1
            while True:
                name = self.next()[1].lower()
                if name not in ("lastmodified", "created", "id", "title"):
                    raise cql_error(self.text)
                desc = False
                if self.is_word("asc", "desc"):
                    desc = self.next()[1].lower() == "desc"
                self.q.order.append((name, desc))
                if self.peek() != ("punct", ","):
                    break
                self.i += 1
        if self.peek() is not None:
            raise cql_error(self.text)
        return self.q

    def clause(self) -> None:
        kind, name = self.next()
        name = name.lower()
        if kind != "word":
            raise cql_error(self.text)
        if name == "type":
            types = {v.lower() for v in self.values()}
            if not types <= {"page", "blogpost", "comment", "attachment", "space"}:
                raise cql_error(self.text)
            self.q.types = types if not self.q.typed else self.q.types & types
            self.q.typed = True
        elif name in ("space", "space.key"):
            keys = set(self.values())
            self.q.spaces = keys if self.q.spaces is None else self.q.spaces & keys
        elif name in ("lastmodified", "created"):
            op = self.next()
            if op[0] != "op" or op[1] not in ("<", "<=", ">", ">=", "="):
                raise cql_error(self.text)
            self.q.ranges.append((name, op[1], self.date()))
        else:
            raise cql_error(self.text)


def parse(text: str, tz: ZoneInfo) -> Cql:
    if not (text or "").strip():
        raise cql_error("cql is required")
    return _P(text, tz).parse()
