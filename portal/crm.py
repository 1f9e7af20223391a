"""CRM records of the portal (contacts, companies, leads, deals), tasks and notifications.

Records are stored as the legacy ``crm.*`` methods show them: UPPER_CASE keys and string
values (``None`` where a field was never set), multi-fields (PHONE, EMAIL, WEB, IM) as lists
of ``{ID, VALUE_TYPE, VALUE, TYPE_ID}``. ``crm.item.*`` reads the same records through a
camelCase, typed view (:mod:`portal.methods.crm`).

Ids only increase (a deleted id is never reused), so each kind keeps its ids in a sorted
list that :func:`portal.lists.indexed_page` can bisect.
"""

from __future__ import annotations

import datetime as dt
import gc
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from portal.persist import Persistence, Table

if TYPE_CHECKING:
    from portal.core import Portal

MULTI_FIELDS = ("PHONE", "EMAIL", "WEB", "IM")
#: Field types whose values are ids or numbers (compared as numbers, typed as int in crm.item).
INT_TYPES = frozenset({"integer", "user", "crm_company", "crm_contact", "crm_lead", "crm_category"})
NUMERIC_TYPES = INT_TYPES | {"double"}


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    title: str
    required: bool = False
    readonly: bool = False
    immutable: bool = False
    multiple: bool = False

    def describe(self) -> dict[str, Any]:
        """The ``crm.*.fields`` entry."""
        return {
            "type": self.type,
            "isRequired": self.required,
            "isReadOnly": self.readonly,
            "isImmutable": self.immutable,
            "isMultiple": self.multiple,
            "isDynamic": False,
            "title": self.title,
        }


def _f(name: str, type_: str, title: str, flags: str = "") -> FieldDef:
    """A field; ``flags`` letters: r(equired), o (read-only), i(mmutable), m(ultiple)."""
    return FieldDef(name, type_, title, "r" in flags, "o" in flags, "i" in flags, "m" in flags)


_COMMON_HEAD = [_f("ID", "integer", "ID", "o")]
_COMMON_TAIL = [
    _f("COMMENTS", "string", "Comment"),
    _f("OPENED", "char", "Available to everyone"),
    _f("ASSIGNED_BY_ID", "user", "Responsible person"),
    _f("CREATED_BY_ID", "user", "Created by", "o"),
    _f("MODIFY_BY_ID", "user", "Modified by", "o"),
    _f("DATE_CREATE", "datetime", "Created on", "o"),
    _f("DATE_MODIFY", "datetime", "Modified on", "o"),
    _f("ORIGINATOR_ID", "string", "External source"),
    _f("ORIGIN_ID", "string", "Item ID in data source"),
]
_PERSON = [
    _f("HONORIFIC", "crm_status", "Salutation"),
    _f("NAME", "string", "First name"),
    _f("SECOND_NAME", "string", "Second name"),
    _f("LAST_NAME", "string", "Last name"),
]
_COMMS = [
    _f("HAS_PHONE", "char", "Has phone", "o"),
    _f("HAS_EMAIL", "char", "Has email", "o"),
    _f("PHONE", "crm_multifield", "Phone", "m"),
    _f("EMAIL", "crm_multifield", "E-mail", "m"),
    _f("WEB", "crm_multifield", "Website", "m"),
    _f("IM", "crm_multifield", "Messenger", "m"),
]

