"""Static local applications on the portal: upload, storage, and serving from their own origin.

A static app (reference 5.1) is a zip of HTML and JavaScript. The portal checks the archive
(:func:`crest.static_app.read_archive`: zip-slip, symlinks, size bombs, relative links only),
keeps its files, and serves them under ``/static-apps/<app id>/`` on a *separate origin*: a
second server on its own port (``PortalConfig.static_apps_url``, started by
:func:`portal.testing.start_portal` next to the portal). An app's script is code the portal
did not write; on the portal's own origin it could read ``/_portal/info``, the portal page
(and its ``page_key``) and mint tokens through ``/_ui/refresh-auth``. On its own origin the
browser's same-origin policy keeps it out of all of them, as on Bitrix24, where apps never
run on the portal's domain.

The app is registered like any local app with UI, its handler (and installer, when the archive
has ``install.html``) pointing at those files, so the portal page opens it exactly as it opens
any other app: a form POSTed into the iframe, with the current user's tokens for the BX24
library, which the static origin serves too (the same file as the portal's ``/bx24/api/v1/``,
since the starter's pages load it root-relative). BX24 talks to the portal page over
``postMessage`` and calls the portal's ``/rest/`` directly, as on Bitrix24.

Static apps cannot receive events: ``event.bind`` refuses them (portal.methods.events).

Routes on the portal:

``POST /_portal/static-apps``      admin API (portal.admin_access): multipart ``archive`` + ``title``, ``scope``...
``GET  /devops/static-app/``       the Developer resources upload form (administrators)
``POST /devops/static-app/``       its submission (CSRF ``sessid``, as the other portal forms)

Routes on the static origin (:func:`create_static_origin`):

``GET|POST /static-apps/<id>/<path>``  the files; POST because the portal's frame form posts to them
``GET /bx24/api/v1/``                  the BX24 library
"""

from __future__ import annotations

import hashlib
import secrets
from base64 import b64decode, b64encode
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, abort, g, jsonify, redirect, request, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue

from crest.static_app import MAX_ARCHIVE_BYTES, StaticAppError, content_type, read_archive
from portal.core import Portal
from portal.credentials import ALL_SCOPES
from portal.params import small_int
from portal.persist import Table
from portal.rest import portal
from portal.ui import BX24_PATH, DEFAULT_USER, _page, bx24_js, portal_page_headers, ui_state

__all__ = ["PREFIX", "StaticFiles", "bp", "create_static_origin", "register_static_app"]

bp = Blueprint("static_apps", __name__)
#: The static origin's routes; never registered on the portal's own app.
files_bp = Blueprint("static_files", __name__)

PREFIX = "/static-apps"


def _csp(p: Portal) -> str:
    """What a static app's pages may do: stay on their own origin, call the portal's REST API
    (BX24's XHR, which the REST API answers with CORS) and nothing else of the portal, and be
    framed by the portal's pages only (JavaScript is not link-checked at upload)."""
    scheme = urlsplit(p.base_url).scheme
    portal_origins = " ".join(sorted({f"{scheme}://{host}" for host in _portal_hosts(p)}))
    rest = " ".join(sorted({f"{scheme}://{host}/rest/" for host in _portal_hosts(p)}))
    return (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:; font-src 'self' data:; connect-src 'self' {rest}; form-action 'self'; "
        f"frame-ancestors {portal_origins}; base-uri 'none'; object-src 'none'"
    )


def _portal_hosts(p: Portal) -> set[str]:
    return {p.domain, *p.config.admin_hosts}


