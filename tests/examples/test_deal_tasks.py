"""examples/deal_tasks.py end to end: the portal delivers ONCRMDEALUPDATE to the running app,
whose handler adds one task per deal and trigger stage."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from crest.client import Client
from portal.testing import running_portal

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "deal_tasks.py"


def tasks_of(portal: Any) -> list[dict[str, Any]]:
    return [dict(portal.portal.crm.tasks.rows[i]) for i in portal.portal.crm.tasks.ids]


def test_moving_a_deal_to_a_trigger_stage_assigns_one_task(
    tmp_path: Path, load_example: Callable[[str], ModuleType], wait_until: Callable[..., Any]
) -> None:
    example = load_example("deal_tasks")
    with running_portal() as portal:
        hook = Client.from_webhook(portal.webhook_url)
        deal_id = hook.call(
            "crm.deal.add", {"fields": {"TITLE": "Big order", "ASSIGNED_BY_ID": 2, "STAGE_ID": "NEW"}}
        )
        ledger = example.TaskLedger(tmp_path / "tasks.sqlite")
        with example.local_app(
            portal.base_url,
            tmp_path,
            admin_token=portal.admin_token,
            title="Deal tasks",
            setup=example.setup(ledger),
        ) as app:
            example.wait_for_install(app)
            bound = {
                h["event"] for h in portal.admin("GET", "handlers") if h["handler"] == app.url + "/events"
            }
            assert "ONCRMDEALUPDATE" in bound
            # A change that is not a trigger stage: no task.
            hook.call("crm.deal.update", {"ID": deal_id, "fields": {"TITLE": "Bigger order"}})
            example.move_deal(app, deal_id, "PREPARATION")
            [task] = wait_until(lambda: tasks_of(portal))
            assert task["responsibleId"] == "2" and task["ufCrmTask"] == [f"D_{deal_id}"]
            assert f"#{deal_id}" in task["title"] and "Bigger order" in task["title"]
            # Saved again in the same stage, and the same event replayed: still one task.
            hook.call("crm.deal.update", {"ID": deal_id, "fields": {"COMMENTS": "called the client"}})
            portal.admin("POST", "deliveries/flush", {"timeout": 10})
            hook.call("crm.deal.update", {"ID": deal_id, "fields": {"STAGE_ID": "WON"}})
            wait_until(lambda: len(tasks_of(portal)) == 2)
            portal.admin("POST", "deliveries/flush", {"timeout": 10})
            time.sleep(0.5)  # let the worker drain whatever else arrived
            titles = sorted(t["title"] for t in tasks_of(portal))
            assert len(titles) == 2 and "is won" in titles[1] + titles[0]
            assert (
                ledger.task_for(deal_id, "PREPARATION") is not None
                and ledger.task_for(deal_id, "WON") is not None
            )


def run_until(proc: subprocess.Popen[str], needle: str, timeout: float = 60) -> str:
    """The example's output up to the line holding ``needle`` (it runs until stopped)."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        lines.append(line)
        if needle in line or time.monotonic() > deadline:
            break
    return "".join(lines)


def test_the_readme_command_on_a_portal_without_deals(tmp_path: Path) -> None:
    # `crest portal` as the README starts it has no deals: --move 1:... must not die on that.
    with running_portal() as portal:
        assert not portal.portal.crm.entities["deal"].ids
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CREST_", "C_REST_"))}
        proc = subprocess.Popen(
            [
                sys.executable,
                str(EXAMPLE),
                "--portal",
                portal.base_url,
                "--admin-token",
                portal.admin_token,
                "--move",
                "1:PREPARATION",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            out = run_until(proc, "reached PREPARATION: task #")
        finally:
            proc.terminate()
            proc.wait(15)
        assert "Traceback" not in out and "NotFoundError" not in out, out
        assert "the portal has no deal 1: created deal" in out, out
        assert "moved deal" in out and "reached PREPARATION: task #" in out, out
        [task] = tasks_of(portal)
        assert task["title"].startswith("Prepare the documents for deal #")


def test_a_malformed_move_is_a_usage_error(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            "--portal",
            "http://127.0.0.1:9",
            "--admin-token",
            "x" * 32,
            "--move",
            "one",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2 and "use DEAL:STAGE" in run.stderr and "Traceback" not in run.stderr
