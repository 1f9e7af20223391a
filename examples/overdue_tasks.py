"""Monitor tasks: find overdue tasks and notify the people responsible, once per deadline.

    crest portal --http &
    python examples/overdue_tasks.py --webhook http://127.0.0.1:8024/rest/1/<secret>/

(``crest portal`` prints the webhook URL.) Every ``--interval`` seconds (``--once``: a single
pass) the example lists the open tasks (``tasks.task.list`` without status 5, completed), and
for each one whose deadline has passed it sends its responsible employee a notification
(``im.notify.system.add``) and leaves a comment on the task (``task.commentitem.add``). The
reminders it sent are kept in ``--state`` (a JSON file, ``overdue_tasks.json`` by default), so
a task is reminded about once per deadline: move the deadline and it can be reminded again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from crest.client import Client
from crest.errors import CrestError

COMPLETED = 5


class Reminders:
    """Which (task, deadline) pairs were reminded about, kept in a small JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sent: set[str] = set(json.loads(path.read_text())) if path.exists() else set()

    def key(self, task: dict[str, Any]) -> str:
        return f"{task['id']}|{task.get('deadline') or ''}"

    def __contains__(self, task: dict[str, Any]) -> bool:
        return self.key(task) in self.sent

    def add(self, task: dict[str, Any]) -> None:
        self.sent.add(self.key(task))
        # Written whole to a new file and renamed, so a crash never leaves half a list.
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(self.sent)))
        os.replace(tmp, self.path)


def overdue(task: dict[str, Any], now: dt.datetime) -> bool:
    try:
        deadline = dt.datetime.fromisoformat(str(task.get("deadline") or ""))
    except ValueError:
        return False  # no deadline, nothing can be late
    if deadline.tzinfo is None:
        deadline = deadline.replace(tzinfo=dt.UTC)
    return deadline < now


def check(client: Client, reminders: Reminders, now: dt.datetime) -> int:
    """One pass: remind about every overdue open task not reminded yet; returns how many."""
    sent = 0
    tasks = client.list_all(
        "tasks.task.list",
        filter={"!STATUS": COMPLETED},
        select=["ID", "TITLE", "DEADLINE", "RESPONSIBLE_ID", "STATUS"],
    )
    for task in tasks:
        if not overdue(task, now) or task in reminders:
            continue
        user = int(task["responsibleId"])
        title = task.get("title") or "untitled"
        notification = client.call(
            "im.notify.system.add",
            {
                "USER_ID": user,
                "MESSAGE": f"Task #{task['id']} \u201c{title}\u201d was due {task['deadline']}: please finish it or move its deadline.",
                "TAG": f"overdue|task|{task['id']}",
            },
        )
        client.call(
            "task.commentitem.add",
            {
                "TASKID": task["id"],
                "FIELDS": {"POST_MESSAGE": f"Overdue: a reminder was sent to user {user}."},
            },
        )
        reminders.add(task)
        sent += 1
        print(
            f"task {task['id']} {title!r} overdue since {task['deadline']}: notified user {user} (notification #{notification})",
            flush=True,
        )
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--webhook", required=True, help="an incoming webhook URL with the task and im scopes"
    )
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between checks (default 60)")
    parser.add_argument("--once", action="store_true", help="check once and exit")
    parser.add_argument(
        "--state", type=Path, default=Path("overdue_tasks.json"), help="where sent reminders are kept"
    )
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error("--interval must be positive")
    client = Client.from_webhook(args.webhook)
    reminders = Reminders(args.state)
    stop = threading.Event()
    while True:
        try:
            sent = check(client, reminders, dt.datetime.now(dt.UTC))
            print(f"checked: {sent} reminder(s) sent", flush=True)
        except CrestError as exc:
            print(f"the check failed: {exc}", file=sys.stderr, flush=True)
            if args.once:
                return 1
        if args.once:
            return 0
        try:
            stop.wait(args.interval)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
