"""``fast-bitrix24`` (PyPI) against our portal, used as its README shows for a real one.

TLS: fast-bitrix24 posts with aiohttp, and its own ``ssl`` switch is a bool (on, or off).
aiohttp builds its default verifying context when it is imported, so ``SSL_CERT_FILE`` works
only when set before Python starts (a user's shell can; a test inside pytest cannot). The library's documented way to configure HTTP is its ``client``
argument, a session the user builds: here one whose connector verifies against the
portal's CA. The session raises for HTTP error statuses like the session the library builds
itself, because its retry of 5xx answers relies on that.

Throttling: fast-bitrix24 keeps itself under a real portal's leaky bucket (a pool of 50
requests, then 2 a second). The portal here runs ``speed`` times faster, so the library gets
the same pool and a ``speed`` times faster drain, read from the portal's own config, through
its documented ``request_pool_size`` and ``requests_per_second`` knobs.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

# The clients under test are imported, never importorskip'd: they are in the dev extra, and in CI
# a missing library is a failure of the suite.
import aiohttp
import pytest
from fast_bitrix24 import BitrixAsync
from fast_bitrix24.server_response import ErrorInServerResponseException

from portal.testing import PortalHandle

SEEDED_CONTACTS = 5000

T = TypeVar("T")


def run_with_bitrix(portal: PortalHandle, work: Callable[[BitrixAsync], Awaitable[T]]) -> T:
    """Run ``work`` with a client for the portal's webhook, inside its own event loop."""
    burst, drain = portal.portal.config.bucket  # the standard plan's (50, 2/s), drain scaled
    # The library's operating-time window is a fixed 600 s and cannot be scaled; scaling only
    # the limit makes it stricter than the portal's, never looser.
    operating_limit = int(portal.portal.config.scaled(portal.portal.config.operating_limit))

    async def main() -> T:
        assert portal.ca_bundle is not None
        trusted = ssl.create_default_context(cafile=portal.ca_bundle)
        connector = aiohttp.TCPConnector(ssl=trusted)
        async with aiohttp.ClientSession(connector=connector, raise_for_status=True) as session:
            bitrix = BitrixAsync(
                portal.webhook_url,
                client=session,
                verbose=False,  # no progress bar in test output
                request_pool_size=burst,
                requests_per_second=float(drain),
                operating_time_limit=operating_limit,
            )
            return await work(bitrix)

    return asyncio.run(main())


def test_user_current(live_portal: PortalHandle) -> None:
    # call() needs parameters to batch; a parameterless method goes through call(raw=True),
    # which returns the portal's whole envelope.
    envelope: dict[str, Any] = run_with_bitrix(live_portal, lambda b: b.call("user.current", raw=True))
    expected = live_portal.portal.directory.get(1)
    assert expected is not None
    user = envelope["result"]
    assert user["ID"] == "1"
    assert (user["NAME"], user["LAST_NAME"]) == (expected["NAME"], expected["LAST_NAME"])
    # fast-bitrix24 feeds time.operating into its own operating-time throttle.
    assert {"operating", "operating_reset_at", "duration"} <= set(envelope["time"])
    assert live_portal.count("user.current", auth="webhook", status=200) == 1


def test_add_contacts(live_portal: PortalHandle) -> None:
    people = [(f"Name{i}", f"Surname{i}") for i in range(120)]

    async def work(bitrix: BitrixAsync) -> tuple[Any, dict[Any, Any]]:
        ids = await bitrix.call(
            "crm.contact.add", [{"fields": {"NAME": n, "LAST_NAME": ln}} for n, ln in people]
        )
        return ids, await bitrix.get_by_ID("crm.contact.get", list(ids))

    ids, fetched = run_with_bitrix(live_portal, work)
    # The three batches run concurrently, so their ids interleave (as on a real portal), and
    # call() returns results in the order the batches finished; hence sets, not sequences.
    assert sorted(ids) == list(range(SEEDED_CONTACTS + 1, SEEDED_CONTACTS + 121))
    assert sorted(int(k) for k in fetched) == sorted(ids)
    assert sorted((v["NAME"], v["LAST_NAME"]) for v in fetched.values()) == sorted(people)
    # 120 adds and 120 gets travel as batches of at most 50 commands: 3 + 3 HTTP requests.
    records = live_portal.requests()
    assert [r["method"] for r in records] == ["batch"] * 6
    assert sorted(r["batch_size"] for r in records) == [20, 20, 50, 50, 50, 50]


