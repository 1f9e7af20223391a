"""Small helpers of the webapp tests."""

from __future__ import annotations

from portal.testing import PortalHandle


def rest_calls(portal: PortalHandle) -> list[str]:
    """Names of the calls the portal has seen since its record was last cleared (OAuth ones included)."""
    return [r["method"] for r in portal.requests()]
