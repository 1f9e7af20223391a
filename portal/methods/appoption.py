"""``app.option.get`` / ``app.option.set``: a key-value map per application (app context only)."""

from __future__ import annotations

from typing import Any

from portal import errors
from portal.context import Call
from portal.registry import method


def _client_id(call: Call) -> str:
    assert call.auth.client_id is not None  # app_only: an OAuth caller always has an app
    return call.auth.client_id


@method("app.option.get", scope=None, app_only=True)
def option_get(call: Call) -> Any:
    values = call.portal.options.get(_client_id(call))
    name = call.param("option")
    if name not in (None, ""):
        return values.get(str(name))
    return values


@method("app.option.set", scope=None, app_only=True)
def option_set(call: Call) -> bool:
    # Application settings are portal-wide, so only an administrator may change them.
    if not call.is_admin:
        raise errors.access_denied()
    options = call.param("options")
    if not isinstance(options, dict) or not options:
        raise errors.argument_null("options")
    call.portal.options.set(_client_id(call), {str(k): v for k, v in options.items()})
    return True
