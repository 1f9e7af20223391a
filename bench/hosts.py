"""Many hosts, one portal: the same import from one host, three sharing the limiter, three alone.

``python -m bench.hosts [--rows 3000] [--speed 4] [--write]`` starts a throwaway PostgreSQL
cluster (the tests' helper) and one local portal with standard limits, then runs, in one run:

* one host importing all ``3 x rows`` contacts;
* three hosts importing ``rows`` each at once, sharing one bucket (``--limiter postgresql://``);
* three hosts importing ``rows`` each at once, each with its own process-local limiter.

Each host is a ``crest import`` process in a folder of its own. Requests and 503 answers are
counted by the portal; the time is the portal's, from the first request to the last; the
floor is what the portal's bucket allows for that many requests (50 at once, then 2/s x speed).
``--write`` puts the table into bench/RESULTS.md under "Many hosts".
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from portal.config import PortalConfig
from portal.testing import running_portal

RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## Many hosts: one portal, a shared limiter"


def _csv(path: Path, host: int, rows: int) -> None:
    lines = ["NAME,LAST_NAME,PHONE"] + [f"h{host}-{i},Bench,+1555{host}{i:06d}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _run(webhook: str, speed: float, rows: list[int], limiter: str | None, root: Path) -> list[str]:
    procs = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREST_")}
    for host, count in enumerate(rows):
        folder = root / f"host{host}"
        folder.mkdir(parents=True)
        _csv(folder / "rows.csv", host, count)
        args = ["import", "contact", "rows.csv", "--webhook", webhook, "--speed", str(speed), "--quiet"]
        if limiter:
            args += ["--limiter", limiter]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "crest.cli", *args],
                cwd=folder,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    return [proc.communicate(timeout=1800)[0].strip().splitlines()[-1] for proc in procs]


def scenario(name: str, rows: list[int], speed: float, limiter: str | None) -> dict[str, Any]:
    with running_portal(PortalConfig(speed=speed, limits=True, cost=None)) as portal:
        portal.clear_requests()
        with tempfile.TemporaryDirectory() as tmp:
            outcome = _run(portal.webhook_url, speed, rows, limiter, Path(tmp))
        records = [r for r in portal.requests() if r["auth"] == "webhook"]
    refused = sum(1 for r in records if r["status"] == 503)
    accepted = len(records) - refused
    span = max(r["time"] for r in records) - min(r["time"] for r in records)
    floor = max(0.0, (accepted - 50) / (2.0 * speed))
    created = sum(r["batch_size"] for r in records if r["method"] == "batch" and r["status"] == 200)
    return {
        "name": name,
        "hosts": len(rows),
        "rows": sum(rows),
        "created": created,
        "requests": len(records),
        "refused": refused,
        "span": span,
        "floor": floor,
        "outcome": outcome,
    }


def table(results: list[dict[str, Any]], speed: float) -> str:
    lines = [
        SECTION,
        "",
        f"`python -m bench.hosts --write`: standard plan at speed {speed:g} (the bucket: 50 at once, then "
        f"{2 * speed:g}/s), each host a `crest import` process in its own folder; counted by the portal.",
        "",
        "| run | hosts | rows | created | requests | 503 | time | floor | time / floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ratio = r["span"] / r["floor"] if r["floor"] else float("nan")
        lines.append(
            f"| {r['name']} | {r['hosts']} | {r['rows']:,} | {r['created']:,} | {r['requests']} | {r['refused']} "
            f"| {r['span']:.1f} s | {r['floor']:.1f} s | {ratio:.2f}x |"
        )
    lines += ["", "What each host printed at the end:", ""]
    for r in results:
        lines.append(f"- {r['name']}: " + "; ".join(f"`{o}`" for o in r["outcome"]))
    return "\n".join(lines) + "\n"


def write(text: str) -> None:
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    if SECTION in current:
        before, _, after = current.partition(SECTION)
        rest = after.split("\n## ", 1)
        current = before + text + (("\n## " + rest[1]) if len(rest) > 1 else "")
    else:
        current = current.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(current, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description="one host vs three hosts sharing the limiter vs three alone")
    parser.add_argument("--rows", type=int, default=3000, help="rows per host of the three (default 3000)")
    parser.add_argument("--speed", type=float, default=4.0, help="portal speed factor (default 4)")
    parser.add_argument("--database", default=None, help="postgresql:// URL (default: a throwaway cluster)")
    parser.add_argument("--write", action="store_true", help="write the table into bench/RESULTS.md")
    args = parser.parse_args()

    def run_all(url: str) -> list[dict[str, Any]]:
        return [
            scenario("one host", [3 * args.rows], args.speed, None),
            scenario("three hosts, shared limiter", [args.rows] * 3, args.speed, url),
            scenario("three hosts, private limiters", [args.rows] * 3, args.speed, None),
        ]

    if args.database:
        results = run_all(args.database)
    else:
        from tests.postgres_cluster import running_cluster

        with running_cluster() as cluster:
            results = run_all(cluster.new_database())
    text = table(results, args.speed)
    print(text, flush=True)
    if args.write:
        write(text)


if __name__ == "__main__":
    main()
