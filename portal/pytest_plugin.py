"""pytest plugin: a ``portal`` fixture with a fresh local portal per test.

Installed with b24-crest (entry point ``b24portal``). Configure a test's portal with the
``b24portal`` marker, whose keyword arguments are :class:`~portal.config.PortalConfig` fields::

    @pytest.mark.b24portal(limits=True, contacts=500)
    def test_export(portal):
        client = Client.from_webhook(portal.webhook_url)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from portal.testing import PortalHandle, running_portal


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "b24portal(**config): configure the local Bitrix24 portal fixture")


@pytest.fixture
def portal(request: pytest.FixtureRequest) -> Iterator[PortalHandle]:
    marker = request.node.get_closest_marker("b24portal")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    https = bool(options.pop("https", False))
    with running_portal(https=https, **options) as handle:
        yield handle
