"""Configuration of a local portal (one frozen record, built by the CLI or by tests)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

Plan = Literal["standard", "enterprise"]

#: Leaky bucket per plan: (burst X, drain Y requests a second), from Bitrix24's limits page.
PLAN_BUCKETS: dict[str, tuple[int, float]] = {"standard": (50, 2.0), "enterprise": (250, 5.0)}


@dataclass(frozen=True)
class CostModel:
    """Server time a method call costs, in portal seconds (divided by ``speed`` in real time).

    The numbers are shaped after Bitrix24's own measurements: a list page with COUNT(*) over
    2.4 million rows took 49.9 s against 0.097 s with ``start=-1`` (about 20 microseconds a
    counted row), and deep OFFSETs cost a scan of the skipped rows.
    """

    base: float = 0.02
    per_row: float = 0.0005
    per_counted_row: float = 0.00002
    per_offset_row: float = 0.00001

    def seconds(self, *, rows: int = 0, counted: int = 0, offset: int = 0) -> float:
        return self.base + self.per_row * rows + self.per_counted_row * counted + self.per_offset_row * offset


@dataclass(frozen=True)
class PortalConfig:
    """Everything that shapes one local portal.

    ``speed`` scales every time constant: the bucket drains ``speed`` times faster, the
    operating window and limit are ``speed`` times shorter, tokens live ``1/speed`` as long,
    and method cost and latency shrink by ``speed``; so a benchmark runs a faithful
    miniature of a real portal.
    """

    base_url: str | None = None
    member_id: str = "a223c6b3710f85df22e9377d6c4f7553"
    plan: Plan = "standard"
    speed: float = 1.0
    limits: bool = True
    cost: CostModel | None = field(default_factory=CostModel)
    latency: float = 0.0
    contacts: int = 0
    companies: int = 0
    leads: int = 0
    deals: int = 0
    seed: int = 1
    state_path: str | None = None
    reuse_refresh_tokens: bool = False
    webhook_https_only: bool = False
    #: The admin API's token (``/_portal/``); ``None``: random per portal, kept with ``state_path``.
    admin_token: str | None = None
    #: Further ``Host`` values the admin API accepts: the addresses the server really listens as.
    admin_hosts: tuple[str, ...] = ()
    #: Origin (scheme://host:port) that serves static apps: never the portal's own, so that an
    #: app's script cannot read the portal's pages, keys or admin API. ``None``: no static apps.
    static_apps_url: str | None = None
    #: CA bundle the portal trusts when it POSTs events to https handlers (the local CA, say).
    ca_bundle: str | None = None
    access_token_lifetime: float = 3600.0
    refresh_token_lifetime: float = 180 * 86400.0
    code_lifetime: float = 30.0
    operating_window: float = 600.0
    operating_limit: float = 480.0
    operating_min_time: float = 0.1

    def replace(self, **changes: object) -> PortalConfig:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def scaled(self, seconds: float) -> float:
        """A portal-time duration in real seconds."""
        return seconds / self.speed

    @property
    def bucket(self) -> tuple[int, float]:
        burst, drain = PLAN_BUCKETS[self.plan]
        return burst, drain * self.speed
