"""List semantics shared by the ``*.list`` methods: filters, order, select and pages of 50.

Filter keys carry their operator as a prefix, as Bitrix24's legacy methods read them:
``>=``, ``>``, ``<=``, ``<``, ``@`` (in), ``!@`` (not in), ``%`` (contains), ``=%``/``%=``
(LIKE with explicit ``%``), ``!%`` (does not contain), ``=``, ``!=``/``!`` (not equal).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from portal.context import PAGE_SIZE, Call, Paged

_OPERATORS = ("!=%", "!%=", "!@", "!%", "!=", ">=", "<=", "=%", "%=", "@", "%", ">", "<", "=", "!")


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any
    numeric: bool

    def test(self, row: dict[str, Any]) -> bool:
        actual = row.get(self.field)
        if isinstance(actual, list) and actual and isinstance(actual[0], dict):  # multi-field (PHONE...)
            values = [item.get("VALUE") for item in actual]
            hit = any(_compare(v, "=", self.value, False) for v in values)
            return not hit if self.op in {"!", "!="} else hit
        return _compare(actual, self.op, self.value, self.numeric)


def _num(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _like(pattern: str) -> re.Pattern[str]:
    return re.compile(
        "^" + ".*".join(re.escape(part) for part in pattern.split("%")) + "$", re.IGNORECASE | re.DOTALL
    )


def _compare(actual: Any, op: str, expected: Any, numeric: bool) -> bool:
    if op in {"@", "!@"}:
        options = (
            expected
            if isinstance(expected, list)
            else list(expected.values())
            if isinstance(expected, dict)
            else [expected]
        )
        hit = any(_compare(actual, "=", o, numeric) for o in options)
        return hit if op == "@" else not hit
    if op in {"%", "!%"}:
        hit = str(expected).lower() in ("" if actual is None else str(actual)).lower()
        return hit if op == "%" else not hit
    if op in {"=%", "%=", "!=%", "!%="}:
        hit = bool(_like(str(expected)).match("" if actual is None else str(actual)))
        return hit if not op.startswith("!") else not hit
    if numeric:
        a, e = _num(actual), _num(expected)
        if a is None or e is None:
            a_s, e_s = ("" if actual is None else str(actual)), str(expected)
            return {"=": a_s == e_s, "!": a_s != e_s, "!=": a_s != e_s}.get(op, False)
        left: Any = a
        right: Any = e
    else:
        if isinstance(actual, bool):
            actual = "Y" if actual else "N"
        left, right = ("" if actual is None else str(actual)), ("" if expected is None else str(expected))
        if op in {"=", "!", "!="}:
            left, right = left.lower(), right.lower()
    if op == "=":
        return bool(left == right)
    if op in {"!", "!="}:
        return bool(left != right)
    if op == ">":
        return bool(left > right)
    if op == ">=":
        return bool(left >= right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    return False


def split_key(key: str) -> tuple[str, str]:
    for op in _OPERATORS:
        if key.startswith(op):
            return op, key[len(op) :]
    return "=", key


def parse_filter(filter_: Any, *, numeric: Iterable[str] = (), upper: bool = True) -> list[Condition]:
    if not isinstance(filter_, dict):
        return []
    numeric_fields = {n.upper() if upper else n for n in numeric}
    out = []
    for key, value in filter_.items():
        op, field = split_key(str(key))
        field = field.upper() if upper else field
        out.append(Condition(field, op, value, field in numeric_fields))
    return out


def apply_filter(rows: Iterable[dict[str, Any]], conditions: list[Condition]) -> list[dict[str, Any]]:
    if not conditions:
        return list(rows)
    return [row for row in rows if all(c.test(row) for c in conditions)]


def _sort_key(name: str, numeric: bool) -> Callable[[dict[str, Any]], Any]:
    if numeric:
        return lambda row: _num(row.get(name)) or 0.0
    return lambda row: "" if row.get(name) is None else str(row.get(name))


def sort_rows(
    rows: list[dict[str, Any]], order: Any, *, numeric: Iterable[str] = (), upper: bool = True
) -> list[dict[str, Any]]:
    if not isinstance(order, dict) or not order:
        return rows
    numeric_fields = {n.upper() if upper else n for n in numeric}
    for field, direction in reversed(list(order.items())):
        name = str(field).upper() if upper else str(field)
        rows = sorted(
            rows, key=_sort_key(name, name in numeric_fields), reverse=str(direction).upper() == "DESC"
        )
    return rows


def page(
    call: Call,
    rows: list[Any],
    *,
    wrap: Callable[[list[Any]], Any] | None = None,
    table_size: int | None = None,
) -> Paged:
    """One page of 50 at ``call.start``; ``start=-1`` skips the count (``total: 0``, no ``next``)."""
    start = call.start
    if start < 0:
        chunk = rows[:PAGE_SIZE]
        call.charge(rows=len(chunk))
        return Paged(wrap(chunk) if wrap else chunk, 0, None)
    chunk = rows[start : start + PAGE_SIZE]
    total = len(rows)
    call.charge(rows=len(chunk), counted=table_size if table_size is not None else total, offset=start)
    nxt = start + PAGE_SIZE if start + len(chunk) < total else None
    return Paged(wrap(chunk) if wrap else chunk, total, nxt)
