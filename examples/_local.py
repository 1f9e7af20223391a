"""What the app-based examples share: register an app on a local portal and serve it.

On a real Bitrix24 an administrator adds the local application on Developer resources and
copies ``client_id``/``client_secret`` into the app's settings. Against ``crest portal`` the
examples do that step themselves through the portal's loopback admin API, so each runs with one
command. The app is registered as "uses API only": the portal installs it at once (ONAPPINSTALL,
server to server), the app binds its event handlers, and events flow without a browser.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from flask import Flask

from crest.settings import Settings
from portal.server import ServerThread, wait_until_stopped
from webapp.factory import create_app

SCOPES = ("crm", "user", "placement", "task", "im", "imbot", "log", "telephony")


@dataclass
class LocalApp:
    url: str
    app: Flask
    registered: dict[str, Any]
    portal_url: str


def admin(portal_url: str, admin_token: str, verb: str, path: str, json: Any = None) -> Any:
    # The token `crest portal` prints: the admin API wants it in a header, never in the URL.
    resp = requests.request(
        verb,
        f"{portal_url.rstrip('/')}/_portal/{path}",
        json=json,
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=30,
    )
    resp.raise_for_status()
    return resp.json()


@contextmanager
def local_app(
    portal_url: str,
    workdir: Path,
    *,
    title: str,
    admin_token: str,
    setup: Callable[[Flask], None] = lambda app: None,
    host: str = "localhost",
    port: int = 0,
) -> Iterator[LocalApp]:
    """The webapp kit's app with ``setup`` applied (handlers, routes), registered and running."""
    portal_url = portal_url.rstrip("/")
    info = admin(portal_url, admin_token, "GET", "info")
    # Bound first: the registration carries the app's URLs, and ONAPPINSTALL is sent at once
    # (it waits in the listen backlog until the app is served).
    server = ServerThread(None, host, port)
    url = f"http://{host}:{server.port}"
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        registered = admin(
            portal_url,
            admin_token,
            "POST",
            "apps",
            {
                "title": title,
                "handler_url": f"{url}/",
                "install_url": f"{url}/install",
                "scopes": list(SCOPES),
                "api_only": True,
            },
        )
        settings = Settings(
            client_id=registered["client_id"],
            client_secret=registered["client_secret"],
            oauth_token_url=info["token_url"],
            oauth_server_endpoint=info["server_endpoint"],
            allow_http_portals=portal_url.startswith("http:"),
            app_base_url=url,
            bx24_js_url=f"{portal_url}/bx24/api/v1/",
            secret_key=secrets.token_urlsafe(32),
            store=f"sqlite:{workdir / 'crest.sqlite'}",
            events_worker="thread",
        )
        app = create_app(settings)
        setup(app)
        server.set_app(app)
        server.start()
    except BaseException:
        server.server.server_close()
        raise
    try:
        yield LocalApp(url, app, registered, portal_url)
    finally:
        server.stop()
        from webapp.events import stop_worker

        stop_worker(app)


def wait_for_install(handle: LocalApp, timeout: float = 10.0) -> None:
    """Until the app is installed *and* its event handlers are bound.

    The installation is stored before the handlers are bound (both while the portal's
    ONAPPINSTALL is being answered), so an event sent in between would find no handler.
    """
    from webapp.events import router
    from webapp.extension import state

    crest = state(handle.app)
    wanted = set(router(handle.app).events)
    pause = threading.Event()
    for _ in range(int(timeout / 0.05)):
        found = crest.store.all_installations()
        if found:
            bound = {row["event"] for row in crest.client(found[0].member_id).call("event.get")}
            if wanted <= bound:
                return
        pause.wait(0.05)
    raise TimeoutError("the portal did not install the app (is it `crest portal`?)")


def run_until_stopped(message: str) -> None:
    print(message, flush=True)
    wait_until_stopped()
