"""JSON as PHP's ``json_encode`` writes it for Bitrix24 answers.

An empty PHP array is ``[]`` whether it stood for a list or a map, so an empty dict is
written as ``[]``, and a map keyed ``0..n-1`` in order is a list; and ``/`` is escaped as ``\\/`` as PHP does by default.
"""

from __future__ import annotations

import json
from typing import Any


def php_shape(value: Any) -> Any:
    if isinstance(value, dict):
        if not value:
            return []
        keys = list(value)
        if all(str(k) == str(i) for i, k in enumerate(keys)):
            return [php_shape(v) for v in value.values()]
        return {str(k): php_shape(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [php_shape(v) for v in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(php_shape(value), ensure_ascii=True, separators=(",", ":")).replace("/", "\\/")
