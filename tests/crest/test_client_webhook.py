"""The client against a real local portal, in incoming-webhook mode."""

from __future__ import annotations

import time
from typing import Any

import pytest

from crest import errors
from crest.client import Client, RetryPolicy
from portal.testing import PortalHandle, running_portal

NO_WAIT = RetryPolicy(backoff=0.0)


def settled_count(portal: PortalHandle, method: str, expected: int) -> int:
    """The record of a dropped request lands just after the client saw the drop: poll briefly."""
    deadline = time.monotonic() + 3
    count = portal.count(method)
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.02)
        count = portal.count(method)
    return count


def client_for(portal: PortalHandle, **kwargs: Any) -> Client:
    kwargs.setdefault("retry", NO_WAIT)
    return Client.from_webhook(portal.webhook_url, ca_bundle=portal.ca_bundle, **kwargs)


def test_call_returns_result_and_request_exposes_envelope(portal: PortalHandle) -> None:
    client = client_for(portal)
    me = client.call("user.current")
    assert me["ID"] == "1"
    assert me["NAME"] == "Maria"
    response = client.request("user.get", {"start": 0})
    assert response.total == 3
    assert response.next is None
    assert {"start", "finish", "duration", "processing"} <= set(response.time)


def test_params_are_sent_as_php_form_and_read_back(portal: PortalHandle) -> None:
    client = client_for(portal)
    # The portal parses PHP nested keys; a filter on a nested key proves the encoding.
    users = client.call("user.get", {"FILTER": {">ID": 1}, "SORT": "ID", "ORDER": "DESC"})
    assert [u["ID"] for u in users] == ["3", "2"]


# Every code of the reference catalogue (section 2.6) and the class it must raise.
CATALOGUE = [
    ("expired_token", 401, errors.ExpiredTokenError),
    ("invalid_token", 401, errors.InvalidTokenError),
    ("NO_AUTH_FOUND", 401, errors.AuthError),
    ("INVALID_CREDENTIALS", 401, errors.AuthError),
    ("insufficient_scope", 401, errors.InsufficientScopeError),
    ("APPLICATION_NOT_FOUND", 401, errors.AuthError),
    ("ERROR_OAUTH", 401, errors.AuthError),
    ("authorization_error", 401, errors.AuthError),
    ("user_access_error", 401, errors.AuthError),
    ("CONNECTION_ERROR", 401, errors.AuthError),
    ("PAYMENT_REQUIRED", 401, errors.PaymentRequiredError),
    ("METHOD_CONFIRM_WAITING", 401, errors.AuthError),
    ("METHOD_CONFIRM_DENIED", 403, errors.AccessDeniedError),
    ("ACCESS_DENIED", 403, errors.AccessDeniedError),
    ("WRONG_AUTH_TYPE", 403, errors.AccessDeniedError),
    ("allowed_only_intranet_user", 403, errors.AccessDeniedError),
    ("INVALID_REQUEST", 400, errors.ArgumentError),
    ("ERROR_METHOD_NOT_FOUND", 404, errors.MethodNotFoundError),
    ("NOT_FOUND", 400, errors.NotFoundError),
    ("ERROR_ARGUMENT", 400, errors.ArgumentError),
    ("INVALID_ARG_VALUE", 400, errors.ArgumentError),
    ("ERROR_CORE", 400, errors.ApiError),
    ("OPERATION_TIME_LIMIT", 429, errors.OperationTimeLimitError),
    ("QUERY_LIMIT_EXCEEDED", 503, errors.QueryLimitExceededError),
    ("OVERLOAD_LIMIT", 503, errors.OverloadLimitError),
    ("INTERNAL_SERVER_ERROR", 500, errors.ServerError),
    ("ERROR_UNEXPECTED_ANSWER", 500, errors.ServerError),
    ("ERROR_BATCH_LENGTH_EXCEEDED", 400, errors.BatchError),
    ("ERROR_BATCH_METHOD_NOT_ALLOWED", 405, errors.BatchError),
    ("PORTAL_DELETED", 403, errors.PortalDeletedError),
    ("SOMETHING_NEW", 400, errors.ApiError),
]


