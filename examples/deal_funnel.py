"""Sales funnel: move deals through their pipeline by rules, checking required fields first.

    crest portal --http --deals 20 &
    python examples/deal_funnel.py --webhook http://127.0.0.1:8024/rest/1/<secret>/

(``crest portal`` prints the webhook URL.) The stages come from the portal: every pipeline
(``crm.category.list``) and its stages in order (``crm.status.list``), so the rules below work in
any pipeline (``C2:PREPARATION`` is ``PREPARATION`` of pipeline 2). For each open deal
(``crm.deal.list``) the rule of its stage says whether it is ready for the next one; a ready deal
moves (``crm.deal.update`` of ``STAGE_ID``, which the portal answers with ``ONCRMDEALUPDATE``)
only when the fields the next stage requires are filled, otherwise the example says which are
missing and leaves it. ``--leads`` does the same for leads through their statuses
(``crm.status.list`` entity ``STATUS``, ``crm.lead.update`` of ``STATUS_ID``). ``--dry-run``
prints the plan without moving anything.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from crest.client import Client
from crest.errors import CrestError

Deal = dict[str, Any]


def _number(value: Any) -> Decimal:
    try:
        return Decimal(str(value or "0"))
    except InvalidOperation:
        return Decimal(0)


#: Stage (without its pipeline prefix) -> when a deal there is ready for the next stage.
READY: dict[str, tuple[str, Callable[[Deal], bool]]] = {
    "NEW": ("it has a client", lambda d: bool(d.get("CONTACT_ID") or d.get("COMPANY_ID"))),
    "PREPARATION": ("its probability is 50% or more", lambda d: _number(d.get("PROBABILITY")) >= 50),
    "PREPAYMENT_INVOICE": ("its probability is 75% or more", lambda d: _number(d.get("PROBABILITY")) >= 75),
}
#: Stage -> the fields a deal must have filled to enter it.
REQUIRED: dict[str, tuple[str, ...]] = {
    "PREPARATION": ("CONTACT_ID", "OPPORTUNITY"),
    "PREPAYMENT_INVOICE": ("COMPANY_ID", "OPPORTUNITY", "BEGINDATE"),
    "EXECUTING": ("COMPANY_ID", "CONTACT_ID", "OPPORTUNITY"),
}
#: The same for leads (``--leads``): their statuses are entity STATUS of crm.status.list.
LEAD_READY: dict[str, tuple[str, Callable[[Deal], bool]]] = {
    "NEW": ("it has a phone or an email", lambda d: d.get("HAS_PHONE") == "Y" or d.get("HAS_EMAIL") == "Y"),
    "IN_PROCESS": ("it has an amount", lambda d: _number(d.get("OPPORTUNITY")) > 0),
}
LEAD_REQUIRED: dict[str, tuple[str, ...]] = {
    "IN_PROCESS": ("NAME", "ASSIGNED_BY_ID"),
    "PROCESSED": ("OPPORTUNITY", "COMPANY_TITLE"),
}
LEAD_SELECT = [
    "ID",
    "TITLE",
    "STATUS_ID",
    "OPPORTUNITY",
    "NAME",
    "ASSIGNED_BY_ID",
    "COMPANY_TITLE",
    "HAS_PHONE",
    "HAS_EMAIL",
]
SELECT = [
    "ID",
    "TITLE",
    "STAGE_ID",
    "CATEGORY_ID",
    "OPPORTUNITY",
    "PROBABILITY",
    "CONTACT_ID",
    "COMPANY_ID",
    "BEGINDATE",
]


@dataclass(frozen=True)
class Step:
    deal_id: int
    title: str
    stage: str
    to: str | None
    why: str
    missing: tuple[str, ...] = ()


def base(stage: str) -> str:
    return stage.rsplit(":", 1)[-1]


def filled(deal: Deal, name: str) -> bool:
    value = deal.get(name)
    if name == "OPPORTUNITY":
        return _number(value) > 0
    return value not in (None, "", "0", 0, [])


def pipelines(client: Client) -> dict[str, list[str]]:
    """Pipeline id -> its stage ids in order (process stages only: no won or lost)."""
    categories = client.call("crm.category.list", {"entityTypeId": 2})["categories"]
    out: dict[str, list[str]] = {}
    for category in categories:
        cid = int(category["id"])
        entity = f"DEAL_STAGE_{cid}" if cid else "DEAL_STAGE"
        stages = client.call("crm.status.list", {"filter": {"ENTITY_ID": entity}, "order": {"SORT": "ASC"}})
        out[str(cid)] = [s["STATUS_ID"] for s in stages if not s.get("SEMANTICS")]
    return out


def lead_statuses(client: Client) -> list[str]:
    """The lead statuses in order, in process only (no converted or junk)."""
    rows = client.call("crm.status.list", {"filter": {"ENTITY_ID": "STATUS"}, "order": {"SORT": "ASC"}})
    return [s["STATUS_ID"] for s in rows if not s.get("SEMANTICS")]


def plan(
    deal: Deal,
    stages: list[str],
    *,
    field: str = "STAGE_ID",
    ready_rules: dict[str, tuple[str, Callable[[Deal], bool]]] = READY,
    required: dict[str, tuple[str, ...]] = REQUIRED,
) -> Step:
    stage = str(deal.get(field) or "")
    step = Step(int(deal["ID"]), str(deal.get("TITLE") or ""), stage, None, "")
    rule = ready_rules.get(base(stage))
    if stage not in stages or rule is None or stages.index(stage) + 1 >= len(stages):
        return step
    label, ready = rule
    if not ready(deal):
        return Step(step.deal_id, step.title, stage, None, f"not ready: moves when {label}")
    target = stages[stages.index(stage) + 1]
    missing = tuple(f for f in required.get(base(target), ()) if not filled(deal, f))
    return Step(step.deal_id, step.title, stage, target, label, missing)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--webhook", required=True, help="an incoming webhook URL with the crm scope")
    parser.add_argument(
        "--leads", action="store_true", help="move leads through their statuses instead of deals"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan, move nothing")
    args = parser.parse_args(argv)
    client = Client.from_webhook(args.webhook)
    kind = "lead" if args.leads else "deal"
    moved = held = 0
    try:
        if args.leads:
            statuses = lead_statuses(client)
            rows = client.list_all("crm.lead.list", select=LEAD_SELECT)
            steps = (
                plan(r, statuses, field="STATUS_ID", ready_rules=LEAD_READY, required=LEAD_REQUIRED)
                for r in rows
            )
        else:
            order = pipelines(client)
            rows = client.list_all("crm.deal.list", select=SELECT, filter={"CLOSED": "N"})
            steps = (plan(r, order.get(str(r.get("CATEGORY_ID") or 0), [])) for r in rows)
        for step in steps:
            if step.to is None:
                continue
            if step.missing:
                held += 1
                print(
                    f"{kind} {step.deal_id} stays in {step.stage}: {base(step.to)} needs {', '.join(step.missing)}"
                )
                continue
            if not args.dry_run:
                field = "STATUS_ID" if args.leads else "STAGE_ID"
                client.call(f"crm.{kind}.update", {"ID": step.deal_id, "fields": {field: step.to}})
            moved += 1
            print(f"{kind} {step.deal_id} {step.title!r}: {step.stage} -> {step.to} ({step.why})")
    except CrestError as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        return 1
    verb = "would move" if args.dry_run else "moved"
    print(f"{verb} {moved} {kind}(s); {held} held back for missing fields", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
