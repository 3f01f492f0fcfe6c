"""tap-atlassian: a Singer tap for Confluence and Jira Service Management."""

__version__ = "0.1.0"
