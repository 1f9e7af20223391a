"""``crest checkserver`` and ``python checkserver.py``: output, --json, exit codes, no secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from crest.cli import main
from portal.app_testing import running_app
from portal.testing import PortalHandle
from portal.tls import TlsFiles
from tests.checkserver.conftest import running_nginx

REPO = Path(__file__).resolve().parents[2]
SECRET = "SENTINEL_CLIENT_SECRET_0123456789"
KEY = "SENTINEL_SECRET_KEY_abcdefghijklmnopqrstuvwxyz"
HOOK_SECRET = "SENTINELhook0secret"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The checks read settings.py and CREST_*/C_REST_* variables: only the test's own count.
    for name in list(os.environ):
        if name.startswith(("CREST_", "C_REST_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write_settings(path: Path, **values: Any) -> Path:
    lines = [f"CREST_{k.upper()} = {v!r}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["checkserver", *args])
    return result.exit_code, result.output


def test_good_local_config_exits_0_and_prints_every_check(tmp_path: Path) -> None:
    settings = write_settings(
        tmp_path / "settings.py",
        web_hook_url=f"https://127.0.0.1:9/rest/1/{HOOK_SECRET}/",
        store=f"sqlite:{tmp_path / 'var' / 'crest.sqlite'}",
    )
    code, out = run("--settings", str(settings))
    assert code == 0, out
    assert "[  ok] store:" in out
    assert "[WARN] portal 127.0.0.1:9 TLS" in out  # nothing listens there: a warning, not a failure
    assert "failed" in out.splitlines()[-1]
    assert HOOK_SECRET not in out


def test_json_lists_check_status_detail_fix(tmp_path: Path) -> None:
    settings = write_settings(
        tmp_path / "settings.py",
        client_id="local.x",
        client_secret=SECRET,
        store=f"sqlite:{tmp_path / 'var' / 'crest.sqlite'}",
    )
    code, out = run("--settings", str(settings), "--json", "--offline")
    assert code == 1
    checks = json.loads(out)
    assert all(set(c) == {"check", "status", "detail", "fix"} for c in checks)
    assert {"check": "secret key", "status": "fail"}.items() <= next(
        c for c in checks if c["check"] == "secret key"
    ).items()
    assert SECRET not in out


def test_missing_setting_exits_1(tmp_path: Path) -> None:
    settings = write_settings(tmp_path / "settings.py", store=f"sqlite:{tmp_path / 'x.sqlite'}")
    code, out = run("--settings", str(settings), "--offline")
    assert code == 1
    assert "[FAIL] settings: neither C_REST_WEB_HOOK_URL" in out


def test_settings_that_do_not_load_are_a_failed_check(tmp_path: Path) -> None:
    settings = tmp_path / "settings.py"
    settings.write_text(f"C_REST_WEB_HOOK_URL = 'https://x.example/not-a-hook/{HOOK_SECRET}'\n")
    code, out = run("--settings", str(settings), "--json")
    assert code == 1
    (check,) = json.loads(out)
    assert check["check"] == "settings" and check["status"] == "fail"
    assert HOOK_SECRET not in out


def test_unwritable_store_exits_1(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("")
    settings = write_settings(
        tmp_path / "settings.py",
        web_hook_url=f"https://127.0.0.1:9/rest/1/{HOOK_SECRET}/",
        store=f"sqlite:{tmp_path / 'blocked' / 'crest.sqlite'}",
    )
    code, out = run("--settings", str(settings), "--offline")
    assert code == 1
    assert "[FAIL] store:" in out


def test_script_is_the_same_command(tmp_path: Path) -> None:
    settings = write_settings(tmp_path / "settings.py", store=f"sqlite:{tmp_path / 'x.sqlite'}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREST_", "C_REST_"))}
    script = subprocess.run(
        [sys.executable, str(REPO / "checkserver.py"), "--settings", str(settings), "--json", "--offline"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert script.returncode == 1, script.stderr
    via_script = [(c["check"], c["status"]) for c in json.loads(script.stdout)]
    code, out = run("--settings", str(settings), "--json", "--offline")
    assert code == 1
    assert via_script == [(c["check"], c["status"]) for c in json.loads(out)]
    assert ("settings", "fail") in via_script


def test_all_good_behind_nginx_exits_0(portal: PortalHandle, tls: TlsFiles, tmp_path: Path) -> None:
    """The whole run, as an operator would: local, outbound (the local portal) and --url."""
    store = f"sqlite:{tmp_path / 'var' / 'crest.sqlite'}"
    with running_app(portal, host="127.0.0.1", store=store) as app:
        app.install()
        with running_nginx(tmp_path / "nginx", app.url, tls) as nginx:
            settings = write_settings(
                tmp_path / "settings.py",
                client_id=app.client_id,
                client_secret=str(app.registered["client_secret"]),
                secret_key=KEY,
                oauth_token_url=portal.portal.token_url,
                oauth_server_endpoint=portal.portal.server_endpoint,
                allow_http_portals=True,
                store=store,
                ca_bundle=tls.ca_bundle,
                app_base_url=nginx.https_url.rstrip("/"),
            )
            code, out = run(
                "--settings", str(settings), "--url", nginx.https_url, "--http-url", nginx.http_url
            )
            assert code == 0, out
            assert "WARN" not in out and "FAIL" not in out, out
            assert "[  ok] framing (GET /): the portal may frame it" in out
            assert str(app.registered["client_secret"]) not in out and KEY not in out

            # The same hosting with nginx adding SAMEORIGIN: exit 1, and the line to remove.
        with running_nginx(
            tmp_path / "nginx2", app.url, tls, server_extra="add_header X-Frame-Options SAMEORIGIN;"
        ) as broken:
            code, out = run(
                "--settings", str(settings), "--url", broken.https_url, "--http-url", broken.http_url
            )
    assert code == 1
    assert "[FAIL] framing (GET /): X-Frame-Options: SAMEORIGIN" in out
    assert "remove `add_header X-Frame-Options SAMEORIGIN;`" in out
