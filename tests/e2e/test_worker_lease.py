"""Two real ``crest worker`` processes on one inbox: leases are renewed while a handler runs,
and a SIGKILLed worker's event is taken over by the other within seconds.

Each worker is started exactly as the README writes it (``crest worker --router handlers:router
--lease SECONDS``) in a folder holding ``handlers.py``, which it imports from the current folder.
The handler notes when it starts and ends, per process, in a log file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crest.forms import encode
from crest.inbox import Inbox

pytestmark = pytest.mark.slow

CREST = str(Path(sys.executable).with_name("crest"))
MEMBER = "d" * 32

HANDLERS = textwrap.dedent(
    """
    import json, os, time
    from crest.events import EventRouter

    router = EventRouter()

    def note(what, event):
        line = {"pid": os.getpid(), "what": what, "id": event.entity_id, "t": time.time()}
        with open(os.environ["WORKER_TEST_LOG"], "a") as f:
            f.write(json.dumps(line) + "\\n")
            f.flush()
            os.fsync(f.fileno())

    @router.on("ONCRMDEALUPDATE")
    def slow(event, ctx):
        note("start", event)
        time.sleep(float(os.environ["WORKER_TEST_SECONDS"]))
        note("end", event)
    """
)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the caller's CREST_*/C_REST_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREST_", "C_REST_"))}
    env.update(extra)
    return env


class Workers:
    def __init__(self, folder: Path, handler_seconds: float) -> None:
        self.folder = folder
        self.log = folder / "handled.jsonl"
        self.env = clean_env(WORKER_TEST_LOG=str(self.log), WORKER_TEST_SECONDS=str(handler_seconds))
        self.procs: list[subprocess.Popen[bytes]] = []
        (folder / "handlers.py").write_text(HANDLERS)

    def start(self, lease: float) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        err = self.folder / f"worker{n}.err"
        proc = subprocess.Popen(
            [CREST, "worker", "--router", "handlers:router", "--lease", str(lease)],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=err.open("wb"),
        )
        self.procs.append(proc)
        wait_for(lambda: "stop with Ctrl-C" in err.read_text(), 30, err.read_text)
        assert proc.poll() is None, err.read_text()
        return proc

    def lines(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)


def wait_for(check: Callable[[], Any], timeout: float, why: Callable[[], Any] = lambda: "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out: {why()}")


def enqueue(folder: Path, deal: int) -> None:
    # The worker's default inbox: the default store sqlite:var/crest.sqlite, in its folder.
    body = encode(
        {
            "event": "ONCRMDEALUPDATE",
            "data": {"FIELDS": {"ID": str(deal)}},
            "ts": str(int(time.time())),
            "auth": {"member_id": MEMBER, "domain": "p.example", "application_token": "t" * 32},
        }
    ).encode()
    assert Inbox(folder / "var" / "crest.sqlite").enqueue(body, event="ONCRMDEALUPDATE", member_id=MEMBER)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[float], Workers]]:
    made: list[Workers] = []

    def make(handler_seconds: float) -> Workers:
        made.append(Workers(tmp_path, handler_seconds))
        return made[-1]

    yield make
    for w in made:
        w.stop()


def test_a_killed_workers_event_is_taken_over_within_seconds(
    workers: Callable[[float], Workers], tmp_path: Path
) -> None:
    lease = 1.5
    w = workers(2.0)
    first, second = w.start(lease), w.start(lease)
    enqueue(tmp_path, 41)
    [started] = wait_for(lambda: [x for x in w.lines() if x["what"] == "start"], 15, w.lines)
    victim = next(p for p in (first, second) if p.pid == started["pid"])
    survivor = next(p for p in (first, second) if p is not victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    killed_at = time.time()
    ends = wait_for(lambda: [x for x in w.lines() if x["what"] == "end"], 20, w.lines)
    assert [x["pid"] for x in ends] == [survivor.pid]
    taken = next(x for x in w.lines() if x["what"] == "start" and x["pid"] == survivor.pid)
    # The lease runs out at most `lease` seconds after the last renewal, then the next poll.
    assert taken["t"] - killed_at < lease + 2.0, (taken["t"] - killed_at, w.lines())
    assert Inbox(tmp_path / "var" / "crest.sqlite").counts()["done"] == 1


def test_a_handler_longer_than_the_lease_runs_once(
    workers: Callable[[float], Workers], tmp_path: Path
) -> None:
    lease = 1.0
    w = workers(4.0)  # four leases long: without renewals the other worker would take it over
    w.start(lease), w.start(lease)
    enqueue(tmp_path, 42)
    wait_for(lambda: any(x["what"] == "end" for x in w.lines()), 20, w.lines)
    time.sleep(2 * lease)  # room for a wrong second claim to show up
    starts = [x for x in w.lines() if x["what"] == "start"]
    assert len(starts) == 1, w.lines()
    box = Inbox(tmp_path / "var" / "crest.sqlite")
    assert box.counts()["done"] == 1 and box.recent()[0]["attempts"] == 1
