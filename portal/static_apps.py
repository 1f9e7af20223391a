"""Static local applications on the portal: upload, storage, and serving from the portal's origin.

A static app (reference 5.1) is a zip of HTML and JavaScript. The portal checks the archive
(:func:`crest.static_app.read_archive`: zip-slip, symlinks, size bombs, relative links only),
keeps its files, and serves them under ``/static-apps/<app id>/``. The app is registered like
any local app with UI, its handler (and installer, when the archive has ``install.html``)
pointing at those files, so the portal page opens it exactly as it opens any other app: a form
POSTed into the iframe, with the current user's tokens for the BX24 library.

Static apps cannot receive events: ``event.bind`` refuses them (portal.methods.events).

Routes:

``POST /_portal/static-apps``      admin API (loopback): multipart ``archive`` + ``title``, ``scope``...
``GET  /devops/static-app/``       the Developer resources upload form (administrators)
``POST /devops/static-app/``       its submission (CSRF ``sessid``, as the other portal forms)
``GET|POST /static-apps/<id>/<path>``  the files; POST because the portal's frame form posts to them
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from base64 import b64decode, b64encode
from typing import Any

from flask import Blueprint, Response, abort, g, jsonify, redirect, request, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue

from crest.static_app import MAX_ARCHIVE_BYTES, StaticAppError, content_type, read_archive
from portal.core import Portal
from portal.credentials import ALL_SCOPES
from portal.params import small_int
from portal.persist import Table
from portal.rest import portal
from portal.ui import DEFAULT_USER, _page, portal_page_headers, ui_state

__all__ = ["PREFIX", "StaticFiles", "bp", "register_static_app"]

bp = Blueprint("static_apps", __name__)

PREFIX = "/static-apps"

#: What a static app's pages may do. They come from the portal's origin, so they must be kept
#: to it: no scripts, styles or requests anywhere else (JavaScript is not link-checked at
#: upload), framed only by the portal itself.
_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; form-action 'self'; "
    "frame-ancestors 'self'; base-uri 'none'; object-src 'none'"
)


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
    state.app.extensions["b24portal.static_apps"] = StaticFiles(state.app.extensions["b24portal"])


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
    app = p.register_app(title=title, scopes=scopes, static=True)
    static_files().put(app["client_id"], files)
    base = f"{p.base_url}{PREFIX}/{app['id']}/"
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


# --- serving -------------------------------------------------------------------------------------


@bp.route(f"{PREFIX}/<int:app_id>/", methods=["GET", "POST"], defaults={"path": "index.html"})
@bp.route(f"{PREFIX}/<int:app_id>/<path:path>", methods=["GET", "POST"])
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
    resp.headers["Content-Security-Policy"] = _CSP
    resp.headers["X-Frame-Options"] = "SAMEORIGIN"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["Referrer-Policy"] = "same-origin"
    return resp


# --- upload: the admin API -----------------------------------------------------------------------


def _archive_bytes() -> bytes | None:
    upload = request.files.get("archive")
    if upload is None:
        return None
    # One byte over the limit is enough to refuse; never read an oversized upload whole.
    return upload.stream.read(MAX_ARCHIVE_BYTES + 1)


def _scopes(values: list[str]) -> tuple[str, ...]:
    return tuple(s for s in values if s in ALL_SCOPES)


@bp.post("/_portal/static-apps")
def admin_upload() -> ResponseReturnValue:
    """Register a static app from a multipart upload (``archive``, ``title``, ``scope``...)."""
    try:
        if not ipaddress.ip_address(request.remote_addr or "").is_loopback:
            abort(404)
    except ValueError:
        abort(404)
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
