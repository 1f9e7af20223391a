"""Extension points: your own iframe pages, placements and install steps.

The kit owns the routes whose order of checks is the security of the app (``/install``,
``/events``, the iframe POST to ``/`` and ``/placement/...``, ``/operator``...). You plug into
them instead of replacing them, so the verification cannot be skipped by accident::

    app = create_app()
    kit = pages(app)

    @kit.frame("/")                                   # the app's handler path, in the iframe
    def index(page: Page) -> str:
        me = page.client.call("user.current")         # as the current user, with *their* token
        return page.render("index.html", me=me)

    @kit.placement("CRM_DEAL_DETAIL_TAB", title="ERP")   # bound at install, served at /placement/...
    def deal_tab(page: Page) -> str:
        return page.render("deal_tab.html", deal_id=page.options.get("ID"))

    @kit.on_install
    def first_run(installation: Installation) -> None: ...

A view runs only after the iframe POST has been verified (the stored installation, and the
OAuth server vouching for ``AUTH_ID``); it gets a :class:`Page`. Registering one of the kit's
routes with ``@app.route`` is a :class:`~crest.errors.ConfigError` that names the hook to use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask, current_app, render_template
from flask.typing import ResponseReturnValue

from crest.client import Client
from crest.errors import ConfigError
from crest.installation import Installation
from crest.placement import VerifiedFrame

__all__ = ["AppPages", "FrameView", "Page", "PlacementPage", "owned_rule_hint", "pages"]

FrameView = Callable[["Page"], ResponseReturnValue]
InstallHook = Callable[[Installation], object]
_V = TypeVar("_V", bound=Callable[..., Any])

_CODE = re.compile(r"[A-Z][A-Z0-9_]{1,63}")
_PATH = re.compile(r"/[A-Za-z0-9_\-/]*")


@dataclass(frozen=True)
class Page:
    """What a page view gets: the verified frame, a client acting as the current user, and the
    values its HTML needs (the page token for its own API calls, where BX24.js comes from)."""

    frame: VerifiedFrame
    client: Client
    token: str = field(repr=False)
    bx24_js_url: str

    @property
    def user_id(self) -> int:
        return self.frame.user_id

    @property
    def member_id(self) -> str:
        return self.frame.installation.member_id

    @property
    def domain(self) -> str:
        return self.frame.installation.domain

    @property
    def placement(self) -> str:
        return self.frame.context.placement

    @property
    def options(self) -> Mapping[str, Any]:
        """``PLACEMENT_OPTIONS``: what the portal says the page is about (``{"ID": "5"}`` in a card)."""
        return self.frame.context.options

    def render(self, template: str, **context: Any) -> str:
        """``render_template`` with ``page`` (this object) in the context."""
        return render_template(template, page=self, **context)


@dataclass(frozen=True)
class PlacementPage:
    code: str
    title: str
    path: str
    view: FrameView
    description: str = ""


@dataclass
class AppPages:
    """The app's pages, kept in ``app.extensions["crest_pages"]``."""

    frames: dict[str, FrameView] = field(default_factory=dict)
    placements: dict[str, PlacementPage] = field(default_factory=dict)
    install_hooks: list[InstallHook] = field(default_factory=list)
    #: Set by the kit: adds the route of a frame page registered after the app was built.
    on_frame_added: Callable[[str], None] | None = None

    def frame(self, path: str = "/") -> Callable[[_V], _V]:
        """A page the portal opens in its iframe at ``path`` (``/`` is the app's handler path)."""
        if not _PATH.fullmatch(path) or path.startswith(("/placement/", "/install", "/events", "/api/")):
            raise ConfigError(f"{path!r} cannot be an iframe page (choose a path such as '/' or '/settings')")

        def register(view: _V) -> _V:
            if path in self.frames:
                raise ConfigError(f"an iframe page is already registered at {path!r}")
            self.frames[path] = view
            if self.on_frame_added is not None:
                self.on_frame_added(path)
            return view

        return register

    def placement(
        self, code: str, *, title: str, path: str | None = None, description: str = ""
    ) -> Callable[[_V], _V]:
        """A widget: bound with ``placement.bind`` at install, and served at ``path``.

        ``path`` defaults to ``/placement/<code in lower case>``.
        """
        if not _CODE.fullmatch(code):
            raise ConfigError(f"{code!r} is not a placement code (such as 'CRM_DEAL_DETAIL_TAB')")
        slug = (path or f"/placement/{code.lower()}").removeprefix("/placement/").strip("/")
        if not re.fullmatch(r"[a-z0-9_\-]{1,64}", slug):
            raise ConfigError(f"placement path {path!r} must be /placement/<letters, digits, _ or ->")

        def register(view: _V) -> _V:
            if slug in self.placements:
                raise ConfigError(f"a placement page is already registered at /placement/{slug}")
            self.placements[slug] = PlacementPage(code, title, f"/placement/{slug}", view, description)
            return view

        return register

    def on_install(self, hook: _V) -> _V:
        """Run ``hook(installation)`` after a verified install (or reinstall) is stored."""
        self.install_hooks.append(hook)
        return hook

    def framed_paths(self) -> set[str]:
        return {*self.frames, *(p.path for p in self.placements.values())}


def pages(app: Flask | None = None) -> AppPages:
    """The app's :class:`AppPages`: ``@pages(app).frame("/")``, ``@pages(app).placement(...)``."""
    return (app or current_app).extensions["crest_pages"]  # type: ignore[no-any-return]


#: Routes of the kit, and what to use instead of registering them yourself.
_OWNED: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/\Z"), "serve the iframe page with @pages(app).frame('/')"),
    (re.compile(r"/placement(/.*)?\Z"), "serve a widget with @pages(app).placement(CODE, title=...)"),
    (re.compile(r"/install/?\Z"), "run code after an install with @pages(app).on_install"),
    (re.compile(r"/events(/.*)?\Z"), "handle events with @router(app).on('ONCRM...')"),
    (re.compile(r"/(operator|checkserver)/?\Z"), "these are the operator's pages of the kit"),
    (re.compile(r"/api/(me|events)\Z"), "these serve the kit's pages; choose another path under /api/"),
)


def owned_rule_hint(rule: str) -> str | None:
    """What to use instead, when ``rule`` is one of the kit's routes; ``None`` when it is free."""
    for pattern, hint in _OWNED:
        if pattern.match(rule):
            return hint
    return None