SCHEMAS: dict[str, list[FieldDef]] = {
    "contact": [
        *_COMMON_HEAD,
        *_PERSON,
        _f("BIRTHDATE", "date", "Date of birth"),
        _f("TYPE_ID", "crm_status", "Contact type"),
        _f("SOURCE_ID", "crm_status", "Source"),
        _f("SOURCE_DESCRIPTION", "string", "Source information"),
        _f("POST", "string", "Position"),
        _f("EXPORT", "char", "Included in export"),
        _f("COMPANY_ID", "crm_company", "Company"),
        _f("COMPANY_IDS", "crm_company", "Companies", "m"),
        _f("LEAD_ID", "crm_lead", "Lead", "o"),
        *_COMMON_TAIL,
        *_COMMS,
    ],
    "company": [
        *_COMMON_HEAD,
        _f("TITLE", "string", "Company name", "r"),
        _f("COMPANY_TYPE", "crm_status", "Company type"),
        _f("INDUSTRY", "crm_status", "Industry"),
        _f("EMPLOYEES", "crm_status", "Employees"),
        _f("CURRENCY_ID", "crm_currency", "Currency"),
        _f("REVENUE", "double", "Annual revenue"),
        _f("LEAD_ID", "crm_lead", "Lead", "o"),
        *_COMMON_TAIL,
        *_COMMS,
    ],
    "lead": [
        *_COMMON_HEAD,
        _f("TITLE", "string", "Lead name"),
        *_PERSON,
        _f("BIRTHDATE", "date", "Date of birth"),
        _f("COMPANY_TITLE", "string", "Company name"),
        _f("COMPANY_ID", "crm_company", "Company"),
        _f("CONTACT_ID", "crm_contact", "Contact"),
        _f("STATUS_ID", "crm_status", "Stage"),
        _f("SOURCE_ID", "crm_status", "Source"),
        _f("POST", "string", "Position"),
        _f("CURRENCY_ID", "crm_currency", "Currency"),
        _f("OPPORTUNITY", "double", "Amount"),
        _f("IS_MANUAL_OPPORTUNITY", "char", "Manual amount"),
        *_COMMON_TAIL,
        *_COMMS,
    ],
    "deal": [
        *_COMMON_HEAD,
        _f("TITLE", "string", "Name"),
        _f("TYPE_ID", "crm_status", "Type"),
        _f("CATEGORY_ID", "crm_category", "Pipeline", "i"),
        _f("STAGE_ID", "crm_status", "Deal stage"),
        _f("CURRENCY_ID", "crm_currency", "Currency"),
        _f("OPPORTUNITY", "double", "Amount"),
        _f("IS_MANUAL_OPPORTUNITY", "char", "Manual amount"),
        _f("PROBABILITY", "integer", "Probability"),
        _f("COMPANY_ID", "crm_company", "Company"),
        _f("CONTACT_ID", "crm_contact", "Contact"),
        _f("CONTACT_IDS", "crm_contact", "Contacts", "m"),
        _f("BEGINDATE", "date", "Start date"),
        _f("CLOSEDATE", "date", "End date"),
        _f("CLOSED", "char", "Closed"),
        _f("LEAD_ID", "crm_lead", "Lead", "o"),
        *_COMMON_TAIL,
    ],
}

#: Values a new record gets when ``add`` does not set them.
DEFAULTS: dict[str, dict[str, str]] = {
    "contact": {"OPENED": "Y", "EXPORT": "Y", "TYPE_ID": "CLIENT", "SOURCE_ID": "SELF"},
    "company": {"OPENED": "Y", "COMPANY_TYPE": "CUSTOMER", "CURRENCY_ID": "USD", "REVENUE": "0.00"},
    "lead": {
        "OPENED": "Y",
        "STATUS_ID": "NEW",
        "SOURCE_ID": "SELF",
        "CURRENCY_ID": "USD",
        "OPPORTUNITY": "0.00",
        "IS_MANUAL_OPPORTUNITY": "N",
    },
    "deal": {
        "OPENED": "Y",
        "TYPE_ID": "SALE",
        "CATEGORY_ID": "0",
        "STAGE_ID": "NEW",
        "CURRENCY_ID": "USD",
        "OPPORTUNITY": "0.00",
        "IS_MANUAL_OPPORTUNITY": "N",
        "CLOSED": "N",
    },
}

ENTITY_TYPE_IDS = {"lead": 1, "deal": 2, "contact": 3, "company": 4}

_TRUE = {"y", "1", "true", "on"}


def iso_datetime(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def _to_date(value: Any, *, date_only: bool) -> str | None:
    """ISO with offset, as the portal answers; naive input is taken as portal time (UTC)."""
    text = str(value).strip()
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)  # also takes a bare date or a space separator
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    if date_only:
        moment = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.isoformat(timespec="seconds")


def to_legacy(field: FieldDef, value: Any) -> Any:
    """A field value as a legacy record stores it (strings, ``None`` for empty)."""
    if field.multiple and field.type != "crm_multifield":
        items = (
            value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
        )
        return [s for s in (to_legacy(FieldDef(field.name, field.type, field.title), v) for v in items) if s]
    if value is None or (isinstance(value, str) and not value.strip() and field.type != "string"):
        return None
    if field.type in INT_TYPES:
        try:
            return str(int(str(value).strip()))
        except ValueError:
            return None
    if field.type == "double":
        try:
            return f"{float(str(value).strip()):.2f}"
        except ValueError:
            return None
    if field.type == "char":
        if isinstance(value, bool):
            return "Y" if value else "N"
        return "Y" if str(value).strip().lower() in _TRUE else "N"
    if field.type in {"date", "datetime"}:
        return _to_date(value, date_only=field.type == "date")
    if isinstance(value, (dict, list)):
        return None
    return str(value)


