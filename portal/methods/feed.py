"""REST methods: the live feed (``log.blogpost.add``, ``log.blogpost.get``).

Posts are answered in ``log.blogpost.get``'s shape without the ``UF_*`` field descriptions
(this portal has no custom fields, files, polls or gratitudes). A new post raises
``ONLIVEFEEDPOSTADD`` with ``data[FIELDS][POST_ID]``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from portal import errors
from portal.context import Call, Paged
from portal.crm import iso_datetime
from portal.feed import DESTINATION, FeedStore
from portal.registry import method

_SCOPE = "log"
_ADD_ERROR = "SONET_CONTROLLER_LIVEFEED_BLOGPOST_ADD_ERROR"
PAGE = 50


def feed(call: Call) -> FeedStore:
    return call.portal.feed


def _list(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list):
        value = [value]
    return [str(v).strip().upper() for v in value if str(v).strip()]


def _departments(call: Call, user_id: int) -> list[int]:
    user = call.portal.directory.get(user_id) or {}
    return [int(d) for d in user.get("UF_DEPARTMENT") or []]


@method("log.blogpost.add", scope=_SCOPE)
def blogpost_add(call: Call) -> int:
    text = str(call.param("POST_MESSAGE") or "").strip()
    if not text:
        raise errors.RestError(_ADD_ERROR, "Blog post hasn't been added", 400)
    given = _list(call.param("DEST")) or _list(call.param("SPERM"))
    dest = [d for d in given if DESTINATION.fullmatch(d)] if given else ["UA"]
    if not dest:
        raise errors.RestError(_ADD_ERROR, "No destination specified", 400)
    author = call.user_id
    as_user = call.param("USER_ID")
    if as_user not in (None, "", str(author), author):
        if not call.is_admin:
            raise errors.access_denied("Only an administrator can post on behalf of another user")
        try:
            author = int(str(as_user))
        except ValueError:
            author = 0
        if call.portal.directory.get(author) is None:
            raise errors.RestError(_ADD_ERROR, "Blog post hasn't been added", 400)
    tags = [t.strip() for t in str(call.param("TAGS") or "").split(",") if t.strip()]
    post = feed(call).add(
        {
            "AUTHOR_ID": author,
            "TITLE": str(call.param("POST_TITLE") or "").strip(),
            "DETAIL_TEXT": text,
            "DEST": dest,
            "IMPORTANT": str(call.param("IMPORTANT") or "N").upper() == "Y",
            "TAGS": tags,
        }
    )
    call.portal.events.emit(
        "ONLIVEFEEDPOSTADD", {"FIELDS": {"POST_ID": str(post["ID"])}}, user_id=call.user_id
    )
    return int(post["ID"])


def shown(post: dict[str, Any]) -> dict[str, Any]:
    """One post as ``log.blogpost.get`` answers it."""
    return {
        "ID": str(post["ID"]),
        "BLOG_ID": "1",
        "PUBLISH_STATUS": "P",
        "TITLE": post["TITLE"],
        "AUTHOR_ID": str(post["AUTHOR_ID"]),
        "ENABLE_COMMENTS": "Y",
        "NUM_COMMENTS": "0",
        "CODE": None,
        # A post without a title is a micro post on Bitrix24.
        "MICRO": "N" if post["TITLE"] else "Y",
        "DETAIL_TEXT": post["DETAIL_TEXT"],
        "DATE_PUBLISH": iso_datetime(float(post["DATE"])),
        "CATEGORY_ID": ",".join(str(i + 1) for i, _ in enumerate(post["TAGS"])) or None,
        "HAS_SOCNET_ALL": "Y" if "UA" in post["DEST"] else "N",
        "HAS_TAGS": "Y" if post["TAGS"] else "N",
        "HAS_IMAGES": "N",
        "HAS_PROPS": "Y" if post["IMPORTANT"] else "N",
        "HAS_COMMENT_IMAGES": None,
        "FILES": [],
    }


def _moment(call: Call, name: str) -> float | None:
    value = call.param(name)
    if value in (None, ""):
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise errors.RestError("ERROR_ARGUMENT", f"{name} is not an ISO 8601 date", 400) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


@method("log.blogpost.get", scope=_SCOPE)
def blogpost_get(call: Call) -> Paged:
    posts = feed(call).readable(call.user_id, _departments(call, call.user_id))
    post_id = call.param("POST_ID")
    if post_id not in (None, ""):
        posts = [p for p in posts if str(p["ID"]) == str(post_id).strip()]
    else:
        rights = _list(call.param("LOG_RIGHTS"))
        if rights:
            posts = [p for p in posts if any(d in rights for d in p["DEST"])]
    since, until = _moment(call, "LOG_DATE_FROM"), _moment(call, "LOG_DATE_TO")
    if since is not None and until is not None and since > until:
        raise errors.RestError("ERROR_ARGUMENT", "LOG_DATE_FROM is later than LOG_DATE_TO", 400)
    posts = [
        p
        for p in posts
        if (since is None or float(p["DATE"]) >= since) and (until is None or float(p["DATE"]) <= until)
    ]
    start = max(call.start, 0)
    page = posts[start : start + PAGE]
    call.charge(rows=len(page))
    return Paged([shown(p) for p in page], len(posts), start + PAGE if start + PAGE < len(posts) else None)
