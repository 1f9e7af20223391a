"""``crest import --match``: update what matches, add the rest, report conflicts; a dry run plans only."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from crest.cli import main
from crest.client import Client
from crest.transfer import import_rows
from portal.config import PortalConfig
from portal.testing import PortalHandle, running_portal


@pytest.fixture
def crm() -> Iterator[tuple[PortalHandle, Client]]:
    with running_portal(PortalConfig(limits=False, cost=None)) as p:
        client = Client.from_webhook(p.webhook_url)
        people: list[dict[str, Any]] = [
            {"NAME": "Ann", "EMAIL": [{"VALUE": "ann@example.com", "VALUE_TYPE": "WORK"}],
             "PHONE": [{"VALUE": "+1 555 0001", "VALUE_TYPE": "WORK"}]},
            {"NAME": "Bob", "EMAIL": [{"VALUE": "bob@example.com", "VALUE_TYPE": "HOME"}]},
            {"NAME": "Dup1", "EMAIL": [{"VALUE": "dup@example.com", "VALUE_TYPE": "WORK"}]},
            {"NAME": "Dup2", "EMAIL": [{"VALUE": "dup@example.com", "VALUE_TYPE": "WORK"}]},
        ]  # fmt: skip
        assert client.call_many("crm.contact.add", [{"fields": f} for f in people]).ok
        yield p, client


def crest(p: PortalHandle, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--webhook", p.webhook_url, "--speed", "1000", "--quiet"])


def everyone(client: Client) -> dict[str, dict[str, Any]]:
    rows = client.list_all("crm.contact.list", select=["ID", "NAME", "LAST_NAME", "EMAIL", "PHONE"])
    return {r["NAME"]: r for r in rows}


SHEET = (
    "NAME,LAST_NAME,EMAIL,PHONE_WORK\n"
    'Ann,Lee,ann@example.com,"+1 555 0001, +1 555 0002"\n'  # line 2: update Ann, one new phone
    "Cid,New,new@example.com,\n"  # line 3: add
    "Dan,Dup,dup@example.com,\n"  # line 4: two records have it: conflict
    "Cy,Again,NEW@example.com,\n"  # line 5: the same key as line 3: conflict
    "Bob,Ray,BOB@example.com,\n"  # line 6: e-mails match without case: update Bob
)


def test_dry_run_prints_the_plan_and_writes_nothing(crm: tuple[PortalHandle, Client], tmp_path: Path) -> None:
    p, client = crm
    src = tmp_path / "people.csv"
    src.write_text(SHEET, encoding="utf-8")
    before = everyone(client)
    p.clear_requests()
    result = crest(p, "import", "contact", str(src), "--match", "email", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "plan: add 1, update 2, conflicts 2" in result.output and "nothing was written" in result.output
    assert p.count("crm.contact.add") == p.count("crm.contact.update") == 0
    assert p.count("batch") <= 2  # one batch of findbycomm lookups, one read of the records to update
    assert everyone(client) == before
    assert not (tmp_path / "people.csv.checkpoint.jsonl").exists()
    with open(tmp_path / "people.csv.plan.csv", encoding="utf-8", newline="") as fh:
        plan = {r["row"]: r for r in csv.DictReader(fh)}
    assert {k: v["action"] for k, v in plan.items()} == {
        "2": "update", "3": "add", "4": "conflict", "5": "conflict", "6": "update"
    }  # fmt: skip
    assert plan["2"]["record_id"] == before["Ann"]["ID"] and "matches 2 contacts" in plan["4"]["note"]
    assert "same EMAIL as line 3" in plan["5"]["note"]


def test_match_email_updates_adds_and_reports_conflicts(
    crm: tuple[PortalHandle, Client], tmp_path: Path
) -> None:
    p, client = crm
    src = tmp_path / "people.csv"
    src.write_text(SHEET, encoding="utf-8")
    before = everyone(client)
    result = crest(p, "import", "contact", str(src), "--match", "EMAIL")
    assert result.exit_code == 1  # the conflicts need a look
    assert "created 1, updated 2, failed 2 (2 conflicts)" in result.output, result.output
    after = everyone(client)
    assert sorted(after) == ["Ann", "Bob", "Cid", "Dup1", "Dup2"]  # one added, nobody twice
    ann = after["Ann"]
    assert ann["ID"] == before["Ann"]["ID"] and ann["LAST_NAME"] == "Lee"
    assert sorted(e["VALUE"] for e in ann["PHONE"]) == ["+1 555 0001", "+1 555 0002"]  # not duplicated
    assert [e["VALUE"] for e in ann["EMAIL"]] == ["ann@example.com"]
    assert after["Bob"]["LAST_NAME"] == "Ray" and len(after["Bob"]["EMAIL"]) == 1
    with open(tmp_path / "people.csv.failed.csv", encoding="utf-8", newline="") as fh:
        report = list(csv.DictReader(fh))
    assert [(r["row"], r["outcome"]) for r in report] == [("4", "conflict"), ("5", "conflict")]
    # A re-run sends nothing again: done rows are skipped.
    p.clear_requests()
    again = crest(p, "import", "contact", str(src), "--match", "EMAIL")
    assert "skipped 3 done before" in again.output
    assert p.count("crm.contact.add") == 0 and sorted(everyone(client)) == sorted(after)


def test_match_phone_by_digits(crm: tuple[PortalHandle, Client], tmp_path: Path) -> None:
    _, client = crm
    src = tmp_path / "phones.csv"
    src.write_text("PHONE_MOBILE,COMMENTS\n15550001,called back\n", encoding="utf-8")
    outcome = import_rows(client, "contact", src, match="PHONE")
    assert outcome.updated == 1 and outcome.created == 0
    ann = everyone(client)["Ann"]
    assert ann["ID"] and client.call("crm.contact.get", {"id": ann["ID"]})["COMMENTS"] == "called back"


def test_match_origin_id_on_deals_and_id_round_trip(tmp_path: Path) -> None:
    with running_portal(PortalConfig(limits=False, cost=None)) as p:
        client = Client.from_webhook(p.webhook_url)
        deals = [{"fields": {"TITLE": f"deal {n}", "ORIGIN_ID": f"erp-{n}"}} for n in (1, 2)]
        assert client.call_many("crm.deal.add", deals).ok
        src = tmp_path / "deals.csv"
        src.write_text(
            "TITLE,ORIGIN_ID,OPPORTUNITY\ndeal one,erp-1,100\ndeal three,erp-3,300\n", encoding="utf-8"
        )
        result = crest(p, "import", "deal", str(src), "--match", "ORIGIN_ID")
        assert result.exit_code == 0, result.output
        assert "created 1, updated 1, failed 0" in result.output
        titles = {
            d["ORIGIN_ID"]: d["TITLE"]
            for d in client.list_all("crm.deal.list", select=["TITLE", "ORIGIN_ID"])
        }
        assert titles == {"erp-1": "deal one", "erp-2": "deal 2", "erp-3": "deal three"}

        # Export, edit in the sheet, import with --match ID: the same records change, none is added.
        out = tmp_path / "export.csv"
        assert (
            crest(
                p, "export", "crm.deal.list", "--select", "ID", "--select", "TITLE", "--out", str(out)
            ).exit_code
            == 0
        )
        text = out.read_text(encoding="utf-8").replace("deal 2", "deal two")
        edited = tmp_path / "edited.csv"
        edited.write_text(text, encoding="utf-8")
        synced = crest(p, "import", "deal", str(edited), "--match", "ID")
        assert synced.exit_code == 0 and "created 0, updated 3" in synced.output, synced.output
        titles = {
            d["ORIGIN_ID"]: d["TITLE"]
            for d in client.list_all("crm.deal.list", select=["TITLE", "ORIGIN_ID"])
        }
        assert titles == {"erp-1": "deal one", "erp-2": "deal two", "erp-3": "deal three"}


def test_deals_cannot_match_by_email(crm: tuple[PortalHandle, Client], tmp_path: Path) -> None:
    p, _ = crm
    src = tmp_path / "deals.csv"
    src.write_text("TITLE\nx\n", encoding="utf-8")
    p.clear_requests()
    result = crest(p, "import", "deal", str(src), "--match", "EMAIL")
    assert (
        result.exit_code == 1 and "use ID or ORIGIN_ID" in result.output and "Traceback" not in result.output
    )
    assert p.count("batch") == 0
