"""Run the app against a local portal, on real sockets, for tests and the demo.

    with running_portal() as portal, running_app(portal) as app:
        resp = app.post_frame("/install")          # the UI install, as the portal's iframe POSTs it
        resp = app.post_frame("/")                 # the app page

The app is served on ``localhost`` while the portal is on ``127.0.0.1``: two origins, as in
production. It is registered on the portal as a local application whose handler and install
paths point at it, and its settings point at the portal's OAuth server.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests
from flask import Flask

from crest.settings import Settings
from crest.stores.base import InstallationStore
from webapp.extension import state
from webapp.factory import create_app

if TYPE_CHECKING:
    from portal.testing import PortalHandle

__all__ = ["DEFAULT_SCOPES", "AppHandle", "running_app"]

DEFAULT_SCOPES = ("crm", "user", "placement", "task", "im")


@dataclass
class AppHandle:
    url: str
    app: Flask
    store: InstallationStore
    settings: Settings
    registered: dict[str, Any]
    portal: PortalHandle
    http: requests.Session

    @property
    def client_id(self) -> str:
        return str(self.registered["client_id"])

    @property
    def application_token(self) -> str:
        return str(self.registered["application_token"])

    def frame_fields(
        self,
        *,
        user_id: int = 1,
        placement: str = "DEFAULT",
        options: Mapping[str, Any] | None = None,
        tokens: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, str], dict[str, str]]:
        """(query, body) of the portal's iframe POST (reference 6.1), with fresh tokens of ``user_id``."""
        import json

        tokens = tokens or self.portal.issue_tokens(self.client_id, user_id)
        portal = self.portal.portal
        query = {
            "DOMAIN": portal.domain,
            "PROTOCOL": "1" if portal.base_url.startswith("https") else "0",
            "LANG": "en",
            "APP_SID": secrets.token_hex(16),
        }
        body = {
            "AUTH_ID": str(tokens["access_token"]),
            "AUTH_EXPIRES": str(tokens["expires_in"]),
            "REFRESH_ID": str(tokens["refresh_token"]),
            "SERVER_ENDPOINT": portal.server_endpoint,
            "APPLICATION_TOKEN": self.application_token,
            "APPLICATION_SCOPE": ",".join(self.registered["scopes"]),
            "member_id": portal.config.member_id,
            "status": "L",
            "PLACEMENT": placement,
            "PLACEMENT_OPTIONS": json.dumps(dict(options or {})),
        }
        return query, body

    def post_frame(self, path: str, **kwargs: Any) -> requests.Response:
        """POST the iframe context to ``path``; keyword arguments go to :meth:`frame_fields`."""
        query, body = self.frame_fields(**kwargs)
        return self.http.post(self.url + path, params=query, data=body, timeout=30)

    def portal_calls(self) -> list[str]:
        """Names of the calls the portal has recorded (OAuth ones included) since it was last cleared."""
        return [str(r["method"]) for r in self.portal.requests()]

    def install(self, *, finish: bool = True, **kwargs: Any) -> requests.Response:
        """The UI install: the installer page POSTed with ``PLACEMENT=DEFAULT``.

        With ``finish`` the portal then records the app as installed, as the page's
        ``BX24.installFinish()`` makes it do in a browser; until then it sends no events.
        """
        resp = self.post_frame("/install", **kwargs)
        resp.raise_for_status()
        if finish:
            assert "BX24.installFinish()" in resp.text
            portal = self.portal.portal
            with portal.lock:
                current = portal.credentials.apps.get(self.client_id)
                portal.credentials.update_app(current, installed=True)
        return resp


@contextmanager
def running_app(
    portal: PortalHandle,
    *,
    host: str = "localhost",
    scopes: tuple[str, ...] = DEFAULT_SCOPES,
    api_only: bool = False,
    events_worker: bool = False,
    demo: bool = True,
    factory: Callable[[Settings], Flask] | None = None,
    **settings: Any,
) -> Iterator[AppHandle]:
    """The app, registered on ``portal`` and served on ``host``; ``settings`` override the defaults.

    ``demo``: the kit's demo page and contact tab (as ``crest demo`` runs it); ``False`` gives the
    bare kit, to which a test adds its own pages through :mod:`webapp.hooks`. ``factory``: an
    app of your own, ``factory(settings) -> Flask`` (your ``create_app``), given the settings
    that point it at ``portal``; ``demo`` is then ignored.

    The store defaults to ``memory:``; pass ``store="sqlite:/path"`` for a file. The events
    worker thread is off unless asked for, so tests see only the calls they make.
    """
    from portal.server import ServerThread

    # Bound before registering: the app's URLs go into the registration, and an API-only
    # registration sends ONAPPINSTALL at once (it waits in the listen backlog until we serve).
    server = ServerThread(None, host, 0)
    url = f"http://{host}:{server.port}"
    try:
        registered = portal.register_app(
            title="b24-crest test app",
            handler_url=f"{url}/",
            install_url=f"{url}/install",
            scopes=list(scopes),
            api_only=api_only,
        )
        values: dict[str, Any] = {
            "client_id": registered["client_id"],
            "client_secret": registered["client_secret"],
            "oauth_token_url": portal.portal.token_url,
            "oauth_server_endpoint": portal.portal.server_endpoint,
            "allow_http_portals": True,
            "app_base_url": url,
            "bx24_js_url": f"{portal.base_url}/bx24/api/v1/",
            "secret_key": secrets.token_urlsafe(32),
            "ca_bundle": portal.ca_bundle,
            "store": "memory:",
            "events_worker": "thread" if events_worker else "off",
        }
        values.update(settings)
        # Not Settings.load(): a test or the demo must not pick up the caller's settings.py or C_REST_* variables.
        config = Settings(**values)
        app = factory(config) if factory is not None else create_app(config, demo=demo)
        server.set_app(app)
        server.start()
    except BaseException:
        server.server.server_close()
        raise
    http = requests.Session()
    try:
        yield AppHandle(url, app, state(app).store, config, registered, portal, http)
    finally:
        http.close()
        server.stop()
        if events_worker:
            from webapp.events import stop_worker

            stop_worker(app)
