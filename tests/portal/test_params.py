"""Request parameters read as a PHP portal reads them (query, form, multipart, JSON)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from portal.testing import PortalHandle
from tests.portal._portal_helpers import extra_methods, get, post


@pytest.fixture(autouse=True)
def _methods() -> Iterator[None]:
    with extra_methods():
        yield


def _echo(resp: requests.Response) -> Any:
    assert resp.status_code == 200, resp.text
    return resp.json()["result"]


def test_query_with_raw_and_encoded_brackets(portal: PortalHandle) -> None:
    url = portal.webhook_url + "test.echo"
    raw = _echo(get(url + "?fields[NAME]=Ann&fields[PHONE][0][VALUE]=555&select[]=ID&select[]=NAME"))
    encoded = _echo(
        get(
            url
            + "?fields%5BNAME%5D=Ann&fields%5BPHONE%5D%5B0%5D%5BVALUE%5D=555&select%5B%5D=ID&select%5B%5D=NAME"
        )
    )
    expected = {"fields": {"NAME": "Ann", "PHONE": [{"VALUE": "555"}]}, "select": ["ID", "NAME"]}
    assert raw == expected
    assert encoded == expected


def test_form_body(portal: PortalHandle) -> None:
    body = "filter%5B%3EID%5D=5&order[ID]=ASC&name=a+b%26c"
    resp = post(
        portal.webhook_url + "test.echo",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert _echo(resp) == {"filter": {">ID": "5"}, "order": {"ID": "ASC"}, "name": "a b&c"}


def test_multipart_body(portal: PortalHandle) -> None:
    files = {"fields[NAME]": (None, "Ann"), "fields[LAST_NAME]": (None, "Lee"), "x": (None, "1")}
    resp = post(portal.webhook_url + "test.echo", files=files)
    assert resp.request.headers["Content-Type"].startswith("multipart/form-data")
    assert _echo(resp) == {"fields": {"NAME": "Ann", "LAST_NAME": "Lee"}, "x": "1"}


def test_json_body(portal: PortalHandle) -> None:
    body = {"fields": {"NAME": "Ann", "PHONE": [{"VALUE": "555"}]}, "flag": True, "n": 5}
    assert _echo(post(portal.webhook_url + "test.echo", json=body)) == body


def test_body_wins_over_query(portal: PortalHandle) -> None:
    url = portal.webhook_url + "test.echo?x=query&y=query"
    assert _echo(post(url, data={"x": "body"})) == {"x": "body", "y": "query"}
    assert _echo(post(url, json={"x": "json"})) == {"x": "json", "y": "query"}


def test_invalid_json_means_no_parameters(portal: PortalHandle) -> None:
    resp = post(
        portal.webhook_url + "test.echo?q=1",
        data=b'{"x": broken',
        headers={"Content-Type": "application/json"},
    )
    assert _echo(resp) == {"q": "1"}


def test_invalid_json_is_no_error_for_oauth_auth_in_query(portal: PortalHandle) -> None:
    token = portal.issue_tokens()["access_token"]
    resp = post(
        f"{portal.base_url}/rest/user.current?auth={token}",
        data=b"[1, 2",
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 200


def test_json_body_without_content_type(portal: PortalHandle) -> None:
    # A raw body is read as JSON when the form list is empty, whatever the content type says.
    resp = post(
        portal.webhook_url + "test.echo", data=b'{"a": {"b": 1}}', headers={"Content-Type": "text/plain"}
    )
    assert _echo(resp) == {"a": {"b": 1}}


def test_positional_parameters(portal: PortalHandle) -> None:
    url = portal.webhook_url + "test.echo"
    assert _echo(post(url, json=[123, {"POST_MESSAGE": "hi"}])) == [123, {"POST_MESSAGE": "hi"}]
    form = _echo(
        post(
            url,
            data="0=123&1[POST_MESSAGE]=hi",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    )
    assert form == ["123", {"POST_MESSAGE": "hi"}]


def test_nested_filter_reaches_a_real_method(portal: PortalHandle) -> None:
    resp = get(portal.webhook_url + "user.get?FILTER[>ID]=1&SORT=ID&ORDER=DESC")
    assert [u["ID"] for u in resp.json()["result"]] == ["3", "2"]
