"""Local checks: settings, store, logs, web-served folders, file modes, CA bundle, clock."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from crest.checks import Check, _other_process_locked_out, check_store, local_checks
from crest.installation import Installation
from crest.settings import Settings
from crest.stores import open_store

WEBHOOK = "https://b24-abc.bitrix24.com/rest/1/SENTINELwebhook0secret/"
SECRET = "SENTINEL_CLIENT_SECRET_0123456789"
KEY = "SENTINEL_SECRET_KEY_" + "x1y2z3" * 5


def oauth(tmp_path: Path, **values: Any) -> Settings:
    base: dict[str, Any] = {
        "client_id": "local.0123456789abcd.12345678",
        "client_secret": SECRET,
        "secret_key": KEY,
        "app_base_url": "https://app.example.com",
        "store": f"sqlite:{tmp_path / 'var' / 'crest.sqlite'}",
    }
    base.update(values)
    return Settings(**base)


def webhook(tmp_path: Path, **values: Any) -> Settings:
    base: dict[str, Any] = {"web_hook_url": WEBHOOK, "store": f"sqlite:{tmp_path / 'var' / 'crest.sqlite'}"}
    base.update(values)
    return Settings(**base)


def problems(checks: list[Check]) -> list[tuple[str, str]]:
    return [(c.check, c.status) for c in checks if c.status != "ok"]


def find(checks: list[Check], name: str) -> Check:
    return next(c for c in checks if c.check == name)


@pytest.mark.parametrize("make", [oauth, webhook], ids=["oauth", "webhook"])
def test_all_good(tmp_path: Path, make: Any) -> None:
    checks = local_checks(make(tmp_path))
    assert problems(checks) == []
    assert "SENTINEL" not in repr(checks)
    assert find(checks, "store lock").detail == "held against another process"


def test_json_store_is_probed_too(tmp_path: Path) -> None:
    checks = local_checks(webhook(tmp_path, store=f"json:{tmp_path / 'data' / 'settings.json'}"))
    assert problems(checks) == []


def test_missing_settings(tmp_path: Path) -> None:
    checks = local_checks(Settings(store=f"sqlite:{tmp_path / 'x.sqlite'}"))
    c = find(checks, "settings")
    assert c.status == "fail"
    assert "neither C_REST_WEB_HOOK_URL nor C_REST_CLIENT_ID" in c.detail
    assert c.fix


def test_client_secret_missing(tmp_path: Path) -> None:
    checks = local_checks(oauth(tmp_path, client_secret=None))
    c = find(checks, "settings")
    assert (c.status, c.detail) == ("fail", "client_secret missing: an application needs both")


@pytest.mark.parametrize(
    ("key", "status"),
    [
        ("", "fail"),
        ("changeme", "fail"),
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "fail"),
        ("short-but-random-1", "warn"),
    ],
)
def test_secret_key(tmp_path: Path, key: str, status: str) -> None:
    c = find(local_checks(oauth(tmp_path, secret_key=key)), "secret key")
    assert c.status == status
    assert "token_urlsafe" in c.fix
    if key:
        assert key not in c.detail


def test_http_app_base_url_fails(tmp_path: Path) -> None:
    c = find(local_checks(oauth(tmp_path, app_base_url="http://app.example.com")), "app_base_url")
    assert c.status == "fail"


def test_unwritable_store(tmp_path: Path) -> None:
    # A regular file where the store's folder should be: unwritable even for root.
    (tmp_path / "blocked").write_text("")
    settings = webhook(tmp_path, store=f"sqlite:{tmp_path / 'blocked' / 'crest.sqlite'}")
    checks = local_checks(settings)
    c = find(checks, "store")
    assert c.status == "fail"
    assert "blocked/crest.sqlite" in c.detail
    assert "writable" in c.fix


def test_memory_store_warns(tmp_path: Path) -> None:
    c = find(local_checks(webhook(tmp_path, store="memory:")), "store")
    assert c.status == "warn"


def test_probe_leaves_real_installations_alone(tmp_path: Path) -> None:
    settings = webhook(tmp_path)
    store = open_store(settings.store)
    real = Installation(
        member_id="a" * 32,
        domain="b24-abc.bitrix24.com",
        client_endpoint="https://b24-abc.bitrix24.com/rest/",
        access_token="at",
        refresh_token="rt",
        expires=None,
    )
    store.save(real)
    assert problems(check_store(settings)) == []
    assert store.all_installations() == [real]


def test_the_cross_process_lock_probe_can_fail(tmp_path: Path) -> None:
    # Not holding the lock: the child must get it, which the probe reports as "not excluded".
    settings = webhook(tmp_path)
    open_store(settings.store).find("x")  # create the file
    assert _other_process_locked_out(settings.store, "probe") is False
    store = open_store(settings.store)
    with store.lock("probe"):
        assert _other_process_locked_out(settings.store, "probe") is True


def test_unwritable_logs(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("")
    c = find(local_checks(webhook(tmp_path, logs_dir=str(tmp_path / "blocked" / "logs"))), "log folder")
    assert c.status == "fail"
    ok = find(local_checks(webhook(tmp_path, logs_dir=str(tmp_path / "logs"))), "log folder")
    assert ok.status == "ok"
    off = find(
        local_checks(webhook(tmp_path, logs_dir=str(tmp_path / "blocked"), block_log=True)), "log folder"
    )
    assert off.status == "ok"


def test_store_in_a_document_root(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.php").write_text("<?php")
    checks = local_checks(webhook(tmp_path, store=f"json:{site / 'settings.json'}"))
    c = find(checks, "store not web-served")
    assert c.status == "fail"
    assert "index.php" in c.detail


def test_logs_in_static_folder_and_public_html(tmp_path: Path) -> None:
    static = tmp_path / "static"
    checks = local_checks(webhook(tmp_path, logs_dir=str(static / "logs")), static_folders=[static])
    assert find(checks, "logs not web-served").status == "fail"
    checks = local_checks(webhook(tmp_path, store=f"sqlite:{tmp_path / 'public_html' / 'db.sqlite'}"))
    assert find(checks, "store not web-served").status == "warn"


def test_group_readable_store_and_settings(tmp_path: Path) -> None:
    settings = webhook(tmp_path)
    assert find(local_checks(settings), "file modes").status == "ok"
    os.chmod(tmp_path / "var" / "crest.sqlite", 0o644)
    settings_py = tmp_path / "settings.py"
    settings_py.write_text("C_REST_WEB_HOOK_URL = ''\n")
    os.chmod(settings_py, 0o640)
    c = find(local_checks(settings, settings_path=settings_py), "file modes")
    assert c.status == "fail"
    assert "crest.sqlite has mode 0644" in c.detail
    assert "settings.py has mode 0640" in c.detail
    assert "chmod 600" in c.fix


def test_ca_bundle_that_is_not_one(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    c = find(local_checks(webhook(tmp_path, ca_bundle=str(bad))), "ca bundle")
    assert c.status == "fail"


@pytest.mark.parametrize(("now", "status"), [(0.0, "fail"), (4102444800.0, "fail"), (1767225600.0, "ok")])
def test_clock_year(tmp_path: Path, now: float, status: str) -> None:
    assert find(local_checks(webhook(tmp_path), now=lambda: now), "clock").status == status
