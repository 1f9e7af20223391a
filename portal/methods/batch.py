"""``batch``: up to 50 sub-calls in one request, with ``$result[..]`` references between them."""

from __future__ import annotations

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
_REF = re.compile(r"\$(result|next|total|time|error)((?:\[[^\]]*\])+)")
_SEGMENT = re.compile(r"\[([^\]]*)\]")


def php_bool(value: Any) -> bool:
    """PHP's (bool) cast: "0", "" and 0 are false; the string "false" is true."""
    if isinstance(value, str):
        return value not in ("", "0")
    return bool(value)


class _Results:
    def __init__(self) -> None:
        self.buckets: dict[str, dict[str, Any]] = {
            "result": {},
            "next": {},
            "total": {},
            "time": {},
            "error": {},
        }

    def lookup(self, bucket: str, path: str) -> tuple[bool, Any]:
        segments = _SEGMENT.findall(path)
        node: Any = self.buckets[bucket]
        for segment in segments:
            if isinstance(node, dict) and segment in node:
                node = node[segment]
            elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
                node = node[int(segment)]
            else:
                break  # a missing segment stops the descent at the last node found
        return True, node

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {self.resolve(k) if isinstance(k, str) else k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, str) or "$" not in value:
            return value
        whole = _REF.fullmatch(value)
        if whole:
            return self.lookup(whole.group(1), whole.group(2))[1]

        def interpolate(match: re.Match[str]) -> str:
            found = self.lookup(match.group(1), match.group(2))[1]
            if isinstance(found, dict | list):
                return match.group(0)
            if isinstance(found, bool):
                return "1" if found else ""
            return "" if found is None else str(found)

        return _REF.sub(interpolate, value)


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