def test_batch(live_portal: PortalHandle, seeded_names: dict[str, tuple[str, str]]) -> None:
    params = {
        "halt": 0,
        "cmd": {
            "me": "user.current",
            "first": "crm.contact.get?id=1",
            "page": "crm.contact.list?order[ID]=ASC&select[]=ID&select[]=NAME",
            "added": "crm.contact.add?fields[NAME]=Batch&fields[LAST_NAME]=Added",
            "again": "crm.contact.get?id=$result[added]",
        },
    }
    result = run_with_bitrix(live_portal, lambda b: b.call_batch(params))
    assert result["me"]["ID"] == "1"
    assert (result["first"]["NAME"], result["first"]["LAST_NAME"]) == seeded_names["1"]
    assert [row["ID"] for row in result["page"]] == [str(i) for i in range(1, 51)]
    assert result["added"] == SEEDED_CONTACTS + 1
    assert (result["again"]["ID"], result["again"]["NAME"]) == (str(SEEDED_CONTACTS + 1), "Batch")
    assert [r["method"] for r in live_portal.requests()] == ["batch"]


def test_batch_error_is_raised(live_portal: PortalHandle) -> None:
    # The library raises when result_error is not empty, even for the legacy CRM error with
    # an empty code.
    params = {"halt": 0, "cmd": {"ok": "user.current", "missing": "crm.contact.get?id=999999"}}
    with pytest.raises(ErrorInServerResponseException) as caught:
        run_with_bitrix(live_portal, lambda b: b.call_batch(params))
    (errors,) = caught.value.args
    assert errors == {"missing": {"error": "", "error_description": "Not found"}}


def test_get_all_lists_every_contact_once(
    live_portal: PortalHandle,
    seeded_names: dict[str, tuple[str, str]],
    limit_errors: Callable[[], list[Any]],
) -> None:
    params = {"select": ["ID", "NAME", "LAST_NAME"]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        contacts = run_with_bitrix(live_portal, lambda b: b.get_all("crm.contact.list", params))
    # get_all() warns when what it collected differs from the portal's total; it must not have.
    assert [str(w.message) for w in caught] == []
    ids = [c["ID"] for c in contacts]
    assert len(ids) == SEEDED_CONTACTS and set(ids) == set(seeded_names)  # every contact, once
    assert {c["ID"]: (c["NAME"], c["LAST_NAME"]) for c in contacts} == seeded_names
    # A first page gives the total, then the other 99 pages go as start offsets in two batches.
    methods = [r["method"] for r in live_portal.requests()]
    assert methods == ["crm.contact.list", "batch", "batch"]
    assert limit_errors() == []


def test_get_all_survives_a_query_limit(
    live_portal: PortalHandle, seeded_names: dict[str, tuple[str, str]]
) -> None:
    # A real portal answers 503 QUERY_LIMIT_EXCEEDED when its bucket overflows; the library
    # backs off and retries every 5xx.
    live_portal.fault("batch", error="QUERY_LIMIT_EXCEEDED", description="Too many requests", status=503)
    contacts = run_with_bitrix(live_portal, lambda b: b.get_all("crm.contact.list", {"select": ["ID"]}))
    ids = [c["ID"] for c in contacts]
    assert len(ids) == SEEDED_CONTACTS and set(ids) == set(seeded_names)
    assert live_portal.count("batch", status=503, error="QUERY_LIMIT_EXCEEDED") == 1
    assert live_portal.count("batch", status=200) == 2


def test_throttle_paces_calls_to_the_portals_bucket(
    live_portal: PortalHandle, limit_errors: Callable[[], list[Any]]
) -> None:
    # 120 calls one after another: past the bucket's burst of 50, so once its pool is used the
    # library's throttle, set to the portal's numbers, spaces the rest 1/drain apart, and the
    # portal never has to refuse one. (Calls fired all at once are another matter: the library
    # counts a request when its answer arrives, so 50 in flight can overshoot any bucket.)
    burst, drain = live_portal.portal.config.bucket
    calls = 120

    async def work(bitrix: BitrixAsync) -> tuple[list[Any], float]:
        started = time.monotonic()
        answers = [await bitrix.call("server.time", raw=True) for _ in range(calls)]
        return answers, time.monotonic() - started

    answers, elapsed = run_with_bitrix(live_portal, work)
    assert len(answers) == calls and all(isinstance(a["result"], str) for a in answers)
    assert live_portal.count("server.time", status=200) == calls
    assert limit_errors() == []
    # The library did pace: the calls past its pool waited for the bucket to drain.
    assert elapsed >= (calls - burst) / drain * 0.95
