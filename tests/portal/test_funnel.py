"""Sales funnels on the local portal: crm.status.list and crm.category.* in Bitrix24's shapes."""

from __future__ import annotations

from portal.testing import PortalHandle
from tests.portal._portal_helpers import hook_rest, hook_result


def test_status_list_has_the_default_stages_and_lead_statuses(portal: PortalHandle) -> None:
    stages = hook_result(portal, "crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE"}})
    assert [s["STATUS_ID"] for s in stages] == [
        "NEW",
        "PREPARATION",
        "PREPAYMENT_INVOICE",
        "EXECUTING",
        "FINAL_INVOICE",
        "WON",
        "LOSE",
    ]
    won = stages[5]
    assert won["SEMANTICS"] == "S" and won["EXTRA"] == {"SEMANTICS": "success", "COLOR": "#7BD500"}
    assert won["CATEGORY_ID"] is None and won["SYSTEM"] == "Y" and won["SORT"] == "60"
    assert stages[1]["SEMANTICS"] is None and stages[1]["EXTRA"]["SEMANTICS"] == "process"
    leads = hook_result(
        portal, "crm.status.list", {"filter": {"ENTITY_ID": "STATUS"}, "order": {"SORT": "DESC"}}
    )
    assert leads[0]["STATUS_ID"] == "CONVERTED" and leads[-1]["STATUS_ID"] == "NEW"


def test_categories_add_get_update_delete(portal: PortalHandle) -> None:
    listed = hook_rest(portal, "crm.category.list", {"entityTypeId": 2}).json()
    assert listed["total"] == 1 and listed["result"]["categories"][0]["isDefault"] == "Y"
    added = hook_result(
        portal, "crm.category.add", {"entityTypeId": 2, "fields": {"name": "Partners", "sort": 200}}
    )
    category = added["category"]
    assert category == {
        "id": 1,
        "name": "Partners",
        "sort": 200,
        "isDefault": "N",
        "entityTypeId": 2,
        "originId": "",
        "originatorId": "",
    }
    stages = hook_result(portal, "crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE_1"}})
    assert stages[0]["STATUS_ID"] == "C1:NEW" and stages[0]["CATEGORY_ID"] == "1" and len(stages) == 7
    assert (
        hook_result(portal, "crm.category.get", {"entityTypeId": 2, "id": 1})["category"]["name"]
        == "Partners"
    )
    renamed = hook_result(
        portal, "crm.category.update", {"entityTypeId": 2, "id": 1, "fields": {"name": "Resellers"}}
    )
    assert renamed["category"]["name"] == "Resellers"
    deal = hook_result(
        portal, "crm.deal.add", {"fields": {"TITLE": "x", "CATEGORY_ID": 1, "STAGE_ID": "C1:NEW"}}
    )
    assert hook_rest(portal, "crm.category.delete", {"entityTypeId": 2, "id": 1}).status_code == 400
    hook_result(portal, "crm.deal.delete", {"ID": deal})
    assert hook_rest(portal, "crm.category.delete", {"entityTypeId": 2, "id": 1}).status_code == 200
    gone = hook_rest(portal, "crm.category.get", {"entityTypeId": 2, "id": 1})
    assert gone.status_code == 400 and gone.json()["error"] == "NOT_FOUND"


def test_category_errors(portal: PortalHandle) -> None:
    lead = hook_rest(portal, "crm.category.list", {"entityTypeId": 1}).json()
    assert lead == {
        "error": "ENTITY_TYPE_NOT_SUPPORTED",
        "error_description": "Entity type `LEAD` is not supported",
    }
    assert hook_rest(portal, "crm.category.list", {"entityTypeId": 999}).json()["error"] == "NOT_FOUND"
    unnamed = hook_rest(portal, "crm.category.add", {"entityTypeId": 2, "fields": {"sort": 1}}).json()
    assert unnamed == {"error": "0", "error_description": "Field 'NAME' is required"}
