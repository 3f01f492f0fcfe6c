"""The stream registry: every stream class with the ``products`` value that owns it.

One line per module below; discovery (``TapAtlassian.discover_streams``) keeps the order.
``confluence`` owns the ``confluence_*`` streams, ``jira_service_desk`` the ``jira_*`` and
``jsm_*`` streams.
"""

from __future__ import annotations

import typing as t

from tap_atlassian.streams import (
    confluence,
    confluence_items,
    confluence_people,
    confluence_versions,
    jira,
    jira_agile,
    jira_catalog,
    jira_worklogs,
    jsm,
    jsm_directory,
    jsm_request_children,
)

if t.TYPE_CHECKING:
    from tap_atlassian.streams.base import AtlassianStream

STREAMS: tuple[tuple[str, type[AtlassianStream]], ...] = (
    *(("confluence", cls) for cls in confluence.STREAMS),
    *(
        ("confluence", cls)
        for m in (confluence_items, confluence_versions, confluence_people)
        for cls in m.STREAMS
    ),
    *(("jira_service_desk", cls) for cls in jira.STREAMS),
    *(("jira_service_desk", cls) for cls in jira_catalog.STREAMS),
    *(("jira_service_desk", cls) for cls in jira_worklogs.STREAMS),
    *(("jira_service_desk", cls) for cls in jira_agile.STREAMS),
    *(("jira_service_desk", cls) for cls in jsm.STREAMS),
    *(("jira_service_desk", cls) for cls in jsm_directory.STREAMS),
    *(("jira_service_desk", cls) for cls in jsm_request_children.STREAMS),
)
