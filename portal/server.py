"""Serving a WSGI app (the portal, or the webapp) on a real socket, in a background thread.

Werkzeug's threaded server with HTTP/1.1 keep-alive: clients reuse connections, as they do
against a real portal.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _Handler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # the portal keeps its own request record


class ServerThread:
    """``make_server`` + ``serve_forever`` in a daemon thread; ``stop()`` closes it."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        certfile: str | None = None,
        keyfile: str | None = None,
    ) -> None:
        ctx = None
        if certfile and keyfile:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certfile, keyfile)
        self.server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=_Handler, ssl_context=ctx
        )
        self.server.daemon_threads = True  # type: ignore[attr-defined]
        self.scheme = "https" if ctx else "http"
        self.host = host
        self.port = self.server.socket.getsockname()[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def set_app(self, app: Any) -> None:
        self.server.app = app

    def start(self) -> ServerThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
