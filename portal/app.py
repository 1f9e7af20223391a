"""``create_portal(config) -> Flask``: the local Bitrix24 portal as a WSGI application."""

from __future__ import annotations

from flask import Flask, Response, request

from portal.clock import Clock
from portal.config import PortalConfig
from portal.core import Portal


def create_portal(config: PortalConfig | None = None, *, clock: Clock | None = None) -> Flask:
    """Build the portal app. ``app.extensions["b24portal"]`` is its :class:`~portal.core.Portal`."""
    import portal.methods  # noqa: F401  (registers every REST method)
    from portal import admin, admin_access, admin_events, oauth, rest, static_apps, ui

    config = config or PortalConfig()
    state = Portal(config, clock)
    app = Flask(__name__, static_folder="static", static_url_path="/_static")
    app.extensions["b24portal"] = state
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    app.register_blueprint(oauth.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(admin_events.bp)
    app.register_blueprint(ui.bp)
    app.register_blueprint(static_apps.bp)
    if config.base_url is None:

        @app.before_request
        def learn_base_url() -> None:
            state.learn_base_url(request.host_url)

    @app.before_request
    def guard_admin_api() -> Response | None:
        # One guard for every /_portal/ route, whichever blueprint adds it.
        if request.path.startswith(admin_access.PREFIX) or request.path == admin_access.PREFIX.rstrip("/"):
            return admin_access.check(state)
        return None

    # /rest/ is answered by a WSGI middleware in front of Flask: it is the hot path.
    app.wsgi_app = rest.RestFastPath(app.wsgi_app, state)  # type: ignore[method-assign]
    return app
