"""PHP form encoding, byte for byte.

Bitrix24 is a PHP application and CRest talks to it with ``http_build_query``; the portal
reads bodies with PHP's ``parse_str`` rules. :func:`encode` reproduces the first and
:func:`decode` the second, so that what we send is exactly what CRest sends and what we
receive (events, iframe context) is read exactly as PHP reads it.

:func:`decode` returns PHP arrays as JSON would show them: an array whose keys are exactly
``0..n-1`` in order becomes a ``list``; any other array becomes a ``dict`` with ``str`` keys.
Unlike PHP it refuses, with :class:`~crest.errors.FormError`, what PHP would silently drop or
mangle: bodies over the size limit, too many fields, nesting deeper than the limit, field
names longer than the limit, bytes that are not UTF-8, and raw NUL bytes (PHP stops reading
the body there). No other exception escapes, whatever the input: a digits-only index of any
length is read as PHP reads it (an integer key in PHP's range, a string key beyond it). A
``%00`` inside a field name is read as PHP reads it: the name ends there.
``tests/crest/test_forms.py`` compares both functions with the real PHP on generated inputs.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import quote_plus, unquote_to_bytes

from crest.errors import FormError

__all__ = [
    "MAX_DEPTH",
    "MAX_FIELDS",
    "MAX_LENGTH",
    "MAX_NAME_LENGTH",
    "decode",
    "encode",
    "encode_pairs",
    "json_nesting",
    "php_scalar",
    "repeated_field",
]

#: Defaults of the limits of :func:`decode`; PHP's own are max_input_vars=1000 and
#: max_input_nesting_level=64.
MAX_LENGTH = 8 * 1024 * 1024
MAX_FIELDS = 1000
MAX_DEPTH = 64
#: PHP has no limit on a field name; Bitrix24's are a few dozen characters. Names are capped
#: so that no caller has to think about what a megabyte-long name does downstream.
MAX_NAME_LENGTH = 1024

# PHP's urlencode leaves only ASCII letters, digits and these unescaped (RFC 1738 flavour: space
# is '+'). Python's quote never escapes '~' (RFC 3986 unreserved), PHP does: see _php_urlencode.
_SAFE = "-_."
_PHP_INT_KEY = re.compile(r"-?[1-9][0-9]*|0\Z")
_PHP_INT_MAX = 2**63 - 1
# "-9223372036854775808": no longer text can be in PHP's integer range, so int() is never
# asked to convert more (Python refuses strings over 4300 digits with ValueError).
_PHP_INT_TEXT_MAX = len(str(-_PHP_INT_MAX - 1))
# C's isspace() in the "C" locale, which php_register_variable_ex uses inside brackets.
_PHP_INDEX_SPACE = frozenset(" \t\n\v\f\r")


def php_scalar(value: Any) -> str | None:
    """A scalar as PHP turns it into a form value; ``None`` means "left out"."""
    if value is None:
        return None
    if value is True:
        return "1"
    if value is False:
        return "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _php_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8")
    raise TypeError(f"cannot form-encode a value of type {type(value).__name__}")


def _php_float(value: float) -> str:
    # PHP converts a float to a string with precision=14 and its own %G flavour.
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    text = format(value, ".14G")
    magnitude = abs(value)
    if 1e14 <= magnitude < 1e15 and magnitude.is_integer() and int(magnitude) % 20 == 5:
        # A 15-digit integer exactly halfway between two 14-digit values, rounding down to an
        # even last digit: PHP's dtoa takes its integer shortcut here and keeps the trailing
        # zeros that %G normally strips (908353235056305.0 -> "9.0835323505630E+14").
        digits = str(int(magnitude) // 10)
        return f"{'-' if value < 0 else ''}{digits[0]}.{digits[1:]}E+14"
    if "E" not in text:
        return text
    mantissa, exponent = text.split("E")
    if "." not in mantissa:
        mantissa += ".0"
    exp = int(exponent)
    return f"{mantissa}E{'+' if exp >= 0 else '-'}{abs(exp)}"


def _php_array_key(key: Any) -> str:
    """A Python mapping key as PHP would store it in an array."""
    if isinstance(key, str):
        return key
    if isinstance(key, float) and math.isfinite(key):
        # PHP truncates float array keys towards zero (1.5 -> 1).
        return str(int(key))
    return php_scalar(key) or ""


def _items(value: Mapping[Any, Any] | Sequence[Any]) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield _php_array_key(key), item
    else:
        for index, item in enumerate(value):
            yield str(index), item


def _is_container(value: Any) -> bool:
    return isinstance(value, Mapping) or (
        isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)
    )


def encode_pairs(params: Mapping[Any, Any] | Sequence[Any]) -> list[tuple[str, str]]:
    """The (unencoded) ``key[sub]=value`` pairs PHP's ``http_build_query`` would emit, in order."""
    out: list[tuple[str, str]] = []

    def walk(prefix: str | None, value: Mapping[Any, Any] | Sequence[Any]) -> None:
        for key, item in _items(value):
            name = key if prefix is None else f"{prefix}[{key}]"
            if _is_container(item):
                walk(name, item)
            else:
                scalar = php_scalar(item)
                if scalar is not None:
                    out.append((name, scalar))

    walk(None, params)
    return out


