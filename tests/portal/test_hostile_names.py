"""Hostile field names against the local portal over HTTP (issue 10, item 5).

A 4301-digit index made Python's ``int()`` raise ``ValueError``: a 500 on REST and OAuth. Every
endpoint now answers 400 with Bitrix24's error envelope and changes nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from crest.forms import MAX_LENGTH, encode
from portal.rest import RestRequest
from portal.testing import PortalHandle
from tests.webapp.test_chunked_bodies import post_chunked

pytestmark = pytest.mark.b24portal(contacts=2, limits=False, cost=None)

HUGE = "1" * 4301
NAMES = [f"a[{HUGE}]", f"fields[{HUGE}]", HUGE, f"auth[-{HUGE}]", "x" * 5000]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _contacts(portal: PortalHandle) -> int:
    return int(requests.get(portal.webhook_url + "crm.contact.list.json", timeout=10).json()["total"])


def _refused(resp: requests.Response, code: str = "INVALID_REQUEST") -> dict[str, Any]:
    assert resp.status_code == 400, resp.text[:300]
    assert "Traceback" not in resp.text
    body: dict[str, Any] = resp.json()
    assert body["error"] == code
    assert "longer than 1024 characters" in body["error_description"]
    return body


@pytest.mark.parametrize("name", NAMES, ids=["index", "fields-index", "digits", "auth-index", "long"])
def test_webhook_rest_refuses_hostile_names_in_body_and_query(portal: PortalHandle, name: str) -> None:
    before = _contacts(portal)
    body = encode({"fields": {"NAME": "Hostile"}}) + f"&{name}=x"
    _refused(requests.post(portal.webhook_url + "crm.contact.add.json", data=body, headers=FORM, timeout=10))
    _refused(requests.post(f"{portal.webhook_url}crm.contact.add.json?{name}=x&fields[NAME]=Q", timeout=10))
    _refused(requests.get(f"{portal.webhook_url}crm.contact.add?fields[NAME]=Q&{name}=1", timeout=10))
    assert _contacts(portal) == before


def test_oauth_rest_refuses_hostile_names(portal: PortalHandle) -> None:
    app = portal.register_app(title="hostile", handler_url="http://127.0.0.1:9/", scopes=["crm"])
    tokens = portal.issue_tokens(app["client_id"])
    before = _contacts(portal)
    body = encode({"auth": tokens["access_token"], "fields": {"NAME": "Hostile"}}) + f"&a[{HUGE}]=x"
    _refused(
        requests.post(f"{portal.base_url}/rest/crm.contact.add.json", data=body, headers=FORM, timeout=10)
    )
    assert _contacts(portal) == before


def test_batch_command_with_a_hostile_name_is_refused(portal: PortalHandle) -> None:
    before = _contacts(portal)
    cmd = {"add": f"crm.contact.add?fields[NAME]=B&a[{HUGE}]=x"}
    resp = requests.post(
        portal.webhook_url + "batch.json", data=encode({"cmd": cmd}), headers=FORM, timeout=10
    )
    assert resp.status_code in (200, 400), resp.text[:300]
    assert "Traceback" not in resp.text
    result = resp.json()
    assert "add" not in (result.get("result", {}).get("result") or {})
    assert _contacts(portal) == before


def test_oauth_token_refuses_hostile_names_and_keeps_the_refresh_token(portal: PortalHandle) -> None:
    app = portal.register_app(title="hostile-oauth", handler_url="http://127.0.0.1:9/", scopes=["crm"])
    tokens = portal.issue_tokens(app["client_id"])
    grant = {
        "grant_type": "refresh_token",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "refresh_token": tokens["refresh_token"],
    }
    url = f"{portal.base_url}/oauth/token/"
    _refused(
        requests.post(url, data=encode(grant) + f"&a[{HUGE}]=x", headers=FORM, timeout=10), "invalid_request"
    )
    _refused(requests.get(f"{url}?{encode(grant)}&{HUGE}=x", timeout=10), "invalid_request")
    info = f"{portal.base_url}/oauth/rest/app.info?auth={tokens['access_token']}&a[{HUGE}]=1"
    _refused(requests.get(info, timeout=10), "invalid_request")
    # Nothing was spent: the single-use refresh token still renews once.
    renewed = requests.post(url, data=grant, timeout=10)
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["refresh_token"] != tokens["refresh_token"]


# --- the portal's pages and forms ------------------------------------------------------------------


def _sessid(portal: PortalHandle) -> str:
    page = requests.get(f"{portal.base_url}/devops/", timeout=10).text
    match = re.search(r'name="sessid" value="([0-9a-f]+)"', page)
    assert match is not None
    return match.group(1)


def test_devops_form_with_a_hostile_name_is_400_and_registers_nothing(portal: PortalHandle) -> None:
    before = len(portal.portal.credentials.apps)
    fields = {
        "sessid": _sessid(portal),
        "title": "Hostile",
        "handler_url": "http://127.0.0.1:9/",
        "scope": "crm",
    }
    for extra in (f"a[{HUGE}]=x", "x" * 5000 + "=1", "a" + "[b]" * 70 + "=1"):
        resp = requests.post(
            f"{portal.base_url}/devops/local-app/",
            data=encode(fields) + "&" + extra,
            headers=FORM,
            allow_redirects=False,
            timeout=10,
        )
        assert resp.status_code == 400, resp.status_code
        assert resp.headers["Content-Type"].startswith("text/html")
        assert "Bad request" in resp.text and "Traceback" not in resp.text
    assert len(portal.portal.credentials.apps) == before


@pytest.mark.parametrize("path", ["/", "/devops/", "/devops/static-app/", "/crm/contact/list/"])
def test_pages_refuse_hostile_query_names_and_survive_hostile_numbers(
    portal: PortalHandle, path: str
) -> None:
    refused = requests.get(f"{portal.base_url}{path}?a[{HUGE}]=1", timeout=10)
    assert refused.status_code == 400 and "longer than 1024 characters" in refused.text
    # "²" passes str.isdigit() and int() refuses it; 4301 digits pass it too: both were 500s.
    for number in (HUGE, "%C2%B2", "-1", "1e3"):
        resp = requests.get(f"{portal.base_url}{path}?user_id={number}", timeout=10)
        assert resp.status_code == 200, (number, resp.status_code)
    for ref in (HUGE, "%C2%B2"):
        assert requests.get(f"{portal.base_url}/marketplace/app/{ref}/", timeout=10).status_code == 404


def test_oauth_authorize_survives_hostile_user_ids(portal: PortalHandle) -> None:
    app = portal.register_app(title="hostile-authorize", handler_url="http://127.0.0.1:9/", scopes=["crm"])
    for number in (HUGE, "%C2%B2"):
        resp = requests.get(
            f"{portal.base_url}/oauth/authorize/?client_id={app['client_id']}&user_id={number}",
            allow_redirects=False,
            timeout=10,
        )
        assert resp.status_code == 302, resp.status_code


# --- chunked bodies (issue 10, item 6): the portal never processes a body cut at its read cap -------


@pytest.mark.parametrize("size", [MAX_LENGTH + 1, RestRequest.max_content_length + 1024])
def test_chunked_rest_body_over_the_limit_is_refused_and_adds_nothing(
    portal: PortalHandle, size: int
) -> None:
    before = _contacts(portal)
    body = encode({"fields": {"NAME": "Chunked"}}).encode() + b"&pad="
    body += b"x" * (size - len(body))
    path = urlsplit(portal.webhook_url).path + "crm.contact.add.json"
    status, answer = post_chunked(portal.base_url, path, body)
    assert status == 400, answer[:300]
    assert json.loads(answer)["error_description"] == "request body too large"
    assert _contacts(portal) == before
    # Under the limit, chunked is read in full and works.
    small = encode({"fields": {"NAME": "Chunked"}}).encode() + b"&pad=" + b"x" * 100_000
    status, answer = post_chunked(portal.base_url, path, small, chunk=4096)
    assert status == 200, answer[:300]
    assert _contacts(portal) == before + 1


def test_chunked_oauth_body_over_the_limit_is_refused(portal: PortalHandle) -> None:
    app = portal.register_app(title="chunked-oauth", handler_url="http://127.0.0.1:9/", scopes=["crm"])
    tokens = portal.issue_tokens(app["client_id"])
    grant = {
        "grant_type": "refresh_token",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "refresh_token": tokens["refresh_token"],
    }
    body = encode(grant).encode() + b"&pad=" + b"x" * (RestRequest.max_content_length + 1024)
    status, answer = post_chunked(portal.base_url, "/oauth/token/", body)
    assert status == 400 and b"larger than" in answer
    status, answer = post_chunked(portal.base_url, "/oauth/token/", encode(grant).encode())
    assert status == 200, answer  # the refresh token was not spent by the refused request
