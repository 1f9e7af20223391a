"""The inbox's change identity (EVENT|member_id|record|unix-second) and when copies merge."""

from __future__ import annotations

import json
from pathlib import Path

from crest.event_identity import change_key, unix_second
from crest.events import parse_body
from crest.forms import encode
from crest.inbox import Inbox
from crest.worker import offline_body

MEMBER = "f" * 32


def online(deal: int, ts: int, token: str = "a") -> bytes:  # noqa: S107 - a dummy token
    return encode(
        {
            "event": "ONCRMDEALUPDATE",
            "data": {"FIELDS": {"ID": str(deal)}},
            "ts": str(ts),
            "auth": {"member_id": MEMBER, "access_token": token, "application_token": "t" * 32},
        }
    ).encode()


def offline(deal: int, iso: str) -> bytes:
    row = {
        "ID": "9",
        "EVENT_NAME": "ONCRMDEALUPDATE",
        "EVENT_DATA": {"FIELDS": {"ID": deal}},  # JSON: a number, where the POST has text
        "TIMESTAMP_X": iso,
        "MESSAGE_ID": "m",
    }
    return offline_body(row, MEMBER)


def put(box: Inbox, body: bytes, source: str = "online") -> int | None:
    ctype = "application/json" if source == "offline" else "application/x-www-form-urlencoded"
    return box.enqueue(body, event="ONCRMDEALUPDATE", member_id=MEMBER, content_type=ctype, source=source)


def test_both_paths_give_one_key() -> None:
    ts = 1766047124
    iso = "2025-12-18T08:38:44+00:00"
    assert unix_second(iso) == ts and unix_second(str(ts)) == ts
    a = change_key(parse_body(online(7405, ts)))
    b = change_key(parse_body(offline(7405, iso), "application/json"))
    assert a == b == f"ONCRMDEALUPDATE|{MEMBER}|7405|{ts}"
    assert change_key(parse_body(online(7405, ts + 1))) != a
    assert change_key(parse_body(online(7406, ts))) != a
    no_ts = json.dumps({"event": "ONCRMDEALUPDATE", "auth": {"member_id": MEMBER}}).encode()
    assert change_key(parse_body(no_ts, "application/json")) is None


def test_copies_merge_only_where_nothing_is_lost(tmp_path: Path) -> None:
    box = Inbox(tmp_path / "inbox.sqlite")
    ts, iso = 1766047124, "2025-12-18T08:38:44+00:00"
    first = put(box, online(1, ts, "a"))
    assert first is not None
    # Still waiting for its handler: a re-delivery with other tokens is the same change.
    assert put(box, online(1, ts, "b")) is None
    item = box.claim("w")
    assert item is not None and box.ack(item.id, "w")
    # The twin already ran: within one second this may be a second change, so it is kept...
    assert put(box, online(1, ts, "c")) is not None
    # ...while the offline queue's copy of that second is not (the online events delivered it).
    assert put(box, offline(1, iso), "offline") is None
    # Offline first (recovered before the POST came): the POST merges while the copy waits.
    assert put(box, offline(2, iso), "offline") is not None
    assert put(box, online(2, ts)) is None
    assert box.counts()["pending"] + box.counts()["done"] == 3


def test_forgetting_a_portal_removes_its_events_only(tmp_path: Path) -> None:
    box = Inbox(tmp_path / "inbox.sqlite")
    other = "0" * 32
    assert put(box, online(1, 100)) is not None
    assert box.enqueue(b'{"event":"X","ts":"1"}', event="X", member_id=other, content_type="application/json")
    box.begin_offline_process(MEMBER, "p1")
    assert box.forget_portal(MEMBER) == 1
    assert box.offline_process(MEMBER) is None
    item = box.claim("w")
    assert item is not None and item.member_id == other
