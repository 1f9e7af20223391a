"""The portal's pages for people, through HTTP: the menu, the iframe form POST, install, auth.

What a browser would do with these pages is in ``test_ui_browser.py``; here the HTML is
parsed and the ``/_ui/`` calls that ``portal.js`` makes are made directly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from portal.testing import PortalHandle, running_portal

FRAME_FIELDS = [
    "AUTH_ID",
    "AUTH_EXPIRES",
    "REFRESH_ID",
    "SERVER_ENDPOINT",
    "APPLICATION_TOKEN",
    "APPLICATION_SCOPE",
    "member_id",
    "status",
    "PLACEMENT",
    "PLACEMENT_OPTIONS",
]


@dataclass
class Page:
    """What a test needs from one rendered portal page."""

    text: str
    iframes: list[dict[str, str]] = field(default_factory=list)
    forms: list[dict[str, Any]] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)
    launch: dict[str, Any] | None = None

    @property
    def form(self) -> dict[str, Any]:
        assert len(self.forms) == 1, self.forms
        return self.forms[0]


class _Parser(HTMLParser):
    def __init__(self, page: Page) -> None:
        super().__init__()
        self.page = page
        self._in_launch = False
        self._link: str | None = None
        self._data: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "iframe":
            self.page.iframes.append(a)
        elif tag == "form":
            self.page.forms.append({**a, "fields": []})
        elif tag == "input" and self.page.forms:
            self.page.forms[-1]["fields"].append((a.get("name", ""), a.get("value", "")))
        elif tag == "script" and "app-launch" in a.get("class", ""):
            self._in_launch = True
        elif tag == "a":
            self._link, self._data = a.get("href", ""), []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_launch = False
        elif tag == "a" and self._link is not None:
            self.page.links.append((self._link, "".join(self._data).strip()))
            self._link = None

    def handle_data(self, data: str) -> None:
        if self._in_launch:
            self.page.launch = json.loads(data)
        elif self._link is not None:
            self._data.append(data)


def get_page(url: str, status: int = 200) -> Page:
    resp = requests.get(url, timeout=10)
    assert resp.status_code == status, resp.text
    page = Page(resp.text)
    _Parser(page).feed(resp.text)
    return page


@pytest.fixture(scope="module")
def portal() -> Iterator[PortalHandle]:
    with running_portal(contacts=5) as handle:
        yield handle


def new_app(portal: PortalHandle, *, install: bool = True, **fields: Any) -> dict[str, Any]:
    n = len(portal.portal.credentials.apps) + 1
    fields.setdefault("title", f"App {n}")
    fields.setdefault("handler_url", f"http://app{n}.test/handler?x=1")
    if install:
        fields.setdefault("install_url", f"http://app{n}.test/install")
    fields.setdefault("scopes", ["crm", "user", "placement"])
    return portal.register_app(**fields)


def ui_call(portal: PortalHandle, path: str, launch: dict[str, Any], **override: str) -> requests.Response:
    body = {"app_sid": launch["app_sid"], "page_key": launch["page_key"], **override}
    return requests.post(f"{portal.base_url}/_ui/{path}", json=body, timeout=10)


def rest(portal: PortalHandle, method: str, token: str, **params: Any) -> requests.Response:
    return requests.post(f"{portal.base_url}/rest/{method}.json", data={"auth": token, **params}, timeout=10)


def install(portal: PortalHandle, app: dict[str, Any]) -> None:
    """What the installer's BX24.installFinish() does, through portal.js's server call."""
    page = get_page(f"{portal.base_url}/marketplace/app/{app['id']}/")
    assert page.launch is not None
    resp = ui_call(portal, "install-finish", page.launch)
    assert resp.status_code == 200, resp.text


def frame_query(form: dict[str, Any]) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(form["action"]).query))


# --- the portal page ----------------------------------------------------------------------


def test_portal_page_shows_the_user_and_lists_apps_with_ui(portal: PortalHandle) -> None:
    ui = new_app(portal, title="Sales <helper>")
    api_only = portal.register_app(title="Sync daemon", install_url="http://sync.test/install", api_only=True)
    page = get_page(f"{portal.base_url}/")
    assert "Maria Ivanova" in page.text
    assert portal.portal.domain in page.text
    titles = {text for _, text in page.links}
    assert "Sales <helper>" in titles  # escaped in HTML, whole once parsed
    assert "Sales &lt;helper&gt;" in page.text and "Sales <helper>" not in page.text
    assert (f"/marketplace/app/{ui['id']}/", "Sales <helper>") in page.links
    assert api_only["title"] not in titles
    assert "Pre-registered local application" not in titles  # API only too

    other = get_page(f"{portal.base_url}/?user_id=2")
    assert "Pavel Sokolov" in other.text
    # Every link keeps the logged-in user.
    assert (f"/marketplace/app/{ui['id']}/?user_id=2", "Sales <helper>") in other.links


def test_pages_load_nothing_from_other_hosts(portal: PortalHandle) -> None:
    resp = requests.get(f"{portal.base_url}/", timeout=10)
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    assert resp.headers["X-Frame-Options"] == "SAMEORIGIN"
    for src in re.findall(r'(?:src|href)="([^"]+)"', resp.text):
        assert src.startswith("/") or src == "data:,", src


def test_unknown_user_is_404(portal: PortalHandle) -> None:
    get_page(f"{portal.base_url}/?user_id=999", status=404)


# --- opening an app: the form POST into the iframe (reference 6.1) ------------------------


def test_app_frame_form_carries_exactly_the_bitrix24_fields(portal: PortalHandle) -> None:
    app = new_app(portal, install=False)
    page = get_page(f"{portal.base_url}/marketplace/app/{app['id']}/")
    assert len(page.iframes) == 1
    iframe, form = page.iframes[0], page.form
    assert iframe["name"] and form["target"] == iframe["name"]
    assert form["method"].lower() == "post"
    assert "hidden" in form

    assert form["action"].startswith("http://app")
    parts = urlsplit(form["action"])
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == app["handler_url"].split("?")[0]
    pairs = parse_qsl(parts.query)
    assert pairs[0] == ("x", "1")  # the handler's own query is kept
    query = dict(pairs[1:])
    assert list(query) == ["DOMAIN", "PROTOCOL", "LANG", "APP_SID"]
    assert query["DOMAIN"] == portal.portal.domain
    assert query["PROTOCOL"] == "0"
    assert query["LANG"] == "en"
    assert re.fullmatch(r"[0-9a-f]{32}", query["APP_SID"])

    names = [name for name, _ in form["fields"]]
    assert names == FRAME_FIELDS
    fields = dict(form["fields"])
    assert fields["AUTH_EXPIRES"] == "3600"
    assert fields["SERVER_ENDPOINT"] == f"{portal.base_url}/oauth/rest/"
    assert fields["APPLICATION_TOKEN"] == app["application_token"]
    assert fields["APPLICATION_SCOPE"] == "crm,user,placement"
    assert fields["member_id"] == portal.portal.config.member_id
    assert fields["status"] == "L"
    assert fields["PLACEMENT"] == "DEFAULT"
    # As a real portal writes it (PHP json_encode; a capture had {"any":"28\/"}).
    assert fields["PLACEMENT_OPTIONS"] == '{"any":"' + str(app["id"]) + '\\/"}'

    # The tokens are the current user's, and they work.
    me = rest(portal, "user.current", fields["AUTH_ID"]).json()
    assert me["result"]["ID"] == "1"
    token = requests.post(
        f"{portal.base_url}/oauth/token/",
        data={
            "grant_type": "refresh_token",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "refresh_token": fields["REFRESH_ID"],
        },
        timeout=10,
    ).json()
    assert token["access_token"] and token["user_id"] == 1

    # The launch data for getInitData agrees with the form.
    assert page.launch is not None
    init = page.launch["init"]
    assert page.launch["app_sid"] == query["APP_SID"]
    assert page.launch["app_origin"] == f"http://{parts.netloc}"
    assert init["AUTH_ID"] == fields["AUTH_ID"] and init["REFRESH_ID"] == fields["REFRESH_ID"]
    assert init["DOMAIN"] == portal.portal.domain and init["PROTOCOL"] == 0
    assert init["PLACEMENT"] == "DEFAULT" and init["PLACEMENT_OPTIONS"] == {"any": f"{app['id']}/"}
    assert init["INSTALL"] is True  # no installer: the handler itself is the install phase
    assert set(init) == {
        "DOMAIN",
        "PROTOCOL",
        "PATH",
        "LANG",
        "MEMBER_ID",
        "IS_ADMIN",
        "AUTH_ID",
        "REFRESH_ID",
        "AUTH_EXPIRES",
        "APP_OPTIONS",
        "USER_OPTIONS",
        "PLACEMENT",
        "PLACEMENT_OPTIONS",
        "INSTALL",
        "FIRST_RUN",
    }


def test_app_can_be_opened_by_client_id(portal: PortalHandle) -> None:
    app = new_app(portal)
    page = get_page(f"{portal.base_url}/marketplace/app/{app['client_id']}/")
    assert page.iframes


def test_app_sid_and_tokens_change_with_every_render(portal: PortalHandle) -> None:
    app = new_app(portal)
    url = f"{portal.base_url}/marketplace/app/{app['id']}/"
    first, second = get_page(url).form, get_page(url).form
    assert frame_query(first)["APP_SID"] != frame_query(second)["APP_SID"]
    assert dict(first["fields"])["AUTH_ID"] != dict(second["fields"])["AUTH_ID"]


def test_tokens_belong_to_the_logged_in_user(portal: PortalHandle) -> None:
    app = new_app(portal)
    install(portal, app)
    page = get_page(f"{portal.base_url}/marketplace/app/{app['id']}/?user_id=3")
    fields = dict(page.form["fields"])
    assert rest(portal, "user.current", fields["AUTH_ID"]).json()["result"]["ID"] == "3"
    assert page.launch is not None and page.launch["init"]["IS_ADMIN"] is False


def test_missing_and_api_only_apps_have_no_page(portal: PortalHandle) -> None:
    api_only = portal.register_app(title="Headless", install_url="http://h.test/install", api_only=True)
    get_page(f"{portal.base_url}/marketplace/app/{api_only['id']}/", status=404)
    get_page(f"{portal.base_url}/marketplace/app/99999/", status=404)


# --- install (reference 5.1, 6.2) ---------------------------------------------------------


def test_installer_opens_until_install_finish_then_the_handler(portal: PortalHandle) -> None:
    app = new_app(portal)
    url = f"{portal.base_url}/marketplace/app/{app['id']}/"
    for _ in range(2):  # still the installer on every render until installFinish
        page = get_page(url)
        assert page.form["action"].startswith(app["install_url"] + "?")
        assert dict(page.form["fields"])["PLACEMENT"] == "DEFAULT"
        assert page.launch is not None and page.launch["init"]["INSTALL"] is True
    assert not portal.portal.credentials.apps.get(app["client_id"])["installed"]
    assert "not installed" in get_page(f"{portal.base_url}/").text

    resp = ui_call(portal, "install-finish", page.launch)
    assert resp.status_code == 200
    answer = resp.json()
    assert answer["installed"] is True
    # The frame is reopened on the handler at once, with a new APP_SID.
    relaunch = answer["launch"]
    assert relaunch["action"].startswith(app["handler_url"] + "&DOMAIN=")
    assert relaunch["app_sid"] != page.launch["app_sid"]
    assert relaunch["init"]["INSTALL"] is False
    assert dict(map(tuple, relaunch["fields"]))["PLACEMENT"] == "DEFAULT"
    assert portal.portal.credentials.apps.get(app["client_id"])["installed"] is True

    after = get_page(url)
    assert after.form["action"].startswith(app["handler_url"] + "&")
    assert after.launch is not None and after.launch["init"]["INSTALL"] is False

    # Once installed, installFinish ends nothing and reopens nothing.
    again = ui_call(portal, "install-finish", after.launch).json()
    assert again == {"installed": True, "launch": None}


def test_only_the_admin_sees_the_installer(portal: PortalHandle) -> None:
    app = new_app(portal)
    page = get_page(f"{portal.base_url}/marketplace/app/{app['id']}/?user_id=2")
    assert not page.iframes and not page.forms
    assert "not fully installed yet" in page.text


def test_install_finish_needs_the_page_key(portal: PortalHandle) -> None:
    app = new_app(portal)
    page = get_page(f"{portal.base_url}/marketplace/app/{app['id']}/")
    assert page.launch is not None
    # The app knows its APP_SID (it is in its URL) but never the page key.
    assert ui_call(portal, "install-finish", page.launch, page_key="guess").status_code == 403
    assert ui_call(portal, "install-finish", page.launch, page_key="").status_code == 403
    assert not portal.portal.credentials.apps.get(app["client_id"])["installed"]


# --- refreshAuth and reloadWindow ---------------------------------------------------------


def test_refresh_auth_gives_new_working_tokens(portal: PortalHandle) -> None:
    app = new_app(portal)
    install(portal, app)
    page = get_page(f"{portal.base_url}/marketplace/app/{app['id']}/?user_id=2")
    assert page.launch is not None
    resp = ui_call(portal, "refresh-auth", page.launch)
    assert resp.status_code == 200
    tokens = resp.json()
    assert set(tokens) == {"AUTH_ID", "REFRESH_ID", "AUTH_EXPIRES"}
    assert tokens["AUTH_ID"] != page.launch["init"]["AUTH_ID"]
    assert tokens["AUTH_EXPIRES"] == 3600
    assert rest(portal, "user.current", tokens["AUTH_ID"]).json()["result"]["ID"] == "2"
    renewed = requests.post(
        f"{portal.base_url}/oauth/token/",
        data={
            "grant_type": "refresh_token",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "refresh_token": tokens["REFRESH_ID"],
        },
        timeout=10,
    ).json()
    assert renewed["user_id"] == 2


def test_refresh_auth_refuses_unknown_frames(portal: PortalHandle) -> None:
    app = new_app(portal)
    page = get_page(f"{portal.base_url}/marketplace/app/{app['id']}/")
    assert page.launch is not None
    unknown = ui_call(portal, "refresh-auth", page.launch, app_sid="0" * 32)
    assert unknown.status_code == 403
    assert unknown.json()["error"] == "UNKNOWN_APP_SID"
    assert ui_call(portal, "refresh-auth", page.launch, page_key="x" * 32).status_code == 403
    nothing = requests.post(f"{portal.base_url}/_ui/refresh-auth", data="not json", timeout=10)
    assert nothing.status_code == 403


def test_reload_window_reopens_the_same_frame(portal: PortalHandle) -> None:
    app = new_app(portal)
    install(portal, app)
    page = get_page(f"{portal.base_url}/marketplace/app/{app['id']}/")
    assert page.launch is not None
    launch = ui_call(portal, "relaunch", page.launch).json()["launch"]
    assert launch["app_sid"] != page.launch["app_sid"]
    assert launch["action"].split("DOMAIN=")[0] == page.form["action"].split("DOMAIN=")[0]
    assert launch["init"]["PLACEMENT_OPTIONS"] == page.launch["init"]["PLACEMENT_OPTIONS"]


# --- CRM and placements -------------------------------------------------------------------


def test_contacts_list_and_card(portal: PortalHandle) -> None:
    page = get_page(f"{portal.base_url}/crm/contact/list/")
    cards = [href for href, _ in page.links if href.startswith("/crm/contact/details/")]
    assert len(cards) == 5
    card = get_page(f"{portal.base_url}{cards[0]}")
    contact = portal.portal.crm.entities["contact"].get(1)
    assert contact is not None
    assert f"{contact['NAME']} {contact['LAST_NAME']}" in card.text
    assert not card.iframes
    get_page(f"{portal.base_url}/crm/contact/details/999/", status=404)


def test_contact_tab_opens_the_bound_placement(portal: PortalHandle) -> None:
    app = new_app(portal, title="Tabber")
    install(portal, app)
    token = portal.issue_tokens(app["client_id"], user_id=1)["access_token"]
    handler = "http://tabber.test/tab"
    bound = rest(
        portal,
        "placement.bind",
        token,
        PLACEMENT="CRM_CONTACT_DETAIL_TAB",
        HANDLER=handler,
        TITLE="Tabber <tab>",
    )
    assert bound.json() == {"result": True, "time": bound.json()["time"]}

    card = get_page(f"{portal.base_url}/crm/contact/details/3/")
    tabs = [(href, text) for href, text in card.links if "tab=" in href]
    assert [text for _, text in tabs] == ["Tabber <tab>"]
    assert not card.iframes  # the General tab is shown first

    tab = get_page(f"{portal.base_url}{tabs[0][0]}")
    form = tab.form
    assert tab.iframes[0]["name"] == form["target"]
    assert form["action"].startswith(handler + "?DOMAIN=")
    fields = dict(form["fields"])
    assert [name for name, _ in form["fields"]] == FRAME_FIELDS
    assert fields["PLACEMENT"] == "CRM_CONTACT_DETAIL_TAB"
    assert fields["PLACEMENT_OPTIONS"] == '{"ID":"3","URI":"\\/crm\\/contact\\/details\\/3\\/"}'
    assert json.loads(fields["PLACEMENT_OPTIONS"]) == {"ID": "3", "URI": "/crm/contact/details/3/"}
    assert tab.launch is not None
    assert tab.launch["init"]["PLACEMENT_OPTIONS"] == {"ID": "3", "URI": "/crm/contact/details/3/"}
    assert tab.launch["init"]["INSTALL"] is False


def test_tabs_of_apps_not_installed_are_hidden(portal: PortalHandle) -> None:
    app = new_app(portal, title="Half-installed")
    token = portal.issue_tokens(app["client_id"], user_id=1)["access_token"]
    rest(portal, "placement.bind", token, PLACEMENT="CRM_CONTACT_DETAIL_TAB", HANDLER="http://half.test/tab")
    card = get_page(f"{portal.base_url}/crm/contact/details/2/")
    assert "Half-installed" not in [text for href, text in card.links if "tab=" in href]
    assert "http://half.test" not in card.text


# --- Developer resources ------------------------------------------------------------------


def _sessid(portal: PortalHandle, user: str = "") -> str:
    page = get_page(f"{portal.base_url}/devops/{user}")
    form = next(f for f in page.forms if "devops-form" in f.get("class", ""))
    return dict(form["fields"])["sessid"]


def test_devops_form_registers_a_local_app(portal: PortalHandle) -> None:
    resp = requests.post(
        f"{portal.base_url}/devops/local-app/",
        data={
            "sessid": _sessid(portal),
            "title": "Form-made app",
            "handler_url": "http://made.test/index",
            "install_url": "http://made.test/install",
            "scope": ["crm", "user", "bogus"],
        },
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code == 303
    page = get_page(portal.base_url + resp.headers["Location"])
    app = next(a for a in portal.portal.credentials.apps.values() if a["title"] == "Form-made app")
    assert app["client_id"] in page.text and app["client_secret"] in page.text
    assert app["scopes"] == ["crm", "user"]
    assert app["installed"] is False and app["api_only"] is False
    assert (f"/marketplace/app/{app['id']}/", "Form-made app") in get_page(portal.base_url + "/").links


def test_devops_form_refuses_forged_posts_and_non_admins(portal: PortalHandle) -> None:
    before = len(portal.portal.credentials.apps)
    data = {
        "title": "Forged",
        "handler_url": "http://evil.test/",
        "api_only": "Y",
        "install_url": "http://evil.test/",
    }
    forged = requests.post(f"{portal.base_url}/devops/local-app/", data=data, timeout=10)
    assert forged.status_code == 403
    as_user2 = requests.post(
        f"{portal.base_url}/devops/local-app/?user_id=2",
        data={**data, "sessid": _sessid(portal, "?user_id=2")},
        timeout=10,
    )
    assert as_user2.status_code == 403
    # user 1's sessid is not user 2's
    crossed = requests.post(
        f"{portal.base_url}/devops/local-app/?user_id=2", data={**data, "sessid": _sessid(portal)}, timeout=10
    )
    assert crossed.status_code == 403
    bad = requests.post(
        f"{portal.base_url}/devops/local-app/",
        data={"sessid": _sessid(portal), "title": "No handler"},
        timeout=10,
    )
    assert bad.status_code == 400
    assert len(portal.portal.credentials.apps) == before


def test_devops_form_api_only_app_is_installed_at_once() -> None:
    with running_portal() as portal:
        resp = requests.post(
            f"{portal.base_url}/devops/local-app/",
            data={
                "sessid": _sessid(portal),
                "title": "API only",
                "install_url": "http://127.0.0.1:9/install",
                "api_only": "Y",
                "scope": ["crm"],
            },
            allow_redirects=False,
            timeout=10,
        )
        assert resp.status_code == 303
        app = next(a for a in portal.portal.credentials.apps.values() if a["title"] == "API only")
        assert app["installed"] is True and app["api_only"] is True
        assert "API only" not in {t for _, t in get_page(portal.base_url + "/").links}


# --- the BX24 library ---------------------------------------------------------------------


def test_bx24_library_is_served_by_the_portal(portal: PortalHandle) -> None:
    resp = requests.get(f"{portal.base_url}/bx24/api/v1/", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/javascript")
    assert "window.BX24" in resp.text
    assert re.findall(r"https?://\w", resp.text) == []  # it names no host: it talks to DOMAIN
    same = requests.get(f"{portal.base_url}/_static/bx24.js", timeout=10)
    assert same.text == resp.text
