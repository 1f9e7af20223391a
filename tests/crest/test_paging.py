"""Paging cursors as rules: every row that matches exactly once, whatever the window and cursor.

``list_all`` against a real local portal (keyset chains, resumption with ``after=``, the offset
fallback), and the portal's own cursors: ``start``/``next`` pages and the sorted id index that
answers keyset pages, each checked against a plain scan of the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crest.client import Client
from crest.limits import Limiter
from portal.config import PortalConfig
from portal.lists import Condition, IdPlan
from portal.testing import PortalHandle, running_portal

N = 180  # three and a half pages of 50: short last pages and chain ends are common

_http = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[PortalHandle, Client]]:
    with running_portal(PortalConfig(limits=False, cost=None, contacts=N)) as p:
        yield p, Client.from_webhook(p.webhook_url, limiter=Limiter.for_plan(speed=1000))


def all_ids(client: Client) -> list[int]:
    rows = client.call("crm.contact.list", {"select": ["ID"], "order": {"ID": "ASC"}, "start": -1})
    first = [int(r["ID"]) for r in rows]
    assert len(first) == 50
    # The seed numbers contacts 1..N; the property below relies on that, so it is checked.
    assert first == list(range(1, 51))
    return list(range(1, N + 1))


_bound = st.integers(min_value=-5, max_value=N + 5)


@_http
@given(lo=_bound, hi=_bound, parallel=st.integers(1, 4))
def test_keyset_read_of_any_id_window_is_every_row_once_in_order(
    seeded: tuple[PortalHandle, Client], lo: int, hi: int, parallel: int
) -> None:
    _p, client = seeded
    expected = [i for i in all_ids(client) if lo <= i <= hi]
    rows = client.list_all(
        "crm.contact.list", select=["ID"], filter={">=ID": lo, "<=ID": hi}, parallel=parallel
    )
    assert [int(r["ID"]) for r in rows] == expected


@_http
@given(after=_bound, parallel=st.integers(1, 4))
def test_resuming_after_an_id_reads_exactly_the_rest(
    seeded: tuple[PortalHandle, Client], after: int, parallel: int
) -> None:
    _p, client = seeded
    rows = client.list_all("crm.contact.list", select=["ID"], after=after, parallel=parallel)
    assert [int(r["ID"]) for r in rows] == [i for i in all_ids(client) if i > after]


@_http
@given(lo=_bound, hi=_bound, descending=st.booleans())
def test_offset_pages_follow_next_to_every_row_once(
    seeded: tuple[PortalHandle, Client], lo: int, hi: int, descending: bool
) -> None:
    _p, client = seeded
    params: dict[str, Any] = {
        "select": ["ID"],
        "filter": {">=ID": lo, "<=ID": hi},
        "order": {"ID": "DESC" if descending else "ASC"},
    }
    seen: list[int] = []
    start: int | None = 0
    while start is not None:
        page = client.request("crm.contact.list", {**params, "start": start})
        got = [int(r["ID"]) for r in page.result]
        assert len(got) <= 50
        assert page.total == len([i for i in all_ids(client) if lo <= i <= hi])
        seen += got
        start = page.next
        assert start is None or start == len(seen)  # next is the offset of the first unseen row
    expected = [i for i in all_ids(client) if lo <= i <= hi]
    assert seen == (expected[::-1] if descending else expected)


# --- the portal's id index, against a scan ----------------------------------------------------

_ops = st.sampled_from(["=", ">", ">=", "<", "<=", "@"])
# Bounds mostly inside the id range, so that they often fall on an id (where >/>= differ).
_value = st.integers(min_value=-1, max_value=22)


@st.composite
def _conditions(draw: st.DrawFn) -> list[Condition]:
    out = []
    for _ in range(draw(st.integers(0, 3))):
        op = draw(_ops)
        value: Any = draw(st.lists(_value, max_size=6)) if op == "@" else draw(_value)
        # The wire carries text: the index must read "7" as 7, as the scan does.
        value = (
            [str(v) for v in value] if isinstance(value, list) else draw(st.sampled_from([value, str(value)]))
        )
        out.append(Condition("ID", op, value, True))
    return out


@settings(max_examples=400, deadline=None)
@example(ids=[1, 2, 3], conditions=[Condition("ID", ">", "2", True)], descending=False, skip=0)
@example(ids=[1, 2, 3], conditions=[Condition("ID", "<", 2, True)], descending=True, skip=0)
@given(
    ids=st.lists(st.integers(min_value=1, max_value=20), unique=True, max_size=20).map(sorted),
    conditions=_conditions(),
    descending=st.booleans(),
    skip=st.integers(0, 22),
)
def test_id_index_pages_match_a_scan(
    ids: list[int], conditions: list[Condition], descending: bool, skip: int
) -> None:
    plan = IdPlan(0, len(ids))
    for cond in conditions:
        assert plan.narrow(ids, cond)
    scan = [i for i in ids if all(c.test({"ID": i}) for c in conditions)]
    if descending:
        scan.reverse()
    assert plan.size(ids) == len(scan)
    assert list(plan.candidates(ids, descending=descending, skip=skip)) == scan[skip:]
