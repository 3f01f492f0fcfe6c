"""tap-atlassian: a Singer tap for Confluence and Jira Service Management."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tap-atlassian")  # set from the git tag at install (setuptools-scm)
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"
