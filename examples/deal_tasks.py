"""Sales funnel: when a deal reaches a stage, give its responsible employee a task.

    crest portal --http --no-limits --deals 5 &
    python examples/deal_tasks.py --portal http://127.0.0.1:8024 --admin-token TOKEN --move 1:PREPARATION

(On a portal without that deal, ``--move`` first creates one and says so.)

The app handles ONCRMDEALUPDATE (the portal delivers it to ``/events``; the webapp kit stores
it in its inbox and runs the handler in its worker). The handler reads the deal: an event only
says *that* a deal changed, not what changed. When STAGE_ID is one of ``TRIGGERS`` it adds a
task for ASSIGNED_BY_ID, linked to the deal, once per deal and stage: events may arrive twice
(redelivery, offline recovery), and a deal may be saved many times while it sits in a stage.

``--move DEAL:STAGE`` moves a deal with ``crm.deal.update`` (through the app itself), so one
command shows the whole story. Without it the app waits for changes made elsewhere.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from flask import Flask

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _local import LocalApp, local_app, run_until_stopped, wait_for_install

from crest.client import Client
from crest.errors import NotFoundError
from crest.events import Event, EventContext
from webapp.events import router

#: Stage -> what the responsible employee is asked to do there.
TRIGGERS = {
    "PREPARATION": "Prepare the documents for deal #{id} ({title})",
    "WON": "Deal #{id} ({title}) is won: arrange the handover",
}


class TaskLedger:
    """Which (deal, stage) already got its task: a small SQLite table, safe across threads."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.lock = threading.Lock()
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS done (deal INTEGER, stage TEXT, task INTEGER, PRIMARY KEY (deal, stage))"
        )

    def task_for(self, deal: int, stage: str) -> int | None:
        with self.lock:
            row = self.db.execute(
                "SELECT task FROM done WHERE deal = ? AND stage = ?", (deal, stage)
            ).fetchone()
        return int(row[0]) if row else None

    def record(self, deal: int, stage: str, task: int) -> None:
        with self.lock:
            self.db.execute("INSERT OR IGNORE INTO done VALUES (?, ?, ?)", (deal, stage, task))


def task_for_stage(client: Client, ledger: TaskLedger, deal_id: int) -> int | None:
    """The task for the deal's current stage: found, created, or ``None`` when no task is due."""
    deal = client.call("crm.deal.get", {"ID": deal_id})
    stage = str(deal.get("STAGE_ID") or "")
    template = TRIGGERS.get(stage)
    if template is None:
        return None
    known = ledger.task_for(deal_id, stage)
    if known is not None:
        return known
    title = template.format(id=deal_id, title=deal.get("TITLE") or "untitled")
    # The ledger is written after the task is made, so a crash in between would add it again on
    # redelivery; looking the exact title up on the portal first closes that gap.
    found = client.call("tasks.task.list", {"filter": {"TITLE": title}, "select": ["ID"]})["tasks"]
    if found:
        task_id = int(found[0]["id"])
    else:
        added = client.call(
            "tasks.task.add",
            {
                "fields": {
                    "TITLE": title,
                    "RESPONSIBLE_ID": deal.get("ASSIGNED_BY_ID") or 1,
                    "UF_CRM_TASK": [f"D_{deal_id}"],
                }
            },
        )
        task_id = int(added["task"]["id"])
        print(
            f"deal {deal_id} reached {stage}: task #{task_id} {title!r} for user {deal.get('ASSIGNED_BY_ID') or 1}",
            flush=True,
        )
    ledger.record(deal_id, stage, task_id)
    return task_id


def setup(ledger: TaskLedger) -> Any:
    def install_handlers(app: Flask) -> None:
        @router(app).on("ONCRMDEALUPDATE")
        def deal_updated(event: Event, ctx: EventContext) -> None:
            if event.entity_id and str(event.entity_id).isdigit():
                task_for_stage(ctx.client, ledger, int(event.entity_id))

    return install_handlers


def _app_client(handle: LocalApp) -> Client:
    from webapp.extension import state

    crest = state(handle.app)
    [installation] = crest.store.all_installations()
    return crest.client(installation.member_id)


def move_deal(handle: LocalApp, deal_id: int, stage: str) -> None:
    """Move a deal as a user of the app would: ``crm.deal.update`` with the app's tokens."""
    _app_client(handle).call("crm.deal.update", {"ID": deal_id, "fields": {"STAGE_ID": stage}})


def deal_to_move(handle: LocalApp, deal_id: int) -> int:
    """``deal_id`` when the portal has it; otherwise a new deal (a fresh ``crest portal`` has none)."""
    client = _app_client(handle)
    try:
        client.call("crm.deal.get", {"ID": deal_id})
        return deal_id
    except NotFoundError:
        new_id = int(client.call("crm.deal.add", {"fields": {"TITLE": "Example deal", "STAGE_ID": "NEW"}}))
        print(f"the portal has no deal {deal_id}: created deal {new_id} ('Example deal') to move", flush=True)
        return new_id


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--portal", required=True, help="the local portal (crest portal), e.g. http://127.0.0.1:8024"
    )
    parser.add_argument(
        "--admin-token", required=True, help="the portal's admin token (crest portal prints it)"
    )
    parser.add_argument("--move", metavar="DEAL:STAGE", help="move this deal to this stage once installed")
    parser.add_argument(
        "--workdir", type=Path, help="where the app keeps its store (default: a temporary folder)"
    )
    args = parser.parse_args(argv)
    move: tuple[int, str] | None = None
    if args.move:
        deal, _, stage = args.move.partition(":")
        if not deal.strip().isdigit() or not stage.strip():
            parser.error(f"--move {args.move!r}: use DEAL:STAGE, e.g. 1:PREPARATION")
        move = (int(deal), stage.strip().upper())
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="deal-tasks-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ledger = TaskLedger(workdir / "tasks.sqlite")
    with local_app(
        args.portal, workdir, admin_token=args.admin_token, title="Deal stage tasks", setup=setup(ledger)
    ) as handle:
        wait_for_install(handle)
        if move is not None:
            deal_id, stage = move
            deal_id = deal_to_move(handle, deal_id)
            move_deal(handle, deal_id, stage)
            due = (
                "the task appears once the event is handled" if stage in TRIGGERS else "no task is due there"
            )
            print(f"moved deal {deal_id} to {stage}; {due} (tasks for: {', '.join(TRIGGERS)})", flush=True)
        run_until_stopped(f"listening for deal changes at {handle.url}/events (Ctrl-C to stop)")


if __name__ == "__main__":
    main()
