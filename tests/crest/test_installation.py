"""The Installation record: parsing what PHP writes, merging token responses, masking secrets."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crest.installation import Installation, is_member_id, mask_secret

MEMBER = "a223c6b3710f85df22e9377d6c4f7553"
ACCESS = "ydtj8pho532wydb5ixk78ol7uqlb7sch"
REFRESH = "3s6lr4kr3cv2od4v853gvrchb875bwxb"
APP_TOKEN = "51856fefc120afa4b628cc82d3935cce"


def record(**changes: Any) -> Installation:
    base = Installation(
        member_id=MEMBER,
        domain="portal.bitrix24.com",
        client_endpoint="https://portal.bitrix24.com/rest/",
        access_token=ACCESS,
        refresh_token=REFRESH,
        expires=1780319382.0,
        application_token=APP_TOKEN,
        server_endpoint="https://oauth.bitrix.info/rest/",
        scope="crm",
        user_id=1,
    )
    return dataclasses.replace(base, **changes)


# The token response of the protocol reference (section 1.3).
TOKEN_RESPONSE: dict[str, Any] = {
    "access_token": "newaccess0000000000000000000000001",
    "expires": 1780323000,
    "expires_in": 3600,
    "scope": "crm,entity,im,task",
    "domain": "oauth.bitrix.info",
    "server_endpoint": "https://oauth.bitrix.info/rest/",
    "status": "F",
    "client_endpoint": "https://portal.bitrix24.com/rest/",
    "member_id": MEMBER,
    "user_id": 67,
    "refresh_token": "newrefresh000000000000000000000001",
}


def test_defaults_and_frozen() -> None:
    minimal = Installation(MEMBER, "p.example", "https://p.example/rest/", ACCESS, REFRESH, None)
    assert minimal.status == "L"
    assert minimal.application_token == minimal.scope == minimal.server_endpoint == ""
    assert minimal.user_id is None and minimal.installed_at is None and minimal.refreshed_at is None
    assert minimal.needs_reinstall is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        minimal.access_token = "x"  # type: ignore[misc]


def test_to_dict_from_dict_round_trip() -> None:
    full = record(installed_at=1.5, refreshed_at=2.0, needs_reinstall=True, status="T")
    data = full.to_dict()
    assert set(data) == {f.name for f in dataclasses.fields(Installation)}
    assert Installation.from_dict(data) == full


def test_from_dict_reads_what_php_writes() -> None:
    parsed = Installation.from_dict(
        {
            "access_token": ACCESS,
            "refresh_token": REFRESH,
            "expires": "1780319382",
            "expires_in": "3600",
            "user_id": "67",
            "member_id": MEMBER,
            "domain": "portal.bitrix24.com",
            "client_endpoint": "https://portal.bitrix24.com/rest/",
            "needs_reinstall": "N",
            "installed_at": "",
            "status": "",
            "client_secret": "SENTINEL_SECRET",
        }
    )
    assert parsed.expires == 1780319382.0
    assert parsed.user_id == 67
    assert parsed.needs_reinstall is False
    assert parsed.installed_at is None
    assert parsed.status == "L"
    assert "SENTINEL" not in repr(parsed.to_dict())


def test_from_dict_fills_one_missing_address() -> None:
    from_domain = Installation.from_dict({"access_token": "a", "refresh_token": "r", "domain": "p.example"})
    assert from_domain.client_endpoint == "https://p.example/rest/"  # as CRest's install page builds it
    assert from_domain.member_id == "" and from_domain.expires is None
    from_endpoint = Installation.from_dict(
        {"access_token": "a", "refresh_token": "r", "client_endpoint": "https://p.example:8443/rest/"}
    )
    assert from_endpoint.domain == "p.example:8443"


@pytest.mark.parametrize(
    "bad",
    [
        {"refresh_token": "r", "domain": "d"},
        {"access_token": "a", "domain": "d"},
        {"access_token": "a", "refresh_token": "r"},
        {"access_token": "a", "refresh_token": "r", "domain": "d", "expires": "soon"},
        {"access_token": "a", "refresh_token": "r", "domain": "d", "expires": float("nan")},
        {"access_token": "a", "refresh_token": "r", "domain": "d", "expires": True},
        {"access_token": "a", "refresh_token": "r", "domain": "d", "user_id": "1.5"},
        {"access_token": "a", "refresh_token": "r", "domain": "d", "needs_reinstall": "maybe"},
        {"access_token": ["a"], "refresh_token": "r", "domain": "d"},
    ],
)
def test_from_dict_refuses_garbage(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Installation.from_dict(bad)


def test_with_tokens_merges_a_token_response() -> None:
    old = record(needs_reinstall=True)
    new = old.with_tokens(TOKEN_RESPONSE, now=1780319400.0)
    assert new.access_token == TOKEN_RESPONSE["access_token"]
    assert new.refresh_token == TOKEN_RESPONSE["refresh_token"]
    assert new.expires == 1780323000
    assert new.scope == "crm,entity,im,task"
    assert new.user_id == 67
    assert new.status == "F"
    assert new.refreshed_at == 1780319400.0
    assert new.needs_reinstall is False
    assert new.domain == "portal.bitrix24.com"  # the response's domain is the OAuth server's
    assert new.application_token == APP_TOKEN  # not part of a token response: kept
    assert old.access_token == ACCESS  # frozen: the old record is unchanged


def test_with_tokens_expires_in_and_minimal_response() -> None:
    new = record(scope="crm", user_id=5).with_tokens(
        {"access_token": "a2", "refresh_token": "r2", "expires_in": "3600"}, now=1000.0
    )
    assert new.expires == 4600.0
    assert (new.scope, new.user_id, new.status) == ("crm", 5, "L")  # absent: kept
    assert record().with_tokens({"access_token": "a2", "refresh_token": "r2"}, now=1.0).expires is None


def test_with_tokens_takes_client_endpoint_only_when_given() -> None:
    moved = record().with_tokens({**TOKEN_RESPONSE, "client_endpoint": "https://new.bitrix24.com/rest/"}, 1.0)
    assert moved.client_endpoint == "https://new.bitrix24.com/rest/"
    response = {k: v for k, v in TOKEN_RESPONSE.items() if k != "client_endpoint"}
    assert record().with_tokens(response, 1.0).client_endpoint == "https://portal.bitrix24.com/rest/"


def test_with_tokens_refuses_another_portal_and_empty_tokens() -> None:
    with pytest.raises(ValueError, match="another portal"):
        record().with_tokens({**TOKEN_RESPONSE, "member_id": "f" * 32}, 1.0)
    with pytest.raises(ValueError):
        record().with_tokens({"access_token": "", "refresh_token": "r"}, 1.0)
    with pytest.raises(ValueError):
        record().with_tokens({"error": "invalid_grant"}, 1.0)
    # A record from CRest's install page has no member_id: the OAuth server's answer fills it.
    assert record(member_id="").with_tokens(TOKEN_RESPONSE, 1.0).member_id == MEMBER


def test_expired() -> None:
    token = record(expires=1000.0)
    assert not token.expired(999.0)
    assert token.expired(1000.0)
    assert token.expired(941.0, leeway=60)
    assert not token.expired(939.0, leeway=60)
    assert not record(expires=None).expired(10**12, leeway=10**6)  # unknown: find out from the portal


def test_repr_masks_every_secret(caplog: pytest.LogCaptureFixture) -> None:
    secret = record()
    shown = repr(secret)
    for token in (ACCESS, REFRESH, APP_TOKEN):
        assert token not in shown
    assert "access_token=ydtj…" in shown
    assert MEMBER in shown and "portal.bitrix24.com" in shown
    assert str(secret) == shown
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("crest.test").info("saved %s", secret)
        logging.getLogger("crest.test").info("saved %r", [secret])
    assert ACCESS not in caplog.text and REFRESH not in caplog.text


def test_mask_secret() -> None:
    assert mask_secret("abcdefghij") == "abcd…"
    assert mask_secret("short") == "…"  # four of five characters would be no mask at all
    assert mask_secret("") == "''"


def test_is_member_id() -> None:
    assert is_member_id(MEMBER)
    assert not is_member_id(MEMBER.upper())
    assert not is_member_id(MEMBER + "0")
    assert not is_member_id(MEMBER[:-1] + "\n")
    assert not is_member_id(None)


_text = st.text(max_size=40)
_seconds = st.one_of(st.none(), st.floats(min_value=0, max_value=4e9, allow_nan=False))


@given(
    member_id=_text,
    domain=st.text(min_size=1, max_size=40),
    endpoint=st.text(min_size=1, max_size=40),
    access=_text,
    refresh=_text,
    expires=_seconds,
    user_id=st.one_of(st.none(), st.integers(min_value=0, max_value=2**53)),
    installed_at=_seconds,
    flag=st.booleans(),
)
def test_round_trip_property(
    member_id: str,
    domain: str,
    endpoint: str,
    access: str,
    refresh: str,
    expires: float | None,
    user_id: int | None,
    installed_at: float | None,
    flag: bool,
) -> None:
    original = Installation(
        member_id=member_id,
        domain=domain,
        client_endpoint=endpoint,
        access_token=access,
        refresh_token=refresh,
        expires=expires,
        user_id=user_id,
        installed_at=installed_at,
        needs_reinstall=flag,
        status="D",
    )
    assert Installation.from_dict(original.to_dict()) == original
    visible = repr((member_id, domain, endpoint))
    if len(access) >= 8 and access not in visible:  # the token may only show where it is not a token
        assert access not in repr(original)
