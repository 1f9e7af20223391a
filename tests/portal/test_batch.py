"""``batch``: limits, halt, references between commands, result maps, per-command checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from portal.testing import PortalHandle
from tests.portal._portal_helpers import extra_methods, post


@pytest.fixture(autouse=True)
def _methods() -> Iterator[None]:
    with extra_methods():
        yield


def _batch(portal: PortalHandle, body: Any, url: str | None = None, **kwargs: Any) -> dict[str, Any]:
    resp = post((url or portal.webhook_url) + "batch", json=body, **kwargs) if body is not None else None
    assert resp is not None and resp.status_code == 200, resp.text if resp is not None else ""
    result: dict[str, Any] = resp.json()["result"]
    return result


def test_fifty_commands_run_and_extra_ones_fail_each(portal: PortalHandle) -> None:
    cmd = {f"c{i}": f"test.echo?i={i}" for i in range(52)}
    out = _batch(portal, {"cmd": cmd})
    assert len(out["result"]) == 50
    assert out["result"]["c49"] == {"i": "49"}
    exceeded = {"error": "ERROR_BATCH_LENGTH_EXCEEDED", "error_description": "Max batch length exceeded"}
    assert out["result_error"] == {"c50": exceeded, "c51": exceeded}
    assert portal.count("batch") == 1


def test_failures_are_collected_without_halt(portal: PortalHandle) -> None:
    cmd = {"a": "test.fail?text=first", "b": "server.time", "c": "no.such.method"}
    out = _batch(portal, {"cmd": cmd, "halt": 0})
    assert set(out["result"]) == {"b"}
    assert out["result_error"] == {
        "a": {"error": "ERROR_CORE", "error_description": "first"},
        "c": {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"},
    }
    assert set(out["result_time"]) >= {"a", "b"}


@pytest.mark.parametrize(
    ("halt", "stops"),
    [
        (1, True),
        ("1", True),
        ("false", True),
        (True, True),
        (0, False),
        ("0", False),
        ("", False),
        (False, False),
    ],
)
def test_halt_is_a_php_bool(portal: PortalHandle, halt: Any, stops: bool) -> None:
    cmd = {"a": "server.time", "b": "test.fail", "c": "server.time"}
    out = _batch(portal, {"cmd": cmd, "halt": halt})
    assert "b" in out["result_error"]
    assert ("c" in out["result"]) is (not stops)


def test_halt_false_string_in_a_form_body_halts(portal: PortalHandle) -> None:
    resp = post(
        portal.webhook_url + "batch",
        data={"cmd[a]": "test.fail", "cmd[b]": "server.time", "halt": "false"},
    )
    out = resp.json()["result"]
    assert out["result"] == [] and list(out["result_error"]) == ["a"]


def test_whole_value_reference_replaces_with_arrays_too(portal: PortalHandle) -> None:
    cmd = {
        "me": "user.current",
        "dep": "test.echo?DEP=$result[me][UF_DEPARTMENT]&ID=$result[me][ID]&who=$result[me]",
    }
    out = _batch(portal, {"cmd": cmd})
    echoed = out["result"]["dep"]
    assert echoed["DEP"] == [1]
    assert echoed["ID"] == "1"
    assert echoed["who"]["NAME"] == "Maria"


def test_references_interpolate_scalars_in_strings(portal: PortalHandle) -> None:
    cmd = {
        "me": "user.current",
        "a": "test.echo?text=user-$result[me][ID]&list=dep:$result[me][UF_DEPARTMENT]",
        # the server's pattern runs to the next whitespace, so "-x" after a reference goes with it
        "b": "test.echo?text=pre+$result[me][ID]-x+post",
        "c": "test.echo?num=$result[me][UF_DEPARTMENT][0]",
    }
    out = _batch(portal, {"cmd": cmd})["result"]
    assert out["a"] == {"text": "user-1", "list": "dep:$result[me][UF_DEPARTMENT]"}
    assert out["b"] == {"text": "pre 1 post"}
    assert out["c"] == {"num": 1}


def test_missing_segment_stops_the_descent(portal: PortalHandle) -> None:
    cmd = {"me": "user.current", "a": "test.echo?x=$result[me][NOPE][deeper]&y=$result[nobody]"}
    out = _batch(portal, {"cmd": cmd})["result"]["a"]
    assert out["x"]["ID"] == "1"  # stopped at result[me]
    assert set(out["y"]) == {"me"}  # stopped at the result map itself


def test_references_in_keys(portal: PortalHandle) -> None:
    # A top-level key "$result[me][ID]" is parsed by PHP into nested keys, so a reference
    # survives in a key only without brackets inside it; here the key is a whole reference.
    cmd = {"me": "user.current", "a": "test.echo?fields[$result]=v"}
    out = _batch(portal, {"cmd": cmd})["result"]["a"]
    assert out == {"fields": {"$result": "v"}}  # no segments: left as written
    cmd2 = {"n": "test.paged", "b": "test.echo?x=$next[n]&t=$total[n]"}
    assert _batch(portal, {"cmd": cmd2})["result"]["b"] == {"x": 50, "t": 120}


def test_total_next_and_time_maps(portal: PortalHandle) -> None:
    cmd = {"p": "test.paged", "q": "test.paged?start=100", "s": "server.time"}
    out = _batch(portal, {"cmd": cmd})
    assert out["result_total"] == {"p": 120, "q": 120}
    assert out["result_next"] == {"p": 50}
    assert set(out["result_time"]) == {"p", "q", "s"}
    assert {"start", "finish", "duration", "processing"} <= set(out["result_time"]["s"])
    assert set(out) == {"result", "result_error", "result_total", "result_next", "result_time"}


def test_nested_batch_is_refused(portal: PortalHandle) -> None:
    out = _batch(portal, {"cmd": {"inner": "batch?cmd[x]=server.time", "ok": "server.time"}})
    assert out["result_error"] == {
        "inner": {
            "error": "ERROR_BATCH_METHOD_NOT_ALLOWED",
            "error_description": "Method is not allowed for batch usage",
        }
    }
    assert "ok" in out["result"]


def test_scope_is_checked_per_command_with_empty_description(portal: PortalHandle) -> None:
    hook = portal.add_webhook(scopes=["crm"])
    out = _batch(portal, {"cmd": {"u": "user.current", "c": "test.crmonly"}}, url=hook)
    assert out["result_error"] == {"u": {"error": "insufficient_scope", "error_description": ""}}
    assert out["result"] == {"c": "crm"}


def test_list_form_cmd_gives_lists(portal: PortalHandle) -> None:
    out = _batch(portal, {"cmd": ["test.echo?n=0", "test.echo?n=1"]})
    assert out["result"] == [{"n": "0"}, {"n": "1"}]
    assert out["result_time"][1]["duration"] >= 0
    gap = _batch(portal, {"cmd": ["test.fail", "test.echo?n=1"]})
    assert gap["result"] == {"1": {"n": "1"}}  # keys not 0..n-1: a map
    assert gap["result_error"] == [{"error": "ERROR_CORE", "error_description": "failed"}]


def test_form_encoded_batch_with_double_encoding(portal: PortalHandle) -> None:
    # cmd[x]=test.echo?v=a%26b: the command string is itself URL-encoded inside the form.
    resp = post(
        portal.webhook_url + "batch",
        data="cmd%5Bx%5D=test.echo%3Fv%3Da%2526b%26w%3D1&halt=0",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.json()["result"]["result"] == {"x": {"v": "a&b", "w": "1"}}


def test_sub_calls_inherit_oauth_auth(portal: PortalHandle) -> None:
    token = portal.issue_tokens(user_id=3)["access_token"]
    resp = post(f"{portal.base_url}/rest/batch", json={"auth": token, "cmd": {"me": "user.current"}})
    assert resp.json()["result"]["result"]["me"]["ID"] == "3"
    assert resp.headers["X-Bitrix-Rest-Application"] == portal.info["client_id"]


def test_non_string_commands_are_skipped(portal: PortalHandle) -> None:
    out = _batch(portal, {"cmd": {"a": "server.time", "b": {"x": 1}}})
    assert set(out["result"]) == {"a"} and out["result_error"] == []
