"""Stream schemas: Atlassian's record shapes, top level typed, nested objects kept as given.

Nested Atlassian timestamps stay strings (their ``+0000`` offsets are not RFC 3339); the
replication keys added at top level (``last_modified``, ``updated``) are RFC 3339 UTC.
``confluence_pages`` is the union of the Cloud v2 page (``spaceId``, ``version.createdAt``)
and the Server/DC v1 content (``space``, ``history``, ``version.when``) properties.
"""

from __future__ import annotations

import copy
import functools
import json
import typing as t
from importlib import resources


@functools.cache
def _load(name: str) -> dict[str, t.Any]:
    return json.loads(resources.files(__package__).joinpath(f"{name}.json").read_text("utf-8"))


def schema(name: str) -> dict[str, t.Any]:
    """A fresh copy of a stream's schema."""
    return copy.deepcopy(_load(name))
