"""examples/overdue_tasks.py as the README runs it: overdue open tasks notify their responsible
employee and get a comment, once per deadline; completed and future tasks are left alone."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crest.client import Client
from portal.testing import PortalHandle, running_portal

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "overdue_tasks.py"


@pytest.fixture
def portal() -> Iterator[PortalHandle]:
    with running_portal() as handle:  # `crest portal --http`, as the README starts it
        yield handle


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREST_", "C_REST_"))}
    return {**env, "PYTHONUNBUFFERED": "1"}


def once(portal: PortalHandle, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE), "--webhook", portal.webhook_url, "--once"],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def add_task(hook: Client, title: str, user: int, deadline: str) -> int:
    added = hook.call(
        "tasks.task.add", {"fields": {"TITLE": title, "RESPONSIBLE_ID": user, "DEADLINE": deadline}}
    )
    return int(added["task"]["id"])


def notes(portal: PortalHandle, user: int) -> list[dict[str, Any]]:
    return portal.portal.crm.notifications_for(user)


def test_overdue_tasks_are_reminded_once_per_deadline(portal: PortalHandle, tmp_path: Path) -> None:
    hook = Client.from_webhook(portal.webhook_url)
    late = add_task(hook, "Send the offer", 2, "2026-01-05T10:00:00+00:00")
    future = add_task(hook, "Plan next year", 3, "2099-01-01T10:00:00+00:00")
    done = add_task(hook, "Old and done", 3, "2026-01-01T10:00:00+00:00")
    hook.call("tasks.task.complete", {"taskId": done})
    # The README's command: it watches until stopped; its first pass runs at once.
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--webhook", portal.webhook_url],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        out = ""
        for line in proc.stdout:
            out += line
            if line.startswith("checked:"):
                break
    finally:
        proc.terminate()
        out += proc.communicate(timeout=15)[0]
    assert f"task {late} 'Send the offer' overdue since 2026-01-05T10:00:00+00:00: notified user 2" in out, (
        out
    )
    assert "checked: 1 reminder(s) sent" in out and "Traceback" not in out
    [note] = notes(portal, 2)
    assert (
        note["TYPE"] == "SYSTEM"
        and f"Task #{late}" in note["MESSAGE"]
        and note["TAG"] == f"overdue|task|{late}"
    )
    assert notes(portal, 3) == []
    [comment] = hook.call("task.commentitem.getlist", {"TASKID": late})
    assert comment["POST_MESSAGE"] == "Overdue: a reminder was sent to user 2."
    assert (tmp_path / "overdue_tasks.json").exists()
    # Run again: nothing new. Move the deadline (still past): reminded again, once.
    again = once(portal, tmp_path)
    assert again.returncode == 0 and "checked: 0 reminder(s) sent" in again.stdout, (
        again.stdout + again.stderr
    )
    hook.call("tasks.task.update", {"taskId": late, "fields": {"DEADLINE": "2026-02-01T10:00:00+00:00"}})
    moved = once(portal, tmp_path)
    assert "checked: 1 reminder(s) sent" in moved.stdout and len(notes(portal, 2)) == 2
    hook.call("tasks.task.complete", {"taskId": late})
    assert "checked: 0 reminder(s) sent" in once(portal, tmp_path).stdout
    assert hook.call("tasks.task.get", {"taskId": future})["task"]["commentsCount"] is None


def test_a_dead_portal_is_a_clear_error(tmp_path: Path, refused_port: int) -> None:
    dead = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            "--webhook",
            f"http://127.0.0.1:{refused_port}/rest/1/secret/",
            "--once",
        ],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (
        dead.returncode == 1
        and dead.stderr.startswith("the check failed: ")
        and "Traceback" not in dead.stderr
    )
