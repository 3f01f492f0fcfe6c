"""tap-atlassian: a Singer tap for Confluence and Jira Service Management."""
