"""Serving a WSGI app (the portal, or the webapp) on a real socket, in a background thread.

Werkzeug's development server closes the connection after every response (its handler
cannot drain a request body before reading the next request line), so each call would pay
a TCP handshake and a new thread. A real portal keeps connections alive, and clients such as
``requests.Session`` count on it; so :class:`_KeepAliveHandler` replaces werkzeug's
``run_wsgi``: it reads a ``Content-Length`` body in full before the app runs (the next
request line is then exactly where the socket stands), buffers the app's answer and sends it
with a ``Content-Length``, and keeps the connection unless the client or the app asked
to close. Chunked request bodies fall back to closing after the answer.
"""

from __future__ import annotations

import contextlib
import io
import signal
import socket
import ssl
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

#: Bodies above this are refused with 413 before they are read (the portal's own cap is 16 MiB).
MAX_BODY = 64 * 1024 * 1024
#: Idle keep-alive connections are closed after this many seconds (nginx's default keepalive_timeout,
#: which fronts Bitrix24): a client that pauses for its own throttle finds its connection alive.
IDLE_TIMEOUT = 75.0

_HOP_BY_HOP = frozenset({"connection", "content-length", "transfer-encoding", "keep-alive"})


class _KeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    # Headers and body go out in one write below; no Nagle delay on small answers either.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        track = getattr(self.server, "_track", None)
        if track is not None:
            track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            track = getattr(self.server, "_track", None)
            if track is not None:
                track(self.connection, add=False)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # the portal keeps its own request record

    def _plain(self, code: int, text: str) -> None:
        body = text.encode()
        self.close_connection = True
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.environ = self.make_environ()
        if "wsgi.input_terminated" in environ:
            # A chunked body is read by werkzeug's de-chunker; whatever the app leaves unread
            # would be taken for the next request, so this connection ends with the answer.
            self.close_connection = True
        else:
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                self._plain(400, "Bad Content-Length")
                return
            if length < 0 or length > MAX_BODY:
                self._plain(413, "Request body too large")
                return
            body = self.rfile.read(length) if length else b""
            if len(body) < length:
                self.close_connection = True  # the client went away mid-body
                return
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(length)
        status_headers: list[Any] = []
        written: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            if exc_info and status_headers:
                raise exc_info[1].with_traceback(exc_info[2])
            status_headers[:] = [status, headers]
            return written.append

        app: Callable[..., Iterable[bytes]] = self.server.app
        try:
            result = app(environ, start_response)
            try:
                written.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:  # the app failed: answer 500 as werkzeug would, and say why on stderr
            traceback.print_exc(file=sys.stderr)
            self._plain(500, "Internal Server Error")
            return
        if not status_headers:
            self._plain(500, "The application did not start a response")
            return
        status, headers = status_headers
        code, _, reason = str(status).partition(" ")
        payload = b"".join(written)
        try:
            self.send_response(int(code), reason)
            for key, value in headers:
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
                elif key.lower() == "connection" and value.lower() == "close":
                    self.close_connection = True
            self.send_header("Content-Length", str(len(payload)))
            if self.close_connection:
                self.send_header("Connection", "close")
            if self.command != "HEAD":
                # One write for headers and body: two small writes meet the peer's delayed ACK.
                self._headers_buffer.append(b"\r\n" + payload)
                self.flush_headers()
            else:
                self.end_headers()
        except OSError:
            # The app dropped the connection on purpose (a fault), or the client left.
            self.close_connection = True


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
            host, port, app, threaded=True, request_handler=_KeepAliveHandler, ssl_context=ctx
        )
        self.server.daemon_threads = True  # type: ignore[attr-defined]
        # Open connections, so that stop() can end idle keep-alive ones too.
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        self.server._track = self._track  # type: ignore[attr-defined]
        self.scheme = "https" if ctx else "http"
        self.host = host
        self.port = self.server.socket.getsockname()[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._conn_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

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
        with self._conn_lock:
            live = list(self._connections)
        for conn in live:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until_stopped() -> None:
    """Block until Ctrl-C or SIGTERM: the foreground of ``crest portal``, ``crest demo`` and examples."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Short waits keep the main thread responsive to Ctrl-C.
    with contextlib.suppress(KeyboardInterrupt):
        while not stop.wait(0.5):
            pass
