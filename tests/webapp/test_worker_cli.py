"""``crest worker`` run as the README writes it: it needs handlers, and finds the user's module
in the current folder; every mistake is one line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from crest.forms import encode
from crest.inbox import Inbox

CREST = str(Path(sys.executable).with_name("crest"))
MEMBER = "e" * 32

MYAPP = textwrap.dedent(
    """
    from webapp import create_app
    from webapp.events import router

    app = create_app()

    @router(app).on("ONCRMDEALUPDATE")
    def deal_changed(event, ctx):
        with open("seen.txt", "a") as f:
            f.write(f"{event.entity_id}\\n")
    """
)


def crest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREST_", "C_REST_"))}
    env["CREST_SECRET_KEY"] = "k" * 40
    return subprocess.run(
        [CREST, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_worker_without_handlers_refuses_and_says_how_to_give_them(tmp_path: Path) -> None:
    done = crest(tmp_path, "worker", "--once")
    assert done.returncode == 1
    assert "--router module:attr" in done.stderr and "crest worker --router myapp:app" in done.stderr
    assert "Traceback" not in done.stderr and "processed" not in done.stdout


def test_router_from_the_current_folder_runs_the_handlers(tmp_path: Path) -> None:
    (tmp_path / "myapp.py").write_text(MYAPP)
    body = encode(
        {
            "event": "ONCRMDEALUPDATE",
            "data": {"FIELDS": {"ID": "77"}},
            "ts": str(int(time.time())),
            "auth": {"member_id": MEMBER, "domain": "p.example", "application_token": "t" * 32},
        }
    ).encode()
    (tmp_path / "var").mkdir()
    Inbox(tmp_path / "var" / "crest.sqlite").enqueue(body, event="ONCRMDEALUPDATE", member_id=MEMBER)
    done = crest(tmp_path, "worker", "--router", "myapp:app", "--once")
    assert done.returncode == 0, done.stderr
    assert "processed 1 event(s)" in done.stdout
    assert (tmp_path / "seen.txt").read_text() == "77\n"


@pytest.mark.parametrize(
    ("files", "spec", "says"),
    [
        ({}, "nosuch:app", "no module named 'nosuch'"),
        ({"myapp.py": MYAPP}, "myapp:nope", "myapp has no attribute 'nope'"),
        (
            {"broken.py": "raise ValueError('boom')\n"},
            "broken:app",
            "importing broken failed: ValueError: boom",
        ),
        ({"empty.py": "from crest.events import EventRouter\nr = EventRouter()\n"}, "empty:r", "no handlers"),
        ({"other.py": "app = 42\n"}, "other:app", "int is not an EventRouter"),
        ({}, "myapp", "use module:attr"),
    ],
)
def test_a_bad_router_is_one_line(tmp_path: Path, files: dict[str, str], spec: str, says: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    done = crest(tmp_path, "worker", "--router", spec, "--once")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and says in errors[0], done.stderr
    assert "Traceback" not in done.stderr


def test_lease_must_be_positive(tmp_path: Path) -> None:
    (tmp_path / "myapp.py").write_text(MYAPP)
    done = crest(tmp_path, "worker", "--router", "myapp:app", "--lease", "0", "--once")
    assert done.returncode == 2 and "--lease" in done.stderr and "Traceback" not in done.stderr


def test_a_bad_setting_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "myapp.py").write_text(
        "from crest.events import EventRouter\nr = EventRouter()\nr.add('*', print)\n"
    )
    (tmp_path / "settings.py").write_text("CREST_WORKER_LEASE = -1\n")
    done = crest(tmp_path, "worker", "--router", "myapp:r", "--once")
    assert done.returncode == 1 and "worker_lease" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
