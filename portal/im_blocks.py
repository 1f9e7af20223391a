"""``KEYBOARD``, ``ATTACH`` and ``MENU`` of a message, read as Bitrix24 accepts them.

Each may come as a JSON string, as an object with its root key (``BUTTONS``, ``BLOCKS``) or as
the bare list; form-encoded bodies bring the list as ``KEYBOARD[BUTTONS][0][TEXT]=...``. Each
is refused above 30 KB (``*_OVERSIZE``) and when its structure is wrong (``*_ERROR``).
"""

from __future__ import annotations

import json
from typing import Any

from portal import errors
from portal.im_store import MAX_BLOCK_BYTES, json_size

#: What a keyboard button may do besides starting a new line; one is required.
_ACTIONS = frozenset({"PUT", "SEND", "COPY", "CALL", "DIALOG"})
_KINDS = {
    "KEYBOARD": ("BUTTONS", "Incorrect keyboard params", "keyboard"),
    "ATTACH": ("BLOCKS", "Incorrect attach params", "attach"),
    "MENU": ("ITEMS", "Incorrect menu params", "menu"),
}


def _error(kind: str) -> errors.RestError:
    return errors.RestError(f"{kind}_ERROR", _KINDS[kind][1], 400)


def _as_list(value: Any) -> list[Any] | None:
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and value and all(str(k).isdigit() for k in value):
        return [value[k] for k in sorted(value, key=int)]
    return None


def _items(kind: str, value: Any) -> list[Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _error(kind) from None
    root = _KINDS[kind][0]
    if isinstance(value, dict) and root in value:
        value = value[root]
    items = _as_list(value)
    if items is None or not items:
        raise _error(kind)
    if json_size(items) > MAX_BLOCK_BYTES:
        name = _KINDS[kind][2]
        raise errors.RestError(
            f"{kind}_OVERSIZE", f"You have exceeded the maximum allowable size of {name}", 400
        )
    return items


def _button(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise _error("KEYBOARD")
    button = {str(k).upper(): str(v) for k, v in raw.items() if not isinstance(v, dict | list)}
    if button.get("TYPE", "").upper() == "NEWLINE":
        return {"TYPE": "NEWLINE"}
    if not button.get("TEXT", "").strip():
        raise _error("KEYBOARD")
    action = button.get("ACTION", "").upper()
    if action and (action not in _ACTIONS or "ACTION_VALUE" not in button):
        raise _error("KEYBOARD")
    if not (action or button.get("LINK") or button.get("COMMAND") or button.get("APP_ID")):
        raise _error("KEYBOARD")
    link = button.get("LINK", "")
    if link and not link.startswith(("http://", "https://", "/")):
        raise _error("KEYBOARD")
    if action:
        button["ACTION"] = action
    return button


def read_blocks(params: dict[str, Any], *, clearing: bool = False) -> dict[str, Any]:
    """The ``KEYBOARD``/``ATTACH``/``MENU`` fields present in ``params``, checked.

    With ``clearing`` (``imbot.message.update``) an empty value or ``N`` removes the block:
    the field is returned as ``None``.
    """
    found: dict[str, Any] = {}
    for kind in _KINDS:
        raw = next((v for k, v in params.items() if k.upper() == kind), None)
        if raw is None:
            continue
        if raw in ("", "N", [], {}):
            if clearing:
                found[kind] = None
            continue
        items = _items(kind, raw)
        if kind == "KEYBOARD":
            found[kind] = [_button(b) for b in items]
        else:
            if not all(isinstance(i, dict) for i in items):
                raise _error(kind)
            found[kind] = items
    return found
