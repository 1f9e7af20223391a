"""Every file that holds a secret is 0600, whatever the umask (issue 10, item 7).

The commands run as real subprocesses with umask 000, the worst case: a mode that comes from
``umask`` instead of from the code shows up as 0666 here. The rule is in crest/private_files.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from crest.inbox import Inbox
from crest.private_files import make_private, write_private_file


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _open_umask() -> None:
    os.umask(0)


@contextmanager
def command(*args: str, info: Path) -> Iterator[dict[str, object]]:
    """``crest ARGS --info INFO`` under umask 000, until it has written INFO; stopped after."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "crest.cli", *args, "--info", str(info)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_open_umask,  # noqa: PLW1509 - the child does nothing else before exec
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if info.exists() and info.stat().st_size:
                data = json.loads(info.read_text())  # written whole: never half a file
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"crest {args[0]} did not start: {proc.communicate()[0]}")
            time.sleep(0.05)
        yield data
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out


def test_demo_info_is_0600(tmp_path: Path) -> None:
    info = tmp_path / "demo.json"
    with command("demo", "--port", "0", info=info) as data:
        # It holds secrets: the webhook URL (with its secret) and the operator key.
        webhook = str(data["webhook_url"])
        assert requests.get(f"{webhook}user.current", timeout=10).status_code == 200
        assert mode(info) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["demo.json"]  # no temp file left beside it


def test_portal_info_state_and_tls_keys_are_0600(tmp_path: Path) -> None:
    info, state = tmp_path / "portal.json", tmp_path / "state.sqlite"
    with command("portal", "--port", "0", "--https", "--state", str(state), info=info) as data:
        assert data["client_secret"] and data["webhook_url"]
        assert mode(info) == 0o600
        for path in (state, Path(f"{state}-wal"), Path(f"{state}-shm")):
            assert mode(path) == 0o600, path
        # The state really holds the client secret.
        with sqlite3.connect(state) as db:
            rows = " ".join(v for (v,) in db.execute("SELECT value FROM rows"))
        assert str(data["client_secret"]) in rows
        tls = state.with_suffix(".tls")
        for key in ("ca-key.pem", "server-key.pem"):
            assert mode(tls / key) == 0o600, key
            assert b"PRIVATE KEY" in (tls / key).read_bytes()


def test_an_older_world_readable_state_is_narrowed(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    with command("portal", "--port", "0", "--state", str(state), info=tmp_path / "a.json"):
        pass
    for path in tmp_path.iterdir():
        path.chmod(0o644)
    with command("portal", "--port", "0", "--state", str(state), info=tmp_path / "b.json"):
        assert mode(state) == 0o600
        assert mode(tmp_path / "b.json") == 0o600
        assert mode(tmp_path / "a.json") == 0o644  # not ours to touch: a file of the earlier run


def test_write_private_file_is_umask_independent_and_replaces_symlinks(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        target = tmp_path / "secret.json"
        target.write_text("old")
        target.chmod(0o666)
        write_private_file(target, "new")
        assert (target.read_text(), mode(target)) == ("new", 0o600)
        # A symlink planted at the path is replaced, never written through.
        elsewhere = tmp_path / "elsewhere"
        elsewhere.write_text("untouched")
        link = tmp_path / "link.json"
        link.symlink_to(elsewhere)
        write_private_file(link, b"secret")
        assert elsewhere.read_text() == "untouched"
        assert not link.is_symlink() and mode(link) == 0o600
        db = tmp_path / "state.sqlite"
        make_private(db)
        assert mode(db) == 0o600
    finally:
        os.umask(old)


def test_inbox_next_to_a_json_store_is_0600(tmp_path: Path) -> None:
    """Event bodies carry tokens; the inbox of a JSON store is a file of its own."""
    old = os.umask(0)
    try:
        inbox = Inbox(tmp_path / "crest-inbox.sqlite")
        inbox.enqueue(b"auth[access_token]=secret", event="ONCRMCONTACTADD", member_id="m" * 32)
        for path in tmp_path.iterdir():
            assert mode(path) == 0o600, path
    finally:
        os.umask(old)


def test_bulk_files_hold_no_secret_so_keep_the_ordinary_mode(tmp_path: Path) -> None:
    """crest export/import write CRM data the user asked for, never the webhook or a token."""
    from click.testing import CliRunner

    from crest.cli import main
    from portal.config import PortalConfig
    from portal.testing import running_portal

    with running_portal(PortalConfig(limits=False, cost=None, contacts=120)) as portal:
        secret = str(portal.portal.default_webhook["secret"])
        src = tmp_path / "people.csv"
        src.write_text("TITLE,PHONE\nAcme,+1\n,+2\n", encoding="utf-8")
        hook = ["--webhook", portal.webhook_url, "--speed", "1000", "--quiet"]
        runner = CliRunner()
        exported = runner.invoke(
            main, ["export", "crm.contact.list", "--out", str(tmp_path / "c.csv"), *hook]
        )
        assert exported.exit_code == 0, exported.output
        imported = runner.invoke(main, ["import", "company", str(src), *hook])
        assert imported.exit_code == 1, imported.output  # one row failed: a report is written
    written = sorted(p.name for p in tmp_path.iterdir())
    assert "c.csv" in written and "people.csv.failed.csv" in written
    for path in tmp_path.iterdir():
        assert secret.encode() not in path.read_bytes(), path
