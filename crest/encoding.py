"""C_REST_CURRENT_ENCODING for Python: the site's charset at the edges, UTF-8 on the wire.

CRest runs every parameter through ``iconv(site encoding -> UTF-8)`` before a call and every
result back afterwards, because a windows-1251 PHP site holds its text as windows-1251 bytes.
In Python text is ``str`` and Bitrix24 speaks UTF-8 JSON, so conversion is only needed where
the site really holds bytes:

* :func:`to_utf8` (before a call): ``bytes`` anywhere in the parameters, keys included, are
  text in the site's encoding and are decoded to ``str``; ``str`` is already text and is left
  alone, as are numbers, booleans and ``None``.
* :func:`from_utf8` (after a call): every ``str`` value in the result is encoded to ``bytes``
  in the site's encoding, which is what CRest hands back. Keys stay ``str``: they are
  Bitrix24's ASCII field names, and ``row["NAME"]`` must keep working. Call it only where the site
  wants bytes (a windows-1251 database or page); with ``str`` everywhere, skip it.

With ``encoding`` None (no C_REST_CURRENT_ENCODING) both return their input unchanged.
Conversion is strict: a byte sequence that is not valid in the encoding, or a character the
encoding cannot represent, raises :class:`EncodingError` with the path to the value. Nothing is
silently replaced by "?" as ``iconv //IGNORE`` or ``errors="replace"`` would.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from typing import Any

from crest.errors import ConfigError, EncodingError

__all__ = ["EncodingError", "from_utf8", "to_utf8"]


def _codec(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ConfigError(f"C_REST_CURRENT_ENCODING {encoding!r} is not an encoding Python knows") from None


def _where(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p!r}]" for p in path) or "the value"


def to_utf8(params: Any, encoding: str | None) -> Any:
    """``params`` with every ``bytes`` (values and keys) decoded from ``encoding`` to ``str``."""
    if encoding is None:
        return params
    codec = _codec(encoding)

    def walk(value: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(value, bytes | bytearray):
            try:
                return bytes(value).decode(codec)
            except UnicodeDecodeError as exc:
                raise EncodingError(
                    f"{_where(path)} is not valid {encoding}: byte {value[exc.start]:#04x} at offset {exc.start}"
                ) from None
        if isinstance(value, Mapping):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                new_key = walk(key, (*path, key)) if isinstance(key, bytes | bytearray) else key
                if new_key in out:
                    raise EncodingError(f"{_where(path)} has two keys that are both {new_key!r} once decoded")
                out[new_key] = walk(item, (*path, new_key))
            return out
        if isinstance(value, list | tuple):
            return type(value)(walk(item, (*path, i)) for i, item in enumerate(value))
        return value

    return walk(params, ())


def from_utf8(result: Any, encoding: str | None) -> Any:
    """``result`` with every ``str`` value encoded to ``bytes`` in ``encoding``; keys stay ``str``."""
    if encoding is None:
        return result
    codec = _codec(encoding)

    def walk(value: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(value, str):
            try:
                return value.encode(codec)
            except UnicodeEncodeError as exc:
                raise EncodingError(
                    f"{_where(path)} has {value[exc.start]!r} (U+{ord(value[exc.start]):04X}), "
                    f"which {encoding} cannot represent"
                ) from None
        if isinstance(value, Mapping):
            return {key: walk(item, (*path, key)) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(walk(item, (*path, i)) for i, item in enumerate(value))
        return value

    return walk(result, ())
