"""The portal hosts static apps: upload (admin API and the Developer resources form), serving,
the frame POST, the install flow, and no events (crest.static_app + portal.static_apps)."""

from __future__ import annotations

import html
import io
import re
import zipfile
from pathlib import Path

import requests

from crest.static_app import build, new
from portal.testing import PortalHandle


def starter(tmp_path: Path, *, install: bool = True) -> bytes:
    new(tmp_path / "app", title="Starter", install=install)
    return build(tmp_path / "app", tmp_path / "app.zip").out.read_bytes()


def upload(portal: PortalHandle, data: bytes) -> requests.Response:
    return portal.upload_static_app(data, title="Starter", scopes=["user", "crm"])


def test_upload_registers_the_app_and_serves_its_files(portal: PortalHandle, tmp_path: Path) -> None:
    resp = upload(portal, starter(tmp_path))
    assert resp.status_code == 200, resp.text
    app = resp.json()
    base = f"{portal.static_url}/static-apps/{app['id']}/"
    assert app["static"] is True and app["handler_url"] == base + "index.html"
    assert app["install_url"] == base + "install.html" and app["installed"] is False
    assert app["scopes"] == ["user", "crm"]
    page = requests.get(base + "index.html", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    # Framed by the portal's pages only, from the static apps' own origin.
    assert f"frame-ancestors {portal.base_url}" in page.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in page.headers
    assert requests.get(base, timeout=10).text == page.text
    assert requests.get(base + "app.js", timeout=10).headers["Content-Type"].startswith("text/javascript")
    # The portal's frame form POSTs the user's tokens to the page: the file is served all the same.
    posted = requests.post(base + "index.html?DOMAIN=x&APP_SID=y", data={"AUTH_ID": "t"}, timeout=10)
    assert posted.status_code == 200 and posted.text == page.text
    # (requests itself resolves a literal "../", so only the encoded form reaches the server.)
    for missing in ("nope.html", "%2e%2e/x.html", "sub/%2e%2e/index.html"):
        assert requests.get(base + missing, timeout=10).status_code == 404
    assert requests.get(f"{portal.static_url}/static-apps/999/index.html", timeout=10).status_code == 404
    # Never on the portal's own origin.
    assert (
        requests.get(f"{portal.base_url}/static-apps/{app['id']}/index.html", timeout=10).status_code == 404
    )


def test_bad_archives_are_refused_with_reasons_and_register_nothing(portal: PortalHandle) -> None:
    before = len(portal.portal.credentials.apps)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", '<script src="https://cdn.example/x.js"></script>')
        archive.writestr("../../evil.html", "x")
    resp = upload(portal, buffer.getvalue())
    assert resp.status_code == 400
    assert any("evil.html" in p for p in resp.json()["problems"])
    assert upload(portal, b"PK not really").status_code == 400
    no_file = requests.post(
        f"{portal.base_url}/_portal/static-apps",
        data={"title": "x"},
        headers=portal.admin_headers,
        timeout=10,
    )
    assert no_file.status_code == 400
    assert len(portal.portal.credentials.apps) == before


def test_without_install_html_the_app_is_installed_at_once(portal: PortalHandle, tmp_path: Path) -> None:
    app = upload(portal, starter(tmp_path, install=False)).json()
    assert app["installed"] is True and app["install_url"] == ""


def test_portal_page_posts_the_frame_form_to_the_static_files(portal: PortalHandle, tmp_path: Path) -> None:
    app = upload(portal, starter(tmp_path)).json()
    page = requests.get(f"{portal.base_url}/marketplace/app/{app['id']}/", timeout=10)
    assert page.status_code == 200
    # Not installed yet: the admin's frame opens the installer, on the static apps' origin.
    launch = re.search(r'<script type="application/json" class="app-launch">(.*?)</script>', page.text, re.S)
    assert launch, page.text
    text = html.unescape(launch.group(1))
    assert f"/static-apps/{app['id']}/install.html?DOMAIN=" in text
    assert f'"app_origin": "{portal.static_url}"' in text
    home = requests.get(f"{portal.base_url}/", timeout=10).text
    assert f'href="/marketplace/app/{app["id"]}/"' in home


def test_a_static_app_cannot_bind_events_but_calls_rest_as_the_user(
    portal: PortalHandle, tmp_path: Path
) -> None:
    app = upload(portal, starter(tmp_path)).json()
    tokens = portal.issue_tokens(app["client_id"], user_id=1)
    endpoint = tokens["client_endpoint"]
    me = requests.post(
        f"{endpoint}user.current.json", data={"auth": tokens["access_token"]}, timeout=10
    ).json()
    assert me["result"]["ID"] == "1"
    bound = requests.post(
        f"{endpoint}event.bind.json",
        data={"auth": tokens["access_token"], "event": "ONCRMDEALUPDATE", "handler": "http://localhost:9/x"},
        timeout=10,
    )
    assert bound.status_code == 403 and bound.json()["error"] == "ACCESS_DENIED"
    assert "Static applications" in bound.json()["error_description"]
    assert portal.portal.events.handlers_of(app["client_id"]) == []
    # An ordinary app still may (the refusal is about static apps only).
    ordinary = portal.register_app(title="with a server", handler_url="http://localhost:9/", scopes=["crm"])
    other = portal.issue_tokens(ordinary["client_id"], user_id=1)
    answer = requests.post(
        f"{endpoint}event.bind.json",
        data={"auth": other["access_token"], "event": "ONCRMDEALUPDATE", "handler": "http://localhost:9/x"},
        timeout=10,
    ).json()
    assert answer["result"] is True
    assert len(portal.portal.events.handlers_of(ordinary["client_id"])) == 1


def test_developer_resources_form_uploads_a_static_app(portal: PortalHandle, tmp_path: Path) -> None:
    http = requests.Session()
    form_page = http.get(f"{portal.base_url}/devops/static-app/", timeout=10)
    assert form_page.status_code == 200 and "Content-Security-Policy" in form_page.headers
    sessid = re.search(r'name="sessid" value="([0-9a-f]+)"', form_page.text)
    assert sessid
    url = f"{portal.base_url}/devops/static-app/"
    data = starter(tmp_path)
    forged = http.post(
        url, data={"sessid": "0" * 32, "title": "X"}, files={"archive": ("a.zip", data)}, timeout=10
    )
    assert forged.status_code == 403
    bad = http.post(
        url, data={"sessid": sessid.group(1), "title": "X"}, files={"archive": ("a.zip", b"junk")}, timeout=10
    )
    assert bad.status_code == 400 and "not a zip archive" in bad.text
    ok = http.post(
        url,
        data={"sessid": sessid.group(1), "title": "Uploaded", "scope": ["user"]},
        files={"archive": ("a.zip", data)},
        timeout=10,
        allow_redirects=False,
    )
    assert ok.status_code == 303, ok.text
    [app] = [a for a in portal.portal.credentials.apps.values() if a["title"] == "Uploaded"]
    assert app["static"] and app["scopes"] == ["user"]
    assert ok.headers["Location"].endswith(f"/devops/local-app/{app['id']}/")
    # A user who is not an administrator cannot upload.
    as_user = http.get(f"{portal.base_url}/devops/static-app/?user_id=2", timeout=10)
    user_sessid = re.search(r'name="sessid" value="([0-9a-f]+)"', as_user.text)
    assert user_sessid
    refused = http.post(
        f"{url}?user_id=2",
        data={"sessid": user_sessid.group(1), "title": "Y"},
        files={"archive": ("a.zip", data)},
        timeout=10,
    )
    assert refused.status_code == 403 and "administrator" in refused.text


def test_kept_static_apps_follow_the_static_origin_of_each_run(tmp_path: Path) -> None:
    from portal.testing import running_portal

    state = str(tmp_path / "state.sqlite")
    with running_portal(state_path=state) as first:
        app = upload(first, starter(tmp_path, install=False)).json()
    with running_portal(state_path=state) as again:
        kept = again.portal.credentials.apps.get(app["client_id"])
        assert kept["handler_url"] == f"{again.static_url}/static-apps/{app['id']}/index.html"
        assert kept["install_url"] == ""
        served = requests.get(kept["handler_url"], timeout=10)
        assert served.status_code == 200 and "Starter" in served.text
