"""tasks.task.* and im.notify* of the local portal, through HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from portal.testing import PortalHandle
from tests.portal._portal_helpers import hook_rest as rest
from tests.portal._portal_helpers import hook_result as result


def error(resp: requests.Response) -> tuple[int, str, str]:
    body = resp.json()
    return resp.status_code, body["error"], body["error_description"]


# --- tasks -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", [True, False], ids=["form", "json"])
def test_task_add_and_get(portal: PortalHandle, form: bool) -> None:
    fields = {
        "TITLE": "  Call the client  ",
        "RESPONSIBLE_ID": 2,
        "DESCRIPTION": "About the invoice",
        "DEADLINE": "2026-12-01T18:00:00+00:00",
        "UF_CRM_TASK": ["C_7", "D_10"],
    }
    task = result(portal, "tasks.task.add", {"fields": fields}, form=form)["task"]
    assert task["id"].isdigit()
    assert task["title"] == "Call the client"
    assert (task["responsibleId"], task["createdBy"], task["status"]) == ("2", "1", "2")
    assert task["description"] == "About the invoice"
    assert task["deadline"] == "2026-12-01T18:00:00+00:00"
    assert task["ufCrmTask"] == ["C_7", "D_10"]
    assert task["responsible"]["name"] == "Pavel Sokolov"
    got = result(portal, "tasks.task.get", {"taskId": task["id"]}, form=form)["task"]
    assert got == task


def test_task_add_errors(portal: PortalHandle) -> None:
    assert error(rest(portal, "tasks.task.add", {})) == (
        400,
        "100",
        "Could not find value for parameter {fields}",
    )
    no_title = rest(portal, "tasks.task.add", {"fields": {"TITLE": " ", "RESPONSIBLE_ID": 1}}, form=True)
    assert error(no_title) == (400, "ERROR_CORE", "Task title is not specified<br>")
    no_one = rest(portal, "tasks.task.add", {"fields": {"TITLE": "x"}})
    assert error(no_one)[:2] == (400, "ERROR_CORE")
    nobody = rest(portal, "tasks.task.add", {"fields": {"TITLE": "x", "RESPONSIBLE_ID": 99}})
    assert error(nobody)[:2] == (400, "ERROR_CORE")
    # Failed adds spend no id.
    first = result(portal, "tasks.task.add", {"fields": {"TITLE": "x", "RESPONSIBLE_ID": 1}})["task"]
    assert first["id"] == "1"


def test_task_get_errors(portal: PortalHandle) -> None:
    assert error(rest(portal, "tasks.task.get", {}))[:2] == (400, "100")
    assert error(rest(portal, "tasks.task.get", {"taskId": 404}))[:2] == (400, "ERROR_CORE")


def test_task_list(portal: PortalHandle) -> None:
    for i in range(60):
        result(
            portal, "tasks.task.add", {"fields": {"TITLE": f"T{i}", "RESPONSIBLE_ID": 1 + i % 3}}, form=True
        )
    first = rest(portal, "tasks.task.list", {}, form=True).json()
    assert len(first["result"]["tasks"]) == 50 and (first["total"], first["next"]) == (60, 50)
    second = rest(portal, "tasks.task.list", {"start": 50}).json()
    assert [t["title"] for t in second["result"]["tasks"]] == [f"T{i}" for i in range(50, 60)]
    assert "next" not in second

    mine = result(
        portal,
        "tasks.task.list",
        {"filter": {"RESPONSIBLE_ID": 2}, "order": {"ID": "DESC"}, "select": ["ID", "TITLE"]},
        form=True,
    )
    assert [t["title"] for t in mine["tasks"]] == [f"T{i}" for i in range(58, -1, -3)]
    assert set(mine["tasks"][0]) == {"id", "title"}
    after = result(portal, "tasks.task.list", {"filter": {">ID": 55}, "start": -1})
    assert [t["id"] for t in after["tasks"]] == ["56", "57", "58", "59", "60"]


def test_tasks_need_the_task_scope(portal: PortalHandle) -> None:
    hook = portal.add_webhook(scopes=["crm"])
    resp = requests.post(
        hook + "tasks.task.add.json", json={"fields": {"TITLE": "x", "RESPONSIBLE_ID": 1}}, timeout=10
    )
    assert resp.status_code == 401 and resp.json()["error"] == "insufficient_scope"


def test_task_add_raises_ontaskadd(portal: PortalHandle) -> None:
    portal.admin("POST", "outgoing-webhooks", {"url": portal.base_url + "/sink", "events": ["ONTASKADD"]})
    task = result(portal, "tasks.task.add", {"fields": {"TITLE": "evented", "RESPONSIBLE_ID": 1}})["task"]
    rest(portal, "tasks.task.add", {"fields": {"TITLE": ""}})  # refused: no event
    portal.admin("POST", "deliveries/flush", {"timeout": 10})
    delivered = [
        (d["event"], str(d["payload"]["data"]["FIELDS_AFTER"]["ID"]))
        for d in portal.admin("GET", "deliveries")
    ]
    assert delivered == [("ONTASKADD", task["id"])]


# --- notifications -----------------------------------------------------------------------------------


def _notifications(portal: PortalHandle, user_id: int | None = None) -> list[dict[str, Any]]:
    return portal.portal.crm.notifications_for(user_id)


@pytest.mark.parametrize("form", [True, False], ids=["form", "json"])
def test_system_notification(portal: PortalHandle, form: bool) -> None:
    notify_id = result(
        portal, "im.notify.system.add", {"USER_ID": 2, "MESSAGE": "  Deal [b]won[/b]  "}, form=form
    )
    assert isinstance(notify_id, int) and notify_id > 0
    (note,) = _notifications(portal, 2)
    assert (note["ID"], note["TYPE"], note["MESSAGE"], note["FROM_USER_ID"]) == (
        notify_id,
        "SYSTEM",
        "Deal [b]won[/b]",
        None,
    )
    assert _notifications(portal, 3) == []


def test_notify_and_personal_notifications(portal: PortalHandle) -> None:
    first = result(portal, "im.notify", {"user_id": 3, "message": "hi"})
    second = result(
        portal, "im.notify", {"USER_ID": "3", "MESSAGE": "sys", "TYPE": "SYSTEM", "TAG": "t1"}, form=True
    )
    third = result(portal, "im.notify.personal.add", {"USER_ID": 3, "MESSAGE": "from Maria"})
    assert first < second < third
    notes = _notifications(portal, 3)
    assert [(n["TYPE"], n["FROM_USER_ID"]) for n in notes] == [("USER", 1), ("SYSTEM", None), ("USER", 1)]
    assert notes[1]["TAG"] == "t1"


@pytest.mark.parametrize("method", ["im.notify", "im.notify.system.add", "im.notify.personal.add"])
def test_notification_errors(portal: PortalHandle, method: str) -> None:
    assert error(rest(portal, method, {"MESSAGE": "x"})) == (400, "USER_ID_EMPTY", "User ID can't be empty")
    assert error(rest(portal, method, {"USER_ID": "abc", "MESSAGE": "x"}))[:2] == (400, "USER_ID_EMPTY")
    assert error(rest(portal, method, {"USER_ID": 1, "MESSAGE": "   "}, form=True)) == (
        400,
        "MESSAGE_EMPTY",
        "Message can't be empty",
    )
    assert _notifications(portal) == []


def test_notifications_need_the_im_scope(portal: PortalHandle) -> None:
    hook = portal.add_webhook(scopes=["crm"])
    resp = requests.post(hook + "im.notify.system.add.json", json={"USER_ID": 1, "MESSAGE": "x"}, timeout=10)
    assert resp.status_code == 401 and resp.json()["error"] == "insufficient_scope"
