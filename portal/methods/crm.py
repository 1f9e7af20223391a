"""REST methods: crm (legacy ``crm.{contact,company,lead,deal}.*``, ``crm.item.*``, duplicates).

Both method families read and write the same records (:mod:`portal.crm`): the legacy ones
show them as stored (UPPER_CASE, strings), ``crm.item.*`` through a camelCase, typed view.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from portal import errors
from portal.context import Call, Paged
from portal.crm import INT_TYPES, SCHEMAS, Entity, FieldDef, digits, to_legacy
from portal.lists import Condition, indexed_page, split_key
from portal.registry import method

_SCOPE = "crm"
# Filter values of these types are normalised like stored values ("2024-01-01" becomes the
# stored ISO form, true becomes "Y"), so that comparisons see the same spelling.
_NORMALISED_TYPES = frozenset({"date", "datetime", "char"})
_LIKE_OPS = frozenset({"%", "!%", "=%", "%=", "!=%", "!%="})


def _emit(call: Call, name: str, record_id: int) -> None:
    """Raise a CRM event (e.g. ONCRMCONTACTADD) for bound handlers and outgoing webhooks."""
    call.portal.events.emit(name, {"FIELDS": {"ID": record_id}}, user_id=call.user_id)


def _event(entity: Entity, action: str) -> str:
    return f"ONCRM{entity.name.upper()}{action}"


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, dict):
        return list(value.values())
    return value if isinstance(value, list) else [value]


def _order(raw: Any, resolve: Callable[[str], str | None]) -> dict[str, str]:
    if not isinstance(raw, dict):
        return {}
    order = {}
    for key, direction in raw.items():
        name = resolve(str(key))
        if name is not None:
            order[name] = "DESC" if str(direction).upper() == "DESC" else "ASC"
    return order


def _condition(entity: Entity, name: str, op: str, value: Any) -> Condition:
    field = entity.fields.get(name)
    if field is not None and field.type in _NORMALISED_TYPES and op not in _LIKE_OPS:
        single = FieldDef(field.name, field.type, field.title)
        if isinstance(value, list | dict):
            value = [to_legacy(single, v) for v in _as_list(value)]
        else:
            value = to_legacy(single, value)
    return Condition(name, op, value, name in entity.numeric)


# --- legacy methods ---------------------------------------------------------------------------


def _legacy_id(call: Call) -> int:
    raw = call.param("id")
    try:
        record_id = int(str(raw).strip())
    except ValueError:
        record_id = 0
    if raw is None or isinstance(raw, bool) or record_id <= 0:
        raise errors.legacy("ID is not defined or invalid.")
    return record_id


def _legacy_fields(call: Call) -> dict[str, Any]:
    fields = call.param("fields")
    if not isinstance(fields, dict):
        raise errors.legacy("Parameter 'fields' must be array.")
    return fields


def _legacy_filter(entity: Entity, raw: Any) -> list[Condition]:
    conditions = []
    for key, value in raw.items() if isinstance(raw, dict) else ():
        op, name = split_key(str(key))
        name = name.upper()
        # The legacy query builder skips fields it does not know.
        if name in entity.fields or name.startswith("UF_"):
            conditions.append(_condition(entity, name, op, value))
    return conditions


def _register_legacy(entity_name: str, store_of: Callable[[Call], Entity]) -> None:
    prefix = f"crm.{entity_name}"

    @method(f"{prefix}.fields", scope=_SCOPE)
    def fields(call: Call) -> dict[str, Any]:
        return {f.name: f.describe() for f in store_of(call).schema}

    @method(f"{prefix}.add", scope=_SCOPE)
    def add(call: Call) -> int:
        entity = store_of(call)
        values = _legacy_fields(call)
        if entity.name == "company" and not str(_upper_keys(values).get("TITLE") or "").strip():
            raise errors.legacy('The "Company name" field is required.')
        record_id = entity.add(values, user_id=call.user_id, now=call.portal.clock.time())
        _emit(call, _event(entity, "ADD"), record_id)
        return record_id

    @method(f"{prefix}.get", scope=_SCOPE)
    def get(call: Call) -> dict[str, Any]:
        entity = store_of(call)
        row = entity.get(_legacy_id(call))
        if row is None:
            raise errors.legacy("Not found")
        return entity.full(row)

    @method(f"{prefix}.update", scope=_SCOPE)
    def update(call: Call) -> bool:
        entity = store_of(call)
        record_id = _legacy_id(call)
        if entity.get(record_id) is None:
            raise errors.legacy("Not found")
        entity.update(record_id, _legacy_fields(call), user_id=call.user_id, now=call.portal.clock.time())
        _emit(call, _event(entity, "UPDATE"), record_id)
        return True

    @method(f"{prefix}.delete", scope=_SCOPE)
    def delete(call: Call) -> bool:
        entity = store_of(call)
        record_id = _legacy_id(call)
        if not entity.remove(record_id):
            raise errors.core("Element not found")
        _emit(call, _event(entity, "DELETE"), record_id)
        return True

    @method(f"{prefix}.list", scope=_SCOPE)
    def list_(call: Call) -> Paged:
        entity = store_of(call)
        select = [str(s) for s in _as_list(call.param("select"))]
        order = _order(call.param("order"), lambda k: k.upper() if k.upper() in entity.fields else None)
        return indexed_page(
            call,
            entity.ids,
            entity.rows,
            _legacy_filter(entity, call.param("filter")),
            order,
            id_field="ID",
            numeric=entity.numeric,
            shape=lambda row: entity.select(row, select),
        )


def _upper_keys(values: dict[str, Any]) -> dict[str, Any]:
    return {str(k).upper(): v for k, v in values.items()}


def _entity_getter(name: str) -> Callable[[Call], Entity]:
    return lambda call: call.portal.crm.entities[name]


for _name in ("contact", "company", "lead", "deal"):
    _register_legacy(_name, _entity_getter(_name))


# --- crm.item.* (camelCase, typed) ------------------------------------------------------------

_CAMEL_OVERRIDES = {
    "DATE_CREATE": "createdTime",
    "DATE_MODIFY": "updatedTime",
    "CREATED_BY_ID": "createdBy",
    "MODIFY_BY_ID": "updatedBy",
    "COMPANY_TYPE": "typeId",
}
_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")


def camel(name: str) -> str:
    """UPPER_SNAKE to camelCase as Bitrix24 spells it: UF_CRM_1621 becomes ufCrm_1621."""
    if name in _CAMEL_OVERRIDES:
        return _CAMEL_OVERRIDES[name]
    head, *parts = name.lower().split("_")
    return head + "".join("_" + p if p[:1].isdigit() else p.capitalize() for p in parts)


@cache
def _stored_names(entity_name: str) -> dict[str, str]:
    """camelCase name -> stored UPPER_CASE name, for an entity's schema fields."""
    return {camel(f.name): f.name for f in SCHEMAS[entity_name] if f.type != "crm_multifield"}


