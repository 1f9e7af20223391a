"""The app page (POST /), its API (/api/me) and the placement widgets, through real HTTP."""

from __future__ import annotations

import re

import pytest

from portal.app_testing import AppHandle

pytestmark = pytest.mark.b24portal(contacts=5, limits=False, cost=None)


def _page_token(html: str) -> str:
    match = re.search(r'"token": "([^"]+)"', html)
    assert match, "the page carries no token"
    return match.group(1)


def test_outside_bitrix24_explains_and_shows_no_data(installed: AppHandle) -> None:
    resp = installed.http.get(installed.url + "/", timeout=30)
    assert resp.status_code == 200
    assert "open it there" in resp.text
    assert installed.portal.portal.domain not in resp.text
    assert installed.portal_calls() == []


def test_app_page_shows_the_current_user_not_the_installer(installed: AppHandle) -> None:
    # User 1 installed the app; user 2 opens it. user.current must run with user 2's AUTH_ID.
    directory = installed.portal.portal.directory
    assert directory.full_name(2) != directory.full_name(1)
    resp = installed.post_frame("/", user_id=2)
    assert resp.status_code == 200
    assert f'<span id="user-name">{directory.full_name(2)}</span>' in resp.text
    calls = installed.portal_calls()
    assert calls == ["oauth.app.info", "user.current"]


def test_page_token_reads_the_name_with_the_stored_tokens(installed: AppHandle) -> None:
    page = installed.post_frame("/", user_id=2)
    token = _page_token(page.text)
    resp = installed.http.get(
        installed.url + "/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert resp.status_code == 200
    assert resp.json() == {"user_id": 2, "name": installed.portal.portal.directory.full_name(2)}
    assert installed.portal_calls()[-1] == "user.get"


@pytest.mark.parametrize("options", ["undefined", "", "[]", '{"any":"28\\/"}'])
def test_placement_options_variants_are_accepted(installed: AppHandle, options: str) -> None:
    query, body = installed.frame_fields()
    body["PLACEMENT_OPTIONS"] = options
    resp = installed.http.post(installed.url + "/", params=query, data=body, timeout=30)
    assert resp.status_code == 200


def test_contact_tab_widget_shows_the_contact(installed: AppHandle) -> None:
    contact = installed.portal.portal.crm.entities["contact"].get(3)
    assert contact is not None
    resp = installed.post_frame(
        "/placement/crm_contact_tab",
        placement="CRM_CONTACT_DETAIL_TAB",
        options={"ID": "3", "URI": "/crm/contact/details/3/"},
    )
    assert resp.status_code == 200
    name = f"{contact['NAME']} {contact['LAST_NAME']}".strip()
    assert f'<b id="contact-name">{name}</b>' in resp.text
    assert installed.portal_calls() == ["oauth.app.info", "crm.contact.get"]


def test_widget_for_another_placement_or_unknown_code_is_refused(installed: AppHandle) -> None:
    assert installed.post_frame("/placement/crm_contact_tab", placement="DEFAULT").status_code == 400
    assert installed.post_frame("/placement/nope", placement="CRM_CONTACT_DETAIL_TAB").status_code == 404


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("AUTH_ID", "forged0token0nobody0issued"),
        ("member_id", "0123456789abcdef0123456789abcdef"),
        ("APPLICATION_TOKEN", "0" * 32),
        ("DOMAIN", "evil.example"),
    ],
)
def test_unverified_context_is_401(installed: AppHandle, field: str, value: str) -> None:
    query, body = installed.frame_fields()
    (query if field == "DOMAIN" else body)[field] = value
    for path in ("/", "/placement/crm_contact_tab"):
        resp = installed.http.post(installed.url + path, params=query, data=body, timeout=30)
        assert resp.status_code == 401, path
    # At most the OAuth server was asked; no REST call was made with any token.
    assert set(installed.portal_calls()) <= {"oauth.app.info"}


def test_token_of_another_app_is_401(installed: AppHandle) -> None:
    other = installed.portal.register_app(title="other", handler_url="http://localhost:1/", scopes=["user"])
    resp = installed.post_frame("/", tokens=installed.portal.issue_tokens(other["client_id"]))
    assert resp.status_code == 401


def test_app_page_before_install_is_401(app: AppHandle) -> None:
    resp = app.post_frame("/")
    assert resp.status_code == 401
    assert app.portal_calls() == []
