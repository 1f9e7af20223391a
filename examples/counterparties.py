"""Counterparties in and out of the CRM: import companies from a CSV, export them back.

    crest portal --http --no-limits &
    python examples/counterparties.py --webhook http://127.0.0.1:8024/rest/1/<secret>/

With an https ``crest portal`` (its default) give the CA bundle it prints (or set CREST_CA_BUNDLE):

    python examples/counterparties.py --webhook https://127.0.0.1:8024/rest/1/<secret>/ --ca-bundle FILE

It runs the two commands a person would type, and checks the round trip:

    crest import company examples/data/companies.csv --webhook URL
    crest export crm.company.list --select ID --select TITLE ... --out companies-export.csv --webhook URL

``crest import`` sends the rows in batches (the CSV header names the fields; PHONE_WORK,
EMAIL_WORK become multi-fields) and writes failed rows to a report; ``crest export`` walks the
list with keyset paging. Both resume after an interruption: run the same command again.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CSV = HERE / "data" / "companies.csv"
#: Exported columns: the ones the CSV brings in, plus the portal's ID.
SELECT = ("ID", "TITLE", "COMPANY_TYPE", "INDUSTRY", "PHONE", "EMAIL", "WEB", "EMPLOYEES", "COMMENTS")


class CommandFailed(Exception):
    """A ``crest`` command exited with an error; it has printed why already."""


def crest(*args: str) -> None:
    """Run the ``crest`` command line as a person would (same interpreter, so the same install)."""
    command = [sys.executable, "-m", "crest.cli", *args]
    # The webhook URL is a credential: it is shown masked, here and in any error below.
    shown = " ".join(a if "/rest/" not in a else "<webhook>" for a in args)
    print(f"$ crest {shown}", flush=True)
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        raise CommandFailed(f"crest {args[0]} failed (exit {done.returncode}); see its output above")


def compare(source: Path, exported: Path) -> list[str]:
    """Differences between the imported CSV and what came back (by TITLE); empty when none."""
    with source.open(newline="", encoding="utf-8") as fh:
        wanted = {row["TITLE"]: row for row in csv.DictReader(fh)}
    with exported.open(newline="", encoding="utf-8") as fh:
        got = {row["TITLE"]: row for row in csv.DictReader(fh)}
    problems = []
    for title, row in wanted.items():
        back = got.get(title)
        if back is None:
            problems.append(f"{title}: not exported")
            continue
        for field in ("COMPANY_TYPE", "INDUSTRY", "EMPLOYEES", "COMMENTS"):
            if (row.get(field) or "") != (back.get(field) or ""):
                problems.append(f"{title}: {field} {row.get(field)!r} came back as {back.get(field)!r}")
        for multi in ("PHONE_WORK", "EMAIL_WORK"):  # exported one column per type, as imported
            if (row.get(multi) or "") != (back.get(multi) or ""):
                problems.append(f"{title}: {multi} {row.get(multi)!r} came back as {back.get(multi)!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--webhook", required=True, help="incoming webhook URL with the crm scope")
    parser.add_argument(
        "--ca-bundle",
        default=os.environ.get("CREST_CA_BUNDLE"),
        help="CA bundle of a portal with a private CA (crest portal --https prints it); default: CREST_CA_BUNDLE",
    )
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="companies to import")
    parser.add_argument(
        "--out", type=Path, default=Path("companies-export.csv"), help="where the export goes"
    )
    args = parser.parse_args(argv)
    # crest import keeps its checkpoint and failed-rows report next to the CSV it reads, so it
    # reads a copy beside the export rather than the one in examples/data.
    work_csv = args.out.with_name(args.out.stem + "-import.csv")
    shutil.copyfile(args.csv, work_csv)
    tls = ["--ca-bundle", args.ca_bundle] if args.ca_bundle else []
    select = [part for field in SELECT for part in ("--select", field)]
    try:
        crest("import", "company", str(work_csv), "--webhook", args.webhook, *tls, "--quiet")
        crest(
            "export",
            "crm.company.list",
            *select,
            "--out",
            str(args.out),
            "--webhook",
            args.webhook,
            *tls,
            "--quiet",
            "--restart",
        )
    except CommandFailed as exc:
        print(exc, file=sys.stderr)
        if args.webhook.startswith("https:") and not args.ca_bundle:
            print(
                "a portal with a private CA (crest portal --https) needs --ca-bundle FILE "
                "(the CA bundle it printed) or CREST_CA_BUNDLE=FILE",
                file=sys.stderr,
            )
        return 1
    problems = compare(args.csv, args.out)
    for problem in problems:
        print("mismatch:", problem)
    print(f"round trip {'OK' if not problems else 'with differences'}: {args.csv} -> CRM -> {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
