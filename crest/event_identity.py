"""The identity of one change on a portal: the inbox's de-duplication key (T21).

Bitrix24 can hand the app the same change twice: as an online POST to ``/events`` and again
as a row of the offline queue (``event.offline.get``) when the app binds both kinds, and a
POST can be re-delivered with different tokens in its ``auth`` block. The raw bytes then
differ, so the body hash alone lets both through. What the two paths share is:

* the event name (``event`` / ``EVENT_NAME``),
* the portal (``auth[member_id]``; the offline row is fetched per portal),
* the record that changed (``data[FIELDS][ID]`` / ``EVENT_DATA[FIELDS][ID]``; for events
  without one, the whole ``data`` block),
* the moment of the change: the online ``ts`` (Unix seconds) and the offline row's
  ``TIMESTAMP_X`` (ISO 8601, the same second on the portal's clock).

``EVENT|member_id|record|unix-second`` is stable for one change and different for two changes
of one record in different seconds. Two changes of one record within one second look the same
on the wire (Bitrix24 sends only the ID), so the inbox (:func:`crest.inbox.Inbox.enqueue`)
merges copies only where that loses nothing: an offline copy of a change that came in online,
or any copy while the stored one still waits for its handler (which will read the record's
latest state). An event without a timestamp gets no key and is de-duplicated by its exact
body only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from crest.events import Event

__all__ = ["change_key", "unix_second"]


def unix_second(ts: str) -> int | None:
    """``ts`` as whole Unix seconds: digits (online) or ISO 8601 (offline ``TIMESTAMP_X``)."""
    text = ts.strip()
    if not text:
        return None
    if text.isdigit():
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        # Bitrix24 writes the zone; a bare time is taken as UTC rather than this machine's zone,
        # so that the key does not depend on where the worker runs.
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


def _as_text(value: Any) -> Any:
    # Online bodies are form-encoded (every scalar a string); offline rows are JSON (numbers
    # stay numbers). Text on both sides makes the two copies of one change compare equal.
    if isinstance(value, Mapping):
        return {str(k): _as_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_text(v) for v in value]
    return "" if value is None else str(value)


def change_key(event: Event) -> str | None:
    """``EVENT|member_id|record|unix-second`` for one change, or None when it has no timestamp."""
    second = unix_second(event.offline.get("TIMESTAMP_X", "") if event.offline else event.ts)
    if second is None and event.offline:
        second = unix_second(event.ts)
    if second is None:
        return None
    record = event.entity_id
    if record is None:
        canonical = json.dumps(_as_text(event.data), sort_keys=True, separators=(",", ":"))
        record = "data:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
    return f"{event.name.upper()}|{event.member_id}|{record}|{second}"
