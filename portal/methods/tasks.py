"""REST methods: tasks (``tasks.task.add``, ``tasks.task.get``, ``tasks.task.list``).

Tasks are stored as ``tasks.task.get`` shows them: camelCase keys, values mostly strings.
Fields come in UPPER_CASE (``TITLE``, ``RESPONSIBLE_ID``) and so do filter, order and select
keys; :func:`_camel` maps them onto the stored names.
"""

from __future__ import annotations

from typing import Any

from portal import errors
from portal.context import Call, Paged
from portal.crm import Records, iso_datetime
from portal.lists import Condition, indexed_page, split_key
from portal.registry import method

_SCOPE = "task"
STATUS_PENDING = "2"  # a new task waits for its assignee
_NUMERIC = frozenset({"id", "parentId", "priority", "status", "groupId", "createdBy", "responsibleId"})


def _camel(name: str) -> str:
    head, *parts = name.lower().split("_")
    return head + "".join(p.capitalize() for p in parts)


def _missing_fields() -> errors.RestError:
    # Main\Engine controllers answer a missing required argument with code 100.
    return errors.RestError("100", "Could not find value for parameter {fields}", 400)


def _user_card(call: Call, user_id: int) -> dict[str, str]:
    user = call.portal.directory.get(user_id) or {}
    return {
        "id": str(user_id),
        "name": call.portal.directory.full_name(user_id),
        "link": f"/company/personal/user/{user_id}/",
        "icon": "/bitrix/images/tasks/default_avatar.png",
        "workPosition": str(user.get("WORK_POSITION") or ""),
    }


def _int_field(value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return 0


def _checked(call: Call, fields: dict[str, Any]) -> tuple[str, int]:
    """The title and assignee of a new task, or the portal's error for them."""
    title = str(fields.get("TITLE") or "").strip()
    if not title:
        raise errors.core("Task title is not specified<br>")
    responsible = _int_field(fields.get("RESPONSIBLE_ID"))
    if responsible <= 0:
        raise errors.core("Assignee is not specified<br>")
    if call.portal.directory.get(responsible) is None:
        raise errors.core("Assignee not found<br>")
    return title, responsible


def _new_task(
    call: Call, fields: dict[str, Any], task_id: int, title: str, responsible: int
) -> dict[str, Any]:
    creator = _int_field(fields.get("CREATED_BY")) or call.user_id
    now = iso_datetime(call.portal.clock.time())
    deadline = str(fields.get("DEADLINE") or "").strip() or None
    crm_links = fields.get("UF_CRM_TASK")
    links = list(crm_links.values()) if isinstance(crm_links, dict) else crm_links
    return {
        "id": str(task_id),
        "parentId": str(_int_field(fields.get("PARENT_ID")) or "") or None,
        "title": title,
        "description": str(fields.get("DESCRIPTION") or ""),
        "mark": None,
        "priority": str(_int_field(fields.get("PRIORITY")) or 1),
        "multitask": "N",
        "notViewed": "N",
        "replicate": "N",
        "groupId": str(_int_field(fields.get("GROUP_ID"))),
        "stageId": "0",
        "createdBy": str(creator),
        "createdDate": now,
        "responsibleId": str(responsible),
        "changedBy": str(creator),
        "changedDate": now,
        "statusChangedBy": str(creator),
        "statusChangedDate": now,
        "closedBy": None,
        "closedDate": None,
        "activityDate": now,
        "dateStart": None,
        "deadline": deadline,
        "startDatePlan": None,
        "endDatePlan": None,
        "guid": f"{{{task_id:08d}-0000-4000-8000-000000000000}}",
        "xmlId": None,
        "commentsCount": None,
        "allowChangeDeadline": "N",
        "allowTimeTracking": "N",
        "taskControl": "N",
        "addInReport": "N",
        "timeEstimate": "0",
        "siteId": "s1",
        "subStatus": STATUS_PENDING,
        "status": STATUS_PENDING,
        "favorite": "N",
        "ufCrmTask": [str(v) for v in links] if isinstance(links, list) else [],
        "creator": _user_card(call, creator),
        "responsible": _user_card(call, responsible),
        "auditors": [],
        "accomplices": [],
    }


def _tasks(call: Call) -> Records:
    return call.portal.crm.tasks


@method("tasks.task.add", scope=_SCOPE)
def task_add(call: Call) -> dict[str, Any]:
    raw = call.param("fields")
    if not isinstance(raw, dict) or not raw:
        raise _missing_fields()
    fields = {str(k).upper(): v for k, v in raw.items()}
    store = _tasks(call)
    title, responsible = _checked(call, fields)  # before an id is spent
    task_id = store.next_id()
    task = _new_task(call, fields, task_id, title, responsible)
    store.insert(task_id, task)
    call.portal.events.emit("ONTASKADD", {"FIELDS_AFTER": {"ID": task_id}}, user_id=call.user_id)
    return {"task": task}


@method("tasks.task.get", scope=_SCOPE)
def task_get(call: Call) -> dict[str, Any]:
    raw = call.param("taskId", "id")
    if raw is None or raw == "":
        raise errors.RestError("100", "Could not find value for parameter {taskId}", 400)
    task = _tasks(call).get(_int_field(raw))
    if task is None:
        raise errors.core("Task not found or not accessible")
    return {"task": _select(task, call.param("select"))}


def _select(task: dict[str, Any], raw: Any) -> dict[str, Any]:
    names = list(raw.values()) if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    wanted = {_camel(str(n)) for n in names}
    if not wanted or "*" in wanted:
        return dict(task)
    return {k: v for k, v in task.items() if k == "id" or k in wanted}


def _filter(raw: Any) -> list[Condition]:
    conditions = []
    for key, value in raw.items() if isinstance(raw, dict) else ():
        op, name = split_key(str(key))
        field = _camel(name)
        conditions.append(Condition(field, op, value, field in _NUMERIC))
    return conditions


@method("tasks.task.list", scope=_SCOPE)
def task_list(call: Call) -> Paged:
    store = _tasks(call)
    raw_order = call.param("order")
    order = (
        {_camel(str(k)): "DESC" if str(v).upper() == "DESC" else "ASC" for k, v in raw_order.items()}
        if isinstance(raw_order, dict)
        else {}
    )
    select = call.param("select")
    return indexed_page(
        call,
        store.ids,
        store.rows,
        _filter(call.param("filter")),
        order,
        id_field="id",
        numeric=_NUMERIC,
        shape=lambda task: _select(task, select),
        wrap=lambda tasks: {"tasks": tasks},
    )
