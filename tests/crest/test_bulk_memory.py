"""Memory of a keyset read is bounded whatever ``parallel``: counted rows, not timings or RSS.

Chains after the first read ahead of their turn; the rows they may hold in memory are
capped per chain and the rest is spooled to disk. ``stats["max_buffered"]`` is the most rows
the read held in its buffers at any moment (the figure the cap bounds); RSS for 20k vs 200k
rows is measured by ``bench/export_memory.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crest.bulk import BUFFER_ROWS, ChainBuffer, list_all
from crest.client import Client
from crest.limits import Limiter
from crest.transfer import export_rows
from portal.config import PortalConfig
from portal.testing import PortalHandle, running_portal

N = 30_000


@pytest.fixture(scope="module")
def table() -> Iterator[tuple[PortalHandle, Client]]:
    with running_portal(PortalConfig(limits=False, cost=None, contacts=N)) as p:
        yield p, Client.from_webhook(p.webhook_url, limiter=Limiter.for_plan(speed=1000))


@pytest.mark.parametrize("parallel", [2, 4, 8])
def test_rows_held_never_exceed_the_bound(table: tuple[PortalHandle, Client], parallel: int) -> None:
    _, client = table
    stats: dict[str, Any] = {}
    cap = 300
    got = [
        int(r["ID"])
        for r in list_all(
            client, "crm.contact.list", select=["ID"], parallel=parallel, stats=stats, buffer_rows=cap
        )
    ]
    assert got == list(range(1, N + 1))  # every row once, in ID order, spool or not
    assert stats["chains"] == parallel
    assert stats["max_buffered"] <= parallel * cap
    assert stats["spooled"] > 0  # the chains did read ahead: the bound was needed, not idle


def test_default_bound_holds_for_the_table(table: tuple[PortalHandle, Client]) -> None:
    _, client = table
    stats: dict[str, Any] = {}
    rows = sum(
        1 for _ in list_all(client, "crm.contact.list", select=["ID", "NAME"], parallel=4, stats=stats)
    )
    assert rows == N
    # Without the bound, chains 2-4 would hold three quarters of the table (22,500 rows) here.
    assert stats["max_buffered"] <= 4 * BUFFER_ROWS < N * 3 // 4


def test_export_streams_through_the_bound(table: tuple[PortalHandle, Client], tmp_path: Path) -> None:
    _, client = table
    out = tmp_path / "contacts.csv"
    result = export_rows(client, "crm.contact.list", out, select=["ID"], parallel=4, buffer_rows=200)
    assert result.stats["max_buffered"] <= 4 * 200 and result.stats["spooled"] > 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "ID" and [int(x) for x in lines[1:]] == list(range(1, N + 1))


def test_chain_buffer_keeps_order_across_memory_and_spool() -> None:
    buffer = ChainBuffer(limit=3)
    buffer.put([{"ID": 1}, {"ID": 2}])
    buffer.put([{"ID": 3}, {"ID": 4}])  # over the limit: these and all later rows spool
    buffer.put([{"ID": 5}])
    assert buffer.held == 2 and buffer.spooled == 3
    assert [r["ID"] for r in buffer.drain()] == [1, 2, 3, 4, 5]
    buffer.put([{"ID": 6}])  # drained: back to memory
    assert buffer.held == 1 and [r["ID"] for r in buffer.drain()] == [6]