def digits(phone: str) -> str:
    """A phone number without its formatting (duplicates match on digits only)."""
    return "".join(ch for ch in phone if ch.isdigit())


class Records:
    """One kind of record: a :class:`Table` plus the ascending id list and the id sequence."""

    def __init__(self, persist: Persistence, kind: str, seq: Table[str]) -> None:
        self.kind = kind
        self.table: Table[int] = Table(persist, kind, int)
        self.ids: list[int] = sorted(self.table)
        self._seq = seq

    @property
    def rows(self) -> dict[int, dict[str, Any]]:
        return self.table.rows

    def get(self, record_id: int) -> dict[str, Any] | None:
        row = self.table.get(record_id)
        return row if isinstance(row, dict) else None

    def next_id(self) -> int:
        last = max(int(self._seq.get(self.kind) or 0), self.ids[-1] if self.ids else 0)
        self._seq.put(self.kind, last + 1)
        return last + 1

    def reserve(self, count: int) -> range:
        """``count`` fresh ids at once (seeding)."""
        first = max(int(self._seq.get(self.kind) or 0), self.ids[-1] if self.ids else 0) + 1
        self._seq.put(self.kind, first + count - 1)
        return range(first, first + count)

    def insert(self, record_id: int, row: dict[str, Any]) -> None:
        self.table.put(record_id, row)
        self.ids.append(record_id)  # fresh ids are the largest, so the list stays sorted

    def insert_many(self, items: list[tuple[int, dict[str, Any]]]) -> None:
        self.table.put_many(items)
        self.ids.extend(i for i, _ in items)

    def replace(self, record_id: int, row: dict[str, Any]) -> None:
        self.table.put(record_id, row)

    def remove(self, record_id: int) -> bool:
        if self.table.delete(record_id) is None:
            return False
        pos = bisect_left(self.ids, record_id)
        if pos < len(self.ids) and self.ids[pos] == record_id:
            del self.ids[pos]
        return True

    def __len__(self) -> int:
        return len(self.ids)