@pytest.mark.parametrize(("code", "status", "cls"), CATALOGUE)
def test_every_catalogue_code_raises_its_class(code: str, status: int, cls: type[errors.ApiError]) -> None:
    with running_portal() as portal:
        # Enough faults to outlast any retry, so the error reaches the caller.
        portal.fault("scope", error=code, description=f"text of {code}", status=status, count=20)
        client = client_for(portal, retry=RetryPolicy(backoff=0.0, rate_limited=1, unknown_outcome=1))
        with pytest.raises(cls) as caught:
            client.call("scope")
    exc = caught.value
    assert type(exc) is cls or code == "SOMETHING_NEW"
    assert exc.code == code
    assert exc.description == f"text of {code}"
    assert exc.status == status
    assert isinstance(exc, errors.CrestError)


def test_legacy_empty_code_error_is_an_error(portal: PortalHandle) -> None:
    # Legacy CRM methods answer {"error": "", "error_description": "Not found"}; CRest misses it.
    portal.fault("crm.contact.get", error="", description="Not found", status=400)
    with pytest.raises(errors.NotFoundError) as caught:
        client_for(portal).call("crm.contact.get", {"ID": 999})
    assert caught.value.code == ""
    assert caught.value.status == 400


def test_hint_is_crest_error_information(portal: PortalHandle) -> None:
    portal.fault("scope", error="ERROR_METHOD_NOT_FOUND", description="Method not found!", status=404)
    with pytest.raises(errors.MethodNotFoundError) as caught:
        client_for(portal).call("scope")
    as_crest = caught.value.as_crest_dict()
    assert as_crest["error"] == "ERROR_METHOD_NOT_FOUND"
    assert "scope" in as_crest["error_information"]


def test_query_limit_is_retried_until_success(portal: PortalHandle) -> None:
    portal.fault(
        "user.current", error="QUERY_LIMIT_EXCEEDED", description="Too many requests", status=503, count=3
    )
    delays: list[float] = []
    client = client_for(portal, retry=RetryPolicy(backoff=0.01), sleep=delays.append)
    assert client.call("user.current")["ID"] == "1"
    assert portal.count("user.current") == 4
    assert len(delays) == 3


def test_overload_limit_is_not_retried(portal: PortalHandle) -> None:
    portal.fault(
        "user.current", error="OVERLOAD_LIMIT", description="REST API is blocked due to overload.", status=503
    )
    with pytest.raises(errors.OverloadLimitError):
        client_for(portal).call("user.current")
    assert portal.count("user.current") == 1


def test_dropped_write_is_reported_not_resent(portal: PortalHandle) -> None:
    portal.fault("im.notify.system.add", kind="drop")
    client = client_for(portal)
    with pytest.raises(errors.UnknownOutcomeError):
        client.call("im.notify.system.add", {"USER_ID": 1, "MESSAGE": "hello"})
    assert settled_count(portal, "im.notify.system.add", 1) == 1
    time.sleep(0.2)
    assert portal.count("im.notify.system.add") == 1  # and no second attempt came later
    # The write did happen: the outcome was unknown to the client, not to the portal.
    assert [n["MESSAGE"] for n in portal.portal.crm.notifications_for(1)] == ["hello"]


def test_dropped_read_is_retried(portal: PortalHandle) -> None:
    portal.fault("user.current", kind="drop")
    assert client_for(portal).call("user.current")["ID"] == "1"
    assert portal.count("user.current") == 2


def test_caller_can_mark_a_write_idempotent(portal: PortalHandle) -> None:
    portal.fault("im.notify.system.add", kind="drop")
    result = client_for(portal).call("im.notify.system.add", {"USER_ID": 1, "MESSAGE": "x"}, idempotent=True)
    assert isinstance(result, int)
    assert portal.count("im.notify.system.add") == 2


def test_codeless_5xx_retried_only_for_reads(portal: PortalHandle) -> None:
    portal.fault("user.current", error="", description="", status=502)
    assert client_for(portal).call("user.current")["ID"] == "1"
    portal.fault("im.notify.system.add", error="", description="", status=502)
    with pytest.raises(errors.ServerError):
        client_for(portal).call("im.notify.system.add", {"USER_ID": 1, "MESSAGE": "x"})


def test_connection_refused_is_retried_then_raised() -> None:
    with running_portal() as portal:
        url = portal.webhook_url
    client = Client.from_webhook(url, retry=RetryPolicy(backoff=0.0, not_sent=2))
    with pytest.raises(errors.ConnectError):
        client.call("user.current")


