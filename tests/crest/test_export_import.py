"""``crest export`` / ``crest import`` end to end, including resume after Ctrl-C."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from crest.cli import main
from crest.cli_bulk import export_rows, import_rows, row_fields
from crest.client import Client
from crest.limits import Limiter
from portal.config import PortalConfig
from portal.testing import PortalHandle, running_portal

N = 3000


@pytest.fixture
def portal() -> Iterator[tuple[PortalHandle, Client]]:
    with running_portal(PortalConfig(limits=False, cost=None, contacts=N)) as p:
        yield p, Client.from_webhook(p.webhook_url, limiter=Limiter.for_plan(speed=1000))


class Interrupt:
    """A progress callback that presses Ctrl-C once ``after`` items are done."""

    def __init__(self, after: int) -> None:
        self.after = after

    def __call__(self, done: int, total: int | None) -> None:
        if done >= self.after:
            raise KeyboardInterrupt


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_export_csv_resumes_after_ctrl_c(portal: tuple[PortalHandle, Client], tmp_path: Path) -> None:
    p, client = portal
    out = tmp_path / "contacts.csv"
    with pytest.raises(KeyboardInterrupt):
        export_rows(client, "crm.contact.list", out, select=["ID", "NAME", "PHONE"], progress=Interrupt(1200))
    assert not out.exists()
    checkpoint = json.loads((tmp_path / "contacts.csv.checkpoint").read_text())
    assert checkpoint["rows"] >= 1200 and checkpoint["last_id"] == checkpoint["rows"]
    p.clear_requests()
    result = export_rows(client, "crm.contact.list", out, select=["ID", "NAME", "PHONE"])
    assert result.resumed_from == checkpoint["last_id"]
    rows = read_csv(out)
    assert [int(r["ID"]) for r in rows] == list(range(1, N + 1))  # every row once, none lost at the seam
    assert not (tmp_path / "contacts.csv.partial").exists()
    assert not (tmp_path / "contacts.csv.checkpoint").exists()
    assert p.count() <= -(-(N - checkpoint["rows"]) // 2500) + 4 + 2  # only the rest was read again


def test_export_jsonl_crm_items_via_cli(portal: tuple[PortalHandle, Client], tmp_path: Path) -> None:
    p, _ = portal
    out = tmp_path / "items.jsonl"
    result = CliRunner().invoke(
        main,
        [
            "export", "crm.item.list", "--param", "entityTypeId=3", "--select", "id", "--select", "name",
            "--filter", ">id=100", "--out", str(out), "--webhook", p.webhook_url, "--speed", "1000", "--quiet",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == list(range(101, N + 1))


def test_row_fields_maps_multi_fields() -> None:
    assert row_fields(
        {"NAME": "Ann", "PHONE": "+1 555", "EMAIL_HOME": "a@x", "last_name": " Lee ", "WEB": ""}
    ) == {
        "NAME": "Ann",
        "PHONE": [{"VALUE": "+1 555", "VALUE_TYPE": "WORK"}],
        "EMAIL": [{"VALUE": "a@x", "VALUE_TYPE": "HOME"}],
        "LAST_NAME": "Lee",
    }


def write_people(path: Path, n: int, blank: set[int] = frozenset()) -> None:  # type: ignore[assignment]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["NAME", "LAST_NAME", "PHONE", "EMAIL"])
        for i in range(n):
            if i in blank:
                writer.writerow(["", "", "", ""])  # no fields at all: the portal refuses the row
            else:
                writer.writerow([f"imp{i}", "Doe", f"+1555{i:05d}", f"imp{i}@example.com"])


def imported(client: Client) -> list[dict[str, Any]]:
    return list(client.list_all("crm.contact.list", select=["ID", "NAME", "PHONE"], filter={"%NAME": "imp"}))


def test_import_resumes_after_ctrl_c_and_reports_failed_rows(
    portal: tuple[PortalHandle, Client], tmp_path: Path
) -> None:
    p, client = portal
    src = tmp_path / "people.csv"
    write_people(src, 1000, blank={5, 777})
    with pytest.raises(KeyboardInterrupt):
        import_rows(client, "contact", src, progress=Interrupt(300), parallel=2)
    first = imported(client)
    assert 300 <= len(first) < 1000
    again = import_rows(client, "contact", src)
    assert again.skipped >= 300
    assert again.created == 998 and again.failed == 2 and again.unknown == 0
    rows = imported(client)
    names = sorted(r["NAME"] for r in rows)
    assert names == sorted(f"imp{i}" for i in range(1000) if i not in {5, 777})  # nobody twice
    assert rows[0]["PHONE"][0]["VALUE_TYPE"] == "WORK"
    report = read_csv(tmp_path / "people.csv.failed.csv")
    assert [r["row"] for r in report] == ["7", "779"]  # CSV line numbers (header is line 1)
    assert all(r["outcome"] == "error" for r in report)
    # A third run has nothing left to do and sends nothing.
    p.clear_requests()
    third = import_rows(client, "contact", src)
    assert third.skipped == 1000 and p.count("batch") == 0


def test_import_unknown_outcome_is_reported_not_resent(
    portal: tuple[PortalHandle, Client], tmp_path: Path
) -> None:
    p, client = portal
    src = tmp_path / "people.csv"
    write_people(src, 200)
    p.fault("batch", kind="drop", count=1)
    result = import_rows(client, "contact", src, parallel=1)
    assert result.unknown == 50 and result.created == 150
    assert not (tmp_path / "people.csv.failed.csv").exists()  # nothing certainly failed
    report = read_csv(tmp_path / "people.csv.unknown.csv")  # their own report, with what to check
    assert len(report) == 50 and {r["outcome"] for r in report} == {"unknown_outcome"}
    assert all("may exist" in r["check"] for r in report)
    p.clear_requests()
    rerun = import_rows(client, "contact", src, retry_failed=True)
    assert rerun.unknown == 50 and p.count("batch") == 0  # still reported, never re-sent
    assert len(imported(client)) == 200  # the dropped batch did run, once


def test_import_cli(portal: tuple[PortalHandle, Client], tmp_path: Path) -> None:
    p, _ = portal
    src = tmp_path / "companies.csv"
    src.write_text("TITLE,PHONE\nAcme,+1\n,+2\nGlobex,+3\n", encoding="utf-8")
    result = CliRunner().invoke(
        main, ["import", "company", str(src), "--webhook", p.webhook_url, "--speed", "1000", "--quiet"]
    )
    assert result.exit_code == 1  # one row failed
    assert "created 2, failed 1" in result.output
    report = read_csv(tmp_path / "companies.csv.failed.csv")
    assert report[0]["row"] == "3" and "Company name" in report[0]["error_description"]


@pytest.mark.parametrize("command", ["export", "import"])
def test_cli_with_the_portal_gone_ends_with_one_clear_line(
    command: str, tmp_path: Path, refused_port: int
) -> None:
    with running_portal(PortalConfig(limits=False, cost=None)) as gone:
        webhook = gone.webhook_url
    # Its port could be taken by another test's server meanwhile (under xdist one was, and
    # answered 404); a port that stays refused is what "the portal is gone" means.
    webhook = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{refused_port}", webhook)
    src = tmp_path / "people.csv"
    src.write_text("NAME\nAnn\n", encoding="utf-8")
    args = (
        ["export", "crm.contact.list", "--out", str(tmp_path / "out.csv")]
        if command == "export"
        else ["import", "contact", str(src)]
    )
    result = CliRunner().invoke(main, [*args, "--webhook", webhook, "--quiet"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "ConnectError" in result.output and "run the same command again" in result.output
    assert result.output.count("\n") == 1  # one line, at once
    if command == "import":  # nothing was sent, nothing is marked: a re-run sends the row
        assert not (tmp_path / "people.csv.failed.csv").exists()
        with running_portal(PortalConfig(limits=False, cost=None)) as back:
            again = CliRunner().invoke(main, [*args, "--webhook", back.webhook_url, "--quiet"])
            assert again.exit_code == 0 and "created 1" in again.output
