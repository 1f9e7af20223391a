"""System and user methods: ``server.time``, ``scope``, ``methods``, ``app.info``, ``profile``, ``user.*``."""

from __future__ import annotations

from typing import Any

from portal import errors
from portal.context import Call
from portal.credentials import ALL_SCOPES
from portal.dispatch import iso
from portal.lists import apply_filter, page, parse_filter, sort_rows
from portal.registry import REGISTRY, method

_USER_SCOPES = ("user", "user_brief", "user_basic")


@method("server.time", scope=None)
def server_time(call: Call) -> str:
    return iso(call.portal.clock.time())


@method("scope", scope=None)
def scope(call: Call) -> list[str]:
    if str(call.param("full", default="")).lower() in {"1", "true", "y"}:
        return list(ALL_SCOPES)
    return sorted(call.auth.scopes)


@method("methods", scope=None)
def methods(call: Call) -> list[str]:
    wanted = call.param("scope")
    full = str(call.param("full", default="")).lower() in {"1", "true", "y"}
    names = []
    for spec in REGISTRY.values():
        if full or (wanted and wanted in spec.scopes) or (not wanted and spec.allowed_for(call.auth.scopes)):
            names.append(spec.name)
    return sorted(names)


@method("method.get", scope=None)
def method_get(call: Call) -> dict[str, bool]:
    name = str(call.param("name", default="")).lower()
    spec = REGISTRY.get(name) if name else None
    if spec is None:
        return {"isExisting": False, "isAvailable": False}
    available = spec.allowed_for(call.auth.scopes) and not (spec.app_only and call.auth.kind != "oauth")
    return {"isExisting": True, "isAvailable": available}


@method("app.info", scope=None)
def app_info(call: Call) -> dict[str, Any]:
    if call.auth.kind == "webhook":
        return {"SCOPE": sorted(call.auth.scopes), "LICENSE": "en_basic"}
    app = call.portal.credentials.apps.get(call.auth.client_id or "")
    if app is None:
        raise errors.access_denied("Application context required")
    return {
        "ID": app["id"],
        "CODE": app["client_id"],
        "VERSION": app["version"],
        "STATUS": app["status"],
        "INSTALLED": bool(app["installed"]),
        "PAYMENT_EXPIRED": "N",
        "DAYS": None,
        "LANGUAGE_ID": "en",
        "LICENSE": "en_basic",
        "LICENSE_TYPE": "basic",
        "LICENSE_FAMILY": "basic",
    }


@method("feature.get", scope=None)
def feature_get(call: Call) -> dict[str, str]:
    code = call.param("CODE")
    if not code:
        raise errors.RestError("CODE_EMPTY", "Empty feature code", 400)
    return {"value": "Y" if code == "rest_offline_extended" else "N"}


def _user(call: Call, user_id: int) -> dict[str, Any]:
    user = call.portal.directory.get(user_id)
    if user is None:
        raise errors.access_denied("User authorization required")
    return user


@method("user.admin", scope=None)
def user_admin(call: Call) -> bool:
    """May the current user manage applications? (reference: common/users/user-admin)"""
    return call.portal.directory.is_admin(call.user_id)


@method("profile", scope=None)
def profile(call: Call) -> dict[str, Any]:
    user = _user(call, call.user_id)
    if not user.get("ACTIVE"):
        return {}
    return {
        "ID": user["ID"],
        "ADMIN": bool(user.get("_ADMIN")),
        "NAME": user["NAME"],
        "LAST_NAME": user["LAST_NAME"],
        "PERSONAL_GENDER": user["PERSONAL_GENDER"],
        "TIME_ZONE": user["TIME_ZONE"],
        "TIME_ZONE_OFFSET": 0,
    }


@method("user.current", scope=_USER_SCOPES)
def user_current(call: Call) -> dict[str, Any]:
    return call.portal.directory.public(_user(call, call.user_id))


@method("user.get", scope=_USER_SCOPES)
def user_get(call: Call) -> Any:
    params = {k.upper(): v for k, v in call.params.items()}
    raw_filter = params.pop("FILTER", None)
    filter_ = dict(raw_filter) if isinstance(raw_filter, dict) else {}
    sort_field = str(params.pop("SORT", "ID")).upper()
    direction = str(params.pop("ORDER", "ASC")).upper()
    params.pop("SELECT", None)
    params.pop("ADMIN_MODE", None)
    params.pop("IMAGE_RESIZE", None)
    # The rest of the top-level keys are filter fields (e.g. ACTIVE, UF_DEPARTMENT, >ID).
    filter_.update({k: v for k, v in params.items() if not k.isdigit()})
    rows = [call.portal.directory.public(u) for u in call.portal.directory.users.values()]
    rows = apply_filter(rows, parse_filter(filter_, numeric={"ID"}))
    rows = sort_rows(rows, {sort_field: direction}, numeric={"ID"})
    return page(call, rows)
