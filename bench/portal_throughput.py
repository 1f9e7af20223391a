"""Portal throughput: ``user.current`` calls a second over keep-alive connections.

Not a test: a measurement. The portal runs as ``crest portal --no-limits --no-cost`` (the
same as ``PortalConfig(limits=False, cost=None)``) in its own process, as a real portal is
another machine, so the client does not share its interpreter lock. Three clients:

* one ``requests.Session`` in one thread (what an SDK user does);
* the same ``Session`` shared by a few threads;
* ``http.client`` on one keep-alive connection: the portal's capacity without the
  per-call cost of requests.

Usage: ``python -m bench.portal_throughput [--seconds 3] [--threads 4] [--write]``
(``--write`` puts the numbers into bench/RESULTS.md, section "Portal throughput").
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

RESULTS = Path(__file__).with_name("RESULTS.md")
# How to read the table; kept with the numbers when the section is rewritten.
NOTE = """
Reading: the http.client rows are the portal's own capacity; with requests the client's
per-call work (about 1 ms on a small machine) is the bound. Before the keep-alive server and
the `/rest/` fast path, requests got 270-310 calls/s on the 2-CPU machine (werkzeug closed
every connection; a call cost about 600 us of server time through Flask, about 150 us now).
"""
SECTION = "## Portal throughput"


@contextmanager
def portal_process() -> Iterator[dict[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        info_path = Path(tmp) / "info.json"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "crest.cli",
                "portal",
                "--port",
                "0",
                "--no-limits",
                "--no-cost",
                "--info",
                str(info_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while not (info_path.exists() and info_path.stat().st_size):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("crest portal did not start")
                time.sleep(0.05)
            time.sleep(0.1)
            yield json.loads(info_path.read_text())
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _run_for(seconds: float, threads: int, make_call: Callable[[], Callable[[], None]]) -> float:
    """Calls a second, summed over ``threads`` threads that each call for ``seconds``."""
    counts = [0] * threads
    start_gate = threading.Barrier(threads + 1)

    def worker(i: int) -> None:
        call = make_call()
        for _ in range(20):  # warm the connection
            call()
        start_gate.wait()
        stop_at = time.perf_counter() + seconds
        n = 0
        while time.perf_counter() < stop_at:
            call()
            n += 1
        counts[i] = n

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    start_gate.wait()
    began = time.perf_counter()
    for t in pool:
        t.join()
    return sum(counts) / (time.perf_counter() - began)


def bench_session(url: str, seconds: float, threads: int) -> float:
    session = requests.Session()
    # Without this every call re-reads proxy settings from the environment (about 30% of
    # the client's time); a real SDK client would do the same.
    session.trust_env = False
    session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=max(threads, 1)))

    def make_call() -> Callable[[], None]:
        def call() -> None:
            resp = session.get(url, timeout=10)
            if resp.status_code != 200:
                raise RuntimeError(resp.text)

        return call

    try:
        return _run_for(seconds, threads, make_call)
    finally:
        session.close()


def bench_http_client(url: str, seconds: float, threads: int) -> float:
    parts = urlsplit(url)

    def make_call() -> Callable[[], None]:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)

        def call() -> None:
            conn.request("GET", parts.path)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise RuntimeError(resp.status)

        return call

    return _run_for(seconds, threads, make_call)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per client; the best is kept")
    parser.add_argument("--threads", type=int, default=4, help="threads for the threaded rounds")
    parser.add_argument("--write", action="store_true", help="write the section of bench/RESULTS.md")
    args = parser.parse_args()
    rows: list[tuple[str, float]] = []
    with portal_process() as info:
        url = info["webhook_url"] + "user.current"
        cases: list[tuple[str, Callable[[], float]]] = [
            ("requests.Session, 1 thread", lambda: bench_session(url, args.seconds, 1)),
            (
                f"requests.Session, {args.threads} threads",
                lambda: bench_session(url, args.seconds, args.threads),
            ),
            ("http.client keep-alive, 1 thread", lambda: bench_http_client(url, args.seconds, 1)),
            (
                f"http.client keep-alive, {args.threads} threads",
                lambda: bench_http_client(url, args.seconds, args.threads),
            ),
        ]
        for name, run in cases:
            best = max(run() for _ in range(args.rounds))
            rows.append((name, best))
            print(f"{name:40s} {best:8.0f} calls/s", flush=True)
    if args.write:
        write_results(rows, args)


def write_results(rows: list[tuple[str, float]], args: argparse.Namespace) -> None:
    table = "\n".join(f"| {name} | {rate:,.0f} |" for name, rate in rows)
    section = f"""{SECTION}

`user.current` through an incoming webhook, limits and method cost off
(`crest portal --no-limits --no-cost`, i.e. `PortalConfig(limits=False, cost=None)`), the
portal in its own process on 127.0.0.1, the client on keep-alive connections; best of
{args.rounds} rounds of {args.seconds:g} s. Target: 1,000 calls/s.

| client | calls/s |
|---|---:|
{table}

Command: `.venv/bin/python -m bench.portal_throughput --write`
Machine: {machine()}; measured {time.strftime("%Y-%m-%d")}. The machine is shared, so
numbers vary from run to run by up to a third.
{NOTE}"""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if SECTION in text:
        head, _, rest = text.partition(SECTION)
        nxt = rest.find("\n## ")
        text = head + section + (rest[nxt + 1 :] if nxt >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
