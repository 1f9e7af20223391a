"""The official ``b24pysdk`` (PyPI) against our portal, used as its README shows for a real one.

b24pysdk sends every call with ``requests.post`` and offers no TLS option of its own, so the
portal's CA is trusted the way a ``requests`` user trusts a private CA: ``REQUESTS_CA_BUNDLE``
in the environment. Verification stays on; one test proves the SDK refuses the portal without
the CA.

b24pysdk does not throttle itself (it retries a 503 after ``initial_retry_delay``), so nothing
needs to be matched to the portal's speed; the tests also check that the portal never had to
refuse it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

# The clients under test are imported, never importorskip'd: they are in the dev extra, and in CI
# a missing library is a failure of the suite.
import pytest
from b24pysdk import BitrixWebhook, Client
from b24pysdk.errors import BitrixAPIError, BitrixRequestError

from portal.testing import PortalHandle

SEEDED_CONTACTS = 5000


def webhook_token(webhook_url: str) -> BitrixWebhook:
    """The SDK's webhook credentials for ``https://{domain}/rest/{user_id}/{key}/``, per its README."""
    parts = urlsplit(webhook_url)
    rest, user_id, key = parts.path.strip("/").split("/")
    assert rest == "rest"
    return BitrixWebhook(domain=parts.netloc, webhook_token=f"{user_id}/{key}")


@pytest.fixture
def token(live_portal: PortalHandle, monkeypatch: pytest.MonkeyPatch) -> BitrixWebhook:
    assert live_portal.ca_bundle is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", live_portal.ca_bundle)
    return webhook_token(live_portal.webhook_url)


@pytest.fixture
def client(token: BitrixWebhook) -> Any:
    return Client(token)


def test_user_current(client: Any, live_portal: PortalHandle) -> None:
    request = client.user.current()
    user = request.result
    expected = live_portal.portal.directory.get(1)
    assert expected is not None
    assert user["ID"] == "1"
    assert (user["NAME"], user["LAST_NAME"]) == (expected["NAME"], expected["LAST_NAME"])
    # The SDK's object layer parses the portal's user record into its own User type.
    assert (request.value.name, request.value.last_name) == (expected["NAME"], expected["LAST_NAME"])
    # The envelope's time block is what the SDK exposes as timing.
    assert request.time.duration >= 0
    assert live_portal.count("user.current", auth="webhook", status=200) == 1


def test_add_contacts(client: Any, live_portal: PortalHandle) -> None:
    people = [("Ada", "Lovelace"), ("Alan", "Turing"), ("Grace", "Hopper")]
    ids = [client.crm.contact.add(fields={"NAME": n, "LAST_NAME": ln}).result for n, ln in people]
    # New ids continue after the seeded contacts, as an auto-increment column would.
    assert ids == [SEEDED_CONTACTS + 1, SEEDED_CONTACTS + 2, SEEDED_CONTACTS + 3]
    for record_id, (name, last_name) in zip(ids, people, strict=True):
        contact = client.crm.contact.get(bitrix_id=record_id).result
        assert (contact["ID"], contact["NAME"], contact["LAST_NAME"]) == (str(record_id), name, last_name)
    assert live_portal.count("crm.contact.add", status=200) == 3


def test_missing_contact_is_an_api_error(client: Any, live_portal: PortalHandle) -> None:
    # A legacy CRM "Not found" comes with an empty error code; the SDK must still raise.
    with pytest.raises(BitrixAPIError) as caught:
        _ = client.crm.contact.get(bitrix_id=999_999).result
    assert "Not found" in str(caught.value)
    assert live_portal.count("crm.contact.get", status=400) == 1


def test_batch(
    client: Any,
    live_portal: PortalHandle,
    seeded_names: dict[str, tuple[str, str]],
    limit_errors: Callable[[], list[Any]],
) -> None:
    batch = client.call_batch(
        {
            "me": client.user.current(),
            "first": client.crm.contact.get(bitrix_id=1),
            "page": client.crm.contact.list(select=["ID", "NAME"], order={"ID": "ASC"}),
            "added": client.crm.contact.add(fields={"NAME": "Batch", "LAST_NAME": "Added"}),
            "missing": client.crm.contact.get(bitrix_id=999_999),
        }
    ).result
    assert batch.result["me"]["ID"] == "1"
    assert (batch.result["first"]["NAME"], batch.result["first"]["LAST_NAME"]) == seeded_names["1"]
    assert [row["ID"] for row in batch.result["page"]] == [str(i) for i in range(1, 51)]
    assert batch.result["added"] == SEEDED_CONTACTS + 1
    assert batch.result_total == {"page": SEEDED_CONTACTS}
    assert batch.result_next == {"page": 50}
    assert set(batch.result_error) == {"missing"}
    assert batch.result_error["missing"]["error_description"] == "Not found"
    # Whether a failed command also gets a time entry is not documented, so only the others count.
    assert {"me", "first", "page", "added"} <= set(batch.result_time)
    # One HTTP request for the five commands.
    assert [r["method"] for r in live_portal.requests()] == ["batch"]
    assert limit_errors() == []


def test_call_list_fast_lists_every_contact_once(
    token: BitrixWebhook,
    live_portal: PortalHandle,
    seeded_names: dict[str, tuple[str, str]],
    limit_errors: Callable[[], list[Any]],
) -> None:
    response = token.call_list_fast("crm.contact.list", {"select": ["ID", "NAME", "LAST_NAME"]})
    contacts = list(response["result"])  # a lazy generator: the requests happen here
    ids = [c["ID"] for c in contacts]
    assert len(ids) == SEEDED_CONTACTS and set(ids) == set(seeded_names)  # every contact, once
    assert ids == sorted(ids, key=int)  # the SDK walks an ascending ID window
    assert {c["ID"]: (c["NAME"], c["LAST_NAME"]) for c in contacts} == seeded_names
    # The ID window chains 50 pages a batch by $result references: a first page, then two
    # batches, instead of 100 requests.
    methods = [r["method"] for r in live_portal.requests()]
    assert methods[0] == "crm.contact.list" and set(methods[1:]) == {"batch"}
    assert len(methods) <= 4
    assert limit_errors() == []


def test_client_list_fast_survives_a_query_limit(
    live_portal: PortalHandle, monkeypatch: pytest.MonkeyPatch, seeded_names: dict[str, tuple[str, str]]
) -> None:
    # A real portal answers 503 QUERY_LIMIT_EXCEEDED when its bucket overflows; the SDK retries
    # it. Its retry delay is shortened (not turned off) to fit the portal's speed.
    assert live_portal.ca_bundle is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", live_portal.ca_bundle)
    client = Client(webhook_token(live_portal.webhook_url), initial_retry_delay=0.05)
    live_portal.fault(
        "crm.contact.list", error="QUERY_LIMIT_EXCEEDED", description="Too many requests", status=503
    )
    ids = [c["ID"] for c in client.crm.contact.list(select=["ID"]).as_list_fast().result]
    assert len(ids) == SEEDED_CONTACTS and set(ids) == set(seeded_names)
    assert live_portal.count("crm.contact.list", status=503, error="QUERY_LIMIT_EXCEEDED") == 1
    assert live_portal.count("crm.contact.list", status=200) == 1


def test_the_portal_ca_must_be_trusted(live_portal: PortalHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the portal's CA the SDK's default verification refuses the portal's certificate.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    client = Client(webhook_token(live_portal.webhook_url))
    with pytest.raises(BitrixRequestError) as caught:
        _ = client.user.current().result
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value.__cause__ or caught.value)
    assert live_portal.requests() == []