class Entity(Records):
    """Contacts, companies, leads or deals: legacy-shaped records with multi-fields."""

    def __init__(self, store: CrmStore, name: str) -> None:
        super().__init__(store.portal.persist, f"crm_{name}", store.seq)
        self.store = store
        self.name = name
        self.type_id = ENTITY_TYPE_IDS[name]
        self.schema = SCHEMAS[name]
        self.fields = {f.name: f for f in self.schema}
        self.multi = tuple(n for n in MULTI_FIELDS if n in self.fields)
        self.numeric = frozenset(f.name for f in self.schema if f.type in NUMERIC_TYPES)

    # --- writing ----------------------------------------------------------------------------

    def new_record(self, fields: dict[str, Any], *, user_id: int, now: float) -> dict[str, Any]:
        """A complete record from ``add`` fields; unknown fields are ignored, UF_* kept."""
        stamp = iso_datetime(now)
        row: dict[str, Any] = {f.name: None for f in self.schema if f.type != "crm_multifield"}
        row.update(DEFAULTS[self.name])
        row.update(
            ASSIGNED_BY_ID=str(user_id),
            CREATED_BY_ID=str(user_id),
            MODIFY_BY_ID=str(user_id),
            DATE_CREATE=stamp,
            DATE_MODIFY=stamp,
        )
        self._apply(row, fields, creating=True)
        return row

    def add(self, fields: dict[str, Any], *, user_id: int, now: float) -> int:
        row = self.new_record(fields, user_id=user_id, now=now)
        record_id = self.next_id()
        row["ID"] = str(record_id)
        self.insert(record_id, row)
        return record_id

    def update(self, record_id: int, fields: dict[str, Any], *, user_id: int, now: float) -> bool:
        current = self.get(record_id)
        if current is None:
            return False
        row = {k: (list(v) if isinstance(v, list) else v) for k, v in current.items()}
        self._apply(row, fields, creating=False)
        row["MODIFY_BY_ID"] = str(user_id)
        row["DATE_MODIFY"] = iso_datetime(now)
        self.replace(record_id, row)
        return True

    def _apply(self, row: dict[str, Any], fields: dict[str, Any], *, creating: bool) -> None:
        for raw_key, value in fields.items():
            key = str(raw_key).upper()
            if key.startswith("UF_"):
                row[key] = value if isinstance(value, list) else None if value is None else str(value)
                continue
            field = self.fields.get(key)
            if field is None or field.readonly or (field.immutable and not creating):
                continue
            if field.type == "crm_multifield":
                row[key] = self._merge_multi(key, row.get(key) or [], value)
            else:
                row[key] = to_legacy(field, value)
        if "HAS_PHONE" in self.fields:
            row["HAS_PHONE"] = "Y" if row.get("PHONE") else "N"
            row["HAS_EMAIL"] = "Y" if row.get("EMAIL") else "N"
        for name in self.multi:
            if not row.get(name):
                row.pop(name, None)  # multi-fields are present only when set

    def _merge_multi(self, type_id: str, current: list[dict[str, str]], changes: Any) -> list[dict[str, str]]:
        """Multi-field edits: with ID updates, ID + DELETE=Y or an empty VALUE deletes, no ID adds."""
        items = list(changes.values()) if isinstance(changes, dict) else changes
        if not isinstance(items, list):
            return current
        result = [dict(item) for item in current]
        for raw in items:
            if not isinstance(raw, dict):
                continue
            change = {str(k).upper(): v for k, v in raw.items()}
            value = "" if change.get("VALUE") is None else str(change["VALUE"]).strip()
            value_type = str(change.get("VALUE_TYPE") or "WORK").upper()
            existing = next((r for r in result if change.get("ID") and r["ID"] == str(change["ID"])), None)
            if existing is not None:
                if str(change.get("DELETE", "")).upper() == "Y" or not value:
                    result.remove(existing)
                else:
                    existing.update(VALUE=value, VALUE_TYPE=value_type)
            elif value and not change.get("ID"):
                result.append(
                    {
                        "ID": str(self.store.next_fm_id()),
                        "VALUE_TYPE": value_type,
                        "VALUE": value,
                        "TYPE_ID": type_id,
                    }
                )
        return result

    # --- reading ----------------------------------------------------------------------------

    def full(self, row: dict[str, Any]) -> dict[str, Any]:
        """The ``get`` answer: every field in schema order, multi-fields when set, then UF_*."""
        out = {f.name: row[f.name] for f in self.schema if f.name in row}
        out.update((k, v) for k, v in row.items() if k.startswith("UF_"))
        return out

    def select(self, row: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
        """``row`` cut to the select list of a legacy list (``*``, ``UF_*`` and explicit names)."""
        wanted = [str(n).upper() for n in names] or ["*", "UF_*"]
        out: dict[str, Any] = {"ID": row["ID"]}
        if "*" in wanted:
            for field in self.schema:
                if field.type != "crm_multifield":
                    out[field.name] = row.get(field.name)
        if "UF_*" in wanted:
            out.update((k, v) for k, v in row.items() if k.startswith("UF_"))
        for name in wanted:
            if name in row:
                out[name] = row[name]
            elif name in self.fields and self.fields[name].type != "crm_multifield":
                out[name] = None
        return out

    def has_communication(self, type_id: str, wanted: set[str]) -> list[int]:
        """Ids of records with a PHONE/EMAIL among ``wanted`` (already normalised)."""
        norm = digits if type_id == "PHONE" else str.lower
        found = []
        for record_id in self.ids:
            entries = self.rows[record_id].get(type_id)
            if entries and any(norm(e["VALUE"]) in wanted for e in entries):
                found.append(record_id)
        return found


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while 100,000s of acyclic dicts are built.

    Each collection rescans the growing heap, which made loading or seeding 100,000 records
    several times slower than the work itself.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class CrmStore:
    """The portal's CRM entities, tasks and notifications."""

    def __init__(self, portal: Portal) -> None:
        self.portal = portal
        with gc_paused():
            self.seq: Table[str] = Table(portal.persist, "crm_seq", str)
            self.entities = {name: Entity(self, name) for name in ENTITY_TYPE_IDS}
            self.by_type_id = {e.type_id: e for e in self.entities.values()}
            self.tasks = Records(portal.persist, "task", self.seq)
            self.notifications = Records(portal.persist, "im_notify", self.seq)
            if self.seq.get("seeded") is None:  # a state file from an earlier run keeps its data
                from portal.seed import seed

                seed(self, portal.config)
                self.seq.put("seeded", True)

    def next_fm_id(self) -> int:
        last = int(self.seq.get("fm") or 0) + 1
        self.seq.put("fm", last)
        return last

    def reserve_fm_ids(self, count: int) -> int:
        """The first of ``count`` fresh multi-field ids."""
        first = int(self.seq.get("fm") or 0) + 1
        self.seq.put("fm", first + count - 1)
        return first

    def notifications_for(self, user_id: int | None = None) -> list[dict[str, Any]]:
        """Notifications sent so far (to ``user_id``, or to anyone), oldest first; copies."""
        return [
            dict(self.notifications.rows[i])
            for i in self.notifications.ids
            if user_id is None or self.notifications.rows[i]["USER_ID"] == user_id
        ]