def encode(params: Mapping[Any, Any] | Sequence[Any] | None) -> str:
    """``http_build_query(params)``, byte-identical to PHP's.

    Nested keys become ``a%5Bb%5D=v``; spaces are ``+``; booleans are ``1``/``0``; ``None``
    and empty arrays are left out; floats are formatted as PHP does.
    """
    if not params:
        return ""
    return "&".join(f"{_php_urlencode(k)}={_php_urlencode(v)}" for k, v in encode_pairs(params))


def _php_urlencode(text: str) -> str:
    """PHP's ``urlencode``: like ``quote_plus`` but '~' is escaped too."""
    return quote_plus(text, safe=_SAFE).replace("~", "%7E")


# --- decoding ---------------------------------------------------------------------------------


def _php_key(text: str) -> int | str:
    """PHP turns canonical decimal integer strings into integer keys."""
    if (
        len(text) <= _PHP_INT_TEXT_MAX
        and _PHP_INT_KEY.fullmatch(text)
        and -_PHP_INT_MAX - 1 <= int(text) <= _PHP_INT_MAX
    ):
        return int(text)
    return text


class _PhpArray(dict[int | str, Any]):
    """A PHP array while decoding: a dict that remembers PHP's next free integer key.

    PHP keeps that counter instead of searching the keys: it is one more than the largest
    integer key ever inserted (negative keys included, so ``a[-5]=x&a[]=y`` gives -4), 0 for
    an array without integer keys, and it sticks at PHP_INT_MAX, where ``[]`` finds the key
    taken and the field is dropped.
    """

    __slots__ = ("next_free",)

    def __init__(self) -> None:
        super().__init__()
        self.next_free: int | None = None

    def put(self, key: int | str, value: Any) -> None:
        self[key] = value
        if isinstance(key, int) and (self.next_free is None or key >= self.next_free):
            self.next_free = min(key + 1, _PHP_INT_MAX)

    def append_key(self) -> int | None:
        """The key ``[]`` would use, or ``None`` when PHP would drop the field."""
        key = 0 if self.next_free is None else self.next_free
        return None if key in self else key


def split_name(name: str, max_depth: int) -> tuple[str, list[str | None]] | None:
    """Split ``a[b][]`` into (``a``, [``b``, None]) the way php_register_variable_ex does."""
    # PHP parses the name as a C string: everything from a NUL byte on is ignored.
    name = name.partition("\0")[0].lstrip(" ")
    bracket = name.find("[")
    base = name if bracket < 0 else name[:bracket]
    base = base.replace(" ", "_").replace(".", "_")
    if not base:
        return None
    if bracket < 0:
        return base, []
    indices: list[str | None] = []
    pos = bracket
    while True:
        if len(indices) + 1 > max_depth:
            raise FormError(f"form field {base!r} is nested deeper than {max_depth} levels")
        start = pos + 1
        # PHP skips one whitespace character before looking for "]": "a[ ]" appends like
        # "a[]", while "a[  ]" and "a[ x]" keep their spaces in the key.
        probe = start + 1 if name[start : start + 1] in _PHP_INDEX_SPACE else start
        close = name.find("]", probe)
        if close < 0:
            if not indices:
                # An unterminated first bracket is not an index: it becomes part of the name.
                rest = name[start:]
                for ch in " .[":
                    rest = rest.replace(ch, "_")
                return base + "_" + rest, []
            return base, indices
        indices.append(None if close == probe else name[start:close])
        pos = close + 1
        if pos >= len(name) or name[pos] != "[":
            return base, indices


