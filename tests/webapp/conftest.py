"""Fixtures of the webapp tests: the app served on localhost, registered on the test's portal.

A test module may define its own ``app`` fixture (``test_events.py`` does); these are the
defaults.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portal.app_testing import AppHandle, running_app
from portal.testing import PortalHandle


@pytest.fixture
def app(portal: PortalHandle) -> Iterator[AppHandle]:
    with running_app(portal) as handle:
        yield handle


@pytest.fixture
def installed(app: AppHandle) -> AppHandle:
    """The app after its UI install, with the portal's request record cleared."""
    app.install()
    app.portal.clear_requests()
    return app
