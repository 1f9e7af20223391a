"""crest.events: parsing hostile bodies, the token check, the router (T19, T22, T23)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crest.events import (
    Event,
    EventContext,
    EventError,
    EventRouter,
    WebhookToken,
    ensure_bindings,
    match_webhook_token,
    parse_body,
    verify_token,
)
from crest.forms import encode

MEMBER = "a" * 32
TOKEN = "5185d0e9f3c04c1a8f1b2e3d4c5b6a79"


def event_form(**auth: str) -> dict[str, Any]:
    return {
        "event": "ONCRMDEALUPDATE",
        "event_handler_id": "185",
        "data": {"FIELDS": {"ID": "7405"}},
        "ts": "1766047124",
        "auth": {"domain": "some.bitrix24.com", "member_id": MEMBER, "application_token": TOKEN, **auth},
    }


def body(**auth: str) -> bytes:
    return encode(event_form(**auth)).encode()


def test_parses_a_generic_event() -> None:
    event = parse_body(body(access_token="tok123", user_id="1"))
    assert event.name == "ONCRMDEALUPDATE"
    assert event.member_id == MEMBER
    assert event.domain == "some.bitrix24.com"
    assert event.handler_id == "185"
    assert event.entity_id == "7405"
    assert event.has_user_tokens
    assert event.data["FIELDS"]["ID"] == "7405"


def test_tokens_stay_out_of_repr() -> None:
    text = repr(parse_body(body(access_token="secret-access-token")))
    assert TOKEN not in text and "secret-access-token" not in text


def test_event_without_user_tokens_is_fine() -> None:
    event = parse_body(body())
    assert event.access_token is None and not event.has_user_tokens


def test_lower_case_event_name_is_normalised() -> None:
    form = event_form()
    form["event"] = "onCrmDealUpdate"
    assert parse_body(encode(form).encode()).name == "ONCRMDEALUPDATE"


def test_json_body_reads_like_the_form() -> None:
    form = event_form()
    form["ts"] = 1766047124  # JSON senders may use numbers; they are read as the form's strings
    event = parse_body(json.dumps(form).encode(), "application/json; charset=utf-8")
    assert event.ts == "1766047124"
    assert event == parse_body(body())


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"auth[member_id]=" + MEMBER.encode(), "no event"),
        (b"event=ONCRMDEALADD&auth[domain]=x", "no member_id"),
        (b"event=&auth[member_id]=" + MEMBER.encode(), "empty event"),
        (b"event[]=ONCRMDEALADD&auth[member_id]=" + MEMBER.encode(), "list-valued event"),
        (body() + b"&auth[application_token]=other", "duplicated token"),
        (body() + b"&auth%5Bapplication_token%5D=other", "duplicated token, encoded"),
        (body() + b"&+auth[application_token]=other", "duplicated token, PHP-trimmed name"),
        (body() + b"&auth[application_token]%00junk=other", "duplicated token, NUL-truncated name"),
        (body() + b"&auth[application_token][]=other", "list-valued token"),
        (body() + b"&auth[application_token][x]=other", "nested token"),
        (body() + b"&event=ONAPPUNINSTALL", "duplicated event"),
        (body() + b"&auth[member_id]=" + b"b" * 32, "duplicated member_id"),
        (body() + b"&member_id=" + b"b" * 32, "member_id differs from auth[member_id]"),
        (b"auth=x&" + body(), "scalar/container clash on auth"),
        (body() + b"&auth=x", "auth replaced by a scalar"),
        (b"event=ON%20APP&auth[member_id]=" + MEMBER.encode(), "not an event name"),
        (body() + b"&data=" + b"x", "data not a map"),
        (b"\xff\xfe=1&" + body(), "not UTF-8"),
    ],
)
def test_malformed_bodies_are_400(raw: bytes, why: str) -> None:
    with pytest.raises(EventError) as info:
        parse_body(raw)
    assert info.value.status == 400, why


def test_duplicates_outside_security_fields_follow_php() -> None:
    event = parse_body(body() + b"&data[FIELDS][ID]=1&data[FIELDS][ID]=2")
    assert event.data["FIELDS"]["ID"] == "2"


def test_limits() -> None:
    with pytest.raises(EventError) as info:
        parse_body(body() + b"&pad=" + b"x" * 2000, max_length=1000)
    assert info.value.status == 413
    deep = b"data" + b"[a]" * 20 + b"=1"
    with pytest.raises(EventError) as info:
        parse_body(body() + b"&" + deep)
    assert info.value.status == 400
    many = b"&".join(b"data[k%d]=1" % i for i in range(1200))
    with pytest.raises(EventError) as info:
        parse_body(body() + b"&" + many)
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"[" * 100_000 + b"]" * 100_000, 400),  # would be a RecursionError in json
        (b'{"event": "A", "event": "B"}', 400),
        (b'{"event":"ONX","auth":{"member_id":"m","application_token":"a","application_token":"b"}}', 400),
        (b'{"event":"ONX","auth":{"member_id":"m","application_token":["a"]}}', 400),
        (
            b'{"event":"ONX","auth":{"member_id":"m"},"data":'
            + json.dumps({f"k{i}": 1 for i in range(1500)}).encode()
            + b"}",
            400,
        ),
        (b"[1, 2]", 400),
        (b"{not json", 400),
    ],
)
def test_hostile_json(raw: bytes, status: int) -> None:
    with pytest.raises(EventError) as info:
        parse_body(raw, "application/json")
    assert info.value.status == status


def test_brackets_inside_json_strings_do_not_count_as_depth() -> None:
    form = event_form()
    form["data"] = {"TEXT": "[" * 50 + "{" * 50}
    assert parse_body(json.dumps(form).encode(), "application/json").data["TEXT"].startswith("[[")


@pytest.mark.parametrize(
    ("given", "expected", "ok"),
    [
        (TOKEN, TOKEN, True),
        ("wrong", TOKEN, False),
        (TOKEN[:-1], TOKEN, False),
        ("", TOKEN, False),
        ("", "", False),  # an installation without a token accepts nothing
        (TOKEN, None, False),
        ("тест", "тест", True),  # non-ASCII must not crash compare_digest
    ],
)
def test_verify_token(given: str, expected: str | None, ok: bool) -> None:
    event = Event(name="ONX", member_id=MEMBER, application_token=given)
    assert verify_token(event, expected) is ok


def test_webhook_token_matches_only_for_its_portal() -> None:
    event = Event(name="ONX", member_id=MEMBER, domain="b24.example", application_token="b" * 32)
    bound = WebhookToken.parse(f"{MEMBER}={'b' * 32}")
    assert match_webhook_token(event, [WebhookToken.parse(f"{MEMBER}={'a' * 32}"), bound])
    assert match_webhook_token(event, [WebhookToken.parse(f"B24.Example={'b' * 32}")])
    assert not match_webhook_token(event, [WebhookToken.parse(f"{MEMBER}={'a' * 32}")])
    assert not match_webhook_token(event, [WebhookToken.parse(f"{'c' * 32}={'b' * 32}")])
    assert not match_webhook_token(event, [WebhookToken.parse(f"other.example={'b' * 32}")])
    assert not match_webhook_token(event, [])
    malformed = Event(name="ONX", member_id="b24.example", domain="b24.example", application_token="b" * 32)
    assert not match_webhook_token(malformed, [WebhookToken.parse(f"b24.example={'b' * 32}")])
    assert "b" * 32 not in repr(bound)


def test_router_runs_named_then_wildcard_handlers() -> None:
    router = EventRouter()
    seen: list[str] = []

    @router.on("oncrmdealupdate", "ONCRMDEALADD")
    def deal(event: Event, ctx: EventContext) -> None:
        seen.append("deal:" + event.name)

    @router.on("*")
    def anything(event: Event, ctx: EventContext) -> None:
        seen.append("any:" + event.name)

    assert router.dispatch(parse_body(body())) == 2
    assert router.dispatch(Event(name="ONCRMCONTACTADD", member_id=MEMBER)) == 1
    assert seen == ["deal:ONCRMDEALUPDATE", "any:ONCRMDEALUPDATE", "any:ONCRMCONTACTADD"]
    assert router.events == ["ONCRMDEALADD", "ONCRMDEALUPDATE"]


def test_context_client_comes_from_the_store_factory_not_the_event() -> None:
    asked: list[str] = []

    def clients(member_id: str) -> Any:
        asked.append(member_id)
        return "client-for-" + member_id

    event = parse_body(body())  # no access_token: a robot's change (T22)
    ctx = EventContext(event, clients)
    first: object = ctx.client
    second: object = ctx.client
    assert first == second == "client-for-" + MEMBER
    assert asked == [MEMBER]


class FakeClient:
    def __init__(self, bound: list[dict[str, Any]]) -> None:
        self.bound = bound
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        self.calls.append((method, dict(params or {})))
        if method == "event.get":
            return self.bound
        return True


def test_ensure_bindings_binds_only_what_is_missing() -> None:
    url = "https://app.example/events"
    client = FakeClient([{"event": "ONCRMDEALUPDATE", "handler": url, "auth_type": "0", "offline": 0}])
    made = ensure_bindings(client, url, ["ONCRMDEALUPDATE", "ONCRMDEALADD"], ["ONCRMDEALUPDATE"])  # type: ignore[arg-type]
    assert made == ["ONCRMDEALADD", "ONCRMDEALUPDATE offline"]
    assert client.calls[1:] == [
        ("event.bind", {"event": "ONCRMDEALADD", "handler": url}),
        ("event.bind", {"event": "ONCRMDEALUPDATE", "handler": url, "event_type": "offline"}),
    ]
