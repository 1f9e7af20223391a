"""The portal's live feed page (``/stream/``): the posts the person may read, newest first.

Text is shown as written; of Bitrix24's BBCode only ``[B]``, ``[I]`` and ``[BR]`` are drawn,
by the template (``|feed_text``), after escaping, so a post can never inject markup.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from markupsafe import Markup, escape

from portal.params import small_int
from portal.rest import portal

bp = Blueprint("ui_feed", __name__, template_folder="templates")

DEFAULT_USER = 1
_CSP = "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'self'; base-uri 'none'; object-src 'none'"
_TAGS = re.compile(r"\[(/?)(B|I)\]", re.IGNORECASE)


@bp.app_template_filter("feed_text")
def feed_text(text: str) -> Markup:
    safe = str(escape(text))
    safe = re.sub(r"\[BR\]", "\n", safe, flags=re.IGNORECASE)
    safe = _TAGS.sub(lambda m: f"<{m.group(1)}{'strong' if m.group(2).upper() == 'B' else 'em'}>", safe)
    return Markup(safe)  # noqa: S704  (escaped above; only <strong>/<em> are added back)


@bp.after_request
def _headers(resp: Response) -> Response:
    if resp.mimetype == "text/html":
        resp.headers.setdefault("Content-Security-Policy", _CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    return resp


@bp.get("/stream/")
def stream() -> str:
    p = portal()
    user_id = small_int(request.args.get("user_id", ""), DEFAULT_USER)
    user = p.directory.get(user_id)
    if user is None:
        abort(404, f"No user {user_id} on this portal")
    departments = [int(d) for d in user.get("UF_DEPARTMENT") or []]
    with p.lock:
        posts: list[dict[str, Any]] = p.feed.readable(user_id, departments)
    rows = [
        {
            "id": post["ID"],
            "title": post["TITLE"],
            "author": p.directory.full_name(int(post["AUTHOR_ID"])),
            "date": dt.datetime.fromtimestamp(float(post["DATE"]), dt.UTC).strftime("%d %B %Y %H:%M"),
            "text": post["DETAIL_TEXT"],
            "important": post["IMPORTANT"],
            "tags": post["TAGS"],
        }
        for post in posts
    ]
    return render_template(
        "portal/feed.html", portal_name=p.domain, user_name=p.directory.full_name(user_id), posts=rows
    )
