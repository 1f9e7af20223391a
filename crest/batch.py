"""Batch commands: normalising what callers pass, chunking by 50, and reading the answer.

Bitrix24 runs at most 50 commands per ``batch`` request; CRest silently drops the rest. We
chunk instead, and resolve ``$result[key][...]`` references that point into an earlier chunk
on the client, with the server's own rules, so a reference never crosses a request boundary
unresolved.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crest.errors import ApiError, api_error
from crest.forms import encode

__all__ = ["MAX_BATCH", "BatchResult", "Command", "chunks", "command_string", "normalise_commands"]

MAX_BATCH = 50

_REF = re.compile(r"\$(result|next|total|time|error)((?:\[[^\]]*\])+)")
_SEGMENT = re.compile(r"\[([^\]]*)\]")


@dataclass(frozen=True)
class Command:
    """One command of a batch: a REST method and its parameters."""

    method: str
    params: Mapping[str, Any] = field(default_factory=dict)


CommandLike = Command | tuple[str, Mapping[str, Any]] | tuple[str] | Mapping[str, Any] | str


def _command(value: CommandLike) -> Command:
    if isinstance(value, Command):
        return value
    if isinstance(value, str):
        return Command(value)
    if isinstance(value, tuple):
        if len(value) == 1:
            return Command(value[0])
        return Command(value[0], dict(value[1] or {}))
    if isinstance(value, Mapping) and "method" in value:
        return Command(str(value["method"]), dict(value.get("params") or {}))
    raise TypeError(f"not a batch command: {value!r}")


def normalise_commands(
    commands: Mapping[Any, CommandLike] | Sequence[CommandLike],
) -> list[tuple[str, Command]]:
    """Commands as ``(key, Command)`` pairs in order; a sequence gets keys ``"0".."n-1"``."""
    if isinstance(commands, Mapping):
        pairs = [(str(k), _command(v)) for k, v in commands.items()]
    else:
        pairs = [(str(i), _command(v)) for i, v in enumerate(commands)]
    for key, cmd in pairs:
        if not cmd.method:
            raise ValueError(f"batch command {key!r} has no method")
    return pairs


def command_string(cmd: Command) -> str:
    """``method?http_build_query(params)``, as CRest builds each ``cmd[key]``."""
    query = encode(cmd.params) if cmd.params else ""
    return f"{cmd.method}?{query}" if query else cmd.method


def chunks(pairs: list[tuple[str, Command]], size: int = MAX_BATCH) -> Iterator[list[tuple[str, Command]]]:
    for start in range(0, len(pairs), size):
        yield pairs[start : start + size]


def _as_map(value: Any) -> dict[str, Any]:
    """PHP writes a map keyed 0..n-1 as a JSON list and an empty map as ``[]``."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return {}


@dataclass(frozen=True)
class BatchResult:
    """Per-command results and errors of a batch of any size.

    ``result[key]`` returns the command's result or raises its :class:`ApiError`. Commands
    that did not run (``halt`` after an error) are in neither ``results`` nor ``errors``.
    """

    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, ApiError] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    nexts: dict[str, int] = field(default_factory=dict)
    times: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        if key in self.errors:
            raise self.errors[key]
        return self.results[key]

    def __contains__(self, key: object) -> bool:
        return key in self.results or key in self.errors

    def __len__(self) -> int:
        return len(self.results) + len(self.errors)

    @property
    def ok(self) -> bool:
        return not self.errors

    def absorb(self, body: Mapping[str, Any]) -> None:
        """Merge one batch answer's ``result`` block into this result."""
        self.results.update(_as_map(body.get("result")))
        for key, raw in _as_map(body.get("result_error")).items():
            err: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
            extra = {k: v for k, v in err.items() if k not in {"error", "error_description"}}
            self.errors[key] = api_error(
                str(err.get("error", "")), str(err.get("error_description", "")), extra=extra
            )
        self.totals.update({k: int(v) for k, v in _as_map(body.get("result_total")).items()})
        self.nexts.update({k: int(v) for k, v in _as_map(body.get("result_next")).items()})
        self.times.update(_as_map(body.get("result_time")))

    def as_crest_body(self) -> dict[str, Any]:
        """The merged answer in the shape of one Bitrix24 batch ``result`` block."""
        return {
            "result": dict(self.results),
            "result_error": {k: e.as_crest_dict() for k, e in self.errors.items()},
            "result_total": dict(self.totals),
            "result_next": dict(self.nexts),
            "result_time": dict(self.times),
        }

    # --- references into earlier chunks ------------------------------------------------------

    def _lookup(self, bucket: str, path: str) -> Any:
        source: dict[str, Any] = {
            "result": self.results,
            "next": self.nexts,
            "total": self.totals,
            "time": self.times,
            "error": {k: e.as_crest_dict() for k, e in self.errors.items()},
        }[bucket]
        node: Any = source
        for segment in _SEGMENT.findall(path):
            if isinstance(node, Mapping) and segment in node:
                node = node[segment]
            elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
                node = node[int(segment)]
            else:
                break  # as the server does: a missing segment stops at the last node found
        return node

    def _known(self, match: re.Match[str]) -> bool:
        first = _SEGMENT.match(match.group(2))
        return first is not None and first.group(1) in self  # only keys that already ran

    def resolve(self, value: Any) -> Any:
        """Replace references to commands that already ran, exactly as the server would."""
        if isinstance(value, Mapping):
            return {self.resolve(k) if isinstance(k, str) else k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.resolve(v) for v in value]
        if not isinstance(value, str) or "$" not in value:
            return value
        whole = _REF.fullmatch(value)
        if whole and self._known(whole):
            return self._lookup(whole.group(1), whole.group(2))

        def interpolate(match: re.Match[str]) -> str:
            if not self._known(match):
                return match.group(0)
            found = self._lookup(match.group(1), match.group(2))
            if isinstance(found, Mapping | list):
                return match.group(0)
            if isinstance(found, bool):
                return "1" if found else ""
            return "" if found is None else str(found)

        return _REF.sub(interpolate, value)