def _item_field(entity: Entity, key: str) -> str | None:
    """The stored (UPPER_CASE) name of a crm.item field name, or None if there is none."""
    if key in _stored_names(entity.name):
        return _stored_names(entity.name)[key]
    if key.startswith("uf") and not key.startswith("UF_"):
        return _CAMEL_BOUNDARY.sub("_", key).upper()
    return None


def _typed(field: FieldDef, value: Any) -> Any:
    if field.multiple:
        return [int(v) for v in value or ()]
    if value is None:
        return None
    if field.type in INT_TYPES:
        return int(value)
    if field.type == "double":
        return float(value)
    if field.type == "char":
        return value == "Y"
    return value


def _item(entity: Entity, row: dict[str, Any], select: list[str] | None = None) -> dict[str, Any]:
    """A stored record as crm.item shows it; ``fm`` comes only with ``*``."""
    everything = select is None or "*" in select
    wanted = {_item_field(entity, s) for s in select or ()}
    out: dict[str, Any] = {"id": int(row["ID"])}
    for field in entity.schema:
        if field.type != "crm_multifield" and (everything or field.name in wanted):
            out[camel(field.name)] = _typed(field, row.get(field.name))
    for key, value in row.items():
        if key.startswith("UF_") and (everything or key in wanted):
            out[camel(key)] = value
    if everything and entity.multi:
        out["fm"] = [
            {"id": int(e["ID"]), "valueType": e["VALUE_TYPE"], "value": e["VALUE"], "typeId": e["TYPE_ID"]}
            for name in entity.multi
            for e in row.get(name) or ()
        ]
    return out


def _item_fields(entity: Entity, raw: Any) -> dict[str, Any]:
    """crm.item fields as legacy fields; ``fm`` entries go to their PHONE/EMAIL/... lists."""
    if not isinstance(raw, dict):
        raise errors.argument_null("fields")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "fm":
            for entry in _as_list(value):
                if isinstance(entry, dict) and str(entry.get("typeId", "")).upper() in entity.multi:
                    out.setdefault(str(entry["typeId"]).upper(), []).append(
                        {
                            "ID": entry.get("id"),
                            "VALUE_TYPE": entry.get("valueType"),
                            "VALUE": entry.get("value"),
                        }
                    )
            continue
        name = _item_field(entity, str(key)) or (str(key) if str(key) in entity.fields else None)
        if name is not None:
            out[name] = value
    return out


