"""``crest import --match EMAIL`` against a portal that already holds many contacts.

``python -m bench.import_match [--runs 5000:20000,10000:100000] [--speed 4] [--write]``: for
each ``ROWS:CONTACTS`` pair, a portal holding that many contacts and a sheet of ``ROWS`` rows, half of them e-mails of contacts already in the portal (updates), half
new (adds), imported with ``crest import contact --match EMAIL`` in its own process against
the portal (its own process, standard limits, time scaled by ``speed``). Requests are read
from the portal's record; the floor is what the leaky bucket allows for that many requests
(a burst of 50, then 2 x speed a second).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import count_status, portal_process, write_section


def existing_emails(info: dict[str, Any], count: int) -> list[str]:
    from crest.client import Client

    client = Client.from_webhook(info["webhook_url"], ca_bundle=info.get("ca_bundle"))
    out: list[str] = []
    for row in client.list_all("crm.contact.list", select=["ID", "EMAIL"], filter={"<=ID": count}):
        out += [e["VALUE"] for e in row.get("EMAIL") or []][:1]
    return out[:count]


def run(n: int, contacts: int, speed: float) -> dict[str, Any]:
    with (
        portal_process("--contacts", str(contacts), "--speed", str(speed)) as info,
        tempfile.TemporaryDirectory() as tmp,
    ):
        known = existing_emails(info, n // 2)
        updates = sum(1 for i in range(0, n, 2) if i // 2 < len(known))
        sheet = Path(tmp) / "people.csv"
        with open(sheet, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["NAME", "LAST_NAME", "EMAIL", "PHONE_MOBILE"])
            for i in range(n):
                email = known[i // 2] if i % 2 == 0 and i // 2 < len(known) else f"new{i}@bench.example"
                writer.writerow([f"m{i}", "Match", email, f"+1 555 {i:07d}"])
        info["admin"].fresh()
        env = dict(os.environ)
        if info.get("ca_bundle"):
            env["CREST_CA_BUNDLE"] = info["ca_bundle"]
        args = ["import", "contact", str(sheet), "--match", "EMAIL", "--webhook", info["webhook_url"]]
        args += ["--speed", str(speed), "--quiet"]
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "crest.cli", *args], capture_output=True, text=True, env=env, check=False
        )
        wall = time.monotonic() - started
        records = info["admin"].requests()
    requests = len(records)
    floor = max(0, requests - 50) / (2 * speed)
    return {
        "n": n,
        "contacts": contacts,
        "speed": speed,
        "exit": proc.returncode,
        "summary": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "",
        "wall": wall,
        "requests": requests,
        # fields + findbycomm (20 values a command, 50 a batch) + reads of the records found
        # (50 IDs a command) + adds and updates, 50 a batch.
        "expected": 1
        + math.ceil(n / 1000)
        + math.ceil(updates / 2500)
        + math.ceil((n - updates) / 50)
        + math.ceil(updates / 50),
        "r503": count_status(records, 503),
        "floor": floor,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--runs", default="5000:20000,10000:100000", help="ROWS:CONTACTS pairs, one portal each"
    )
    parser.add_argument("--speed", type=float, default=4.0)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    results = []
    for pair in args.runs.split(","):
        n, contacts = (int(x) for x in pair.split(":"))
        r = run(n, contacts, args.speed)
        print(json.dumps(r), flush=True)
        results.append(r)
    if args.write:
        rows = "\n".join(
            f"| {r['n']:,} | {r['contacts']:,} | {r['requests']} | {r['expected']} | {r['r503']} | {r['wall']:,.1f}"
            f" | {r['floor']:.1f} | {r['wall'] / r['floor'] if r['floor'] else float('nan'):.1f}x | {r['summary']} |"
            for r in results
        )
        body = f"""`crest import contact --match EMAIL`: half the rows carry e-mails of contacts already in the
portal (updates), half are new (adds); standard limits, `--speed {args.speed:g}`, portal in its own
process (`python -m bench.import_match --write`). Requests come from the portal's own record;
the floor is what the leaky bucket allows for that many requests (a burst of 50, then
2 x speed a second).

| rows | portal holds | requests | expected | answers 503 | wall (s) | bucket floor (s) | wall / floor | outcome |
|---:|---:|---:|---:|---:|---:|---:|---:|---|
{rows}

Expected requests: one `crm.contact.fields`, `crm.duplicate.findbycomm` at 20 values a command
and 50 commands a batch, one list command per 50 records found (their phones and e-mails,
so an update adds only new ones), then adds and updates at 50 a batch.

Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; {time.strftime("%Y-%m-%d")}."""
        write_section("Import with --match", body)


if __name__ == "__main__":
    main()
