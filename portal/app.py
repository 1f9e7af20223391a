"""``create_portal(config) -> Flask``: the local Bitrix24 portal as a WSGI application."""

from __future__ import annotations

from flask import Flask, Response, request
from markupsafe import escape

from crest.errors import FormError
from crest.forms import decode
from portal import phpjson
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
    from portal import ui_feed, ui_im

    app.register_blueprint(ui_im.bp)
    app.register_blueprint(ui_feed.bp)
    from portal import ui_call

    app.register_blueprint(ui_call.bp)
    _refuse_unreadable_forms(app)
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


def _refuse_unreadable_forms(app: Flask) -> None:
    """What :func:`crest.forms.decode` refuses is a 400 on every page, form and API of the portal.

    REST (:mod:`portal.params`) and OAuth read forms with PHP's rules; the pages read them with
    Werkzeug, which would accept what those refuse. One rule for all, checked before any view.
    """

    @app.before_request
    def check_form() -> None:
        if request.query_string:
            decode(request.query_string)
        if request.mimetype == "application/x-www-form-urlencoded":
            # Cached, so the view's request.form reads the same bytes.
            decode(request.get_data(cache=True))

    @app.errorhandler(FormError)
    def unreadable_form(exc: FormError) -> Response:
        if request.path.startswith(("/oauth/", "/_ui/", "/_portal/")):
            code = "invalid_request" if request.path.startswith("/oauth/") else "INVALID_REQUEST"
            body = phpjson.dumps({"error": code, "error_description": exc.description})
            return Response(body, status=400, content_type="application/json; charset=utf-8")
        page = (
            f"<!doctype html><title>Bad request</title><h1>Bad request</h1><p>{escape(exc.description)}</p>"
        )
        return Response(page, status=400, content_type="text/html; charset=utf-8")
