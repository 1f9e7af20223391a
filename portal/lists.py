"""List semantics shared by the ``*.list`` methods: filters, order, select and pages of 50.

Filter keys carry their operator as a prefix, as Bitrix24's legacy methods read them:
``>=``, ``>``, ``<=``, ``<``, ``@`` (in), ``!@`` (not in), ``%`` (contains), ``=%``/``%=``
(LIKE with explicit ``%``), ``!%`` (does not contain), ``=``, ``!=``/``!`` (not equal).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
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


# --- indexed pages --------------------------------------------------------------------------
#
# Records whose ids only increase keep a sorted id list, so an ID range filter is two bisects
# and an ``ORDER ID`` walk is a slice: a keyset page (``order[ID]=ASC&filter[>ID]=N&start=-1``)
# costs O(log n + 50) instead of a scan of the table, as the real portal's indexed query does.

_RANGE_OPS = frozenset({"=", ">", ">=", "<", "<=", "@"})


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        number = _num(value)
        return int(number) if number is not None and number.is_integer() else None


def _options(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, list) else [value]


@dataclass
class IdPlan:
    """The part of a filter the sorted id index answers: a slice ``lo:hi`` and an optional id set."""

    lo: int
    hi: int
    only: list[int] | None = None

    def narrow(self, ids: list[int], cond: Condition) -> bool:
        """Apply ``cond`` to the plan; False when it is not an id-range condition."""
        if cond.op == "@":
            wanted = [_as_int(v) for v in _options(cond.value)]
            if any(w is None for w in wanted):
                return False
            chosen = {w for w in wanted if w is not None}
            self.only = sorted(chosen if self.only is None else chosen.intersection(self.only))
            return True
        bound = _as_int(cond.value)
        if bound is None:
            return False
        if cond.op in {"=", ">="}:
            self.lo = max(self.lo, bisect_left(ids, bound))
        if cond.op == ">":
            self.lo = max(self.lo, bisect_right(ids, bound))
        if cond.op in {"=", "<="}:
            self.hi = min(self.hi, bisect_right(ids, bound))
        if cond.op == "<":
            self.hi = min(self.hi, bisect_left(ids, bound))
        return True

    def _present(self, ids: list[int]) -> list[int]:
        """The ids of the ``@ID`` set that exist and lie inside the ``lo:hi`` slice."""
        found = []
        for wanted in self.only or ():
            pos = bisect_left(ids, wanted, self.lo, self.hi)
            if pos < self.hi and ids[pos] == wanted:
                found.append(wanted)
        return found

    def candidates(self, ids: list[int], *, descending: bool, skip: int = 0) -> Iterator[int]:
        """The ids the plan allows, in order, after the first ``skip`` of them."""
        if self.only is not None:
            inside = self._present(ids)
            return iter((inside[::-1] if descending else inside)[skip:])
        if descending:
            return (ids[i] for i in range(self.hi - 1 - skip, self.lo - 1, -1))
        return (ids[i] for i in range(self.lo + skip, self.hi))

    def size(self, ids: list[int]) -> int:
        return len(self._present(ids)) if self.only is not None else max(0, self.hi - self.lo)


def indexed_page(
    call: Call,
    ids: list[int],
    rows: dict[int, dict[str, Any]],
    conditions: list[Condition],
    order: dict[str, str],
    *,
    id_field: str,
    numeric: Iterable[str] = (),
    shape: Callable[[dict[str, Any]], Any] = dict,
    wrap: Callable[[list[Any]], Any] | None = None,
) -> Paged:
    """One page of 50 over ``rows`` (keyed by the ascending ``ids``) at ``call.start``.

    ``order`` maps field names (as the rows spell them) to ASC/DESC; ``shape`` turns a stored
    row into its answer form (select, renaming) and runs only for the rows on the page.
    """
    plan = IdPlan(0, len(ids))
    rest = [c for c in conditions if not (c.field == id_field and c.op in _RANGE_OPS and plan.narrow(ids, c))]
    by_id = not order or list(order) == [id_field]
    descending = by_id and bool(order) and str(order[id_field]).upper() == "DESC"
    start = call.start
    if by_id and not rest:
        # The index alone decides: count from it, and jump straight to the page.
        page_ids = islice(plan.candidates(ids, descending=descending, skip=max(start, 0)), PAGE_SIZE)
        chunk = [shape(rows[i]) for i in page_ids]
        return _answer(call, chunk, None if start < 0 else plan.size(ids), plan.size(ids), wrap)
    candidates = (rows[i] for i in plan.candidates(ids, descending=descending))
    matches: Iterable[dict[str, Any]] = (r for r in candidates if all(c.test(r) for c in rest))
    if not by_id:
        matches = sort_rows(list(matches), order, numeric=numeric, upper=False)
    if start < 0:
        return _answer(call, [shape(r) for r in islice(matches, PAGE_SIZE)], None, 0, wrap)
    found = list(matches)
    return _answer(
        call, [shape(r) for r in found[start : start + PAGE_SIZE]], len(found), plan.size(ids), wrap
    )


def _answer(
    call: Call, chunk: list[Any], total: int | None, scanned: int, wrap: Callable[[list[Any]], Any] | None
) -> Paged:
    """The page, charged; ``total=None`` for ``start=-1`` (no count: ``total: 0``, no ``next``)."""
    result = wrap(chunk) if wrap else chunk
    if total is None:
        call.charge(rows=len(chunk))
        return Paged(result, 0, None)
    start = call.start
    call.charge(rows=len(chunk), counted=scanned, offset=start)
    return Paged(result, total, start + PAGE_SIZE if start + len(chunk) < total else None)
