"""REST methods: sales funnels (``crm.status.list``, ``crm.category.list`` / ``get`` / ``add`` /
``update`` / ``delete``) for deals, with the shapes and errors of Bitrix24's documentation.

Moving a deal is ``crm.deal.update`` with ``STAGE_ID`` (:mod:`portal.methods.crm`), which raises
``ONCRMDEALUPDATE`` like any other change.
"""

from __future__ import annotations

from typing import Any

from portal import errors
from portal.context import Call, Paged
from portal.funnel import DEAL_TYPE_ID, FunnelStore
from portal.lists import apply_filter, page, parse_filter, sort_rows
from portal.registry import method

_SCOPE = "crm"
#: CRM types that exist but have no funnels, by entityTypeId.
_NO_FUNNELS = {1: "LEAD", 3: "CONTACT", 4: "COMPANY", 7: "QUOTE", 31: "SMART_INVOICE"}


def funnels(call: Call) -> FunnelStore:
    return call.portal.funnel


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _deal_type(call: Call) -> None:
    type_id = _int(call.param("entityTypeId"))
    if type_id == DEAL_TYPE_ID:
        return
    if type_id in _NO_FUNNELS:
        raise errors.RestError(
            "ENTITY_TYPE_NOT_SUPPORTED", f"Entity type `{_NO_FUNNELS[type_id]}` is not supported", 400
        )
    raise errors.RestError("NOT_FOUND", "Smart process not found", 400)


def _category(call: Call) -> dict[str, Any]:
    _deal_type(call)
    found = (
        funnels(call).category(_int(call.param("id")) or -1) if _int(call.param("id")) is not None else None
    )
    if found is None:
        raise errors.RestError("NOT_FOUND", "Element not found", 400)
    return found


@method("crm.status.list", scope=_SCOPE)
def status_list(call: Call) -> Paged:
    rows = apply_filter(funnels(call).statuses(), parse_filter(call.param("filter"), numeric={"ID", "SORT"}))
    order = call.param("order")
    rows = sort_rows(
        rows, order if isinstance(order, dict) and order else {"SORT": "ASC"}, numeric={"ID", "SORT"}
    )
    return page(call, rows)


@method("crm.category.list", scope=_SCOPE)
def category_list(call: Call) -> Paged:
    _deal_type(call)
    return page(call, funnels(call).categories(), wrap=lambda chunk: {"categories": chunk})


@method("crm.category.get", scope=_SCOPE)
def category_get(call: Call) -> dict[str, Any]:
    return {"category": _category(call)}


def _fields(call: Call) -> dict[str, Any]:
    raw = call.param("fields")
    return {str(k): v for k, v in raw.items()} if isinstance(raw, dict) else {}


@method("crm.category.add", scope=_SCOPE)
def category_add(call: Call) -> dict[str, Any]:
    _deal_type(call)
    fields = _fields(call)
    name = str(fields.get("name") or "").strip()
    if not name:
        raise errors.RestError("0", "Field 'NAME' is required", 400)
    return {"category": funnels(call).add(name, _int(fields.get("sort")) or 500)}


@method("crm.category.update", scope=_SCOPE)
def category_update(call: Call) -> dict[str, Any]:
    category = _category(call)
    fields = _fields(call)
    changes: dict[str, Any] = {}
    if "name" in fields:
        if not str(fields["name"]).strip():
            raise errors.RestError("0", "Field 'NAME' is required", 400)
        changes["name"] = str(fields["name"]).strip()
    if _int(fields.get("sort")) is not None:
        changes["sort"] = _int(fields.get("sort"))
    if int(category["id"]) == 0:
        raise errors.RestError(
            "ACCESS_DENIED", "Access denied", 403
        )  # the default pipeline stays as it is here
    funnels(call).update(int(category["id"]), changes)
    return {"category": funnels(call).category(int(category["id"]))}


@method("crm.category.delete", scope=_SCOPE)
def category_delete(call: Call) -> None:
    category = _category(call)
    if int(category["id"]) == 0:
        raise errors.RestError("ACCESS_DENIED", "Access denied", 403)
    deals = call.portal.crm.entities["deal"]
    if any(str(deals.rows[i].get("CATEGORY_ID")) == str(category["id"]) for i in deals.ids):
        raise errors.RestError("CATEGORY_NOT_EMPTY", "The pipeline has deals", 400)
    funnels(call).delete(int(category["id"]))
