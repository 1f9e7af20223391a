"""One "host" of the many-hosts tests: the web app (for gunicorn) and its event worker.

Configured only by ``CREST_*`` variables (the store is PostgreSQL, so the inbox is too) and
``HOST_EVENT_LOG``, the file this host's handler appends each handled event to (fsynced, so a
SIGKILL loses no line that was written).

    gunicorn -w 2 'tests.postgres.host_app:app'      # the web processes (receive only)
    python -m tests.postgres.host_app                  # the worker (what ``crest worker`` runs)
"""

from __future__ import annotations

import json
import os
import signal
import threading
from typing import Any

from crest.events import Event, EventContext, EventRouter


def record(event: Event, ctx: EventContext) -> None:
    line = json.dumps({"pid": os.getpid(), "id": event.entity_id})
    with open(os.environ["HOST_EVENT_LOG"], "a", encoding="utf-8") as log:
        log.write(line + "\n")
        log.flush()
        os.fsync(log.fileno())


def make_router() -> EventRouter:
    router = EventRouter()
    router.on("ONCRMCONTACTADD")(record)
    return router


def __getattr__(name: str) -> Any:
    # The app is built on first access, so that importing this module for the worker does not.
    if name == "app":
        from webapp.factory import create_app

        return create_app()
    raise AttributeError(name)


def main() -> None:
    from webapp.worker_cli import _state

    worker = _state(None, None, make_router()).worker
    assert worker is not None
    worker.lease = 3.0  # a killed worker's claim comes back quickly
    worker.poll = 0.5  # an idle worker is woken by NOTIFY long before this
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker.run_forever(stop)


if __name__ == "__main__":
    main()
