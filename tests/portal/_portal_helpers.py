"""Helpers shared by the portal's own tests: test-only REST methods and small HTTP shortcuts.

``test.echo`` answers the parameters the portal parsed, so parsing can be asserted exactly;
it is registered only for the duration of a test and removed afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from crest.forms import encode
from portal.context import Call, Paged
from portal.registry import REGISTRY, method
from portal.testing import PortalHandle


def _echo(call: Call) -> Any:
    return call.params


def _paged(call: Call) -> Paged:
    rows = [{"ID": str(i)} for i in range(1, 121)]
    start = max(call.start, 0)
    page = rows[start : start + 50]
    nxt = start + 50 if start + 50 < len(rows) else None
    return Paged(page, len(rows), nxt)


def _hoisted(call: Call) -> dict[str, Any]:
    # A method whose own answer carries total/next: the server moves them to the top.
    return {"items": [1, 2], "total": "120", "next": "50"}


def _fail(call: Call) -> Any:
    from portal import errors

    raise errors.RestError("ERROR_CORE", str(call.param("text", default="failed")), 400)


def _slow(call: Call) -> str:
    # Simulated server time is charged through the cost model: rows make it expensive.
    call.charge(rows=int(call.param("rows", default=0)))
    return "ok"


#: How many times ``test.bump`` ran: a side effect a test can observe after a dropped answer.
BUMPS: list[int] = []


def _bump(call: Call) -> int:
    BUMPS.append(1)
    return len(BUMPS)


def _crm_only(call: Call) -> str:
    return "crm"


def _app_only(call: Call) -> str:
    return "app"


_EXTRA_METHODS: list[tuple[str, Any, dict[str, Any]]] = [
    ("test.echo", _echo, {"scope": None}),
    ("test.paged", _paged, {"scope": None}),
    ("test.hoisted", _hoisted, {"scope": None}),
    ("test.fail", _fail, {"scope": None}),
    ("test.slow", _slow, {"scope": None}),
    ("test.bump", _bump, {"scope": None}),
    ("test.crmonly", _crm_only, {"scope": "crm"}),
    ("test.apponly", _app_only, {"scope": None, "app_only": True}),
]


@contextmanager
def extra_methods() -> Iterator[None]:
    """Register the test-only methods for the duration of the block."""
    for name, handler, options in _EXTRA_METHODS:
        method(name, **options)(handler)
    try:
        yield
    finally:
        for name, _, _ in _EXTRA_METHODS:
            REGISTRY.pop(name, None)


def get(url: str, **kwargs: Any) -> requests.Response:
    return requests.get(url, timeout=10, **kwargs)


def post(url: str, **kwargs: Any) -> requests.Response:
    return requests.post(url, timeout=10, **kwargs)


def app_rest(handle: PortalHandle, method: str, token: str, **params: Any) -> tuple[int, dict[str, Any]]:
    """Call a method as an app, with a PHP-style form body as CRest sends it."""
    resp = requests.post(
        f"{handle.base_url}/rest/{method}.json",
        data=encode({**params, "auth": token}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    return resp.status_code, resp.json()


def app_ok(handle: PortalHandle, method: str, token: str, **params: Any) -> Any:
    """The result of an app call that must succeed."""
    status, body = app_rest(handle, method, token, **params)
    assert status == 200, body
    return body["result"]


def hook_rest(
    portal: PortalHandle, method: str, params: dict[str, Any], *, form: bool = False
) -> requests.Response:
    """POST a webhook call as CRest does (PHP form) or as a JSON client does."""
    url = portal.webhook_url + method + ".json"
    if form:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return requests.post(url, data=encode(params), headers=headers, timeout=10)
    return requests.post(url, json=params, timeout=10)


def hook_result(portal: PortalHandle, method: str, params: dict[str, Any], *, form: bool = False) -> Any:
    """The result of a webhook call that must succeed."""
    resp = hook_rest(portal, method, params, form=form)
    assert resp.status_code == 200, resp.text
    return resp.json()["result"]
