"""The JQL subset the tap uses, parsed strictly: anything else is Jira's 400.

Grammar (case-insensitive keywords):
    query   := [clause (AND clause)*] [ORDER BY sortkey ("," sortkey)*]
    clause  := "(" clause (AND clause)* ")"
             | (project|key|issuekey|id|issue) (= | in) value-or-list
             | (updated|created) (< | <= | > | >= | =) date
    date    := "yyyy-MM-dd HH:mm" | "yyyy/MM/dd HH:mm" | "yyyy-MM-dd" | "yyyy/MM/dd" | epoch-ms
    sortkey := (updated|created|key|id) [ASC|DESC]

Quoted dates are read in the searching user's time zone (`/myself` timeZone) at minute
granularity, as Jira does; an unquoted integer is epoch milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from .http import FakeHTTPError

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

TOKEN = re.compile(r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op><=|>=|!=|=|<|>|~)
    |(?P<punct>[(),])|(?P<word>[^\s"'(),=<>!~]+))""", re.VERBOSE)
DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
DATE_FIELDS = ("updated", "created")
SORT_FIELDS = ("updated", "created", "key", "id")


def jql_error(message: str) -> FakeHTTPError:
    return FakeHTTPError(400, {"errorMessages": [message], "errors": {}})


@dataclass
class Query:
    projects: set[str] | None = None  # upper-case keys (intersection of every project clause)
    keys: set[str] | None = None
    ranges: list[tuple[str, str, int]] = field(default_factory=list)  # (field, op, epoch ms)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)

    @property
    def bounded(self) -> bool:
        return self.projects is not None or self.keys is not None or bool(self.ranges)

    def cache_key(self) -> tuple:
        return (frozenset(self.projects or ()), self.projects is None, frozenset(self.keys or ()),
                self.keys is None, tuple(self.ranges), tuple(self.order))


def tokenize(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise jql_error(f"Error in the JQL Query: The character '{text[pos]}' is a reserved "
                            f"JQL character. (line 1, character {pos + 1})")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def token_value(tok: tuple[str, str]) -> str | None:
    """The text of a quoted string or bare word token (None for operators and punctuation)."""
    kind, val = tok
    if kind == "str":
        return val[1:-1]
    return val if kind == "word" else None


def local_instant(text: str, tz: ZoneInfo) -> int | None:
    """Epoch ms of a "yyyy-MM-dd HH:mm"-style literal read in `tz` (None if not a date)."""
    for fmt in DATE_FORMATS:
        try:
            return int(datetime.strptime(text, fmt).replace(tzinfo=tz).timestamp() * 1000)
        except ValueError:
            continue
    return None


def parse_date(tok: tuple[str, str], tz: ZoneInfo) -> int:
    kind, val = tok
    if kind == "word" and re.fullmatch(r"-?\d+", val):
        return int(val)
    if kind == "str" and (ms := local_instant(val[1:-1], tz)) is not None:
        return ms
    raise jql_error(f"Date value '{val.strip(chr(34))}' for field 'updated' is invalid. Valid formats "
                    "include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', "
                    "or a period format e.g. '-5d', '4w 2d'.")


class Parser:
    def __init__(self, text: str, tz: ZoneInfo, known_projects: set[str]) -> None:
        self.toks = tokenize(text)
        self.i = 0
        self.tz = tz
        self.known = known_projects
        self.q = Query()

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def next(self, what: str = "a value") -> tuple[str, str]:
        t = self.peek()
        if t is None:
            raise jql_error(f"Error in the JQL Query: Expecting {what} but reached the end of the query.")
        self.i += 1
        return t

    def word_is(self, *words: str) -> bool:
        t = self.peek()
        return t is not None and t[0] == "word" and t[1].lower() in words

    def parse(self) -> Query:
        if self.peek() is not None and not self.word_is("order"):
            self.conjunction()
        if self.word_is("order"):
            self.i += 1
            if not self.word_is("by"):
                raise jql_error("Error in the JQL Query: Expecting 'by' after 'order'.")
            self.i += 1
            self.order_by()
        if self.peek() is not None:
            raise jql_error(f"Error in the JQL Query: Expecting either 'OR' or 'AND' but got "
                            f"'{self.peek()[1]}'.")  # type: ignore[index]
        return self.q

    def conjunction(self) -> None:
        self.clause()
        while self.word_is("and"):
            self.i += 1
            self.clause()
        if self.word_is("or", "not"):
            raise jql_error("The fake supports only AND-joined clauses (OR/NOT are not in its subset).")

    def clause(self) -> None:
        t = self.next("a field name")
        if t == ("punct", "("):
            self.conjunction()
            if self.next("')'") != ("punct", ")"):
                raise jql_error("Error in the JQL Query: Expecting ')'.")
            return
        if t[0] not in ("word", "str"):
            raise jql_error(f"Error in the JQL Query: Expecting a field name but got '{t[1]}'.")
        name = t[1].strip("\"'").lower()
        if name in ("project", "key", "issuekey", "id", "issue"):  # id, issue: aliases of issuekey
            self.membership(name)
        elif name in DATE_FIELDS:
            op = self.next("an operator")
            if op[0] != "op" or op[1] not in ("<", "<=", ">", ">=", "="):
                raise jql_error(f"The operator '{op[1]}' is not supported by the '{name}' field.")
            self.q.ranges.append((name, op[1], parse_date(self.next(), self.tz)))
        else:
            raise jql_error(f"Field '{t[1]}' does not exist or you do not have permission to view it.")

    def membership(self, name: str) -> None:
        op = self.next("an operator")
        values: list[str] = []
        if op == ("op", "="):
            values.append(self.value())
        elif op[0] == "word" and op[1].lower() == "in":
            if self.next("'('") != ("punct", "("):
                raise jql_error("Error in the JQL Query: Expecting '(' after 'in'.")
            while True:
                values.append(self.value())
                sep = self.next("')'")
                if sep == ("punct", ")"):
                    break
                if sep != ("punct", ","):
                    raise jql_error(f"Error in the JQL Query: Expecting ',' or ')' but got '{sep[1]}'.")
        else:
            raise jql_error(f"The operator '{op[1]}' is not supported by the '{name}' field.")
        upper = {v.upper() for v in values}
        if name == "project":
            unknown = sorted(v for v in values if v.upper() not in self.known)
            if unknown:
                raise jql_error(f"The value '{unknown[0]}' does not exist for the field 'project'.")
            self.q.projects = upper if self.q.projects is None else self.q.projects & upper
        else:
            self.q.keys = upper if self.q.keys is None else self.q.keys & upper

    def value(self) -> str:
        tok = self.next()
        v = token_value(tok)
        if v is None:
            raise jql_error(f"Error in the JQL Query: Expecting a value but got '{tok[1]}'.")
        return v

    def order_by(self) -> None:
        while True:
            kind, val = self.next("a field to order by")
            name = val.strip("\"'").lower()
            if kind not in ("word", "str") or name not in SORT_FIELDS:
                raise jql_error(f"Not able to sort using field '{val}'.")
            desc = False
            if self.word_is("asc", "desc"):
                desc = self.next()[1].lower() == "desc"
            self.q.order.append((name, desc))
            if self.peek() == ("punct", ","):
                self.i += 1
                continue
            break
        if len(self.q.order) > 7:
            raise jql_error("The ORDER BY clause can have at most 7 fields.")


def parse(text: str, tz: ZoneInfo, known_projects: set[str]) -> Query:
    return Parser(text or "", tz, known_projects).parse()