class StaticFiles:
    """Files of every static app, persisted with the portal's state (base64 in its tables)."""

    def __init__(self, p: Portal) -> None:
        self.table: Table[str] = Table(p.persist, "static_app_files", str)

    def put(self, client_id: str, files: dict[str, bytes]) -> None:
        self.table.put(client_id, {name: b64encode(data).decode("ascii") for name, data in files.items()})

    def get(self, client_id: str, name: str) -> bytes | None:
        stored = self.table.get(client_id)
        if not stored or name not in stored:
            return None
        return b64decode(stored[name])

    def names(self, client_id: str) -> list[str]:
        return sorted(self.table.get(client_id) or {})


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    p: Portal = state.app.extensions["b24portal"]
    state.app.extensions["b24portal.static_apps"] = StaticFiles(p)
    _rebase(p)


def _rebase(p: Portal) -> None:
    """Point kept static apps (``--state``) at this run's static origin: its port may differ."""
    if not p.config.static_apps_url:
        return
    for app in list(p.credentials.apps.values()):
        if app.get("static"):
            base = _files_base(p, app)
            p.credentials.update_app(
                app,
                handler_url=base + "index.html",
                install_url=base + "install.html" if app.get("install_url") else "",
            )


def _files_base(p: Portal, app: dict[str, Any]) -> str:
    if not p.config.static_apps_url:
        raise RuntimeError("static apps need their own origin (PortalConfig.static_apps_url)")
    return f"{p.config.static_apps_url.rstrip('/')}{PREFIX}/{app['id']}/"


def static_files() -> StaticFiles:
    from flask import current_app

    return current_app.extensions["b24portal.static_apps"]  # type: ignore[no-any-return]