def _pairs(body: bytes, max_fields: int, max_name_length: int) -> Iterator[tuple[str, str]]:
    count = 0
    for chunk in body.split(b"&"):
        if not chunk:
            continue
        count += 1
        if count > max_fields:
            raise FormError(f"form has more than {max_fields} fields")
        raw_key, _, raw_value = chunk.partition(b"=")
        try:
            key = unquote_to_bytes(raw_key.replace(b"+", b" ")).decode("utf-8")
            value = unquote_to_bytes(raw_value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormError("form data is not UTF-8") from exc
        if len(key) > max_name_length:
            raise FormError(f"form field name is longer than {max_name_length} characters")
        yield key, value


def field_path(name: str, max_depth: int = MAX_DEPTH) -> tuple[str, ...] | None:
    """The PHP path a field name sets: ``auth[domain]`` -> ("auth", "domain").

    None for a name PHP skips and for an append (``a[]``), which may legitimately repeat.
    """
    split = split_name(name, max_depth)
    if split is None:
        return None
    base, indices = split
    if any(index is None for index in indices):
        return None
    return (base, *(str(index) for index in indices))


def repeated_field(
    body: bytes,
    *,
    only: Callable[[tuple[str, ...]], bool] | None = None,
    max_depth: int = MAX_DEPTH,
    max_name_length: int = MAX_NAME_LENGTH,
) -> tuple[str, ...] | None:
    """The first field a form body gives twice, or as both a value and an array; else None.

    PHP keeps the last of ``a=1&a=2``, Werkzeug the first, and ``a[0]=x&a=y`` silently turns
    an array into a scalar: a value whose meaning depends on the reader is refused by the
    callers (T19, T23). Names are read with PHP's rules, so ``auth[x]``, ``auth%5Bx%5D`` and
    `` auth[x]`` are one field. ``only`` limits the check to the paths it accepts.
    """
    leaves: set[tuple[str, ...]] = set()
    containers: set[tuple[str, ...]] = set()
    for name, _ in _pairs(body, len(body) + 1, max_name_length):
        path = field_path(name, max_depth)
        if path is None or (only is not None and not only(path)):
            continue
        if path in leaves or path in containers or any(path[:n] in leaves for n in range(1, len(path))):
            return path
        leaves.add(path)
        containers.update(path[:n] for n in range(1, len(path)))
    return None


def decode(
    body: str | bytes,
    *,
    max_length: int = MAX_LENGTH,
    max_fields: int = MAX_FIELDS,
    max_depth: int = MAX_DEPTH,
    max_name_length: int = MAX_NAME_LENGTH,
) -> dict[str, Any]:
    """``parse_str(body)`` as PHP does it, with limits instead of silent truncation."""
    if isinstance(body, str):
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError as exc:  # lone surrogates cannot come from a real body
            raise FormError("form data is not valid Unicode text") from exc
    else:
        raw = bytes(body)
    if len(raw) > max_length:
        raise FormError(f"form body is larger than {max_length} bytes")
    if b"\0" in raw:
        # PHP reads the body as a C string and silently ignores everything after a raw NUL.
        raise FormError("form body contains a NUL byte")
    root = _PhpArray()
    for name, value in _pairs(raw, max_fields, max_name_length):
        split = split_name(name, max_depth)
        if split is None:
            continue
        base, indices = split
        _store(root, _php_key(base), indices, value)
    result = _to_json_shape(root)
    return result if isinstance(result, dict) else {str(i): v for i, v in enumerate(result)}


def _store(root: _PhpArray, key: int | str, indices: list[str | None], value: str) -> None:
    target = root
    slot: int | str | None = key
    for index in indices:
        if slot is None:
            slot = target.append_key()
            if slot is None:
                return
        child = target.get(slot)
        if not isinstance(child, _PhpArray):
            # A scalar under this name is replaced by an array, as in PHP.
            child = _PhpArray()
            target.put(slot, child)
        target = child
        slot = None if index is None else _php_key(index)
    if slot is None:
        slot = target.append_key()
        if slot is None:
            return
    target.put(slot, value)


def _to_json_shape(array: dict[int | str, Any]) -> dict[str, Any] | list[Any]:
    converted = {k: (_to_json_shape(v) if isinstance(v, dict) else v) for k, v in array.items()}
    if converted and all(isinstance(k, int) and k == i for i, k in enumerate(converted)):
        return list(converted.values())
    return {str(k): v for k, v in converted.items()}


def json_nesting(text: str) -> int:
    """How deeply ``[``/``{`` nest in JSON ``text``, counted without parsing it.

    :mod:`json` recurses once per level, so hostile input is measured before it is parsed (T23).
    """
    level = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            level += 1
            deepest = max(deepest, level)
        elif ch in "]}":
            level -= 1
    return deepest
