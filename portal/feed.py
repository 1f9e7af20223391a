"""The portal's live feed (News Feed): blog posts and who may read them.

Kept apart from the CRM: it receives only where to persist and what time it is. The REST side
is :mod:`portal.methods.feed` (``log.blogpost.add``/``get``); the page is :mod:`portal.ui_feed`.

A post is readable by the recipients in its ``DEST``: ``UA`` (every authorized user), ``U<id>``
(a user), ``DR<id>`` (a department's employees) or ``SG<id>`` (a workgroup; this portal has no
workgroups, so only the author reads such a post). The author always reads their own posts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from portal.persist import Persistence, Table

#: Live feed events and the scope an app needs to bind each (merged into the event bus's list).
FEED_EVENTS: dict[str, str | None] = {
    "ONLIVEFEEDPOSTADD": "log",
    "ONLIVEFEEDPOSTUPDATE": "log",
    "ONLIVEFEEDPOSTDELETE": "log",
}
DESTINATION = re.compile(r"(UA|U\d+|DR\d+|SG\d+)")


def readers_match(dest: Iterable[str], user_id: int, departments: Iterable[int]) -> bool:
    """Whether a user (in ``departments``) is among the recipients ``dest``."""
    mine = {"UA", f"U{user_id}", *(f"DR{d}" for d in departments)}
    return any(d in mine for d in dest)


class FeedStore:
    def __init__(self, persist: Persistence, now: Callable[[], float]) -> None:
        self.now = now
        self.posts: Table[int] = Table(persist, "feed_post", int)

    def add(self, record: dict[str, Any]) -> dict[str, Any]:
        post_id = max((*self.posts.rows, 0)) + 1
        post = {**record, "ID": post_id, "DATE": self.now()}
        self.posts.put(post_id, post)
        return post

    def get(self, post_id: int) -> dict[str, Any] | None:
        found = self.posts.get(post_id)
        return dict(found) if found else None

    def readable(self, user_id: int, departments: Iterable[int]) -> list[dict[str, Any]]:
        """The posts ``user_id`` may read, newest first."""
        depts = list(departments)
        return [
            dict(p)
            for _, p in sorted(self.posts.rows.items(), reverse=True)
            if int(p["AUTHOR_ID"]) == user_id or readers_match(p["DEST"], user_id, depts)
        ]
