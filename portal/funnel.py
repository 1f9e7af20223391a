"""Sales funnels: deal pipelines (categories) and the stages and statuses of ``crm.status.list``.

Kept apart from the CRM records: it receives only where to persist. Pipeline 0 is the default
one, whose stages have no prefix (``NEW`` ... ``WON``, ``LOSE``, entity ``DEAL_STAGE``); a new
pipeline ``N`` gets the same stages as ``CN:NEW`` ... under entity ``DEAL_STAGE_N``, as on
Bitrix24. Lead statuses are entity ``STATUS``. Semantics: ``S`` success, ``F`` failure, none
for a stage in process.
"""

from __future__ import annotations

from typing import Any

from portal.persist import Persistence, Table

#: (STATUS_ID, NAME, SORT, COLOR, SEMANTICS) of the default deal stages, as a new portal has them.
DEAL_STAGES: tuple[tuple[str, str, int, str, str | None], ...] = (
    ("NEW", "New", 10, "#39A8EF", None),
    ("PREPARATION", "Document preparation", 20, "#2FC6F6", None),
    ("PREPAYMENT_INVOICE", "Prepayment invoice", 30, "#55D0E0", None),
    ("EXECUTING", "In progress", 40, "#47E4C2", None),
    ("FINAL_INVOICE", "Final invoice", 50, "#FFA900", None),
    ("WON", "Deal successful", 60, "#7BD500", "S"),
    ("LOSE", "Deal failed", 70, "#FF5752", "F"),
)
LEAD_STATUSES: tuple[tuple[str, str, int, str, str | None], ...] = (
    ("NEW", "Unassigned", 10, "#39A8EF", None),
    ("IN_PROCESS", "In progress", 20, "#2FC6F6", None),
    ("PROCESSED", "Processed", 30, "#55D0E0", None),
    ("JUNK", "Junk lead", 40, "#FF5752", "F"),
    ("CONVERTED", "Good lead", 50, "#7BD500", "S"),
)
_EXTRA = {None: "process", "S": "success", "F": "failure"}
DEFAULT_PIPELINE = {"id": 0, "name": "General", "sort": 100, "isDefault": "Y"}
DEAL_TYPE_ID = 2


def _status(
    entity: str, row: tuple[str, str, int, str, str | None], number: int, category: int | None
) -> dict[str, Any]:
    status_id, name, sort, color, semantics = row
    prefix = f"C{category}:" if category else ""
    system = status_id in {"NEW", "WON", "LOSE", "CONVERTED", "JUNK"}
    return {
        "ID": str(number),
        "ENTITY_ID": entity,
        "STATUS_ID": prefix + status_id,
        "NAME": name,
        "NAME_INIT": name if system else "",
        "SORT": str(sort),
        "SYSTEM": "Y" if system else "N",
        "CATEGORY_ID": str(category) if category else None,
        "COLOR": color,
        "SEMANTICS": semantics,
        "EXTRA": {"SEMANTICS": _EXTRA[semantics], "COLOR": color},
    }


class FunnelStore:
    def __init__(self, persist: Persistence) -> None:
        self.pipelines: Table[int] = Table(persist, "crm_category", int)

    def categories(self) -> list[dict[str, Any]]:
        rows = [DEFAULT_PIPELINE, *(self.pipelines.rows[k] for k in sorted(self.pipelines.rows))]
        return [{**r, "entityTypeId": DEAL_TYPE_ID, "originId": "", "originatorId": ""} for r in rows]

    def category(self, category_id: int) -> dict[str, Any] | None:
        for row in self.categories():
            if row["id"] == category_id:
                return row
        return None

    def add(self, name: str, sort: int) -> dict[str, Any]:
        category_id = max((*self.pipelines.rows, 0)) + 1
        self.pipelines.put(category_id, {"id": category_id, "name": name, "sort": sort, "isDefault": "N"})
        return self.category(category_id) or {}

    def update(self, category_id: int, changes: dict[str, Any]) -> None:
        row = self.pipelines.get(category_id)
        self.pipelines.put(category_id, {**row, **changes})

    def delete(self, category_id: int) -> None:
        self.pipelines.delete(category_id)

    def statuses(self) -> list[dict[str, Any]]:
        out = [_status("STATUS", row, 1 + i, None) for i, row in enumerate(LEAD_STATUSES)]
        for category in self.categories():
            cid = int(category["id"])
            entity = f"DEAL_STAGE_{cid}" if cid else "DEAL_STAGE"
            base = 100 + cid * len(DEAL_STAGES)
            out.extend(_status(entity, row, base + i, cid or None) for i, row in enumerate(DEAL_STAGES))
        return out

    def stages_of(self, category_id: int) -> list[dict[str, Any]]:
        entity = f"DEAL_STAGE_{category_id}" if category_id else "DEAL_STAGE"
        return sorted((s for s in self.statuses() if s["ENTITY_ID"] == entity), key=lambda s: int(s["SORT"]))
