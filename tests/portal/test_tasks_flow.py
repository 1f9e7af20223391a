"""A task's life on the local portal: tasks.task.update / complete, comments, and the events."""

from __future__ import annotations

from portal.testing import PortalHandle
from tests.portal._portal_helpers import hook_rest, hook_result
from tests.portal.test_events import Receiver, receiver

__all__ = ["receiver"]


def _task(portal: PortalHandle, **fields: object) -> int:
    added = hook_result(
        portal, "tasks.task.add", {"fields": {"TITLE": "Call back", "RESPONSIBLE_ID": 2, **fields}}
    )
    return int(added["task"]["id"])


def test_update_complete_and_comment_raise_their_events(portal: PortalHandle, receiver: Receiver) -> None:
    portal.add_outgoing_webhook(receiver.url("hook"), ["ONTASKUPDATE", "ONTASKCOMMENTADD"])
    task_id = _task(portal, DEADLINE="2026-01-01T10:00:00+00:00")
    updated = hook_result(
        portal,
        "tasks.task.update",
        {"taskId": task_id, "fields": {"DEADLINE": "2026-02-01T10:00:00+00:00", "STATUS": 3}},
    )["task"]
    assert updated["deadline"] == "2026-02-01T10:00:00+00:00" and updated["status"] == "3"
    assert updated["statusChangedBy"] == "1"
    comment_id = hook_result(
        portal, "task.commentitem.add", {"TASKID": task_id, "FIELDS": {"POST_MESSAGE": "Overdue"}}
    )
    assert isinstance(comment_id, int)
    [comment] = hook_result(portal, "task.commentitem.getlist", {"TASKID": task_id})
    assert comment["POST_MESSAGE"] == "Overdue" and comment["AUTHOR_NAME"] == "Maria Ivanova"
    done = hook_result(portal, "tasks.task.complete", {"taskId": task_id})["task"]
    assert done["status"] == "5" and done["closedBy"] == "1" and done["closedDate"]
    assert done["commentsCount"] == "1"
    portal.flush()
    bodies = receiver.at("hook")
    assert [b["event"] for b in bodies] == ["ONTASKUPDATE", "ONTASKCOMMENTADD", "ONTASKUPDATE"]
    assert bodies[0]["data"] == {
        "FIELDS_BEFORE": {"ID": str(task_id)},
        "FIELDS_AFTER": {"ID": str(task_id)},
        "IS_ACCESSIBLE_BEFORE": "undefined",
        "IS_ACCESSIBLE_AFTER": "undefined",
    }
    assert bodies[1]["data"]["FIELDS_AFTER"] == {"ID": str(comment_id), "TASK_ID": str(task_id)}
    assert bodies[1]["data"]["FIELDS_BEFORE"] == "undefined"


def test_errors(portal: PortalHandle) -> None:
    task_id = _task(portal)

    def error(method: str, params: dict[str, object]) -> tuple[str, str]:
        body = hook_rest(portal, method, params).json()
        return body["error"], body["error_description"]

    assert error("tasks.task.update", {"taskId": task_id}) == (
        "100",
        "Could not find value for parameter {fields}",
    )
    assert error("tasks.task.update", {"taskId": "x", "fields": {"TITLE": "y"}}) == ("0", "wrong task id")
    assert error("tasks.task.update", {"taskId": 999, "fields": {"TITLE": "y"}}) == (
        "0",
        "Action on the task is not allowed",
    )
    assert error("tasks.task.update", {"taskId": task_id, "fields": {"STATUS": 9}}) == (
        "ERROR_CORE",
        "Invalid status<br>",
    )
    assert error("tasks.task.update", {"taskId": task_id, "fields": {"RESPONSIBLE_ID": 77}}) == (
        "ERROR_CORE",
        'The user specified in the "Responsible" field was not found<br>',
    )
    assert error("task.commentitem.add", {"TASKID": task_id, "FIELDS": {"POST_MESSAGE": " "}}) == (
        "ERROR_CORE",
        "Comment text is not specified",
    )
    # Nothing was changed by the refused calls.
    task = hook_result(portal, "tasks.task.get", {"taskId": task_id})["task"]
    assert task["status"] == "2" and task["responsibleId"] == "2" and task["commentsCount"] is None