def _item_entity(call: Call) -> Entity:
    raw = call.param("entityTypeId")
    if raw is None or raw == "":
        raise errors.RestError("100", "Could not find value for parameter {entityTypeId}", 400)
    try:
        entity = call.portal.crm.by_type_id.get(int(str(raw)))
    except ValueError:
        entity = None
    if entity is None:
        raise errors.RestError("NOT_FOUND", "SPA not found", 400)
    return entity


def _item_row(call: Call, entity: Entity) -> tuple[int, dict[str, Any]]:
    try:
        record_id = int(str(call.param("id")))
    except ValueError:
        record_id = 0
    row = entity.get(record_id)
    if row is None:
        raise errors.RestError("NOT_FOUND", "Item not found", 400)
    return record_id, row


def _item_filter(entity: Entity, raw: Any) -> list[Condition]:
    conditions = []
    for key, value in raw.items() if isinstance(raw, dict) else ():
        op, name = split_key(str(key))
        stored = _item_field(entity, name)
        if stored is None:
            raise errors.RestError(
                "INVALID_ARG_VALUE", f"Invalid filter: field '{name}' is not allowed in filter"
            )
        conditions.append(_condition(entity, stored, op, value))
    return conditions


@method("crm.item.add", scope=_SCOPE)
def item_add(call: Call) -> dict[str, Any]:
    entity = _item_entity(call)
    fields = _item_fields(entity, call.param("fields"))
    record_id = entity.add(fields, user_id=call.user_id, now=call.portal.clock.time())
    _emit(call, _event(entity, "ADD"), record_id)
    return {"item": _item(entity, entity.rows[record_id])}


@method("crm.item.get", scope=_SCOPE)
def item_get(call: Call) -> dict[str, Any]:
    entity = _item_entity(call)
    _, row = _item_row(call, entity)
    return {"item": _item(entity, row)}


@method("crm.item.update", scope=_SCOPE)
def item_update(call: Call) -> dict[str, Any]:
    entity = _item_entity(call)
    record_id, _ = _item_row(call, entity)
    fields = _item_fields(entity, call.param("fields"))
    entity.update(record_id, fields, user_id=call.user_id, now=call.portal.clock.time())
    _emit(call, _event(entity, "UPDATE"), record_id)
    return {"item": _item(entity, entity.rows[record_id])}


@method("crm.item.delete", scope=_SCOPE)
def item_delete(call: Call) -> dict[str, Any]:
    entity = _item_entity(call)
    record_id, _ = _item_row(call, entity)
    entity.remove(record_id)
    _emit(call, _event(entity, "DELETE"), record_id)
    return {}  # PHP's empty array: the answer is "result": []


@method("crm.item.list", scope=_SCOPE)
def item_list(call: Call) -> Paged:
    entity = _item_entity(call)
    select = [str(s) for s in _as_list(call.param("select"))] or ["*"]
    conditions = _item_filter(entity, call.param("filter"))
    order = _order(call.param("order"), lambda k: _item_field(entity, k))
    return indexed_page(
        call,
        entity.ids,
        entity.rows,
        conditions,
        order,
        id_field="ID",
        numeric=entity.numeric,
        shape=lambda row: _item(entity, row, select),
        wrap=lambda items: {"items": items},
    )


# --- duplicates -------------------------------------------------------------------------------

_DUPLICATE_TYPES = ("LEAD", "CONTACT", "COMPANY")
MAX_DUPLICATE_VALUES = 20


@method("crm.duplicate.findbycomm", scope=_SCOPE)
def duplicate_findbycomm(call: Call) -> dict[str, list[int]]:
    comm_type = str(call.param("type") or "").upper()
    if comm_type not in {"EMAIL", "PHONE"}:
        if not comm_type:
            raise errors.legacy("Communication type is not defined.")
        raise errors.legacy(f"Communication type '{comm_type}' is not supported in current context.")
    values = [str(v) for v in _as_list(call.param("values")) if str(v).strip()]
    if not values:
        raise errors.legacy("Communication values is not defined.")
    if len(values) > MAX_DUPLICATE_VALUES:
        raise errors.legacy(f"Too many communication values. Maximum is {MAX_DUPLICATE_VALUES}.")
    wanted_type = str(call.param("entity_type") or "").upper()
    if wanted_type and wanted_type not in _DUPLICATE_TYPES:
        raise errors.legacy(f"Entity type '{wanted_type}' is not supported in current context.")
    norm = digits if comm_type == "PHONE" else str.lower
    wanted = {n for n in (norm(v.strip()) for v in values) if n}
    found: dict[str, list[int]] = {}
    for type_name in (wanted_type,) if wanted_type else _DUPLICATE_TYPES:
        ids = call.portal.crm.entities[type_name.lower()].has_communication(comm_type, wanted)
        if ids:
            found[type_name] = ids
    return found  # nothing found is PHP's empty array: "result": []