def register_static_app(
    p: Portal, files: dict[str, bytes], *, title: str, scopes: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Register a static app whose (already checked) files are ``files``; call under ``p.lock``.

    Without ``install.html`` the app counts as installed at once: there is no installer to
    call ``BX24.installFinish()``.
    """
    if not p.config.static_apps_url:
        raise RuntimeError("static apps need their own origin (PortalConfig.static_apps_url)")
    app = p.register_app(title=title, scopes=scopes, static=True)
    static_files().put(app["client_id"], files)
    base = _files_base(p, app)
    has_installer = "install.html" in files
    digest = hashlib.sha256(b"".join(n.encode() + b"\0" + files[n] for n in sorted(files))).hexdigest()
    return p.credentials.update_app(
        app,
        handler_url=base + "index.html",
        install_url=base + "install.html" if has_installer else "",
        installed=not has_installer,
        static_digest=digest,
    )


def _find_static(p: Portal, app_id: int) -> dict[str, Any] | None:
    for app in p.credentials.apps.values():
        if int(app["id"]) == app_id and app.get("static") and not app.get("uninstalled"):
            return dict(app)
    return None


# The upload form is a portal page: the same headers as portal.ui's pages. The app files
# already carry their own, which setdefault leaves as they are.
bp.after_request(portal_page_headers)


# --- serving, on the static origin --------------------------------------------------------------


def create_static_origin(portal_app: Flask) -> Flask:
    """The WSGI app of the static origin: the files of ``portal_app``'s static apps and BX24.

    It shares the portal's state (the same :class:`Portal` and :class:`StaticFiles`) but none
    of its routes: the portal's pages, ``/_ui/`` and ``/_portal/`` do not exist here.
    """
    app = Flask(__name__, static_folder=None)
    app.extensions["b24portal"] = portal_app.extensions["b24portal"]
    app.extensions["b24portal.static_apps"] = portal_app.extensions["b24portal.static_apps"]
    app.register_blueprint(files_bp)
    return app


@files_bp.route(f"{PREFIX}/<int:app_id>/", methods=["GET", "POST"], defaults={"path": "index.html"})
@files_bp.route(f"{PREFIX}/<int:app_id>/<path:path>", methods=["GET", "POST"])
def serve(app_id: int, path: str) -> Response:
    """One file of a static app. POST is the portal's frame form; its body is not needed here,
    since BX24 gets the tokens from the parent page, so it is ignored."""
    p = portal()
    app = _find_static(p, app_id)
    if app is None:
        abort(404)
    if path.endswith("/"):
        path += "index.html"
    data = static_files().get(app["client_id"], path)
    if data is None:
        abort(404)
    resp = Response(data, content_type=content_type(path))
    # Framed cross-origin by the portal page, so frame-ancestors (not X-Frame-Options) says by whom.
    resp.headers["Content-Security-Policy"] = _csp(p)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["Referrer-Policy"] = "same-origin"
    return resp


# The same library, and the same answer, as the portal's own /bx24/api/v1/.
files_bp.add_url_rule(BX24_PATH, "bx24_js", bx24_js)


# --- upload: the admin API -----------------------------------------------------------------------


def _archive_bytes() -> bytes | None:
    upload = request.files.get("archive")
    if upload is None:
        return None
    # One byte over the limit is enough to refuse; never read an oversized upload whole.
    return upload.stream.read(MAX_ARCHIVE_BYTES + 1)


_NO_ORIGIN = "this portal runs without a static-app origin; start it with portal.testing.start_portal"


def _scopes(values: list[str]) -> tuple[str, ...]:
    return tuple(s for s in values if s in ALL_SCOPES)


@bp.post("/_portal/static-apps")
def admin_upload() -> ResponseReturnValue:
    """Register a static app from a multipart upload (``archive``, ``title``, ``scope``...)."""
    if not portal().config.static_apps_url:
        return jsonify({"error": "no static origin", "problems": [_NO_ORIGIN]}), 409
    data = _archive_bytes()
    if data is None:
        return jsonify({"error": "no archive", "problems": ["send the zip as the 'archive' file field"]}), 400
    try:
        files = read_archive(data)
    except StaticAppError as exc:
        return jsonify({"error": "invalid archive", "problems": exc.problems}), 400
    p = portal()
    title = request.form.get("title", "").strip() or "Static application"
    with p.lock:
        app = register_static_app(p, files, title=title, scopes=_scopes(request.form.getlist("scope")))
    return jsonify({**app, "files": sorted(files)})


# --- upload: the Developer resources form --------------------------------------------------------


def _form_user() -> int:
    # The same "logged-in user" rule as the portal's pages (portal.ui): ?user_id=N, else user 1.
    return small_int(request.args.get("user_id", ""), DEFAULT_USER)


def _form_page(p: Portal, *, error: str | None = None, problems: list[str] | None = None) -> str:

    return _page(
        "portal/devops_static.html",
        p,
        sessid=ui_state().sessid(g.user_id),
        error=error,
        problems=problems or [],
        all_scopes=ALL_SCOPES,
        active="devops",
    )


@bp.get("/devops/static-app/")
def devops_form() -> str:
    g.user_id = _form_user()
    return _form_page(portal())


@bp.post("/devops/static-app/")
def devops_upload() -> ResponseReturnValue:

    g.user_id = _form_user()
    p = portal()
    if not secrets.compare_digest(str(request.form.get("sessid", "")), ui_state().sessid(g.user_id)):
        return _form_page(p, error="Your session has expired. Please try again."), 403
    if not p.directory.is_admin(g.user_id):
        return _form_page(p, error="Only an administrator can add local applications."), 403
    if not p.config.static_apps_url:
        return _form_page(
            p, error="This portal runs without a static-app origin.", problems=[_NO_ORIGIN]
        ), 409
    title = request.form.get("title", "").strip()
    data = _archive_bytes()
    if not title:
        return _form_page(p, error="The application needs a name."), 400
    if not data:
        return _form_page(p, error="Choose the application's zip archive."), 400
    try:
        files = read_archive(data)
    except StaticAppError as exc:
        return _form_page(p, error="The archive was not accepted.", problems=exc.problems), 400
    with p.lock:
        app = register_static_app(p, files, title=title, scopes=_scopes(request.form.getlist("scope")))
    return redirect(url_for("ui.devops_app", app_id=app["id"]), code=303)
