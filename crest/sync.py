"""Synchronisation of sheet rows with CRM records: which rows update a record, which add one.

Bitrix24's "synchronize counterparties" scenario: a sheet row matches a record by a key
(``EMAIL``, ``PHONE``, ``ORIGIN_ID`` or ``ID``); a row that matches exactly one record
updates it, a row that matches none is added, and a row that matches several (or repeats
the key of an earlier row of the file) is a *conflict*: not written, reported.

Planning only reads: e-mail and phone go through ``crm.duplicate.findbycomm`` (20 values a
command, 50 commands a batch; phones compared by digits, e-mails without case), then the
records it found are read and each row is matched against their values; ``ID`` and
``ORIGIN_ID`` go through the list method with an ``@`` (IN) filter. Records to be updated are
read once for their multi-fields, so an update adds only the phones and e-mails they do not
have yet (an entry without ``ID`` is always *added* by Bitrix24).
Empty cells leave a field as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crest.errors import CrestError, SheetError, is_systemic
from crest.spreadsheet import MULTI_FIELDS

if TYPE_CHECKING:
    from crest.client import Client

__all__ = ["MATCH_KEYS", "PlannedRow", "plan_sync", "update_fields"]

MATCH_KEYS = ("EMAIL", "PHONE", "ORIGIN_ID", "ID")
#: Entities crm.duplicate.findbycomm knows (it has no deals).
_BY_COMMUNICATION = {"contact": "CONTACT", "company": "COMPANY", "lead": "LEAD"}
_IN_CHUNK = 25  # key values per list command: room for a few duplicates within one page of 50
_MAX_VALUES = 20  # findbycomm's own limit of values per call


@dataclass(frozen=True)
class PlannedRow:
    action: str  # add | update | conflict
    record_id: int | None = None
    reason: str = ""
    current: Mapping[str, Any] | None = None  # the record's multi-fields, for an update


def _norm(kind: str, value: str) -> str:
    if kind == "PHONE":
        return "".join(ch for ch in value if ch.isdigit())
    return value.strip().lower() if kind == "EMAIL" else value.strip()


def _keys(fields: Mapping[str, Any], match: str) -> list[str]:
    if match in MULTI_FIELDS:
        return [str(e["VALUE"]) for e in fields.get(match, []) if _norm(match, str(e["VALUE"]))]
    value = str(fields.get(match) or "").strip()
    return [value] if value else []


def _ids(result: Any, entity_type: str) -> list[int]:
    if isinstance(result, Mapping):
        return sorted({int(i) for i in result.get(entity_type, []) or []})
    return []  # PHP's empty array: nothing found


def _raise_systemic(results: Sequence[Any]) -> None:

    for item in results:
        if isinstance(item, CrestError) and is_systemic(item):
            raise item


def _by_communication(
    client: Client, entity: str, match: str, keyed: dict[int, list[str]], parallel: int
) -> tuple[dict[int, list[int] | CrestError], dict[int, Mapping[str, Any]]]:
    """Rows' matches by e-mail or phone, and the matched records (with their multi-fields).

    ``findbycomm`` takes 20 values a call but answers only *which* records hold any of them,
    so the records found are read (50 to a list command) and each row is matched locally
    against their values, with the same normalisation. 20 rows a command, 1,000 a request.
    """
    from crest.bulk import call_many

    entity_type = _BY_COMMUNICATION[entity]
    spelled: dict[str, str] = {}
    for values in keyed.values():
        for value in values:
            spelled.setdefault(_norm(match, value), value)
    distinct = sorted(spelled)
    chunks = [distinct[s : s + _MAX_VALUES] for s in range(0, len(distinct), _MAX_VALUES)]
    params = [{"type": match, "values": [spelled[v] for v in c], "entity_type": entity_type} for c in chunks]
    results = call_many(client, "crm.duplicate.findbycomm", params, parallel=parallel)
    _raise_systemic(results)
    failed: dict[str, CrestError] = {}
    ids: set[int] = set()
    for chunk, result in zip(chunks, results, strict=True):
        if isinstance(result, CrestError):
            failed.update(dict.fromkeys(chunk, result))
        else:
            ids.update(_ids(result, entity_type))
    records = _current(client, entity, sorted(ids), parallel) if ids else {}
    holders: dict[str, set[int]] = {}
    for rid, record in records.items():
        for entry in record.get(match) or []:
            holders.setdefault(_norm(match, str(entry.get("VALUE") or "")), set()).add(rid)
    out: dict[int, list[int] | CrestError] = {}
    for i, values in keyed.items():
        norms = [_norm(match, v) for v in values]
        error = next((failed[n] for n in norms if n in failed), None)
        out[i] = error if error is not None else sorted(set().union(*(holders.get(n, set()) for n in norms)))
    return out, records


def _by_field(
    client: Client, entity: str, field: str, keyed: dict[int, list[str]], parallel: int
) -> dict[int, list[int] | CrestError]:
    from crest.bulk import call_many

    values = sorted({v for vs in keyed.values() for v in vs})
    chunks = [values[s : s + _IN_CHUNK] for s in range(0, len(values), _IN_CHUNK)]
    params = [{"filter": {f"@{field}": chunk}, "select": ["ID", field], "start": -1} for chunk in chunks]
    results = call_many(client, f"crm.{entity}.list", params, parallel=parallel)
    _raise_systemic(results)
    owners: dict[str, list[int]] = {}
    failed: dict[str, CrestError] = {}
    for chunk, result in zip(chunks, results, strict=True):
        if isinstance(result, CrestError):
            failed.update(dict.fromkeys(chunk, result))
            continue
        rows = list(result.values()) if isinstance(result, Mapping) else list(result or [])
        if len(rows) >= 50:
            # A full page may hide more: these values are shared by many records anyway.
            for value in chunk:
                failed[value] = SheetError(f"{field} {value!r} is shared by too many records to match safely")
            continue
        for row in rows:
            owners.setdefault(str(row.get(field) or "").strip(), []).append(int(row["ID"]))
    out: dict[int, list[int] | CrestError] = {}
    for i, vs in keyed.items():
        value = vs[0]
        out[i] = failed[value] if value in failed else sorted(set(owners.get(value, [])))
    return out


def _current(client: Client, entity: str, ids: list[int], parallel: int) -> dict[int, Mapping[str, Any]]:
    """The multi-fields of the records to update, 50 IDs to a list command."""
    from crest.bulk import call_many

    chunks = [ids[s : s + 50] for s in range(0, len(ids), 50)]
    params = [{"filter": {"@ID": c}, "select": ["ID", *MULTI_FIELDS], "start": -1} for c in chunks]
    results = call_many(client, f"crm.{entity}.list", params, parallel=parallel)
    _raise_systemic(results)
    out: dict[int, Mapping[str, Any]] = {}
    for result in results:
        if isinstance(result, CrestError):
            raise result  # no update goes out blind: it would duplicate phones and e-mails
        for row in list(result.values()) if isinstance(result, Mapping) else list(result or []):
            out[int(row["ID"])] = row
    return out


def check_match(entity: str, match: str) -> None:
    """Refuse, before anything is read or written, a key this entity cannot be matched by."""
    if match not in MATCH_KEYS:
        raise SheetError(f"--match must be one of {', '.join(MATCH_KEYS)}")
    if match in MULTI_FIELDS and entity not in _BY_COMMUNICATION:
        raise SheetError(
            f"{entity} records cannot be matched by {match} (crm.duplicate.findbycomm has no"
            f" {entity}s); use ID or ORIGIN_ID"
        )


def plan_sync(
    client: Client,
    entity: str,
    rows: Mapping[int, Mapping[str, Any]],
    match: str,
    *,
    parallel: int = 6,
    lines: Mapping[int, int] | None = None,
    done: Mapping[int, Mapping[str, Any]] | None = None,
) -> dict[int, PlannedRow]:
    """For each row (its ``fields``), whether it adds, updates which record, or conflicts.

    ``lines`` gives each row's line in the file, for the reasons of conflicts; ``done`` the
    fields of rows an earlier run wrote (not looked up again, but their keys are taken).
    """
    lines = lines or {}
    match = match.upper()
    check_match(entity, match)
    keyed = {i: _keys(f, match) for i, f in rows.items()}
    keyed = {i: k for i, k in keyed.items() if k}
    records: dict[int, Mapping[str, Any]] | None = None
    found: dict[int, list[int] | CrestError] = {}
    if keyed and match in MULTI_FIELDS:
        found, records = _by_communication(client, entity, match, keyed, parallel)
    elif keyed:
        found = _by_field(client, entity, match, keyed, parallel)
    plan: dict[int, PlannedRow] = {}
    claimed: dict[Any, int] = {}  # a record or key value -> the first row that took it
    # Rows done by an earlier run still own their keys, so a re-run plans what the first did.
    for i, f in sorted((done or {}).items()):
        for k in _keys(f, match):
            claimed.setdefault(("key", _norm(match, k)), i)
    for i in sorted(rows):
        keys = keyed.get(i, [])
        hit = found.get(i, [])
        if isinstance(hit, CrestError):
            plan[i] = PlannedRow("conflict", reason=f"lookup failed: {hit}")
            continue
        if len(hit) > 1:
            listed = ", ".join(str(x) for x in hit[:10])
            plan[i] = PlannedRow("conflict", reason=f"{match} matches {len(hit)} {entity}s: {listed}")
            continue
        marks: list[Any] = [("key", _norm(match, k)) for k in keys] + ([("record", hit[0])] if hit else [])
        earlier = min((claimed[m] for m in marks if m in claimed), default=None)
        if earlier is not None:
            plan[i] = PlannedRow(
                "conflict", reason=f"same {match} as line {lines.get(earlier, earlier)} of this file"
            )
            continue
        for mark in marks:
            claimed[mark] = i
        plan[i] = PlannedRow("update", hit[0]) if hit else PlannedRow("add")
    updates = sorted({p.record_id for p in plan.values() if p.action == "update" and p.record_id is not None})
    if records is not None:
        current: Mapping[int, Mapping[str, Any]] = records  # read already, to match locally
    else:
        current = _current(client, entity, updates, parallel) if updates else {}
    return {
        i: PlannedRow(p.action, p.record_id, p.reason, current.get(p.record_id or 0, {}))
        if p.action == "update"
        else p
        for i, p in plan.items()
    }


def update_fields(fields: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` for ``crm.*.update``: multi-field values the record already has are left out."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key in MULTI_FIELDS and isinstance(value, list):
            have = {_norm(key, str(e.get("VALUE") or "")) for e in current.get(key, []) or []}
            new = [e for e in value if _norm(key, str(e["VALUE"])) not in have]
            if new:
                out[key] = new
        elif key != "ID":
            out[key] = value
    return out
