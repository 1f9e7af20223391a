"""call_many and list_all against a real local portal (no timings: counts and contents)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from crest.batch import BatchResult
from crest.bulk import ListConsistencyError, ManyResults, _Chain, _Lister, list_shape
from crest.client import Client
from crest.errors import ApiError, NotFoundError
from crest.limits import Limiter
from portal.config import PortalConfig
from portal.testing import PortalHandle, running_portal

N = 5000


@pytest.fixture(scope="module")
def big() -> Iterator[tuple[PortalHandle, Client]]:
    with running_portal(PortalConfig(limits=False, cost=None, contacts=N)) as p:
        # A high speed so that pacing never slows the tests; pacing itself is tested elsewhere.
        yield p, Client.from_webhook(p.webhook_url, limiter=Limiter.for_plan(speed=1000))


@pytest.fixture
def scratch() -> Iterator[tuple[PortalHandle, Client]]:
    """A portal of its own for a test that writes: the readers of ``big`` count on its N rows."""
    with running_portal(PortalConfig(limits=False, cost=None, contacts=300)) as p:
        yield p, Client.from_webhook(p.webhook_url, limiter=Limiter.for_plan(speed=1000))


def ids(rows: list[Any], key: str = "ID") -> list[int]:
    return [int(r[key]) for r in rows]


def test_list_all_contacts_every_row_once_in_id_order(big: tuple[PortalHandle, Client]) -> None:
    p, client = big
    p.clear_requests()
    stats: dict[str, Any] = {}
    rows = list(client.list_all("crm.contact.list", select=["ID", "NAME"], parallel=4, stats=stats))
    got = ids(rows)
    assert got == sorted(set(got)) and len(got) == N
    assert stats["mode"] == "keyset" and stats["chains"] == 2
    # 2 edge calls + ceil(N / 2500) batches (dense IDs fill every request), as recorded by the portal.
    assert p.count() == stats["requests"] <= -(-N // 2500) + stats["chains"] + 2
    assert set(rows[0]) == {"ID", "NAME"}


def test_list_all_with_a_sparse_filter_stops_at_the_first_short_page(
    big: tuple[PortalHandle, Client],
) -> None:
    _p, client = big
    every = client.call("crm.contact.list", {"select": ["ID"], "order": {"ID": "DESC"}, "start": -1})
    top = int(every[0]["ID"])
    # IDs ending in 7: a tenth of the range, so pages run short long before the 50th and the
    # later pages of each batch hang on dangling references. None of their rows may leak in.
    wanted = [i for i in range(1, top + 1) if i % 10 == 7]
    stats: dict[str, Any] = {}
    rows = list(client.list_all("crm.contact.list", select=["ID"], filter={"@ID": wanted}, stats=stats))
    assert ids(rows) == wanted


def test_dangling_reference_pages_are_discarded(big: tuple[PortalHandle, Client]) -> None:
    """What the server does with ``$result[p0][49][ID]`` when p0 had fewer rows, and that we ignore it."""
    _p, client = big
    shape = list_shape("crm.contact.list")
    cmd = {
        "p0": (
            "crm.contact.list",
            {"filter": {">ID": N - 10}, "order": {"ID": "ASC"}, "select": ["ID"], "start": -1},
        ),
        "p1": (
            "crm.contact.list",
            {"filter": {">ID": shape.ref("p0")}, "order": {"ID": "ASC"}, "select": ["ID"], "start": -1},
        ),
    }
    answer = client.batch(cmd)
    assert len(answer["p0"]) == 10  # a short page: the chain ends here
    # p1 ran with the whole p0 array as its filter value (the descent stopped there):
    # whatever it returned is not a next page; list_all discards it (see the unit test below).
    assert "p1" in answer
    rows = list(client.list_all("crm.contact.list", select=["ID"], filter={">ID": N - 60}))
    assert ids(rows) == list(range(N - 59, N + 1))


def test_list_all_crm_item_shape(big: tuple[PortalHandle, Client]) -> None:
    _, client = big
    rows = list(client.list_all("crm.item.list", {"entityTypeId": 3}, select=["id", "name"], parallel=3))
    got = ids(rows, "id")
    assert got == sorted(set(got)) and len(got) == N


def test_list_all_tasks_shape() -> None:
    with running_portal() as p:
        client = Client.from_webhook(p.webhook_url, limiter=Limiter.for_plan(speed=1000))
        created = client.call_many(
            "tasks.task.add", [{"fields": {"TITLE": f"task {i}", "RESPONSIBLE_ID": 1}} for i in range(N)]
        )
        assert created.ok
        made = sorted(int(r["task"]["id"]) for r in created)
        p.clear_requests()
        stats: dict[str, Any] = {}
        rows = list(client.list_all("tasks.task.list", select=["ID", "TITLE"], parallel=4, stats=stats))
        assert ids(rows, "id") == made
        assert p.count() == stats["requests"] <= 2 + 2 + stats["chains"]


def test_list_all_offset_fallback_keeps_the_callers_order(big: tuple[PortalHandle, Client]) -> None:
    _, client = big
    stats: dict[str, Any] = {}
    rows = list(
        client.list_all(
            "crm.contact.list", select=["ID", "LAST_NAME"], order={"LAST_NAME": "ASC"}, stats=stats
        )
    )
    assert stats["mode"] == "offset"
    assert len(rows) == len({r["ID"] for r in rows}) == N
    names = [r["LAST_NAME"] or "" for r in rows]
    assert names == sorted(names)


def test_offset_fallback_notices_a_changed_table(scratch: tuple[PortalHandle, Client]) -> None:
    _p, client = scratch
    rows = client.list_all("crm.contact.list", select=["ID"], order={"ID": "DESC"}, parallel=1)
    first = next(rows)
    # A row deleted behind the read: the count no longer matches, and we say so.
    client.call("crm.contact.delete", {"id": int(first["ID"]) - 1})
    with pytest.raises(ListConsistencyError):
        list(rows)


def test_call_many_order_and_per_item_errors(big: tuple[PortalHandle, Client]) -> None:
    _, client = big
    wanted = [3, 10**9, 1, 2, 10**9 + 1] * 30  # 150 calls: three batches
    progress: list[tuple[int, int]] = []
    results = client.call_many(
        "crm.contact.get", [{"id": i} for i in wanted], progress=lambda d, t: progress.append((d, t))
    )
    assert isinstance(results, ManyResults) and len(results) == 150
    for i, result in zip(wanted, results, strict=True):
        if i >= 10**9:
            assert isinstance(result, NotFoundError)
        else:
            assert int(result["ID"]) == i
    assert sorted(results.errors) == [k for k, i in enumerate(wanted) if i >= 10**9]
    assert not results.ok
    with pytest.raises(ApiError):
        results.raise_first()
    assert progress[-1] == (150, 150) and len(progress) == 3


def test_call_many_writes_land_once_each(scratch: tuple[PortalHandle, Client]) -> None:
    _, client = scratch
    names = [f"bulk-{i}" for i in range(120)]
    created = client.call_many("crm.contact.add", [{"fields": {"NAME": n}} for n in names])
    assert created.ok
    back = client.call_many("crm.contact.get", [{"id": i} for i in created])
    assert [r["NAME"] for r in back] == names  # each result belongs to its own input
    assert client.call_many("crm.contact.add", []) == []


def _rows(start: int, stop: int) -> list[dict[str, str]]:
    return [{"ID": str(i)} for i in range(start, stop)]


def test_absorb_discards_pages_after_a_short_page_or_an_error() -> None:
    lim = Limiter.for_plan(speed=1000)
    lister = _Lister(None, lim, "crm.contact.list", {}, {}, list_shape("crm.contact.list"), 3)  # type: ignore[arg-type]
    chain = _Chain(0, 0, 1000)
    part = BatchResult()
    # p1 is short; p2 ran on a dangling reference and returned rows that look plausible.
    part.absorb({"result": {"p0": _rows(1, 51), "p1": _rows(51, 60), "p2": _rows(60, 110)}})
    assert [int(r["ID"]) for r in lister.absorb(chain, part, 3)] == list(range(1, 60))
    assert chain.done and chain.last == 59

    chain = _Chain(0, 0, 1000)
    part = BatchResult()
    part.absorb(
        {
            "result": {"p0": _rows(1, 51), "p2": _rows(7, 57)},
            "result_error": {"p1": {"error": "OPERATION_TIME_LIMIT", "error_description": "blocked"}},
        }
    )
    lim.backoff = lambda method, error: 0.0  # type: ignore[method-assign]
    assert [int(r["ID"]) for r in lister.absorb(chain, part, 3)] == list(range(1, 51))
    assert not chain.done and chain.last == 50 and chain.failures == 1  # resumes after ID 50

    part = BatchResult()
    part.absorb({"result_error": {"p0": {"error": "ACCESS_DENIED", "error_description": "no"}}})
    with pytest.raises(ApiError):
        lister.absorb(chain, part, 1)
