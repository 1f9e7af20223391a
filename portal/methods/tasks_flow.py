"""REST methods: a task's life after ``tasks.task.add`` (``tasks.task.update``,
``tasks.task.complete``, ``task.commentitem.add`` / ``getlist``) and the events they raise
(``ONTASKUPDATE``, ``ONTASKCOMMENTADD``), with the documented shapes and errors.

Statuses are Bitrix24's: 1 new, 2 pending, 3 in progress, 4 awaiting control, 5 completed,
6 deferred, 7 declined. Completing sets status 5 and ``closedBy``/``closedDate``.
"""

from __future__ import annotations

from typing import Any

from portal import errors
from portal.context import Call
from portal.crm import Records, iso_datetime
from portal.methods.tasks import _int_field, _user_card
from portal.registry import method

_SCOPE = "task"
STATUS_COMPLETED = "5"
_STATUSES = frozenset(str(s) for s in range(1, 8))
#: UPPER_CASE field -> the stored camelCase key, for the fields ``tasks.task.update`` changes.
_UPDATABLE = {
    "TITLE": "title",
    "DESCRIPTION": "description",
    "DEADLINE": "deadline",
    "PRIORITY": "priority",
    "STATUS": "status",
    "RESPONSIBLE_ID": "responsibleId",
}


def _task(call: Call, raw: Any) -> dict[str, Any]:
    if raw is None or raw == "":
        raise errors.RestError(
            "100", "CTaskItem All parameters in the constructor must have real class type", 400
        )
    task_id = _int_field(raw)
    if task_id <= 0:
        raise errors.RestError("0", "wrong task id", 400)
    task = call.portal.crm.tasks.get(task_id)
    if task is None:
        raise errors.RestError("0", "Action on the task is not allowed", 400)
    return dict(task)


def _save(call: Call, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    now = iso_datetime(call.portal.clock.time())
    after["changedBy"], after["changedDate"] = str(call.user_id), now
    if after["status"] != before["status"]:
        after["statusChangedBy"], after["statusChangedDate"] = str(call.user_id), now
        after["subStatus"] = after["status"]
    call.portal.crm.tasks.replace(int(after["id"]), after)
    task_id = int(after["id"])
    data = {
        "FIELDS_BEFORE": {"ID": task_id},
        "FIELDS_AFTER": {"ID": task_id},
        "IS_ACCESSIBLE_BEFORE": "undefined",
        "IS_ACCESSIBLE_AFTER": "undefined",
    }
    call.portal.events.emit("ONTASKUPDATE", data, user_id=call.user_id)
    return after


@method("tasks.task.update", scope=_SCOPE)
def task_update(call: Call) -> dict[str, Any]:
    before = _task(call, call.param("taskId", "id"))
    raw = call.param("fields")
    if not isinstance(raw, dict) or not raw:
        raise errors.RestError("100", "Could not find value for parameter {fields}", 400)
    fields = {str(k).upper(): v for k, v in raw.items()}
    after = dict(before)
    for name, key in _UPDATABLE.items():
        if name not in fields:
            continue
        value = str(fields[name] if fields[name] is not None else "").strip()
        if name == "TITLE" and not value:
            raise errors.core("Task title is not specified<br>")
        if name == "STATUS" and value not in _STATUSES:
            raise errors.core("Invalid status<br>")
        if name == "RESPONSIBLE_ID":
            user_id = _int_field(value)
            if call.portal.directory.get(user_id) is None:
                raise errors.core('The user specified in the "Responsible" field was not found<br>')
            after["responsible"] = _user_card(call, user_id)
            value = str(user_id)
        after[key] = value or None if name == "DEADLINE" else value
    return {"task": _save(call, before, after)}


@method("tasks.task.complete", scope=_SCOPE)
def task_complete(call: Call) -> dict[str, Any]:
    before = _task(call, call.param("taskId", "id"))
    after = dict(before)
    if before["status"] != STATUS_COMPLETED:
        after.update(
            status=STATUS_COMPLETED,
            closedBy=str(call.user_id),
            closedDate=iso_datetime(call.portal.clock.time()),
        )
    return {"task": _save(call, before, after)}


def comments(call: Call) -> Records:
    return call.portal.task_comments


@method("task.commentitem.add", scope=_SCOPE)
def comment_add(call: Call) -> int:
    task = _task(call, call.param("TASKID", "taskId"))
    raw = call.param("FIELDS")
    fields = {str(k).upper(): v for k, v in raw.items()} if isinstance(raw, dict) else {}
    text = str(fields.get("POST_MESSAGE") or "").strip()
    if not text:
        raise errors.core("Comment text is not specified")
    author = _int_field(fields.get("AUTHOR_ID")) or call.user_id
    if call.portal.directory.get(author) is None:
        raise errors.core("Insufficient permissions to add a comment.<br>")
    store = comments(call)
    comment_id = store.next_id()
    store.insert(
        comment_id,
        {
            "ID": str(comment_id),
            "TASK_ID": task["id"],
            "AUTHOR_ID": str(author),
            "AUTHOR_NAME": call.portal.directory.full_name(author),
            "AUTHOR_EMAIL": "",
            "POST_DATE": iso_datetime(call.portal.clock.time()),
            "POST_MESSAGE": text,
            "POST_MESSAGE_HTML": None,
        },
    )
    count = sum(1 for i in store.ids if store.rows[i]["TASK_ID"] == task["id"])
    call.portal.crm.tasks.replace(int(task["id"]), {**task, "commentsCount": str(count)})
    data = {
        "FIELDS_BEFORE": "undefined",
        "FIELDS_AFTER": {"ID": comment_id, "TASK_ID": int(task["id"])},
        "IS_ACCESSIBLE_BEFORE": "undefined",
        "IS_ACCESSIBLE_AFTER": "undefined",
    }
    call.portal.events.emit("ONTASKCOMMENTADD", data, user_id=call.user_id)
    return comment_id


@method("task.commentitem.getlist", scope=_SCOPE)
def comment_list(call: Call) -> list[dict[str, Any]]:
    task = _task(call, call.param("TASKID", "taskId"))
    store = comments(call)
    return [dict(store.rows[i]) for i in store.ids if store.rows[i]["TASK_ID"] == task["id"]]
