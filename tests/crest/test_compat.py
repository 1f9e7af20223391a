"""``crest.compat.CRest``: PHP CRest code ports line by line, and a PHP-written settings.json keeps working."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crest.compat import CRest
from crest.settings import Settings
from crest.stores import open_store
from portal.testing import PortalHandle

PHP = shutil.which("php")


@pytest.fixture(autouse=True)
def fresh_facade() -> Iterator[None]:
    yield
    CRest.configure(None)


def webhook_settings(portal: PortalHandle) -> Settings:
    return Settings.load(None, env={}, web_hook_url=portal.webhook_url, store="memory:")


def app_settings(portal: PortalHandle, store: str) -> Settings:
    info = portal.info
    return Settings.load(
        None,
        env={},
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        oauth_token_url=info["token_url"],
        oauth_server_endpoint=info["server_endpoint"],
        store=store,
        allow_http_portals=True,
    )


def test_call_returns_the_decoded_envelope(portal: PortalHandle) -> None:
    CRest.configure(webhook_settings(portal))
    answer = CRest.call("user.get", {"start": 0})
    assert [u["ID"] for u in answer["result"]] == ["1", "2", "3"]
    assert answer["total"] == 3
    assert "next" not in answer
    assert {"start", "finish", "duration"} <= set(answer["time"])


def test_call_errors_are_crest_shaped(portal: PortalHandle) -> None:
    CRest.configure(webhook_settings(portal))
    answer = CRest.call("no.such.method")
    assert answer["error"] == "ERROR_METHOD_NOT_FOUND"
    assert answer["error_description"] == "Method not found!"
    assert answer["error_information"]  # CRest's human hint
    legacy = CRest.call("crm.contact.get", {"ID": 999999})
    assert legacy["error"] == ""  # CRest would not even see this one as an error
    assert legacy["error_description"] == "Not found"


def test_call_batch_runs_every_command(portal: PortalHandle) -> None:
    CRest.configure(webhook_settings(portal))
    commands: dict[str, Any] = {"me": {"method": "user.current"}}
    for i in range(119):
        commands[f"c{i}"] = {"method": "crm.contact.add", "params": {"fields": {"NAME": f"N{i}"}}}
    commands["empty"] = {"params": {}}  # CRest skips entries without a method
    answer = CRest.callBatch(commands, 0)
    block = answer["result"]
    assert len(block["result"]) == 120  # CRest would have sent only the first 50
    assert block["result_error"] == {}
    assert block["result"]["me"]["ID"] == "1"
    assert portal.count("batch") == 3


def test_call_batch_reports_per_command_errors(portal: PortalHandle) -> None:
    CRest.configure(webhook_settings(portal))
    block = CRest.callBatch({"a": {"method": "user.current"}, "b": {"method": "nope.nope"}}, 1)["result"]
    assert block["result_error"]["b"]["error"] == "ERROR_METHOD_NOT_FOUND"


def _onappinstall(portal: PortalHandle, **auth: str) -> dict[str, Any]:
    tokens = portal.issue_tokens()
    app = portal.portal.credentials.apps.get(portal.info["client_id"])
    return {
        "event": "ONAPPINSTALL",
        "data": {"VERSION": "1", "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": "en"},
        "auth": {
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "expires_in": "3600",
            "domain": portal.portal.domain,
            "member_id": tokens["member_id"],
            "application_token": app["application_token"],
            "client_endpoint": "https://attacker.example/rest/",  # never trusted
            **auth,
        },
    }


def test_install_app_is_verified_before_saving(portal: PortalHandle, tmp_path: Path) -> None:
    store_url = f"json:{tmp_path / 'settings.json'}"
    CRest.configure(app_settings(portal, store_url))
    forged = _onappinstall(portal, access_token="f" * 64)
    refused = CRest.installApp(forged)
    assert refused["rest_only"] is True
    assert refused["install"] is False
    assert refused["error"] == "install_error"
    assert not (tmp_path / "settings.json").exists()
    genuine = _onappinstall(portal)
    assert CRest.installApp(genuine) == {"rest_only": True, "install": True}
    stored = open_store(store_url).find(None)
    assert stored is not None
    assert stored.client_endpoint == portal.portal.client_endpoint  # from app.info, not the body
    assert CRest.call("user.current")["result"]["ID"] == "1"


def test_php_written_settings_json_is_read_and_kept_working(portal: PortalHandle, tmp_path: Path) -> None:
    assert PHP is not None, "php-cli is required (make test installs it)"
    tokens = portal.issue_tokens()
    info = portal.info
    settings_json = tmp_path / "settings.json"
    # What PHP CRest's setAppSettings() writes after an install (plus its client credentials,
    # which old CRest versions merged in).
    php_settings = {
        "access_token": tokens["access_token"],
        "expires_in": 3600,
        "scope": tokens["scope"],
        "domain": portal.portal.domain,
        "server_endpoint": tokens["server_endpoint"],
        "status": "L",
        "client_endpoint": tokens["client_endpoint"],
        "member_id": tokens["member_id"],
        "user_id": 1,
        "refresh_token": tokens["refresh_token"],
        "application_token": "51856fefc120afa4b628cc82d3935cce",
        "C_REST_CLIENT_ID": info["client_id"],
        "C_REST_CLIENT_SECRET": info["client_secret"],
    }
    script = (
        "$d = json_decode(stream_get_contents(STDIN), true);"
        "file_put_contents($argv[1], json_encode($d, JSON_HEX_TAG|JSON_HEX_AMP|JSON_HEX_APOS|JSON_HEX_QUOT));"
    )
    subprocess.run(
        [PHP, "-r", script, str(settings_json)], input=json.dumps(php_settings).encode(), check=True
    )
    CRest.configure(app_settings(portal, f"json:{settings_json}"))
    assert CRest.call("user.current")["result"]["NAME"] == "Maria"
    # The token expires; CRest's flow renews it and the file stays PHP-readable.
    portal.advance(3700)
    assert CRest.call("user.current")["result"]["ID"] == "1"
    out = subprocess.run(
        [PHP, "-r", "echo json_encode(json_decode(file_get_contents($argv[1]), true));", str(settings_json)],
        check=True,
        capture_output=True,
    )
    reread = json.loads(out.stdout)
    assert reread["access_token"] != tokens["access_token"]
    assert reread["refresh_token"] != tokens["refresh_token"]
    assert reread["application_token"] == "51856fefc120afa4b628cc82d3935cce"
    assert reread["client_endpoint"] == tokens["client_endpoint"]
    # PHP CRest's getAppSettings() requires these keys non-empty.
    for key in ("access_token", "domain", "refresh_token", "application_token", "client_endpoint"):
        assert reread[key]
    assert settings_json.stat().st_mode & 0o777 == 0o600
