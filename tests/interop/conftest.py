"""Fixtures of the interoperability tests: third-party Bitrix24 clients against our portal.

Each test gets a fresh portal as a client meets a real one: HTTPS with the portal's own CA
(which the client must be told to trust, as a user behind a corporate CA would), an incoming
webhook, the standard plan with its rate and operating-time limits on, and 5,000 seeded
contacts. ``speed`` shrinks every time constant of the portal (the leaky bucket drains
``2 * SPEED`` requests a second), so the clients' own throttles are configured to the same
scaled numbers and the suite stays fast without turning any limit off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from portal.config import PortalConfig
from portal.testing import PortalHandle, running_portal

#: Portal time runs this many times faster than real time.
SPEED = 50.0
SEEDED_CONTACTS = 5000


@pytest.fixture
def live_portal() -> Iterator[PortalHandle]:
    # PortalConfig's defaults keep the limits and the method cost on; running_portal only turns
    # them off when it builds the config itself.
    config = PortalConfig(plan="standard", speed=SPEED, contacts=SEEDED_CONTACTS)
    assert config.limits and config.cost is not None
    with running_portal(config, https=True) as handle:
        assert handle.ca_bundle is not None and handle.webhook_url.startswith("https://")
        yield handle


@pytest.fixture
def seeded_names(live_portal: PortalHandle) -> dict[str, tuple[str, str]]:
    """ID -> (NAME, LAST_NAME) of every seeded contact, read from the portal's own state."""
    rows = live_portal.portal.crm.entities["contact"].rows
    names = {str(record_id): (row["NAME"], row["LAST_NAME"]) for record_id, row in rows.items()}
    assert len(names) == SEEDED_CONTACTS
    return names


@pytest.fixture
def limit_errors(live_portal: PortalHandle) -> Callable[[], list[dict[str, Any]]]:
    """Recorded requests that the portal refused for a rate or operating-time limit."""
    return lambda: [r for r in live_portal.requests() if r["status"] in {429, 503}]
