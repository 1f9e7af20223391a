"""``create_app``: the Flask application a Bitrix24 portal installs and opens.

Templates ship inside the package (``webapp/templates``, package data, so a wheel carries
them); the repository's top-level ``templates/`` of docs/design.md's layout is a link to them.

Errors never show a stack trace or a secret: an HTTP error renders ``error.html`` (JSON under
``/api/``), a :class:`~crest.errors.CrestError` that carries a status (install and frame
verification) is answered with that status, a :class:`~crest.errors.FormError` with 400,
anything else is logged and answered 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from crest.errors import ConfigError, CrestError, FormError
from crest.forms import decode
from crest.logs import get_logger
from crest.settings import Settings
from crest.stores import open_store
from crest.stores.base import InstallationStore
from webapp import body_limit
from webapp.extension import CrestState
from webapp.hooks import AppPages, owned_rule_hint

__all__ = ["CrestFlask", "create_app"]

log = logging.getLogger("webapp")

#: Bitrix24 form posts are a few KiB; 1 MiB leaves room and stops memory-exhaustion bodies (T23).
MAX_CONTENT_LENGTH = 1024 * 1024

_PACKAGE = Path(__file__).resolve().parent


def _template_folder() -> str:
    # The templates live in the package (so a wheel carries them); the repository's top-level
    # templates/ is a link to them.
    return str(_PACKAGE / "templates")


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _error_page(status: int, title: str, message: str) -> tuple[Response | str, int]:
    if _wants_json():
        return jsonify({"error": title, "error_description": message}), status
    return render_template("error.html", status=status, title=title, message=message), status


def _refuse_unreadable_queries(app: Flask) -> None:
    # Bodies are read with crest.forms by the routes that take them; every route's query string
    # is held to the same rules, so /operator?... or /checkserver?... cannot be what /install
    # would refuse (a FormError becomes a 400 below).
    @app.before_request
    def check_query() -> None:
        if request.query_string:
            decode(request.query_string)


def _register_errors(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        # Werkzeug's descriptions are generic; ours (abort(400, "...")) say what was wrong and
        # never contain request data.
        return _error_page(status, exc.name, exc.description or "")

    @app.errorhandler(FormError)
    def form_error(exc: FormError) -> Any:
        # Routes turn FormError into 400 themselves; this catches any reader that does not,
        # so a hostile body is never a 500 or a 502.
        log.info("refused %s %s: %s", request.method, request.path, exc.description)
        return _error_page(400, "Bad Request", exc.description)

    @app.errorhandler(CrestError)
    def crest_error(exc: CrestError) -> Any:
        if exc.status is not None and 400 <= exc.status < 500:
            log.info("refused %s %s: %s", request.method, request.path, exc.code)
            return _error_page(exc.status, exc.code, exc.description)
        log.error("failed %s %s: %s", request.method, request.path, exc.code)
        return _error_page(
            502, "bad_gateway", "A service the application depends on failed; try again later."
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        # The traceback goes to the server log (tracebacks hold no local values), never out.
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _error_page(500, "Internal Server Error", "Something went wrong on our side.")


class CrestFlask(Flask):
    """Flask, refusing routes that would replace the kit's own (see :mod:`webapp.hooks`).

    Werkzeug routes a fixed path before a converter and Flask keeps the first view of a rule,
    so an ``@app.post("/")`` of the app's would either silently lose to the kit's page or
    silently bypass its frame verification; neither is acceptable, so it is an error.
    """

    crest_sealed = False

    def add_url_rule(self, rule: str, *args: Any, **kwargs: Any) -> None:
        if self.crest_sealed:
            hint = owned_rule_hint(rule)
            if hint is not None:
                raise ConfigError(f"{rule} is a route of b24-crest and cannot be registered again: {hint}")
        super().add_url_rule(rule, *args, **kwargs)


def create_app(
    settings: Settings | None = None,
    *,
    store: InstallationStore | None = None,
    config: Mapping[str, Any] | None = None,
    demo: bool = False,
) -> CrestFlask:
    """The app. ``config`` is Flask's own configuration (``TESTING``...), merged into ``app.config``.

    The kit's settings come only from ``settings`` (one path: :class:`~crest.settings.Settings`);
    a ``CREST_*`` or ``C_REST_*`` key in ``config`` is refused rather than silently ignored.
    """
    misplaced = sorted(k for k in (config or {}) if k.startswith(("CREST_", "C_REST_")))
    if misplaced:
        raise ConfigError(
            f"{', '.join(misplaced)} belong in Settings (settings.py, the environment or "
            "Settings(...)), not in create_app(config=...)"
        )
    settings = settings or Settings.load()
    if not settings.secret_key:
        # Page tokens then die with the process and differ between worker processes.
        log.warning("secret_key is not set: page tokens use a per-process random key (set CREST_SECRET_KEY)")
    # No static folder: nothing on disk is served, so /settings.json, the store and the logs
    # cannot be fetched even if they sit next to the code (T3).
    app = CrestFlask("webapp", template_folder=_template_folder(), static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_CONTENT_LENGTH
    app.config["MAX_FORM_MEMORY_SIZE"] = MAX_CONTENT_LENGTH
    app.config.update(config or {})
    # Jinja autoescapes .html by default; templates put data into scripts only through |tojson.
    # Masking first: anything logged from here on (tokens in a failed request, a settings
    # repr, urllib3's request lines) goes through it, under any WSGI server.
    get_logger(settings, also=("webapp", "werkzeug", "gunicorn"))
    app.extensions["crest"] = CrestState(settings=settings, store=store or open_store(settings.store))

    app.extensions["crest_pages"] = AppPages()

    from webapp import checkserver_view, events, frames, install, operator, pages

    # Registered first so that it runs last of all after_request hooks (Flask runs them in
    # reverse), after any middleware that adds its own frame headers.
    frames.init_app(app)
    app.register_blueprint(install.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(operator.bp)
    app.register_blueprint(checkserver_view.bp)
    events.init_app(app)
    pages.init_app(app)
    if demo:
        from webapp.demo import init_demo

        init_demo(app)
    _refuse_unreadable_queries(app)
    _register_errors(app)
    # Outermost, so no route ever sees a chunked body cut at the limit (it is a 413 instead).
    body_limit.install(app)
    app.crest_sealed = True
    return app
