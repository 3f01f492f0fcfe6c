"""Base URLs per product x deployment: the one place that derives them.

Products here are ``jira`` (Jira and Jira Service Management) and ``confluence``. Paths
that streams append are relative to a product's base URL: Jira ``/rest/api/3/...``,
``/rest/servicedeskapi/...``; Confluence ``/api/v2/...`` and ``/rest/api/...`` (on Cloud
the base ends in ``/wiki``; on Server/DC it is the configured URL with its context path).
An OAuth 2.0 run replaces the base by the scheme's ``api_base_url()`` (the gateway).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import typing as t

import requests

from tap_atlassian import net
from tap_atlassian.auth import check_deployment
from tap_atlassian.errors import ApiError

if t.TYPE_CHECKING:
    from tap_atlassian.config import Settings

LOGGER = logging.getLogger("tap-atlassian")


class SiteUnreachableError(ApiError):
    """The site did not answer at all (refused, unknown host, certificate): one line."""


@dataclasses.dataclass(frozen=True)
class Site:
    """One product of the configured site."""

    product: str  # "jira" | "confluence"
    deployment: str  # "cloud" | "server" (Data Center included)
    base_url: str  # no trailing slash

    @property
    def is_cloud(self) -> bool:
        """Atlassian Cloud (else Server / Data Center)."""
        return self.deployment == "cloud"


def product_base_url(settings: Settings, product: str, deployment: str) -> str:
    """``jira_url`` or ``url``; ``confluence_url``, or Cloud ``{url}/wiki``, or Server ``url``."""
    if product == "jira":
        return settings.jira_url or settings.url
    if settings.confluence_url:
        return settings.confluence_url
    return f"{settings.url}/wiki" if deployment == "cloud" else settings.url


def detect_deployment(settings: Settings, timeout: float = 15) -> str:
    """``deployment: auto``: known hosts, else one unauthenticated serverInfo request.

    https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-server-info/ :
    ``deploymentType`` ``Cloud`` means cloud; anything else, or no answer (a Confluence-only
    Server install), means server.
    """
    hint = settings.deployment_hint
    if hint:
        return hint
    url = f"{settings.jira_url or settings.url}/rest/api/2/serverInfo"
    try:
        with net.new_session(settings) as session:
            response = session.get(
                url,
                timeout=min(timeout, settings.request_timeout),
                headers={"Accept": "application/json"},
                allow_redirects=False,
            )
        kind = response.json().get("deploymentType") if response.ok else None
    except requests.RequestException as exc:
        # no answer at all is not "a Confluence-only Server": the host is unreachable
        text, _ = net.network_failure(exc, url)
        setting = "jira_url" if settings.jira_url else "url"
        msg = f"{setting}: deployment auto-detection (GET {url}): {text}"
        raise SiteUnreachableError(msg) from None
    except (ValueError, AttributeError):
        kind = None
    deployment = "cloud" if kind == "Cloud" else "server"
    LOGGER.info("deployment auto: %s answered %s; using %s", url, kind or "nothing usable", deployment)
    return deployment


class Sites:
    """The products of one tap run; detection happens at most once."""

    def __init__(self, settings: Settings) -> None:
        """Nothing is requested until ``deployment`` is first read."""
        self.settings = settings

    @functools.cached_property
    def deployment(self) -> str:
        """``cloud`` or ``server`` (detected once when ``auto``), checked against the scheme."""
        deployment = detect_deployment(self.settings)
        check_deployment(self.settings, deployment)
        return deployment

    @functools.cache  # noqa: B019  (one Sites per run)
    def site(self, product: str) -> Site:
        """The ``Site`` of ``jira`` or ``confluence``."""
        return Site(product, self.deployment, product_base_url(self.settings, product, self.deployment))
