"""examples/lead_notify.py end to end: a new lead on the portal -> ONCRMLEADADD delivered to the
app -> a system notification to the responsible employee."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from crest.client import Client
from portal.testing import running_portal


def test_a_new_lead_notifies_its_responsible_employee(
    tmp_path: Path, load_example: Callable[[str], ModuleType], wait_until: Callable[..., Any]
) -> None:
    example = load_example("lead_notify")
    with (
        running_portal() as portal,
        example.local_app(
            portal.base_url, tmp_path, admin_token=portal.admin_token, title="Leads", setup=example.setup(1)
        ) as app,
    ):
        example.wait_for_install(app)
        hook = Client.from_webhook(portal.webhook_url)
        lead_id = hook.call(
            "crm.lead.add", {"fields": {"TITLE": "Website order", "NAME": "Ann", "ASSIGNED_BY_ID": 3}}
        )
        [note] = wait_until(lambda: portal.portal.crm.notifications_for(3))
        assert note["TYPE"] == "SYSTEM" and note["TAG"] == f"LEAD_NOTIFY|{lead_id}"
        assert "Website order" in note["MESSAGE"] and "from Ann" in note["MESSAGE"]
        assert f"/crm/lead/details/{lead_id}/" in note["MESSAGE"]
        # Nobody else heard about it, and a contact (not a lead) notifies no one.
        hook.call("crm.contact.add", {"fields": {"NAME": "Bob"}})
        portal.admin("POST", "deliveries/flush", {"timeout": 10})
        assert portal.portal.crm.notifications_for(1) == []
        assert len(portal.portal.crm.notifications_for()) == 1
