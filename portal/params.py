"""Reading a REST request's parameters as a PHP portal does.

Query string and body are both parsed with PHP's rules and merged, body keys winning
(``array_replace($_GET, $_POST)``). Bodies may be form-urlencoded, multipart, or JSON; the
raw body is read as JSON when the form is empty, and invalid JSON counts as no parameters.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar
from urllib.parse import urlencode

from werkzeug.wrappers import Request

from crest.errors import FormError
from crest.forms import MAX_LENGTH, decode
from portal import errors

AUTH_KEYS = ("auth", "access_token")

_T = TypeVar("_T")
# ASCII digits only: str.isdigit() also accepts "²", which int() refuses, and int() refuses
# more than 4300 digits; both were 500s on the portal's pages (?user_id=, /marketplace/app/N/).
_SMALL_INT = re.compile(r"[0-9]{1,18}")


def small_int(text: str, default: _T) -> int | _T:
    """``text`` as a non-negative integer of at most 18 ASCII digits, else ``default``."""
    return int(text) if _SMALL_INT.fullmatch(text) else default


def _json_params(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    if isinstance(data, dict):
        return {str(k): v for k, v in data.items()}
    if isinstance(data, list):  # positional parameters: [123, {...}]
        return {str(i): v for i, v in enumerate(data)}
    return {}


def read_params(request: Request) -> dict[str, Any]:
    try:
        params = decode(request.query_string) if request.query_string else {}
        mimetype = request.mimetype
        if mimetype == "multipart/form-data":
            # Re-encode the parts in order and read them with PHP's rules (keys like fields[NAME]).
            pairs = urlencode(list(request.form.items(multi=True)))
            body = decode(pairs) if pairs else {}
        else:
            raw = request.get_data(cache=True)
            if len(raw) > MAX_LENGTH:
                raise FormError("request body too large")
            body = {}
            if raw:
                if mimetype == "application/x-www-form-urlencoded":
                    body = decode(raw)
                    if not body and raw.strip().startswith((b"{", b"[")):
                        body = _json_params(raw)
                else:
                    body = _json_params(raw)
    except FormError as exc:
        raise errors.RestError("INVALID_REQUEST", exc.description, 400) from exc
    params.update(body)
    return params
