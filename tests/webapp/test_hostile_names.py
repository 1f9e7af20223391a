"""Hostile field names against the running app (issue 10, item 5): 400, a clear error, nothing kept.

Python's ``int()`` refuses strings over 4300 digits with ``ValueError``; before
:data:`crest.forms.MAX_NAME_LENGTH` such an index was an unauthenticated 500 on every route.
"""

from __future__ import annotations

import pytest

from crest.forms import encode
from portal.app_testing import AppHandle
from webapp.events import events_state

pytestmark = pytest.mark.b24portal(contacts=1, limits=False, cost=None)

HUGE = "1" * 4301

NAMES: list[tuple[str, str]] = [
    ("huge-index", f"a[{HUGE}]"),
    ("huge-negative-index", f"a[-{HUGE}]"),
    ("huge-digits-name", HUGE),
    ("huge-auth-index", f"auth[{HUGE}]"),
    ("long-name", "x" * 5000),
]

ROUTES = ["/install", "/", "/placement/crm_contact_tab", "/events"]


def _inbox_size(app: AppHandle) -> int:
    return sum(events_state(app.app).inbox.counts().values())


def _assert_refused(app: AppHandle, route: str, resp_status: int, text: str, before: object) -> None:
    assert resp_status == 400, text[:300]
    assert "Traceback" not in text and "ValueError" not in text
    # The reason is said in words: JSON for /events, the error page elsewhere.
    assert "longer than 1024 characters" in text
    assert app.store.all_installations() == before
    assert _inbox_size(app) == 0


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(("label", "name"), NAMES, ids=[n for n, _ in NAMES])
def test_hostile_name_in_a_genuine_body_is_400(
    installed: AppHandle, route: str, label: str, name: str
) -> None:
    before = installed.store.all_installations()
    query, fields = installed.frame_fields()
    if route == "/events":
        fields = {
            "event": "ONCRMCONTACTADD",
            "data": {"FIELDS": {"ID": "1"}},
            "auth": {"application_token": installed.application_token, "member_id": fields["member_id"]},
        }
    body = encode(fields) + f"&{name}=x"
    resp = installed.http.post(
        installed.url + route,
        params=query,
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    _assert_refused(installed, route, resp.status_code, resp.text, before)
    if route == "/events":
        assert resp.headers["Content-Type"].startswith("application/json")
        assert resp.json()["error_description"] == "form field name is longer than 1024 characters"


@pytest.mark.parametrize("route", ["/install", "/", "/placement/crm_contact_tab"])
def test_hostile_name_in_the_query_string_is_400(installed: AppHandle, route: str) -> None:
    before = installed.store.all_installations()
    query, fields = installed.frame_fields()
    resp = installed.http.post(
        f"{installed.url}{route}?{encode(query)}&a[{HUGE}]=1",
        data=encode(fields).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    _assert_refused(installed, route, resp.status_code, resp.text, before)
    assert installed.portal_calls() == []


@pytest.mark.parametrize("path", ["/operator", "/checkserver", "/events/recent"])
def test_every_route_refuses_a_hostile_query_name(installed: AppHandle, path: str) -> None:
    resp = installed.http.get(f"{installed.url}{path}?a[{HUGE}]=1", timeout=30)
    assert resp.status_code == 400, (path, resp.status_code)
    assert "longer than 1024 characters" in resp.text and "Traceback" not in resp.text


def test_first_install_with_a_hostile_name_stores_nothing(app: AppHandle) -> None:
    query, fields = app.frame_fields()
    resp = app.http.post(
        app.url + "/install",
        params=query,
        data=(encode(fields) + f"&a[{HUGE}]=x").encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    _assert_refused(app, "/install", resp.status_code, resp.text, [])


def test_a_form_error_no_route_catches_is_400_not_500() -> None:
    """A reader added later that forgets to catch FormError still answers 400, never 500/502."""
    from flask import request

    from crest.forms import decode
    from crest.settings import Settings
    from webapp import create_app

    flask_app = create_app(
        Settings(client_id="local.test", secret_key="k" * 32, store="memory:", events_worker="off")
    )

    @flask_app.post("/reads-a-form")
    def reads_a_form() -> str:
        return str(len(decode(request.get_data())))

    @flask_app.post("/api/reads-a-form")
    def api_reads_a_form() -> str:
        return str(len(decode(request.get_data())))

    client = flask_app.test_client()
    page = client.post("/reads-a-form", data=f"a[{HUGE}]=x")
    assert (page.status_code, page.mimetype) == (400, "text/html")
    assert "longer than 1024 characters" in page.get_data(as_text=True)
    api = client.post("/api/reads-a-form", data=f"a[{HUGE}]=x")
    assert (api.status_code, api.is_json) == (400, True)
    assert api.get_json()["error_description"] == "form field name is longer than 1024 characters"
