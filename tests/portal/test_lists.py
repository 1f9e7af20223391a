"""List semantics of the CRM list methods: filter operators, select, order, pages and keyset paging.

Expected answers are computed in the test from the portal's stored records (the oracle), with
plain Python written independently of :mod:`portal.lists`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from crest.forms import encode
from portal.context import Call
from portal.crm import SCHEMAS
from portal.lists import indexed_page, parse_filter
from portal.testing import PortalHandle, running_portal

Row = dict[str, Any]


def rest(portal: PortalHandle, method: str, params: dict[str, Any], *, form: bool) -> dict[str, Any]:
    url = portal.webhook_url + method + ".json"
    if form:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        resp = requests.post(url, data=encode(params), headers=headers, timeout=10)
    else:
        resp = requests.post(url, json=params, timeout=10)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def all_pages(portal: PortalHandle, method: str, params: dict[str, Any], *, form: bool = True) -> list[Row]:
    """Every row, following ``next`` as a client does."""
    rows: list[Row] = []
    start = 0
    while True:
        body = rest(portal, method, {**params, "start": start}, form=form)
        rows.extend(body["result"])
        if "next" not in body:
            assert body["total"] == len(rows)
            return rows
        start = body["next"]


@pytest.fixture(scope="module")
def seeded() -> Iterator[PortalHandle]:
    """A read-only portal shared by the tests that do not change data."""
    with running_portal(contacts=120, companies=5, leads=30) as handle:
        yield handle


def stored(portal: PortalHandle, entity: str = "contact") -> list[Row]:
    rows = portal.portal.crm.entities[entity].rows
    return [rows[i] for i in sorted(rows)]


# --- filter operators -------------------------------------------------------------------------------

FILTER_CASES: list[tuple[str, Callable[[list[Row]], dict[str, Any]], Callable[[Row, list[Row]], bool]]] = [
    ("=", lambda rows: {"NAME": rows[0]["NAME"]}, lambda r, rows: r["NAME"] == rows[0]["NAME"]),
    (
        "= lower case",
        lambda rows: {"name": rows[0]["NAME"].lower()},
        lambda r, rows: r["NAME"] == rows[0]["NAME"],
    ),
    (">", lambda rows: {">ID": 100}, lambda r, rows: int(r["ID"]) > 100),
    (">=", lambda rows: {">=ID": 100}, lambda r, rows: int(r["ID"]) >= 100),
    ("<", lambda rows: {"<ID": 5}, lambda r, rows: int(r["ID"]) < 5),
    ("<=", lambda rows: {"<=ID": 5}, lambda r, rows: int(r["ID"]) <= 5),
    ("!", lambda rows: {"!ASSIGNED_BY_ID": 1}, lambda r, rows: r["ASSIGNED_BY_ID"] != "1"),
    ("!=", lambda rows: {"!=ASSIGNED_BY_ID": "2"}, lambda r, rows: r["ASSIGNED_BY_ID"] != "2"),
    ("%", lambda rows: {"%LAST_NAME": "ER"}, lambda r, rows: "er" in r["LAST_NAME"].lower()),
    ("=%", lambda rows: {"=%NAME": "a%"}, lambda r, rows: r["NAME"].lower().startswith("a")),
    ("%=", lambda rows: {"%=NAME": "%a"}, lambda r, rows: r["NAME"].lower().endswith("a")),
    ("!%", lambda rows: {"!%LAST_NAME": "er"}, lambda r, rows: "er" not in r["LAST_NAME"].lower()),
    ("@ id", lambda rows: {"@ID": [3, 5, 7, 500]}, lambda r, rows: r["ID"] in {"3", "5", "7"}),
    (
        "@ text",
        lambda rows: {"@SOURCE_ID": ["WEB", "CALL"]},
        lambda r, rows: r["SOURCE_ID"] in {"WEB", "CALL"},
    ),
    ("!@", lambda rows: {"!@ASSIGNED_BY_ID": [1, 2]}, lambda r, rows: r["ASSIGNED_BY_ID"] == "3"),
    (
        "> numeric, not text",
        lambda rows: {">COMPANY_ID": 3},
        lambda r, rows: int(r["COMPANY_ID"]) > 3,  # as text "5" > "30" would hold
    ),
    (
        ">= date",
        lambda rows: {">=DATE_CREATE": "2024-07-01"},
        lambda r, rows: r["DATE_CREATE"] >= "2024-07-01T00:00:00+00:00",
    ),
    (
        "multi-field exact",
        lambda rows: {"PHONE": rows[6]["PHONE"][0]["VALUE"]},
        lambda r, rows: r["PHONE"][0]["VALUE"] == rows[6]["PHONE"][0]["VALUE"],
    ),
    (
        "range and field",
        lambda rows: {">ID": 20, "<=ID": 90, "ASSIGNED_BY_ID": 2},
        lambda r, rows: 20 < int(r["ID"]) <= 90 and r["ASSIGNED_BY_ID"] == "2",
    ),
    ("unknown field is ignored", lambda rows: {"NO_SUCH_FIELD": "x"}, lambda r, rows: True),
]


@pytest.mark.parametrize("form", [True, False], ids=["form", "json"])
@pytest.mark.parametrize(("name", "make_filter", "expect"), FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
def test_filter_operator(
    seeded: PortalHandle,
    form: bool,
    name: str,
    make_filter: Callable[[list[Row]], dict[str, Any]],
    expect: Callable[[Row, list[Row]], bool],
) -> None:
    rows = stored(seeded)
    expected = [r["ID"] for r in rows if expect(r, rows)]
    got = [
        r["ID"]
        for r in all_pages(
            seeded, "crm.contact.list", {"filter": make_filter(rows), "select": ["ID"]}, form=form
        )
    ]
    assert got == expected
    assert name == "unknown field is ignored" or 0 < len(expected) < len(rows)  # the case discriminates


def test_filter_on_double_field(seeded: PortalHandle) -> None:
    leads = stored(seeded, "lead")
    got = all_pages(
        seeded, "crm.lead.list", {"filter": {">OPPORTUNITY": 20000}, "select": ["ID", "OPPORTUNITY"]}
    )
    assert [r["ID"] for r in got] == [r["ID"] for r in leads if float(r["OPPORTUNITY"]) > 20000]
    assert got and all(float(r["OPPORTUNITY"]) > 20000 for r in got)


# --- select -----------------------------------------------------------------------------------------


def test_select_variants(portal: PortalHandle) -> None:
    new_id = rest(
        portal,
        "crm.contact.add",
        {"fields": {"NAME": "S", "UF_CRM_COLOR": "red", "PHONE": [{"VALUE": "1"}]}},
        form=True,
    )["result"]
    plain = [f.name for f in SCHEMAS["contact"] if f.type != "crm_multifield"]

    def first(select: Any) -> Row:
        params: dict[str, Any] = {"filter": {"ID": new_id}}
        if select is not None:
            params["select"] = select
        (row,) = rest(portal, "crm.contact.list", params, form=False)["result"]
        return row

    assert list(first(None)) == [*plain, "UF_CRM_COLOR"]  # default: * and UF_*
    assert list(first(["*"])) == plain  # * leaves out UF_ and multi-fields
    assert list(first(["*", "UF_*", "PHONE"])) == [*plain, "UF_CRM_COLOR", "PHONE"]
    assert first(["NAME", "PHONE"]) == {"ID": str(new_id), "NAME": "S", "PHONE": first(["PHONE"])["PHONE"]}
    assert first(["name"]) == {"ID": str(new_id), "NAME": "S"}
    assert first(["UF_*"]) == {"ID": str(new_id), "UF_CRM_COLOR": "red"}
    assert first(["EMAIL"]) == {"ID": str(new_id)}  # unset multi-fields are left out


# --- order ------------------------------------------------------------------------------------------


def test_order_by_several_fields(seeded: PortalHandle) -> None:
    rows = stored(seeded)
    expected = sorted(rows, key=lambda r: int(r["ID"]))
    expected = sorted(expected, key=lambda r: r["NAME"], reverse=True)  # stable: ties keep ID order
    expected = sorted(expected, key=lambda r: r["LAST_NAME"])
    got = all_pages(
        seeded, "crm.contact.list", {"order": {"LAST_NAME": "ASC", "NAME": "DESC"}, "select": ["ID"]}
    )
    assert [r["ID"] for r in got] == [r["ID"] for r in expected]


@pytest.mark.parametrize("form", [True, False], ids=["form", "json"])
def test_order_id_desc_and_date(seeded: PortalHandle, form: bool) -> None:
    body = rest(
        seeded, "crm.contact.list", {"order": {"ID": "DESC"}, "select": ["ID"], "start": 50}, form=form
    )
    assert [int(r["ID"]) for r in body["result"]] == list(range(70, 20, -1))
    assert (body["total"], body["next"]) == (120, 100)
    newest = rest(
        seeded,
        "crm.contact.list",
        {"order": {"DATE_CREATE": "DESC"}, "select": ["ID", "DATE_CREATE"]},
        form=form,
    )
    dates = [r["DATE_CREATE"] for r in newest["result"]]
    assert dates == sorted((r["DATE_CREATE"] for r in stored(seeded)), reverse=True)[:50]


# --- pages ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", [True, False], ids=["form", "json"])
def test_pages_of_fifty_with_total_and_next(seeded: PortalHandle, form: bool) -> None:
    pages = [
        rest(seeded, "crm.contact.list", {"select": ["ID"], "start": s}, form=form) for s in (0, 50, 100, 500)
    ]
    assert [len(p["result"]) for p in pages] == [50, 50, 20, 0]
    assert [p["total"] for p in pages] == [120, 120, 120, 120]
    assert [p.get("next") for p in pages] == [50, 100, None, None]
    assert [r["ID"] for r in pages[1]["result"]] == [str(i) for i in range(51, 101)]


def test_start_minus_one_skips_the_count(seeded: PortalHandle) -> None:
    body = rest(seeded, "crm.contact.list", {"select": ["ID"], "start": -1}, form=True)
    assert len(body["result"]) == 50 and body["total"] == 0 and "next" not in body
    assert body["result"][0]["ID"] == "1"


@pytest.mark.b24portal(contacts=5000)
def test_keyset_paging_returns_every_row_once(portal: PortalHandle) -> None:
    for gone in (1, 50, 51, 2500, 4999):
        rest(portal, "crm.contact.delete", {"id": gone}, form=True)
    expected = [str(i) for i in sorted(portal.portal.crm.entities["contact"].rows)]
    seen: list[str] = []
    last = 0
    while True:
        params = {"order": {"ID": "ASC"}, "filter": {">ID": last}, "select": ["ID"], "start": -1}
        body = rest(portal, "crm.contact.list", params, form=True)
        assert body["total"] == 0 and "next" not in body
        page = [r["ID"] for r in body["result"]]
        seen.extend(page)
        if len(page) < 50:
            break
        last = int(page[-1])
    assert seen == expected and len(seen) == 4995


@pytest.mark.b24portal(contacts=600)
def test_keyset_paging_with_a_filter(portal: PortalHandle) -> None:
    expected = [r["ID"] for r in stored(portal) if r["ASSIGNED_BY_ID"] == "2"]
    seen: list[str] = []
    last = 0
    while True:
        params = {"order": {"ID": "ASC"}, "filter": {">ID": last, "ASSIGNED_BY_ID": 2}, "start": -1}
        page = [r["ID"] for r in rest(portal, "crm.contact.list", params, form=False)["result"]]
        seen.extend(page)
        if len(page) < 50:
            break
        last = int(page[-1])
    assert seen == expected


def test_user_get_still_pages_and_filters(portal: PortalHandle) -> None:
    body = rest(portal, "user.get", {"SORT": "ID", "ORDER": "DESC"}, form=True)
    assert [u["ID"] for u in body["result"]] == ["3", "2", "1"] and body["total"] == 3
    assert [u["ID"] for u in rest(portal, "user.get", {"FILTER": {">ID": 1}}, form=True)["result"]] == [
        "2",
        "3",
    ]


# --- indexed_page cost: how many rows a page touches --------------------------------------------


class CountingRows(dict[int, Row]):
    """A row table that counts how many rows are read."""

    reads = 0

    def __getitem__(self, key: int) -> Row:
        self.reads += 1
        return super().__getitem__(key)


def _table(n: int) -> tuple[list[int], CountingRows]:
    rows = CountingRows({i: {"ID": str(i), "N": str(i % 7)} for i in range(1, n + 1)})
    return list(range(1, n + 1)), rows


def _call(start: int) -> Call:
    return Call(portal=None, auth=None, method="crm.contact.list", params={}, start=start)  # type: ignore[arg-type]


def _ids(result: list[Row]) -> list[int]:
    return [int(r["ID"]) for r in result]


def test_keyset_page_reads_only_its_rows() -> None:
    ids, rows = _table(100_000)
    call = _call(-1)
    paged = indexed_page(
        call, ids, rows, parse_filter({">ID": 99_000}, numeric={"ID"}), {"ID": "ASC"}, id_field="ID"
    )
    assert _ids(paged.result) == list(range(99_001, 99_051))
    assert (paged.total, paged.next) == (0, None)
    assert rows.reads == 50
    assert (call.rows, call.counted, call.offset) == (50, 0, 0)


def test_descending_keyset_page_reads_only_its_rows() -> None:
    ids, rows = _table(100_000)
    paged = indexed_page(
        _call(-1), ids, rows, parse_filter({"<ID": 500}, numeric={"ID"}), {"ID": "DESC"}, id_field="ID"
    )
    assert _ids(paged.result) == list(range(499, 449, -1))
    assert rows.reads == 50


def test_counted_id_range_page_counts_without_reading() -> None:
    ids, rows = _table(100_000)
    call = _call(900)
    conditions = parse_filter({">=ID": 1001, "<ID": 2001}, numeric={"ID"})
    paged = indexed_page(call, ids, rows, conditions, {}, id_field="ID")
    assert _ids(paged.result) == list(range(1901, 1951))
    assert (paged.total, paged.next) == (1000, 950)
    assert rows.reads == 50
    assert (call.rows, call.counted, call.offset) == (50, 1000, 900)


def test_counted_page_with_a_field_filter_counts_every_match() -> None:
    ids, rows = _table(1000)
    call = _call(50)
    paged = indexed_page(call, ids, rows, parse_filter({"N": "3", "<=ID": 700}), {}, id_field="ID")
    expected = [i for i in range(1, 701) if i % 7 == 3]
    assert paged.total == len(expected) and _ids(paged.result) == expected[50:]
    assert paged.next is None
    assert call.counted == 700  # the rows the ID range left to scan


def test_in_filter_on_ids_skips_missing_ones() -> None:
    ids, rows = _table(100)
    ids.remove(10)
    del rows[10]
    conditions = parse_filter({"@ID": ["10", "12", "5", 400], ">ID": 4}, numeric={"ID"})
    paged = indexed_page(_call(0), ids, rows, conditions, {}, id_field="ID")
    assert _ids(paged.result) == [5, 12] and paged.total == 2
