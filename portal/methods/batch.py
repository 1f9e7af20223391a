"""``batch``: up to 50 sub-calls in one request, with ``$result[..]`` references between them."""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import unquote

from crest.errors import FormError
from crest.forms import decode
from portal import errors
from portal.context import Call
from portal.dispatch import execute
from portal.registry import lookup, method

MAX_COMMANDS = 50
# As the server matches references: a bucket name, then every non-space character after it
# (greedy: in "pre $result[a][ID]-x post" the whole "$result[a][ID]-x" is replaced), from
# which the non-empty [segments] are taken.
_REF = re.compile(r"\$(result|next|total|time|error)(\S*)", re.IGNORECASE)
_SEGMENT = re.compile(r"\[([^\]]+)\]")


def php_bool(value: Any) -> bool:
    """PHP's (bool) cast: "0", "" and 0 are false; the string "false" is true."""
    if isinstance(value, str):
        return value not in ("", "0")
    return bool(value)


def _php_string(value: Any) -> str | None:
    """What a reference inside a longer string becomes; None leaves the reference as written."""
    if isinstance(value, bool) or value is None:
        return None  # neither numeric nor a string: PHP skips it
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value if isinstance(value, str) else None


class _Results:
    def __init__(self) -> None:
        self.buckets: dict[str, dict[str, Any]] = {
            "result": {},
            "next": {},
            "total": {},
            "time": {},
            "error": {},
        }

    def lookup(self, bucket: str, segments: list[str]) -> Any:
        node: Any = self.buckets.get(bucket)
        for segment in segments:
            # PHP's isset(): a missing key (or a null value) stops the descent at the last node.
            if isinstance(node, dict):
                found = node.get(segment)
                if found is None and segment.isdigit():
                    found = node.get(int(segment))
            elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
                found = node[int(segment)]
            else:
                found = None
            if found is None:
                break
            node = found
        return node

    def _resolve_text(self, value: str) -> Any:
        out: Any = value
        for match in list(_REF.finditer(value)):
            segments = _SEGMENT.findall(match.group(2))
            if not segments:
                continue
            found = self.lookup(match.group(1), segments)
            if match.group(0) == out:
                # The whole value is one reference: it becomes the value, arrays too. PHP arrays
                # are values, so this is a copy (a reference to a map being built would loop).
                return copy.deepcopy(found) if isinstance(found, dict | list) else found
            text = _php_string(found)
            if text is not None and isinstance(out, str):
                out = out.replace(match.group(0), text)
        return out

    def _resolve_key(self, key: Any) -> Any:
        if not isinstance(key, str) or "$" not in key:
            return key
        resolved = self._resolve_text(key)
        # An array cannot be a PHP array key; such a reference stays as written.
        return resolved if isinstance(resolved, str | int) and not isinstance(resolved, bool) else key

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            # References are resolved in keys as well as in values.
            return {self._resolve_key(k): self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, str) and "$" in value:
            return self._resolve_text(value)
        return value


def _commands(raw: Any) -> list[tuple[str, Any]]:
    if isinstance(raw, dict):
        return [(str(k), v) for k, v in raw.items()]
    if isinstance(raw, list):
        return [(str(i), v) for i, v in enumerate(raw)]
    return []


@method("batch", scope=None, batchable=False, locked=False)
def batch(call: Call) -> dict[str, Any]:
    halt = php_bool(call.param("halt", default=False))
    results = _Results()
    out_time: dict[str, Any] = {}
    for index, (key, command) in enumerate(_commands(call.param("cmd"))):
        if not isinstance(command, str):
            continue  # the server skips non-string entries silently
        if index >= MAX_COMMANDS:
            results.buckets["error"][key] = {
                "error": "ERROR_BATCH_LENGTH_EXCEEDED",
                "error_description": "Max batch length exceeded",
            }
            continue
        name, _, query = command.partition("?")
        name = unquote(name).strip().lower().removesuffix(".json")
        spec = lookup(name)
        try:
            if spec is None:
                raise errors.method_not_found()
            if not spec.batchable:
                raise errors.RestError(
                    "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage", 405
                )
            try:
                params = decode(query) if query else {}
            except FormError as exc:
                raise errors.RestError("INVALID_REQUEST", exc.description, 400) from exc
            params = results.resolve(params)
            params.pop("auth", None)
            params.pop("access_token", None)
        except errors.RestError as exc:
            results.buckets["error"][key] = exc.body()
            if halt:
                break
            continue
        outcome = execute(call.portal, spec, call.auth, params, in_batch=True)
        if outcome.time is not None:
            out_time[key] = {
                k: v for k, v in outcome.time.items() if k not in {"operating", "operating_reset_at"}
            }
            results.buckets["time"][key] = out_time[key]
        if outcome.error is not None:
            results.buckets["error"][key] = outcome.error.body()
            if halt:
                break
            continue
        results.buckets["result"][key] = outcome.result
        if outcome.total is not None:
            results.buckets["total"][key] = outcome.total
        if outcome.next is not None:
            results.buckets["next"][key] = outcome.next
    b = results.buckets
    return {
        "result": b["result"],
        "result_error": b["error"],
        "result_total": b["total"],
        "result_next": b["next"],
        "result_time": b["time"],
    }
