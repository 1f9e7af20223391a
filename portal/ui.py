"""The portal's pages for people: the left menu of applications and the iframe that opens them.

Opening an app works as on Bitrix24 (reference 6.1-6.3): the page holds an ``<iframe>`` and a
hidden form that ``portal.js`` submits into it, POSTing the current user's tokens to the app's
URL with ``?DOMAIN=&PROTOCOL=&LANG=&APP_SID=`` in the query. The app's page loads this portal's
BX24 library (``/bx24/api/v1/``), which talks to ``portal.js`` over ``postMessage``.

Every render issues a new ``APP_SID`` and a ``page_key``. The server keeps APP_SID → (app,
user, placement) and answers ``/_ui/*`` (refresh tokens, finish the install, reload the
frame) only for a known APP_SID *with* its page key. The key stays in the portal page and is
never sent to the app: it stands for the user's session cookie of a real portal, so an app
that knows its APP_SID (it is in its own query string) still cannot mint tokens with it.

One user is "logged in": user 1, or ``?user_id=N`` (for tests), carried along every link.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, NoReturn
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, abort, g, jsonify, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue

from portal import phpjson
from portal.core import Portal
from portal.credentials import ALL_SCOPES
from portal.params import small_int
from portal.rest import portal

bp = Blueprint("ui", __name__, template_folder="templates")

#: The user who is "logged in" when the URL names nobody.
DEFAULT_USER = 1
LANG = "en"
#: The CRM detail tab placement this portal shows on a contact's card.
CONTACT_TAB = "CRM_CONTACT_DETAIL_TAB"
CONTACTS_PER_PAGE = 50
#: Frame sessions kept; the oldest are forgotten first (their frames can no longer refresh).
MAX_SESSIONS = 2000

#: Portal pages load nothing from anywhere but the portal; apps may be framed and posted to
#: on any http(s) origin, since that is what a portal is for.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src http: https:; form-action 'self' http: https:; "
    "frame-ancestors 'self'; base-uri 'none'; object-src 'none'"
)


# --- frame sessions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameSession:
    """What one rendered frame (one APP_SID) stands for."""

    client_id: str
    user_id: int
    placement: str
    options: dict[str, Any]
    path: str
    page_key: str
    install: bool
    #: The bound handler of a widget; ``None`` for the main page (the app's own URLs).
    handler: str | None


@dataclass
class UiState:
    sessions: OrderedDict[str, FrameSession] = field(default_factory=OrderedDict)
    #: (client_id, user_id) that have opened an installed app, for ``FIRST_RUN``.
    opened: set[tuple[str, int]] = field(default_factory=set)
    #: Signs the ``sessid`` of the portal's own forms (CSRF), as Bitrix24's ``sessid`` does.
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def remember(self, app_sid: str, session: FrameSession) -> None:
        with self.lock:
            self.sessions[app_sid] = session
            while len(self.sessions) > MAX_SESSIONS:
                self.sessions.popitem(last=False)

    def find(self, app_sid: str, page_key: str) -> FrameSession | None:
        with self.lock:
            session = self.sessions.get(app_sid)
        if session is None or not secrets.compare_digest(session.page_key, page_key):
            return None
        return session

    def first_run(self, client_id: str, user_id: int) -> bool:
        with self.lock:
            if (client_id, user_id) in self.opened:
                return False
            self.opened.add((client_id, user_id))
            return True

    def sessid(self, user_id: int) -> str:
        return hmac.new(self.secret, f"sessid:{user_id}".encode(), hashlib.sha256).hexdigest()[:32]


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    state.app.extensions["b24portal.ui"] = UiState()


def ui_state() -> UiState:
    from flask import current_app

    return current_app.extensions["b24portal.ui"]  # type: ignore[no-any-return]


# --- the logged-in user -----------------------------------------------------------------------


@bp.url_value_preprocessor
def _pull_user(endpoint: str | None, values: dict[str, Any] | None) -> None:
    g.user_id = small_int(request.args.get("user_id", ""), DEFAULT_USER)


@bp.url_defaults
def _keep_user(endpoint: str, values: dict[str, Any]) -> None:
    # Every link of a page opened as ?user_id=N stays with that user.
    user_id = getattr(g, "user_id", DEFAULT_USER)
    if user_id != DEFAULT_USER and "user_id" not in values and not endpoint.startswith("ui.api_"):
        values["user_id"] = user_id


def _current_user(p: Portal) -> dict[str, Any]:
    user = p.directory.get(g.user_id)
    if user is None:
        abort(404, f"No user {g.user_id} on this portal")
    return user


@bp.after_request
def portal_page_headers(resp: Response) -> Response:
    """Headers of every portal page (static apps' upload form too); answers that set their own keep them."""
    if resp.mimetype == "text/html":
        resp.headers.setdefault("Content-Security-Policy", _CSP)
        resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    return resp


# --- apps ------------------------------------------------------------------------------------


def _ui_apps(p: Portal) -> list[dict[str, Any]]:
    """Local apps people can open: with a handler, not API-only, not deleted."""
    apps = [
        dict(a)
        for a in p.credentials.apps.values()
        if a.get("handler_url") and not a.get("api_only") and not a.get("uninstalled")
    ]
    return sorted(apps, key=lambda a: int(a["id"]))


def _find_app(p: Portal, ref: str) -> dict[str, Any] | None:
    app = p.credentials.apps.get(ref)
    number = small_int(ref, None)
    if app is None and number is not None:
        app = next((a for a in p.credentials.apps.values() if int(a["id"]) == number), None)
    return dict(app) if app is not None and not app.get("uninstalled") else None


def _placement_title(row: dict[str, Any], app: dict[str, Any] | None) -> str:
    lang = (row.get("lang_all") or {}).get(LANG) or {}
    return str(row.get("title") or lang.get("TITLE") or (app or {}).get("title") or row["placement"])


def _contact_tabs(p: Portal) -> list[dict[str, Any]]:
    tabs = []
    for row in sorted(p.events.placements_for(CONTACT_TAB), key=lambda r: int(r["id"])):
        app = p.credentials.apps.get(row["client_id"])
        tabs.append({"key": f"placement_{row['id']}", "title": _placement_title(row, app), "row": row})
    return tabs


# --- the frame POST (reference 6.1) ----------------------------------------------------------


def _protocol(p: Portal) -> int:
    return 1 if p.base_url.startswith("https:") else 0


def _with_query(url: str, query: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(query)


def _origin(url: str) -> str:
    """The browser's origin of ``url`` (what ``event.origin`` says): default ports dropped."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    port = parts.port
    if port is None or (parts.scheme, port) in {("http", 80), ("https", 443)}:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def _launch(
    p: Portal,
    app: dict[str, Any],
    *,
    user_id: int,
    placement: str,
    options: dict[str, Any],
    path: str,
    handler: str | None = None,
) -> dict[str, Any]:
    """Issue tokens and an APP_SID and describe the form POST that opens one frame.

    Until the app is installed its main page opens the installer (the install path when it
    has one, else its handler with ``INSTALL`` set); ``BX24.installFinish()`` ends that.
    """
    install = not app.get("installed") and placement == "DEFAULT"
    if handler is not None:
        url = handler
    elif install and app.get("install_url"):
        url = str(app["install_url"])
    else:
        url = str(app["handler_url"])
    with p.lock:
        tokens = p.credentials.issue(app["client_id"], user_id)
        app_options = p.options.get(app["client_id"])
        user_options = p.options.get(_user_options_key(app["client_id"], user_id))
    state = ui_state()
    app_sid = secrets.token_hex(16)
    page_key = secrets.token_urlsafe(24)
    state.remember(
        app_sid,
        FrameSession(app["client_id"], user_id, placement, options, path, page_key, install, handler),
    )
    protocol = _protocol(p)
    action = _with_query(
        url, {"DOMAIN": p.domain, "PROTOCOL": str(protocol), "LANG": LANG, "APP_SID": app_sid}
    )
    fields = [
        ("AUTH_ID", tokens["access_token"]),
        ("AUTH_EXPIRES", str(tokens["expires_in"])),
        ("REFRESH_ID", tokens["refresh_token"]),
        ("SERVER_ENDPOINT", p.server_endpoint),
        ("APPLICATION_TOKEN", app["application_token"]),
        ("APPLICATION_SCOPE", ",".join(app["scopes"])),
        ("member_id", p.config.member_id),
        ("status", app["status"]),
        ("PLACEMENT", placement),
        # A JSON string, written by PHP's encoder: {} is [] and "/" is "\/" as on the wire.
        ("PLACEMENT_OPTIONS", phpjson.dumps(options)),
    ]
    init = {
        "DOMAIN": p.domain,
        "PROTOCOL": protocol,
        "PATH": path,
        "LANG": LANG,
        "MEMBER_ID": p.config.member_id,
        "IS_ADMIN": p.directory.is_admin(user_id),
        "AUTH_ID": tokens["access_token"],
        "REFRESH_ID": tokens["refresh_token"],
        "AUTH_EXPIRES": tokens["expires_in"],
        "APP_OPTIONS": app_options,
        "USER_OPTIONS": user_options,
        "PLACEMENT": placement,
        "PLACEMENT_OPTIONS": options,
        "INSTALL": install,
        "FIRST_RUN": not install and placement == "DEFAULT" and state.first_run(app["client_id"], user_id),
    }
    return {
        "app_sid": app_sid,
        "page_key": page_key,
        "client_id": app["client_id"],
        # Bitrix24 names the frame DOMAIN|PROTOCOL|APP_SID; b24jssdk (and BX24) read it from
        # window.name, so the name changes with every APP_SID (portal.js renames on reopen).
        "frame_name": f"{p.domain}|{protocol}|{app_sid}",
        "placement": placement,
        "action": action,
        "app_origin": _origin(url),
        "fields": fields,
        "init": init,
    }


def _user_options_key(client_id: str, user_id: int) -> str:
    # User options live in the options table beside the app's, under a key no client_id has.
    return f"{client_id}|user|{user_id}"


# --- pages ------------------------------------------------------------------------------------


def _page(template: str, p: Portal, **context: Any) -> str:
    user = _current_user(p)
    return render_template(
        template,
        portal_name=p.domain,
        user=user,
        user_name=p.directory.full_name(g.user_id),
        is_admin=p.directory.is_admin(g.user_id),
        menu_apps=_ui_apps(p),
        **context,
    )


@bp.get("/")
def home() -> str:
    p = portal()
    return _page("portal/home.html", p, active="home")


@bp.get("/marketplace/app/<ref>/")
def open_app(ref: str) -> tuple[str, int] | str:
    p = portal()
    user = _current_user(p)
    app = _find_app(p, ref)
    if app is None or not app.get("handler_url") or app.get("api_only"):
        return _page(
            "portal/message.html", p, message="This application does not exist or has no interface."
        ), 404
    if not app.get("installed") and not p.directory.is_admin(g.user_id):
        # Reference 5.1: only the admin sees the installer; others wait for it.
        message = "The application is not fully installed yet. Please contact your Bitrix24 administrator."
        return _page("portal/message.html", p, message=message, active=app["client_id"])
    path = f"/marketplace/app/{app['id']}/"
    # A real portal passes the rest of the app's URL as "any" ({"any":"28\/"} in a capture).
    launch = _launch(
        p, app, user_id=int(user["ID"]), placement="DEFAULT", options={"any": f"{app['id']}/"}, path=path
    )
    return _page(
        "portal/app.html", p, app=app, launch=launch, frame_name=launch["frame_name"], active=app["client_id"]
    )


@bp.get("/crm/contact/list/")
def contacts() -> str:
    p = portal()
    entity = p.crm.entities["contact"]
    page = max(1, request.args.get("page", 1, type=int) or 1)
    with p.lock:
        ids = list(entity.ids)
        window = ids[(page - 1) * CONTACTS_PER_PAGE : page * CONTACTS_PER_PAGE]
        rows = [dict(r) for r in (entity.get(i) for i in window) if r is not None]
    return _page(
        "portal/contacts.html",
        p,
        rows=rows,
        page=page,
        has_next=len(ids) > page * CONTACTS_PER_PAGE,
        total=len(ids),
        active="crm",
    )


def _display(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_display(v.get("VALUE") if isinstance(v, dict) else v) for v in value)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return "" if value is None else str(value)


@bp.get("/crm/contact/details/<int:contact_id>/")
def contact(contact_id: int) -> str:
    p = portal()
    user = _current_user(p)
    entity = p.crm.entities["contact"]
    with p.lock:
        row = entity.get(contact_id)
        record = entity.full(dict(row)) if row is not None else None
        tabs = _contact_tabs(p)
    if record is None:
        abort(404)
    fields = [
        (f.title, _display(record.get(f.name)))
        for f in entity.schema
        if record.get(f.name) not in (None, "", [])
    ]
    selected = request.args.get("tab", "main")
    tab = next((t for t in tabs if t["key"] == selected), None)
    launch = frame_name = None
    if tab is not None:
        row = tab["row"]
        app = _find_app(p, row["client_id"])
        if app is None:
            abort(404)
        uri = f"/crm/contact/details/{contact_id}/"
        launch = _launch(
            p,
            app,
            user_id=int(user["ID"]),
            placement=CONTACT_TAB,
            options={"ID": str(contact_id), "URI": uri},
            path=uri,
            handler=str(row["handler"]),
        )
        frame_name = launch["frame_name"]
    title = f"{record.get('NAME') or ''} {record.get('LAST_NAME') or ''}".strip() or f"Contact #{contact_id}"
    return _page(
        "portal/contact.html",
        p,
        contact_id=contact_id,
        title=title,
        fields=fields,
        tabs=tabs,
        selected=selected if tab is not None else "main",
        launch=launch,
        frame_name=frame_name,
        active="crm",
    )


# --- Developer resources: register a local application ----------------------------------------


def _devops(p: Portal, *, error: str | None = None, form: dict[str, Any] | None = None) -> str:
    apps = sorted((dict(a) for a in p.credentials.apps.values()), key=lambda a: int(a["id"]))
    return _page(
        "portal/devops.html",
        p,
        apps=[a for a in apps if not a.get("uninstalled")],
        all_scopes=ALL_SCOPES,
        sessid=ui_state().sessid(g.user_id),
        error=error,
        form=form or {"scopes": list(ALL_SCOPES)},
        active="devops",
    )


@bp.get("/devops/")
def devops() -> str:
    return _devops(portal())


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"http", "https"} and bool(parts.hostname)


@bp.post("/devops/local-app/")
def devops_register() -> ResponseReturnValue:
    p = portal()
    _current_user(p)
    if not secrets.compare_digest(str(request.form.get("sessid", "")), ui_state().sessid(g.user_id)):
        return _devops(p, error="Your session has expired. Please try again."), 403
    if not p.directory.is_admin(g.user_id):
        return _devops(p, error="Only an administrator can add local applications."), 403
    title = request.form.get("title", "").strip()
    handler_url = request.form.get("handler_url", "").strip()
    install_url = request.form.get("install_url", "").strip()
    scopes = [s for s in request.form.getlist("scope") if s in ALL_SCOPES]
    api_only = request.form.get("api_only") == "Y"
    form: dict[str, Any] = {
        "title": title,
        "handler_url": handler_url,
        "install_url": install_url,
        "scopes": scopes,
        "api_only": api_only,
    }
    error = None
    if not title:
        error = "The application needs a name."
    elif (handler_url or not api_only) and not _is_http_url(handler_url):
        error = "The handler path must be an http(s) URL."
    elif install_url and not _is_http_url(install_url):
        error = "The initial installation path must be an http(s) URL."
    if error:
        return _devops(p, error=error, form=form), 400
    with p.lock:
        app = p.register_app(
            title=title,
            handler_url=handler_url,
            install_url=install_url,
            scopes=tuple(scopes),
            api_only=api_only,
        )
    return redirect(url_for("ui.devops_app", app_id=app["id"]), code=303)


@bp.get("/devops/local-app/<int:app_id>/")
def devops_app(app_id: int) -> str:
    p = portal()
    app = _find_app(p, str(app_id))
    if app is None:
        abort(404)
    if not p.directory.is_admin(g.user_id):
        abort(403)
    return _page("portal/devops_app.html", p, app=app, active="devops")


# --- what portal.js asks of the server -------------------------------------------------------


def _refuse(error: str, description: str) -> NoReturn:
    resp = jsonify({"error": error, "error_description": description})
    resp.status_code = 403
    abort(resp)


def _session_from_body() -> tuple[FrameSession, dict[str, Any]]:
    data = request.get_json(silent=True)
    data = data if isinstance(data, dict) else {}
    session = ui_state().find(str(data.get("app_sid", "")), str(data.get("page_key", "")))
    if session is None:
        _refuse("UNKNOWN_APP_SID", "Unknown frame")
    app = _find_app(portal(), session.client_id)
    if app is None:
        _refuse("APPLICATION_NOT_FOUND", "Application not found")
    return session, app


def _relaunch(session: FrameSession, app: dict[str, Any]) -> dict[str, Any]:
    return _launch(
        portal(),
        app,
        user_id=session.user_id,
        placement=session.placement,
        options=session.options,
        path=session.path,
        handler=session.handler,
    )


@bp.post("/_ui/refresh-auth")
def api_refresh_auth() -> Response:
    """New tokens for the frame's user: BX24.refreshAuth() (``{AUTH_ID, REFRESH_ID, AUTH_EXPIRES}``)."""
    session, app = _session_from_body()
    p = portal()
    with p.lock:
        tokens = p.credentials.issue(app["client_id"], session.user_id)
    return jsonify(
        {
            "AUTH_ID": tokens["access_token"],
            "REFRESH_ID": tokens["refresh_token"],
            "AUTH_EXPIRES": tokens["expires_in"],
        }
    )


@bp.post("/_ui/install-finish")
def api_install_finish() -> Response:
    """BX24.installFinish() in the installer: the app is installed; the frame opens its handler."""
    session, app = _session_from_body()
    p = portal()
    if not session.install:
        # Outside the installer installFinish ends nothing; the frame stays as it is.
        return jsonify({"installed": bool(app.get("installed")), "launch": None})
    if not p.directory.is_admin(session.user_id):
        _refuse("ACCESS_DENIED", "Only an administrator can finish the installation")
    with p.lock:
        current = p.credentials.apps.get(app["client_id"]) or app
        app = p.credentials.update_app(current, installed=True)
    return jsonify({"installed": True, "launch": _relaunch(session, app)})


@bp.post("/_ui/relaunch")
def api_relaunch() -> Response:
    """BX24.reloadWindow(): the same frame POSTed again, with fresh tokens and APP_SID."""
    session, app = _session_from_body()
    return jsonify({"launch": _relaunch(session, app)})


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _option_name(data: dict[str, Any]) -> str:
    name = data.get("name")
    if not isinstance(name, str) or not name:
        resp = jsonify({"error": "ERROR_ARGUMENT", "error_description": "The option needs a name"})
        resp.status_code = 400
        abort(resp)
    return name


@bp.post("/_ui/app-option")
def api_app_option() -> Response:
    """BX24.appOption.set(name, value): portal-wide, so only an administrator (as app.option.set)."""
    session, app = _session_from_body()
    data = _body()
    name = _option_name(data)
    p = portal()
    if not p.directory.is_admin(session.user_id):
        _refuse("ACCESS_DENIED", "Only an administrator can change the application's options")
    with p.lock:
        p.options.set(app["client_id"], {name: data.get("value")})
        values = p.options.get(app["client_id"])
    return jsonify({"APP_OPTIONS": values})


@bp.post("/_ui/user-option")
def api_user_option() -> Response:
    """BX24.userOption.set(name, value): the frame's user's own options for this app."""
    session, app = _session_from_body()
    data = _body()
    name = _option_name(data)
    p = portal()
    key = _user_options_key(app["client_id"], session.user_id)
    with p.lock:
        p.options.set(key, {name: data.get("value")})
        values = p.options.get(key)
    return jsonify({"USER_OPTIONS": values})


@bp.post("/_ui/open-application")
def api_open_application() -> Response:
    """BX24.openApplication(params): the app's main page in a slider, params as its PLACEMENT_OPTIONS."""
    session, app = _session_from_body()
    options = _body().get("options")
    launch = _launch(
        portal(),
        app,
        user_id=session.user_id,
        placement="DEFAULT",
        options=options if isinstance(options, dict) else {},
        path=session.path,
    )
    return jsonify({"launch": launch})


#: What selectCRM answers per entity: its id prefix ("C_7") and the card's URL.
_CRM_PICK = {
    "lead": ("L", "/crm/lead/details/{}/"),
    "contact": ("C", "/crm/contact/details/{}/"),
    "company": ("CO", "/crm/company/details/{}/"),
    "deal": ("D", "/crm/deal/details/{}/"),
}
PICK_LIMIT = 50


def _crm_title(kind: str, row: dict[str, Any]) -> str:
    if kind == "contact":
        name = f"{row.get('NAME') or ''} {row.get('LAST_NAME') or ''}".strip()
    else:
        name = str(row.get("TITLE") or "")
    return name or f"#{row['ID']}"


def _pick_users(p: Portal, query: str) -> list[dict[str, Any]]:
    """selectUser's answer shape: {id, name, photo, position, url, sub, sup}."""
    found = []
    for user in sorted(p.directory.users.values(), key=lambda u: int(u["ID"])):
        name = f"{user.get('NAME', '')} {user.get('LAST_NAME', '')}".strip()
        if (query and query not in name.lower()) or not user.get("ACTIVE", True):
            continue
        found.append(
            {
                "id": str(user["ID"]),
                "name": name,
                "photo": str(user.get("PERSONAL_PHOTO") or ""),
                "position": str(user.get("WORK_POSITION") or ""),
                "url": f"/company/personal/user/{user['ID']}/",
                "sub": False,
                "sup": False,
            }
        )
    return found[:PICK_LIMIT]


def _pick_crm(p: Portal, kind: str, query: str) -> list[dict[str, Any]]:
    """selectCRM's answer shape: {id: "C_7", type, place, title, desc, url}."""
    prefix, url = _CRM_PICK[kind]
    entity = p.crm.entities[kind]
    found = []
    for record_id in entity.ids:
        row = entity.get(record_id)
        if row is None:
            continue
        title = _crm_title(kind, row)
        if query and query not in title.lower():
            continue
        found.append(
            {
                "id": f"{prefix}_{record_id}",
                "type": kind,
                "place": kind,
                "title": title,
                "desc": "",
                "url": url.format(record_id),
            }
        )
        if len(found) >= PICK_LIMIT:
            break
    return found


@bp.post("/_ui/pick")
def api_pick() -> Response:
    """What the page's pickers list (selectUser, selectCRM): the first matches of a search."""
    _session_from_body()
    data = _body()
    kind = str(data.get("kind", ""))
    query = str(data.get("query", "")).strip().lower()
    p = portal()
    with p.lock:
        if kind == "user":
            items = _pick_users(p, query)
        elif kind in _CRM_PICK:
            items = _pick_crm(p, kind, query)
        else:
            resp = jsonify(
                {"error": "ERROR_ARGUMENT", "error_description": f"Nothing to pick of kind {kind!r}"}
            )
            resp.status_code = 400
            abort(resp)
    return jsonify({"items": items})


# --- the BX24 library -------------------------------------------------------------------------

#: Where apps load BX24 from: this portal's stand-in for ``//api.bitrix24.com/api/v1/``.
BX24_PATH = "/bx24/api/v1/"


@bp.get(BX24_PATH)
def bx24_js() -> Response:
    source = resources.files("portal").joinpath("static/bx24.js").read_text(encoding="utf-8")
    resp = Response(source, content_type="application/javascript; charset=utf-8")
    resp.headers["Cache-Control"] = "no-cache"
    # Loaded by <script> from the app's origin; CORS only matters to module or fetch loads.
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp
