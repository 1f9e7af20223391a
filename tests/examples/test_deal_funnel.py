"""examples/deal_funnel.py as the README runs it: deals move one stage by its rules (in any
pipeline), a deal missing a required field stays where it is, and every move raises
ONCRMDEALUPDATE (received by an outgoing webhook on 127.0.0.1)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from crest.client import Client
from portal.testing import PortalHandle, running_portal
from tests.portal.test_events import Receiver, receiver

__all__ = ["receiver"]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "deal_funnel.py"


@pytest.fixture
def portal() -> Iterator[PortalHandle]:
    # `crest portal --http --companies 5 --contacts 10 --deals 20`, as the README starts it.
    with running_portal(companies=5, contacts=10, deals=20) as handle:
        yield handle


def run(portal: PortalHandle, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREST_", "C_REST_"))}
    return subprocess.run(
        [sys.executable, str(EXAMPLE), "--webhook", portal.webhook_url, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_deals_move_by_rules_and_required_fields_hold_them(portal: PortalHandle, receiver: Receiver) -> None:
    hook = Client.from_webhook(portal.webhook_url)
    portal.add_outgoing_webhook(receiver.url("hook"), ["ONCRMDEALUPDATE"])
    # A client but no amount: ready to leave NEW, but PREPARATION needs OPPORTUNITY.
    held = hook.call("crm.deal.add", {"fields": {"TITLE": "No amount", "STAGE_ID": "NEW", "CONTACT_ID": 1}})
    # Another pipeline: C1:NEW moves to C1:PREPARATION.
    hook.call("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Partners"}})
    other = hook.call(
        "crm.deal.add",
        {
            "fields": {
                "TITLE": "Partner deal",
                "CATEGORY_ID": 1,
                "STAGE_ID": "C1:NEW",
                "CONTACT_ID": 2,
                "OPPORTUNITY": 500,
            }
        },
    )
    before = {int(d["ID"]): d["STAGE_ID"] for d in hook.list_all("crm.deal.list", select=["ID", "STAGE_ID"])}
    plan = run(portal, "--dry-run")
    assert plan.returncode == 0 and "would move" in plan.stdout, plan.stdout + plan.stderr
    assert {
        int(d["ID"]): d["STAGE_ID"] for d in hook.list_all("crm.deal.list", select=["ID", "STAGE_ID"])
    } == before
    done = run(portal)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert done.stdout.replace("moved", "would move") == plan.stdout  # the plan was what happened
    moves = {
        int(m[0]): (m[1], m[2]) for m in re.findall(r"deal (\d+) '[^']*': (\S+) -> (\S+) \(", done.stdout)
    }
    assert moves, done.stdout
    after = {int(d["ID"]): d["STAGE_ID"] for d in hook.list_all("crm.deal.list", select=["ID", "STAGE_ID"])}
    for deal_id, (src, dst) in moves.items():
        assert before[deal_id] == src and after[deal_id] == dst
    assert {k: v for k, v in after.items() if k not in moves} == {
        k: v for k, v in before.items() if k not in moves
    }
    assert moves[other] == ("C1:NEW", "C1:PREPARATION")
    assert f"deal {held} stays in NEW: PREPARATION needs OPPORTUNITY" in done.stdout
    assert re.search(rf"moved {len(moves)} deal\(s\); \d+ held back", done.stdout)
    portal.flush()
    updated = {int(b["data"]["FIELDS"]["ID"]) for b in receiver.at("hook") if b["event"] == "ONCRMDEALUPDATE"}
    assert set(moves) <= updated


def test_a_dead_portal_is_a_clear_error(refused_port: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREST_", "C_REST_"))}
    dead = subprocess.run(
        [sys.executable, str(EXAMPLE), "--webhook", f"http://127.0.0.1:{refused_port}/rest/1/secret/"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dead.returncode == 1 and dead.stderr.startswith("stopped: ") and "Traceback" not in dead.stderr


def test_leads_move_through_their_statuses(portal: PortalHandle) -> None:
    hook = Client.from_webhook(portal.webhook_url)
    ready = hook.call(
        "crm.lead.add",
        {
            "fields": {
                "TITLE": "Ready",
                "NAME": "Ann",
                "STATUS_ID": "NEW",
                "PHONE": [{"VALUE": "+15550001111", "VALUE_TYPE": "WORK"}],
            }
        },
    )
    priced = hook.call(
        "crm.lead.add",
        {"fields": {"TITLE": "Priced", "NAME": "Bo", "STATUS_ID": "IN_PROCESS", "OPPORTUNITY": 900}},
    )
    complete = hook.call(
        "crm.lead.add",
        {
            "fields": {
                "TITLE": "Complete",
                "NAME": "Cy",
                "STATUS_ID": "IN_PROCESS",
                "OPPORTUNITY": 50,
                "COMPANY_TITLE": "Cy Ltd",
            }
        },
    )
    before = {
        int(r["ID"]): r["STATUS_ID"] for r in hook.list_all("crm.lead.list", select=["ID", "STATUS_ID"])
    }
    done = run(portal, "--leads")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert f"lead {ready} 'Ready': NEW -> IN_PROCESS (it has a phone or an email)" in done.stdout
    # Priced has an amount but no company name: PROCESSED requires one.
    assert f"lead {priced} stays in IN_PROCESS: PROCESSED needs COMPANY_TITLE" in done.stdout
    moves = {
        int(m[0]): (m[1], m[2]) for m in re.findall(r"lead (\d+) '[^']*': (\S+) -> (\S+) \(", done.stdout)
    }
    after = {int(r["ID"]): r["STATUS_ID"] for r in hook.list_all("crm.lead.list", select=["ID", "STATUS_ID"])}
    for lead_id, (src, dst) in moves.items():
        assert before[lead_id] == src and after[lead_id] == dst
    assert {k: v for k, v in after.items() if k not in moves} == {
        k: v for k, v in before.items() if k not in moves
    }
    assert after[priced] == "IN_PROCESS" and after[complete] == "PROCESSED"
