"""JSON as PHP's ``json_encode`` writes it for Bitrix24 answers.

An empty PHP array is ``[]`` whether it stood for a list or a map, so an empty dict is
written as ``[]``, and a map keyed ``0..n-1`` in order is a list; and ``/`` is escaped as
``\\/`` as PHP does by default.
"""

from __future__ import annotations

import json
from typing import Any

_CONTAINERS = (dict, list, tuple)
_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))


def _is_sequential(value: dict[Any, Any]) -> bool:
    # Cheap first-key test: almost every map in an answer is keyed by names, not 0..n-1.
    first = next(iter(value))
    if first not in {0, "0"}:
        return False
    return all(k == i or k == str(i) for i, k in enumerate(value))


def php_shape(value: Any) -> Any:
    """``value`` with PHP's array rules applied (this runs on every answer: keep it lean)."""
    if isinstance(value, dict):
        if not value:
            return []
        if _is_sequential(value):
            return [php_shape(v) if isinstance(v, _CONTAINERS) else v for v in value.values()]
        return {
            (k if type(k) is str else str(k)): (php_shape(v) if isinstance(v, _CONTAINERS) else v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [php_shape(v) if isinstance(v, _CONTAINERS) else v for v in value]
    return value


def dumps(value: Any) -> str:
    return _ENCODER.encode(php_shape(value)).replace("/", "\\/")