def test_read_timeout_on_a_write_is_unknown_outcome(portal: PortalHandle) -> None:
    portal.fault("im.notify.system.add", kind="delay", delay=1.0)
    client = client_for(portal, timeout=(2.0, 0.3))
    with pytest.raises(errors.UnknownOutcomeError):
        client.call("im.notify.system.add", {"USER_ID": 1, "MESSAGE": "slow"})


def test_webhook_domain_change_is_not_followed(portal: PortalHandle) -> None:
    old = portal.webhook_url
    portal.admin("POST", "domain-change", {"base_url": portal.base_url.replace("127.0.0.1", "localhost")})
    client = Client.from_webhook(old, retry=NO_WAIT)
    with pytest.raises(errors.DomainChangedError) as caught:
        client.call("user.current")
    assert caught.value.extra["new_domain"].startswith("localhost:")
    # The secret never went to the new host: only the redirect itself was recorded.
    assert portal.count("user.current") == 0


def test_webhook_domain_change_is_not_followed_by_a_post(portal: PortalHandle) -> None:
    # A call with parameters is a POST: its redirect must not carry the secret (in the URL) or
    # the body (auth and fields) to the new host either.
    old = portal.webhook_url
    portal.admin("POST", "domain-change", {"base_url": portal.base_url.replace("127.0.0.1", "localhost")})
    portal.clear_requests()
    client = Client.from_webhook(old, retry=NO_WAIT)
    with pytest.raises(errors.DomainChangedError) as caught:
        client.call("crm.contact.add", {"fields": {"NAME": "Ann"}})
    assert caught.value.extra["new_domain"].startswith("localhost:")
    # Only the redirect itself was recorded: nothing ran, at either host.
    assert [(r["status"], r["method"]) for r in portal.requests()] == [(302, "")]
    assert portal.count("crm.contact.add") == 0


def test_no_secret_in_request_urls(portal: PortalHandle) -> None:
    client = client_for(portal)
    client.call("user.get", {"FILTER": {"ID": 1}})
    for record in portal.requests():
        assert "auth=" not in record["path"]


def test_https_portal_needs_its_ca_bundle() -> None:
    with running_portal(https=True) as portal:
        assert portal.ca_bundle
        assert client_for(portal).call("user.current")["ID"] == "1"
        bare = Client.from_webhook(portal.webhook_url, retry=NO_WAIT)
        with pytest.raises(errors.TransportError) as caught:
            bare.call("user.current")
        assert caught.value.code == "ssl_error"


def test_batch_of_120_with_references_runs_completely(portal: PortalHandle) -> None:
    client = client_for(portal)
    commands: dict[str, Any] = {"me": ("user.current", {})}
    for i in range(119):
        # Every command refers to the first one, including those in later requests of 50.
        commands[f"n{i}"] = (
            "im.notify.system.add",
            {"USER_ID": "$result[me][ID]", "MESSAGE": f"note {i} for $result[me][NAME]"},
        )
    result = client.batch(commands)
    assert result.ok
    assert len(result) == 120
    ids = [result[f"n{i}"] for i in range(119)]
    assert len(set(ids)) == 119
    assert portal.count("batch") == 3
    texts = {n["MESSAGE"] for n in portal.portal.crm.notifications_for(1)}
    assert "note 0 for Maria" in texts
    assert "note 118 for Maria" in texts  # resolved across the request boundary


def test_batch_errors_are_per_command_and_halt_stops(portal: PortalHandle) -> None:
    client = client_for(portal)
    result = client.batch([("user.current", {}), ("no.such.method", {}), ("server.time", {})])
    assert set(result.results) == {"0", "2"}
    assert isinstance(result.errors["1"], errors.MethodNotFoundError)
    with pytest.raises(errors.MethodNotFoundError):
        result["1"]
    halted = client.batch([("user.current", {}), ("no.such.method", {}), ("server.time", {})], halt=True)
    assert "2" not in halted
    assert "1" in halted.errors


def test_batch_with_halt_stops_across_chunks(portal: PortalHandle) -> None:
    client = client_for(portal)
    commands = [("server.time", {})] * 50 + [("no.such.method", {})] + [("server.time", {})] * 20
    result = client.batch(commands, halt=True)
    assert len(result.results) == 50
    assert portal.count("batch") == 2
