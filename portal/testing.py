"""Run a local portal on 127.0.0.1 for tests: :func:`running_portal` and :class:`PortalHandle`.

Everything a test does goes through HTTP, as against a real portal; the handle adds the
admin API (faults, the request record, the clock), sending the portal's admin token with
every call, and, for assertions, the portal's state.

A portal is two servers: the portal itself and, on a port of its own, the origin that
serves static apps (portal.static_apps), so that an app's script never runs on the
portal's origin.

    with running_portal(contacts=100) as p:
        client = Client.from_webhook(p.webhook_url)
        p.fault("crm.contact.add", error="QUERY_LIMIT_EXCEEDED", status=503, count=2)
        ...
        assert p.count("crm.contact.add") == 3
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from portal.admin_access import listening_hosts
from portal.app import create_portal
from portal.config import PortalConfig
from portal.core import Portal
from portal.server import ServerThread
from portal.static_apps import create_static_origin
from portal.tls import ensure_tls


class PortalServer(ServerThread):
    """The portal's server; ``static`` is its companion serving static apps, stopped with it."""

    def __init__(self, *args: Any, static: ServerThread, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.static = static

    def start(self) -> PortalServer:
        self.static.start()
        super().start()
        return self

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self.static.stop()


class PortalHandle:
    def __init__(self, server: ServerThread, app: Any, ca_bundle: str | None) -> None:
        self.server = server
        self.app = app
        self.ca_bundle = ca_bundle
        self.portal: Portal = app.extensions["b24portal"]
        self._http = requests.Session()
        self._http.verify = ca_bundle or True

    # --- addresses ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.portal.base_url

    @property
    def webhook_url(self) -> str:
        return self.portal.credentials.webhook_url(self.portal.default_webhook)

    @property
    def static_url(self) -> str:
        """The origin that serves this portal's static apps (not the portal's own)."""
        return str(self.portal.config.static_apps_url)

    @property
    def info(self) -> dict[str, Any]:
        return {**self.portal.info(), "ca_bundle": self.ca_bundle}

    # --- admin API (over HTTP) ---------------------------------------------------------------

    @property
    def admin_token(self) -> str:
        return self.portal.admin_token

    @property
    def admin_headers(self) -> dict[str, str]:
        """Headers that authenticate a request to the admin API (``/_portal/``)."""
        return {"Authorization": f"Bearer {self.admin_token}"}

    def admin(self, verb: str, path: str, json: Any = None) -> Any:
        # verify per request: a Session's own verify loses to REQUESTS_CA_BUNDLE from the environment.
        resp = self._http.request(
            verb,
            f"{self.server.url}/_portal/{path}",
            json=json,
            headers=self.admin_headers,
            timeout=30,
            verify=self.ca_bundle or True,
        )
        resp.raise_for_status()
        return resp.json()

    def upload_static_app(self, archive: bytes, *, title: str, scopes: list[str] | None = None) -> Any:
        """``POST /_portal/static-apps``: the raw answer, so tests can assert refusals too."""
        return self._http.post(
            f"{self.server.url}/_portal/static-apps",
            files={"archive": ("app.zip", archive, "application/zip")},
            data={"title": title, "scope": scopes or []},
            headers=self.admin_headers,
            timeout=30,
            verify=self.ca_bundle or True,
        )

    def fault(self, method: str, *, kind: str = "error", count: int = 1, **fields: Any) -> None:
        self.admin("POST", "faults", {"method": method, "kind": kind, "count": count, **fields})

    def clear_faults(self) -> None:
        self.admin("DELETE", "faults")

    def requests(self, since: float | None = None) -> list[dict[str, Any]]:
        return self.admin("GET", "requests" + (f"?since={since}" if since is not None else ""))  # type: ignore[no-any-return]

    def clear_requests(self) -> None:
        self.admin("DELETE", "requests")

    def count(self, method: str | None = None, **match: Any) -> int:
        """How many recorded requests match ``method`` and the given record fields."""
        return sum(
            1
            for r in self.requests()
            if (method is None or r["method"] == method) and all(r.get(k) == v for k, v in match.items())
        )

    def advance(self, seconds: float) -> None:
        self.admin("POST", "clock", {"advance": seconds})

    def freeze_clock(self, frozen: bool = True) -> None:
        """Stop (or restart) the portal's clock; :meth:`advance` still moves it."""
        self.admin("POST", "clock", {"freeze": frozen})

    def oauth_outage(self, status: int | None = 503) -> None:
        if status is None:
            self.admin("DELETE", "oauth-outage")
        else:
            self.admin("POST", "oauth-outage", {"status": status})

    def add_webhook(self, user_id: int = 1, scopes: list[str] | None = None) -> str:
        return self.admin("POST", "webhooks", {"user_id": user_id, "scopes": scopes})["url"]  # type: ignore[no-any-return]

    def register_app(self, **fields: Any) -> dict[str, Any]:
        return self.admin("POST", "apps", fields)  # type: ignore[no-any-return]

    def issue_tokens(self, client_id: str | None = None, user_id: int = 1) -> dict[str, Any]:
        return self.admin("POST", "tokens", {"client_id": client_id, "user_id": user_id})  # type: ignore[no-any-return]

    def reset_limits(self) -> None:
        self.admin("POST", "limits/reset")

    # --- events ------------------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued event has been delivered (or failed)."""
        self.admin("POST", "deliveries/flush", {"timeout": timeout})

    def deliveries(self, event: str | None = None) -> list[dict[str, Any]]:
        return self.admin("GET", "deliveries" + (f"?event={event}" if event else ""))  # type: ignore[no-any-return]

    def add_outgoing_webhook(self, url: str, events: list[str]) -> dict[str, Any]:
        """An outgoing webhook configured on the portal: ``{id, application_token}``."""
        return self.admin("POST", "outgoing-webhooks", {"url": url, "events": events})  # type: ignore[no-any-return]

    def update_app(self, client_id: str) -> dict[str, Any]:
        """Publish the app's next version: ONAPPUPDATE to its handlers, which the portal then drops."""
        return self.admin("POST", f"apps/{client_id}/update")  # type: ignore[no-any-return]

    def delete_app(self, client_id: str, *, clean: bool = False) -> None:
        """Uninstall an app as its admin would: ONAPPUNINSTALL, then its handlers and tokens go."""
        self.admin("DELETE", f"apps/{client_id}" + ("?clean=1" if clean else ""))

    def close(self) -> None:
        self._http.close()


def start_portal(
    config: PortalConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    https: bool = False,
    tls_dir: str | None = None,
    static_port: int = 0,
) -> tuple[PortalServer, Any, str | None]:
    """Bind both servers, build the portal for the bound URLs, and serve them in threads."""
    config = config or PortalConfig()
    ca_bundle = cert = key = None
    if https:
        files = ensure_tls(
            tls_dir or tempfile.mkdtemp(prefix="b24portal-tls-"), (host, "localhost", "127.0.0.1")
        )
        ca_bundle, cert, key = files.ca_bundle, files.cert, files.key
    # Static apps get the same scheme and certificate on another port: another origin.
    static = ServerThread(None, host, static_port, certfile=cert, keyfile=key)
    try:
        server = PortalServer(None, host, port, certfile=cert, keyfile=key, static=static)
    except BaseException:
        static.server.server_close()
        raise
    # The portal trusts its own CA when it delivers events to https handlers.
    app = create_portal(
        config.replace(
            base_url=config.base_url or server.url,
            ca_bundle=config.ca_bundle or ca_bundle,
            admin_hosts=(*config.admin_hosts, *listening_hosts(host, server.port)),
            static_apps_url=config.static_apps_url or static.url,
        )
    )
    server.set_app(app)
    static.set_app(create_static_origin(app))
    server.start()
    return server, app, ca_bundle


@contextmanager
def running_portal(
    config: PortalConfig | None = None, *, https: bool = False, **overrides: Any
) -> Iterator[PortalHandle]:
    """A fresh portal on 127.0.0.1 for the duration of the block.

    ``overrides`` are :class:`PortalConfig` fields; without them the portal runs with limits
    and method cost off, so tests are fast unless they ask for the limits.
    """
    if config is None:
        config = PortalConfig(limits=False, cost=None)
    if overrides:
        config = config.replace(**overrides)
    server, app, ca_bundle = start_portal(config, https=https)
    handle = PortalHandle(server, app, ca_bundle)
    try:
        yield handle
    finally:
        handle.close()
        server.stop()
