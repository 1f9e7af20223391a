"""CRM methods of the local portal through HTTP: legacy crm.*, crm.item.*, duplicates, seed, events."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from portal.testing import PortalHandle, running_portal
from tests.portal._portal_helpers import hook_rest as rest
from tests.portal._portal_helpers import hook_result as result

ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
ENTITIES = ("contact", "company", "lead", "deal")


def error(resp: requests.Response) -> tuple[int, dict[str, Any]]:
    body = resp.json()
    return resp.status_code, {"error": body["error"], "error_description": body["error_description"]}


NOT_FOUND = (400, {"error": "", "error_description": "Not found"})
BAD_ID = (400, {"error": "", "error_description": "ID is not defined or invalid."})

# --- legacy add / get ---------------------------------------------------------------------------


@pytest.mark.parametrize("form", [True, False], ids=["form", "json"])
def test_contact_add_and_get(portal: PortalHandle, form: bool) -> None:
    fields = {
        "NAME": "Ada",
        "LAST_NAME": "Lovelace",
        "BIRTHDATE": "1815-12-10",
        "PHONE": [{"VALUE": "+44 20 7946 0000", "VALUE_TYPE": "WORK"}],
        "EMAIL": [{"VALUE": "ada@example.com", "VALUE_TYPE": "HOME"}],
        "UF_CRM_SHOE_SIZE": "38",
        "NO_SUCH_FIELD": "ignored",
    }
    new_id = result(portal, "crm.contact.add", {"fields": fields}, form=form)
    assert isinstance(new_id, int) and new_id > 0

    got = result(portal, "crm.contact.get", {"id": new_id}, form=form)
    assert got["ID"] == str(new_id)
    assert (got["NAME"], got["LAST_NAME"]) == ("Ada", "Lovelace")
    assert got["ASSIGNED_BY_ID"] == "1" and got["CREATED_BY_ID"] == "1"  # the webhook's user
    assert got["BIRTHDATE"] == "1815-12-10T00:00:00+00:00"
    assert ISO_WITH_OFFSET.match(got["DATE_CREATE"]) and ISO_WITH_OFFSET.match(got["DATE_MODIFY"])
    assert got["OPENED"] == "Y" and got["HAS_PHONE"] == "Y" and got["HAS_EMAIL"] == "Y"
    assert got["UF_CRM_SHOE_SIZE"] == "38"
    assert "NO_SUCH_FIELD" not in got
    assert "WEB" not in got and "IM" not in got  # multi-fields appear only when set
    (phone,) = got["PHONE"]
    assert set(phone) == {"ID", "VALUE_TYPE", "VALUE", "TYPE_ID"}
    assert phone["ID"].isdigit()
    assert (phone["VALUE"], phone["VALUE_TYPE"], phone["TYPE_ID"]) == ("+44 20 7946 0000", "WORK", "PHONE")
    assert got["EMAIL"][0]["VALUE_TYPE"] == "HOME" and got["EMAIL"][0]["TYPE_ID"] == "EMAIL"
    # Every value is a string or null, as the legacy methods answer.
    for key, value in got.items():
        if key not in {"PHONE", "EMAIL", "COMPANY_IDS"}:
            assert value is None or isinstance(value, str), key


def test_top_level_parameter_names_are_case_insensitive(portal: PortalHandle) -> None:
    new_id = result(portal, "crm.contact.add", {"FIELDS": {"name": "Lower"}})
    assert result(portal, "crm.contact.get", {"ID": new_id})["NAME"] == "Lower"
    assert result(portal, "crm.contact.get", {"Id": str(new_id)})["ID"] == str(new_id)


def test_get_errors(portal: PortalHandle) -> None:
    assert error(rest(portal, "crm.contact.get", {"id": 999})) == NOT_FOUND
    for bad in ({"id": "abc"}, {"id": 0}, {"id": -3}, {}):
        assert error(rest(portal, "crm.contact.get", bad)) == BAD_ID, bad


def test_add_needs_fields_array(portal: PortalHandle) -> None:
    expected = (400, {"error": "", "error_description": "Parameter 'fields' must be array."})
    assert error(rest(portal, "crm.contact.add", {})) == expected
    assert error(rest(portal, "crm.contact.add", {"fields": "NAME"}, form=True)) == expected


def test_company_needs_a_title(portal: PortalHandle) -> None:
    status, body = error(rest(portal, "crm.company.add", {"fields": {"COMMENTS": "x"}}))
    assert (status, body["error"]) == (400, "")
    assert result(portal, "crm.company.add", {"fields": {"TITLE": "Acme"}}) > 0


def test_read_only_fields_are_not_written(portal: PortalHandle) -> None:
    new_id = result(portal, "crm.contact.add", {"fields": {"NAME": "A", "ID": 777, "CREATED_BY_ID": 3}})
    got = result(portal, "crm.contact.get", {"id": new_id})
    assert got["ID"] == str(new_id) != "777"
    assert got["CREATED_BY_ID"] == "1"


@pytest.mark.parametrize(
    ("entity", "fields", "defaults"),
    [
        ("contact", {"NAME": "C"}, {"TYPE_ID": "CLIENT"}),
        ("company", {"TITLE": "Co", "REVENUE": 1500}, {"REVENUE": "1500.00", "CURRENCY_ID": "USD"}),
        ("lead", {"TITLE": "L", "OPPORTUNITY": "12.5"}, {"STATUS_ID": "NEW", "OPPORTUNITY": "12.50"}),
        ("deal", {"TITLE": "D", "CONTACT_ID": 4}, {"STAGE_ID": "NEW", "CATEGORY_ID": "0", "CONTACT_ID": "4"}),
    ],
)
def test_each_entity_adds_with_its_defaults(
    portal: PortalHandle, entity: str, fields: dict[str, Any], defaults: dict[str, str]
) -> None:
    new_id = result(portal, f"crm.{entity}.add", {"fields": fields}, form=True)
    got = result(portal, f"crm.{entity}.get", {"id": new_id})
    for key, value in defaults.items():
        assert got[key] == value, key
    rows = result(portal, f"crm.{entity}.list", {"filter": {"ID": new_id}})
    assert [r["ID"] for r in rows] == [str(new_id)]


def test_deal_has_no_multi_fields_and_category_is_immutable(portal: PortalHandle) -> None:
    new_id = result(
        portal, "crm.deal.add", {"fields": {"TITLE": "D", "CATEGORY_ID": 2, "PHONE": [{"VALUE": "1"}]}}
    )
    result(portal, "crm.deal.update", {"id": new_id, "fields": {"CATEGORY_ID": 5, "TITLE": "D2"}})
    got = result(portal, "crm.deal.get", {"id": new_id})
    assert (got["CATEGORY_ID"], got["TITLE"]) == ("2", "D2")
    assert "PHONE" not in got


# --- update / delete ----------------------------------------------------------------------------


@pytest.mark.parametrize("form", [True, False], ids=["form", "json"])
def test_update_changes_only_given_fields(portal: PortalHandle, form: bool) -> None:
    new_id = result(portal, "crm.contact.add", {"fields": {"NAME": "Old", "LAST_NAME": "Keep"}})
    before = result(portal, "crm.contact.get", {"id": new_id})
    portal.advance(120)
    assert result(portal, "crm.contact.update", {"id": new_id, "fields": {"NAME": "New"}}, form=form) is True
    after = result(portal, "crm.contact.get", {"id": new_id})
    assert (after["NAME"], after["LAST_NAME"]) == ("New", "Keep")
    assert after["DATE_CREATE"] == before["DATE_CREATE"]
    assert after["DATE_MODIFY"] > before["DATE_MODIFY"]


def test_multi_field_update_semantics(portal: PortalHandle) -> None:
    phones = [{"VALUE": "111"}, {"VALUE": "222"}, {"VALUE": "333"}]
    new_id = result(portal, "crm.contact.add", {"fields": {"NAME": "M", "PHONE": phones}})
    one, two, three = result(portal, "crm.contact.get", {"id": new_id})["PHONE"]
    changes = [
        {"ID": one["ID"], "VALUE": "111-changed", "VALUE_TYPE": "MOBILE"},  # with ID: update
        {"ID": two["ID"], "DELETE": "Y"},  # DELETE=Y: delete
        {"ID": three["ID"], "VALUE": ""},  # empty VALUE: delete
        {"VALUE": "444", "VALUE_TYPE": "HOME"},  # no ID: add
    ]
    assert (
        result(portal, "crm.contact.update", {"id": new_id, "fields": {"PHONE": changes}}, form=True) is True
    )
    got = result(portal, "crm.contact.get", {"id": new_id})["PHONE"]
    assert [(p["ID"], p["VALUE"], p["VALUE_TYPE"]) for p in got[:1]] == [(one["ID"], "111-changed", "MOBILE")]
    assert [(p["VALUE"], p["VALUE_TYPE"]) for p in got[1:]] == [("444", "HOME")]
    assert got[1]["ID"] not in {one["ID"], two["ID"], three["ID"]}

    result(
        portal,
        "crm.contact.update",
        {"id": new_id, "fields": {"PHONE": [{"ID": p["ID"], "DELETE": "Y"} for p in got]}},
    )
    cleared = result(portal, "crm.contact.get", {"id": new_id})
    assert "PHONE" not in cleared and cleared["HAS_PHONE"] == "N"


def test_update_errors(portal: PortalHandle) -> None:
    new_id = result(portal, "crm.contact.add", {"fields": {"NAME": "U"}})
    assert error(rest(portal, "crm.contact.update", {"id": 999, "fields": {"NAME": "x"}})) == NOT_FOUND
    assert error(rest(portal, "crm.contact.update", {"id": "x", "fields": {"NAME": "x"}})) == BAD_ID
    assert error(rest(portal, "crm.contact.update", {"id": new_id})) == (
        400,
        {"error": "", "error_description": "Parameter 'fields' must be array."},
    )


def test_delete(portal: PortalHandle) -> None:
    new_id = result(portal, "crm.lead.add", {"fields": {"TITLE": "gone soon"}})
    assert result(portal, "crm.lead.delete", {"id": new_id}, form=True) is True
    assert error(rest(portal, "crm.lead.get", {"id": new_id})) == NOT_FOUND
    assert error(rest(portal, "crm.lead.delete", {"id": new_id})) == (
        400,
        {"error": "ERROR_CORE", "error_description": "Element not found"},
    )
    assert error(rest(portal, "crm.lead.delete", {"id": "nope"})) == BAD_ID
    # Ids only increase: a deleted id is not given out again.
    assert result(portal, "crm.lead.add", {"fields": {"TITLE": "next"}}) == new_id + 1


@pytest.mark.parametrize("entity", ENTITIES)
def test_fields_describes_each_field(portal: PortalHandle, entity: str) -> None:
    fields = result(portal, f"crm.{entity}.fields", {})
    keys = {"type", "isRequired", "isReadOnly", "isImmutable", "isMultiple", "isDynamic", "title"}
    assert all(set(d) == keys for d in fields.values())
    assert fields["ID"]["type"] == "integer" and fields["ID"]["isReadOnly"] is True
    assert fields["ASSIGNED_BY_ID"]["type"] == "user"
    assert fields["DATE_CREATE"]["type"] == "datetime"
    if entity != "deal":
        assert fields["PHONE"] == {**fields["PHONE"], "type": "crm_multifield", "isMultiple": True}
    if entity == "company":
        assert fields["TITLE"]["isRequired"] is True
    if entity == "deal":
        assert fields["CATEGORY_ID"]["isImmutable"] is True and "PHONE" not in fields


def test_crm_methods_need_the_crm_scope(portal: PortalHandle) -> None:
    hook = portal.add_webhook(scopes=["task"])
    resp = requests.post(hook + "crm.contact.list.json", json={}, timeout=10)
    assert resp.status_code == 401 and resp.json()["error"] == "insufficient_scope"


# --- crm.item.* ------------------------------------------------------------------------------------


def test_item_reads_a_legacy_contact_typed(portal: PortalHandle) -> None:
    new_id = result(
        portal,
        "crm.contact.add",
        {
            "fields": {
                "NAME": "Grace",
                "LAST_NAME": "Hopper",
                "COMPANY_ID": "7",
                "PHONE": [{"VALUE": "+1 555 0100"}],
                "UF_CRM_1621351234": "x",
            }
        },
    )
    item = result(portal, "crm.item.get", {"entityTypeId": 3, "id": new_id})["item"]
    assert item["id"] == new_id
    assert (item["name"], item["lastName"]) == ("Grace", "Hopper")
    assert item["assignedById"] == 1 and item["createdBy"] == 1 and item["companyId"] == 7
    assert item["opened"] is True
    assert ISO_WITH_OFFSET.match(item["createdTime"]) and ISO_WITH_OFFSET.match(item["updatedTime"])
    assert item["ufCrm_1621351234"] == "x"
    (fm,) = item["fm"]
    assert fm == {"id": fm["id"], "valueType": "WORK", "value": "+1 555 0100", "typeId": "PHONE"}
    assert isinstance(fm["id"], int)


@pytest.mark.parametrize("form", [True, False], ids=["form", "json"])
def test_item_add_update_delete_share_the_legacy_store(portal: PortalHandle, form: bool) -> None:
    fields = {"title": "Big deal", "opportunity": 1234.5, "stageId": "PREPARATION", "assignedById": 2}
    item = result(portal, "crm.item.add", {"entityTypeId": 2, "fields": fields}, form=form)["item"]
    assert item["title"] == "Big deal" and item["opportunity"] == 1234.5 and item["assignedById"] == 2
    assert item["categoryId"] == 0 and item["closed"] is False
    legacy = result(portal, "crm.deal.get", {"id": item["id"]})
    assert (legacy["TITLE"], legacy["OPPORTUNITY"], legacy["STAGE_ID"]) == (
        "Big deal",
        "1234.50",
        "PREPARATION",
    )

    updated = result(
        portal,
        "crm.item.update",
        {"entityTypeId": 2, "id": item["id"], "fields": {"title": "Bigger"}},
        form=form,
    )
    assert updated["item"]["title"] == "Bigger" and updated["item"]["opportunity"] == 1234.5
    assert result(portal, "crm.deal.get", {"id": item["id"]})["TITLE"] == "Bigger"

    resp = rest(portal, "crm.item.delete", {"entityTypeId": 2, "id": item["id"]}, form=form)
    assert resp.status_code == 200 and resp.json()["result"] == []
    assert error(rest(portal, "crm.deal.get", {"id": item["id"]})) == NOT_FOUND


def test_item_add_with_fm_multi_fields(portal: PortalHandle) -> None:
    fm = [
        {"typeId": "EMAIL", "valueType": "WORK", "value": "x@example.com"},
        {"typeId": "PHONE", "value": "123"},
    ]
    item = result(portal, "crm.item.add", {"entityTypeId": 1, "fields": {"title": "L", "fm": fm}})["item"]
    assert [(f["typeId"], f["value"]) for f in item["fm"]] == [("PHONE", "123"), ("EMAIL", "x@example.com")]
    legacy = result(portal, "crm.lead.get", {"id": item["id"]})
    assert legacy["EMAIL"][0]["VALUE"] == "x@example.com" and legacy["HAS_EMAIL"] == "Y"


def test_item_errors(portal: PortalHandle) -> None:
    item_not_found = (400, {"error": "NOT_FOUND", "error_description": "Item not found"})
    assert error(rest(portal, "crm.item.get", {"entityTypeId": 3, "id": 424242})) == item_not_found
    assert (
        error(rest(portal, "crm.item.update", {"entityTypeId": 3, "id": 424242, "fields": {"name": "x"}}))
        == item_not_found
    )
    assert error(rest(portal, "crm.item.delete", {"entityTypeId": 3, "id": 424242})) == item_not_found
    spa = (400, {"error": "NOT_FOUND", "error_description": "SPA not found"})
    assert error(rest(portal, "crm.item.list", {"entityTypeId": 999})) == spa
    assert error(rest(portal, "crm.item.get", {"entityTypeId": "abc", "id": 1})) == spa
    assert error(rest(portal, "crm.item.list", {"entityTypeId": 3, "filter": {">bogusField": 1}})) == (
        400,
        {
            "error": "INVALID_ARG_VALUE",
            "error_description": "Invalid filter: field 'bogusField' is not allowed in filter",
        },
    )
    status, body = error(rest(portal, "crm.item.list", {}))
    assert status == 400 and body["error"] == "100"


@pytest.mark.b24portal(contacts=120, companies=5)
def test_item_list_matches_legacy_list(portal: PortalHandle) -> None:
    legacy = result(portal, "crm.contact.list", {"select": ["ID", "NAME"], "filter": {"<=ID": 40}})
    resp = rest(
        portal, "crm.item.list", {"entityTypeId": 3, "select": ["id", "name"], "filter": {"<=id": 40}}
    )
    body = resp.json()
    items = body["result"]["items"]
    assert [(str(i["id"]), i["name"]) for i in items] == [(r["ID"], r["NAME"]) for r in legacy]
    assert set(items[0]) == {"id", "name"}  # select cuts the row; no fm without *
    assert body["total"] == 40 and "next" not in body

    page = rest(portal, "crm.item.list", {"entityTypeId": 3, "start": 50}).json()
    assert page["total"] == 120 and page["next"] == 100 and len(page["result"]["items"]) == 50
    assert page["result"]["items"][0]["id"] == 51 and "fm" in page["result"]["items"][0]


@pytest.mark.b24portal(contacts=200)
def test_item_list_keyset_and_order(portal: PortalHandle) -> None:
    body = rest(
        portal,
        "crm.item.list",
        {"entityTypeId": 3, "order": {"id": "ASC"}, "filter": {">id": 180}, "start": -1},
    ).json()
    assert [i["id"] for i in body["result"]["items"]] == list(range(181, 201))
    assert body["total"] == 0 and "next" not in body
    desc = result(
        portal, "crm.item.list", {"entityTypeId": 3, "order": {"id": "DESC"}, "select": ["id"]}, form=True
    )
    assert [i["id"] for i in desc["items"][:3]] == [200, 199, 198]
    by_user = result(
        portal,
        "crm.item.list",
        {"entityTypeId": 3, "filter": {"assignedById": 2}, "select": ["id", "assignedById"]},
    )
    assert by_user["items"] and all(i["assignedById"] == 2 for i in by_user["items"])


# --- duplicates -------------------------------------------------------------------------------------


def test_duplicates_by_phone_ignore_formatting(portal: PortalHandle) -> None:
    contact = result(
        portal, "crm.contact.add", {"fields": {"NAME": "D", "PHONE": [{"VALUE": "+1 (555) 010-0199"}]}}
    )
    lead = result(portal, "crm.lead.add", {"fields": {"TITLE": "L", "PHONE": [{"VALUE": "15550100199"}]}})
    result(portal, "crm.contact.add", {"fields": {"NAME": "Other", "PHONE": [{"VALUE": "+1 555 010 0200"}]}})
    found = result(
        portal, "crm.duplicate.findbycomm", {"type": "PHONE", "values": ["+1-555-010-0199"]}, form=True
    )
    assert found == {"LEAD": [lead], "CONTACT": [contact]}
    only_contacts = result(
        portal,
        "crm.duplicate.findbycomm",
        {"entity_type": "CONTACT", "type": "PHONE", "values": ["1 555 0100199"]},
    )
    assert only_contacts == {"CONTACT": [contact]}


def test_duplicates_by_email_and_none(portal: PortalHandle) -> None:
    company = result(
        portal, "crm.company.add", {"fields": {"TITLE": "Co", "EMAIL": [{"VALUE": "Sales@Example.com"}]}}
    )
    found = result(
        portal,
        "crm.duplicate.findbycomm",
        {"entity_type": "COMPANY", "type": "EMAIL", "values": ["sales@example.COM"]},
    )
    assert found == {"COMPANY": [company]}
    assert (
        result(portal, "crm.duplicate.findbycomm", {"type": "EMAIL", "values": ["nobody@example.com"]}) == []
    )


def test_duplicates_errors(portal: PortalHandle) -> None:
    too_many = rest(
        portal, "crm.duplicate.findbycomm", {"type": "EMAIL", "values": [f"{i}@x.io" for i in range(21)]}
    )
    assert too_many.status_code == 400 and "20" in too_many.json()["error_description"]
    assert (
        rest(
            portal, "crm.duplicate.findbycomm", {"type": "EMAIL", "values": [f"{i}@x.io" for i in range(20)]}
        ).status_code
        == 200
    )
    for bad in (
        {"type": "FAX", "values": ["1"]},
        {"values": ["1"]},
        {"type": "PHONE"},
        {"type": "PHONE", "values": ["1"], "entity_type": "DEAL"},
    ):
        resp = rest(portal, "crm.duplicate.findbycomm", bad)
        assert resp.status_code == 400 and resp.json()["error"] == "", bad


# --- seed data --------------------------------------------------------------------------------------


def _contacts(handle: PortalHandle) -> dict[int, dict[str, Any]]:
    return handle.portal.crm.entities["contact"].rows


def test_seed_is_deterministic_and_realistic() -> None:
    with (
        running_portal(contacts=30, companies=4, leads=6, deals=8, seed=7) as one,
        running_portal(contacts=30, companies=4, leads=6, deals=8, seed=7) as two,
    ):
        assert _contacts(one) == _contacts(two)
        for name, count in (("contact", 30), ("company", 4), ("lead", 6), ("deal", 8)):
            rows = result(one, f"crm.{name}.list", {})
            assert len(rows) == count
        contact = result(one, "crm.contact.get", {"id": 1})
        assert contact["NAME"] and contact["LAST_NAME"] and contact["ASSIGNED_BY_ID"] in {"1", "2", "3"}
        assert re.match(r"^[\w.]+@example\.com$", contact["EMAIL"][0]["VALUE"])
        assert contact["PHONE"][0]["VALUE"].startswith("+1 ")
        assert ISO_WITH_OFFSET.match(contact["DATE_CREATE"])
        assert 1 <= int(contact["COMPANY_ID"]) <= 4
        deal = result(one, "crm.deal.get", {"id": 1})
        assert 1 <= int(deal["CONTACT_ID"]) <= 30 and float(deal["OPPORTUNITY"]) > 0
        # Multi-field ids are unique across the portal.
        fm_ids = [
            e["ID"] for row in _contacts(one).values() for name in ("PHONE", "EMAIL") for e in row[name]
        ]
        assert len(fm_ids) == len(set(fm_ids))
    with running_portal(contacts=30, seed=8) as other:
        assert [r["NAME"] for r in _contacts(other).values()] != [r["NAME"] for r in _contacts(one).values()]


def test_seed_is_not_repeated_on_restart(tmp_path: Any) -> None:
    state = str(tmp_path / "portal.db")
    with running_portal(contacts=10, state_path=state) as first:
        added = result(first, "crm.contact.add", {"fields": {"NAME": "Kept"}})
        result(first, "crm.contact.delete", {"id": 3})
        assert added == 11
    with running_portal(contacts=10, state_path=state) as second:
        ids = [int(r["ID"]) for r in result(second, "crm.contact.list", {"select": ["ID"]})]
        assert ids == [1, 2, *range(4, 12)]
        assert result(second, "crm.contact.get", {"id": 11})["NAME"] == "Kept"
        assert result(second, "crm.contact.add", {"fields": {"NAME": "After"}}) == 12


# --- events ------------------------------------------------------------------------------------------


def _deliveries(portal: PortalHandle) -> list[tuple[str, str]]:
    portal.admin("POST", "deliveries/flush", {"timeout": 10})
    return [
        (d["event"], str(d["payload"]["data"]["FIELDS"]["ID"])) for d in portal.admin("GET", "deliveries")
    ]


def test_crm_changes_raise_events(portal: PortalHandle) -> None:
    events = [f"ONCRM{e.upper()}{a}" for e in ENTITIES for a in ("ADD", "UPDATE", "DELETE")]
    # Delivery goes to the portal itself: an unknown path answers 404, but the attempt is recorded.
    portal.admin("POST", "outgoing-webhooks", {"url": portal.base_url + "/sink", "events": events})
    contact = result(portal, "crm.contact.add", {"fields": {"NAME": "E"}})
    result(portal, "crm.contact.update", {"id": contact, "fields": {"NAME": "F"}})
    result(portal, "crm.contact.delete", {"id": contact})
    deal = result(portal, "crm.item.add", {"entityTypeId": 2, "fields": {"title": "T"}})["item"]["id"]
    result(portal, "crm.item.update", {"entityTypeId": 2, "id": deal, "fields": {"title": "U"}})
    result(portal, "crm.item.delete", {"entityTypeId": 2, "id": deal})
    company = result(portal, "crm.company.add", {"fields": {"TITLE": "C"}})
    rest(portal, "crm.company.delete", {"id": 999})  # failed calls raise nothing
    assert _deliveries(portal) == [
        ("ONCRMCONTACTADD", str(contact)),
        ("ONCRMCONTACTUPDATE", str(contact)),
        ("ONCRMCONTACTDELETE", str(contact)),
        ("ONCRMDEALADD", str(deal)),
        ("ONCRMDEALUPDATE", str(deal)),
        ("ONCRMDEALDELETE", str(deal)),
        ("ONCRMCOMPANYADD", str(company)),
    ]


@pytest.mark.parametrize("form", [True, False], ids=["form", "json"])
def test_item_filter_takes_typed_values(portal: PortalHandle, form: bool) -> None:
    with_email = result(
        portal, "crm.company.add", {"fields": {"TITLE": "A", "EMAIL": [{"VALUE": "a@example.com"}]}}
    )
    without = result(portal, "crm.company.add", {"fields": {"TITLE": "B"}})
    for value, expected in ((True, [with_email]), (False, [without])):
        params = {"entityTypeId": 4, "filter": {"hasEmail": value}, "select": ["id"]}
        assert [i["id"] for i in result(portal, "crm.item.list", params, form=form)["items"]] == expected
    legacy = result(portal, "crm.company.list", {"filter": {"HAS_EMAIL": "N"}, "select": ["ID"]}, form=form)
    assert [r["ID"] for r in legacy] == [str(without)]
