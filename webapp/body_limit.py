"""A body sent without ``Content-Length`` (``Transfer-Encoding: chunked``) is held to the size limit.

Werkzeug enforces ``MAX_CONTENT_LENGTH`` on such a body by reading at most that many bytes
and stopping there (``LimitedStream`` with ``is_max``): the rest is never looked at, so a
chunked body over the limit reached the routes cut to exactly the limit, and a truncated
event was stored. This happens under Werkzeug's server (``crest demo``) and under gunicorn
alike: both de-chunk the body and mark it ``wsgi.input_terminated``.

:class:`BodyLimit` reads such a body itself, one byte past the limit, and hands the app a
body with a ``Content-Length``: the real length when it fits, or ``limit + 1`` (the bytes it
read, so "more than the limit") when it does not. The app then answers 413 exactly as it does
for a declared length that is too large: nothing over the limit is ever processed.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import IO, TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["DRAIN_LIMIT", "BodyLimit", "install"]

#: After a body over the limit, up to this many more bytes are read and thrown away so that
#: the client, still sending, receives the 413 instead of a connection reset; a longer body
#: is cut off by closing the connection (the server does so after any chunked request).
DRAIN_LIMIT = 8 * 1024 * 1024
_CHUNK = 64 * 1024


def _read_up_to(stream: IO[bytes], size: int) -> bytes:
    parts: list[bytes] = []
    left = size
    while left > 0:
        part = stream.read(min(left, _CHUNK))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _drain(stream: IO[bytes], size: int) -> None:
    left = size
    while left > 0:
        part = stream.read(min(left, _CHUNK))
        if not part:
            return
        left -= len(part)


class BodyLimit:
    """WSGI middleware: a de-chunked body over ``limit()`` bytes arrives as a too-long body (413).

    ``limit`` is asked on every request (``app.config["MAX_CONTENT_LENGTH"]`` may be set after
    :func:`~webapp.create_app`); ``None`` means no limit, and the body is left to the server.
    """

    def __init__(self, app: WSGIApplication, limit: Callable[[], int | None]) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        limit = self.limit()
        # Only a body the server has terminated (de-chunked) can be read to its end safely; one
        # without a length and without that mark is empty to Werkzeug anyway.
        if limit is not None and not environ.get("CONTENT_LENGTH") and environ.get("wsgi.input_terminated"):
            stream: IO[bytes] = environ["wsgi.input"]
            body = _read_up_to(stream, limit + 1)
            if len(body) > limit:
                _drain(stream, DRAIN_LIMIT)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            # The app now gets a plain body of known length: Werkzeug ignores Content-Length
            # while Transfer-Encoding says chunked, and would cut at the limit again.
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ.pop("wsgi.input_terminated", None)
        return self.app(environ, start_response)


def install(app: Flask) -> None:
    """Put :class:`BodyLimit` in front of a Flask app, with the app's ``MAX_CONTENT_LENGTH``."""
    app.wsgi_app = BodyLimit(  # type: ignore[method-assign]
        app.wsgi_app, lambda: app.config.get("MAX_CONTENT_LENGTH")
    )
