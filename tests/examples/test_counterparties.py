"""examples/counterparties.py end to end: `crest import` then `crest export` against the portal."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from portal.testing import running_portal

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "counterparties.py"
DATA = Path(__file__).resolve().parents[2] / "examples" / "data" / "companies.csv"


def test_import_then_export_round_trips_the_companies(tmp_path: Path) -> None:
    with running_portal(companies=3) as portal:
        out = tmp_path / "export.csv"
        run = subprocess.run(
            [sys.executable, str(EXAMPLE), "--webhook", portal.webhook_url, "--out", str(out)],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "round trip OK" in run.stdout
        # The import's checkpoint went next to the working copy, not into the repository.
        assert sorted(p.name for p in DATA.parent.iterdir()) == ["companies.csv", "erp.json"]
        assert portal.webhook_url not in run.stdout  # the secret is not echoed
        rows = list(csv.DictReader(out.open(encoding="utf-8")))
        # The 3 seeded companies plus the 5 imported ones, each once.
        assert len(rows) == 8
        titles = [r["TITLE"] for r in rows]
        assert titles.count("Contoso Ltd") == 1 and "Tailspin Toys" in titles
        assert portal.count("crm.company.add") + portal.count("batch") >= 1
        assert (
            portal.portal.crm.entities["company"].ids and len(portal.portal.crm.entities["company"].ids) == 8
        )


def test_a_changed_value_is_reported_as_a_difference(
    tmp_path: Path, load_example: Callable[[str], ModuleType]
) -> None:
    # compare() is what makes the example's "OK" mean something: it must notice a loss.
    counterparties = load_example("counterparties")
    exported = tmp_path / "e.csv"
    rows = list(csv.DictReader(DATA.open(encoding="utf-8")))
    with exported.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(
            fh,
            fieldnames=[
                "TITLE",
                "COMPANY_TYPE",
                "INDUSTRY",
                "EMPLOYEES",
                "COMMENTS",
                "PHONE_WORK",
                "EMAIL_WORK",
            ],
        )
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    "TITLE": row["TITLE"],
                    "COMPANY_TYPE": row["COMPANY_TYPE"],
                    "INDUSTRY": row["INDUSTRY"],
                    "EMPLOYEES": "EMPLOYEES_1" if row["TITLE"] == "Contoso Ltd" else row["EMPLOYEES"],
                    "COMMENTS": row["COMMENTS"],
                    "PHONE_WORK": row["PHONE_WORK"],
                    "EMAIL_WORK": row["EMAIL_WORK"],
                }
            )
    assert counterparties.compare(DATA, exported) == [
        "Contoso Ltd: EMPLOYEES 'EMPLOYEES_4' came back as 'EMPLOYEES_1'"
    ]


def run_example(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREST_", "C_REST_"))}
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )


def test_under_https_with_the_ca_bundle_it_round_trips(tmp_path: Path) -> None:
    with running_portal(https=True) as portal:
        assert portal.webhook_url.startswith("https://") and portal.ca_bundle
        run = run_example(tmp_path, "--webhook", portal.webhook_url, "--ca-bundle", portal.ca_bundle)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "round trip OK" in run.stdout
        assert "--ca-bundle" in run.stdout  # the commands it ran, as a person would type them


def test_under_https_without_the_ca_bundle_it_says_what_to_do_and_keeps_the_secret(tmp_path: Path) -> None:
    with running_portal(https=True) as portal:
        run = run_example(tmp_path, "--webhook", portal.webhook_url)
        output = run.stdout + run.stderr
        assert run.returncode == 1, output
        secret = portal.webhook_url.rstrip("/").rsplit("/", 1)[1]
        assert secret not in output and "Traceback" not in output
        assert "--ca-bundle FILE" in output and "CREST_CA_BUNDLE" in output
        assert "C_REST_CA_BUNDLE" not in output  # a setting that does not exist
