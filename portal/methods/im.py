"""REST methods: im (``im.notify``, ``im.notify.system.add``, ``im.notify.personal.add``).

Notifications are kept in the portal's notification table so that tests and the portal's
own pages can see what an app sent (:meth:`portal.crm.CrmStore.notifications_for`).
"""

from __future__ import annotations

from typing import Any

from portal import errors
from portal.context import Call
from portal.crm import iso_datetime
from portal.registry import method

_SCOPE = "im"


def _notify(call: Call, kind: str) -> int:
    try:
        user_id = int(str(call.param("USER_ID") or "0").strip())
    except ValueError:
        user_id = 0
    if user_id <= 0:
        raise errors.RestError("USER_ID_EMPTY", "User ID can't be empty", 400)
    message = str(call.param("MESSAGE") or "").strip()
    if not message:
        raise errors.RestError("MESSAGE_EMPTY", "Message can't be empty", 400)
    store = call.portal.crm.notifications
    notify_id = store.next_id()
    record: dict[str, Any] = {
        "ID": notify_id,
        "TYPE": kind,
        "USER_ID": user_id,
        # A system notification has no sender; a personal one comes from the calling user.
        "FROM_USER_ID": None if kind == "SYSTEM" else call.user_id,
        "MESSAGE": message,
        "MESSAGE_OUT": str(call.param("MESSAGE_OUT") or "") or None,
        "TAG": str(call.param("TAG") or "") or None,
        "SUB_TAG": str(call.param("SUB_TAG") or "") or None,
        "DATE": iso_datetime(call.portal.clock.time()),
    }
    store.insert(notify_id, record)
    return notify_id


@method("im.notify", scope=_SCOPE)
def notify(call: Call) -> int:
    kind = "SYSTEM" if str(call.param("TYPE") or "").upper() == "SYSTEM" else "USER"
    return _notify(call, kind)


@method("im.notify.system.add", scope=_SCOPE)
def notify_system(call: Call) -> int:
    return _notify(call, "SYSTEM")


@method("im.notify.personal.add", scope=_SCOPE)
def notify_personal(call: Call) -> int:
    return _notify(call, "USER")
