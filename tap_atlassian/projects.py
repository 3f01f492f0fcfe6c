"""``project_keys`` checked once per run: unknown keys are a warning, not a failed run.

A JQL ``project in (...)`` naming a project that does not exist (or that the login cannot
see) is a 400 for the whole search, so the keys are looked up first, in one request:
Cloud ``GET /rest/api/3/project/search?keys=...`` (at most 50 keys a request;
https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-projects/#api-rest-api-3-project-search-get),
Server/DC ``GET /rest/api/2/project`` (every visible project;
https://docs.atlassian.com/software/jira/docs/api/REST/9.12.0/#api/2/project-getAllProjects).
The run goes on with the keys that exist (spelled as the site spells them) and fails only
when none does.
"""

from __future__ import annotations

import logging
import typing as t

from tap_atlassian.client import Repeat
from tap_atlassian.errors import ApiError

if t.TYPE_CHECKING:
    from tap_atlassian.client import ApiClient

LOGGER = logging.getLogger("tap-atlassian")
CLOUD_KEYS_PER_REQUEST = 50


def existing_project_keys(client: ApiClient, keys: t.Sequence[str]) -> tuple[str, ...]:
    """``keys`` that name a project this login can see (cached per run); warns once naming
    the others; raises :class:`ApiError` when none exists.
    """
    if not keys:
        return ()
    cache_key = "project_keys:" + ",".join(keys)
    if cache_key in client.cache:
        return client.cache[cache_key]
    found: dict[str, str] = {}  # upper-case key -> the site's spelling
    if client.site.is_cloud:
        for i in range(0, len(keys), CLOUD_KEYS_PER_REQUEST):
            chunk = [k.upper() for k in keys[i : i + CLOUD_KEYS_PER_REQUEST]]  # Jira keys are upper case
            body, _ = client.get(
                "/rest/api/3/project/search", {"keys": Repeat(chunk), "maxResults": CLOUD_KEYS_PER_REQUEST}
            )
            found.update({str(p.get("key")).upper(): str(p.get("key")) for p in body.get("values") or []})
        where = "GET /rest/api/3/project/search"
    else:
        body, _ = client.get("/rest/api/2/project")
        found.update({str(p.get("key")).upper(): str(p.get("key")) for p in body or []})
        where = "GET /rest/api/2/project"
    known = tuple(dict.fromkeys(found[k.upper()] for k in keys if k.upper() in found))
    unknown = [k for k in keys if k.upper() not in found]
    if unknown and not known:
        msg = (
            f"project_keys: none of {', '.join(keys)} is a project this login can see ({where}); "
            "check the keys and the user's Browse projects permission"
        )
        raise ApiError(msg)
    if unknown:
        LOGGER.warning(
            "project_keys: %s not found or not visible with these credentials (%s); reading %s",
            ", ".join(unknown),
            where,
            ", ".join(known),
        )
    client.cache[cache_key] = known
    return known
