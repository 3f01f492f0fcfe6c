"""A local fake Atlassian site (Jira, Jira Service Management, Confluence; Cloud and Server/DC).

See README.md in this folder. Entry points: `FakeAtlassian` (Python), the pytest fixtures in
`pytest_plugin.py`, and `python -m tests.fake_atlassian` (standalone).
"""

from .http import FakeHTTPError, FakeRequest, FakeResponse, Identity
from .site import FakeAtlassian

__all__ = ["FakeAtlassian", "FakeHTTPError", "FakeRequest", "FakeResponse", "Identity"]
