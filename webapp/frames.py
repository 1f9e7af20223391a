"""Frame headers: who may put our pages in an iframe (T7, T8).

Pages the portal frames (``/``, ``/install``, ``/placement/...``) get exactly one
``Content-Security-Policy`` carrying ``frame-ancestors <portal origin>``; every other
response gets ``frame-ancestors 'none'``. The portal origin is built from the *stored,
verified* installation (its client endpoint's scheme and its domain), never from the request,
so a forged ``DOMAIN`` cannot open the page to another site. ``X-Frame-Options`` is removed:
it cannot name an origin (``ALLOW-FROM`` is ignored), and conflicting values block the portal
too.

The app's own frame pages and placements, registered through :mod:`webapp.hooks`, get the
same portal-only policy.

The hook is registered by :func:`create_app`, before any extension the caller adds; Flask
runs ``after_request`` hooks in reverse order, so ours runs last and sees, and repairs, what
other middleware (Flask-Talisman's ``X-Frame-Options: SAMEORIGIN``, a CSP of its own) added.
A proxy in front of the app can still add headers: ``crest checkserver`` looks for that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request

from crest.installation import Installation
from webapp.extension import state

__all__ = ["frame_origins", "init_app", "is_framed_path"]

_FRAMED = re.compile(r"/(?:install/?|placement/[^/]+/?)?\Z")
_FRAME_ANCESTORS = re.compile(r"(?:^|;)\s*frame-ancestors\b[^;]*", re.IGNORECASE)
_ORIGIN = re.compile(r"(?:https?://)?[A-Za-z0-9*.-]+(?::\d{1,5})?")


def is_framed_path(path: str) -> bool:
    """The kit's framed paths, and the frame pages the app registered (:mod:`webapp.hooks`)."""
    if _FRAMED.fullmatch(path) is not None:
        return True
    kit = current_app.extensions.get("crest_pages")
    return kit is not None and path in kit.framed_paths()


def _origin(installation: Installation) -> str | None:
    scheme = urlsplit(installation.client_endpoint).scheme
    if scheme not in {"http", "https"} or not installation.domain:
        return None
    return f"{scheme}://{installation.domain.lower()}"


def frame_origins(installations: Iterable[Installation], extras: Iterable[str]) -> list[str]:
    """The origins allowed to frame our pages, in a stable order, without duplicates."""
    found: list[str] = []
    for inst in installations:
        origin = _origin(inst)
        if origin and origin not in found:
            found.append(origin)
    for extra in extras:
        # An operator's setting still must not smuggle a second directive into the header.
        if _ORIGIN.fullmatch(extra) and extra not in found:
            found.append(extra)
    return found


def _policy_for_request() -> str:
    crest = state()
    installations = list(crest.store.all_installations())
    just_installed = g.get("crest_installed")
    if isinstance(just_installed, Installation) and all(
        i.member_id != just_installed.member_id for i in installations
    ):
        installations.append(just_installed)
    origins = frame_origins(installations, crest.settings.frame_ancestors or ())
    return "frame-ancestors " + (" ".join(origins) if origins else "'none'")


def _merge(existing: list[str], ours: str) -> str:
    """One header: other middleware's directives kept, every frame-ancestors replaced by ours."""
    kept = []
    for policy in existing:
        rest = _FRAME_ANCESTORS.sub("", policy).strip().strip(";").strip()
        if rest:
            kept.append(rest)
    # Several policies in one header are enforced independently, like several headers.
    return ", ".join([f"{kept[0]}; {ours}", *kept[1:]] if kept else [ours])


def set_frame_headers(response: Response) -> Response:
    try:
        framed = is_framed_path(request.path)
        policy = _policy_for_request() if framed else "frame-ancestors 'none'"
    except Exception:
        # The store failed: fail closed rather than leave the page frameable by anyone.
        policy = "frame-ancestors 'none'"
    existing = response.headers.getlist("Content-Security-Policy")
    response.headers.remove("Content-Security-Policy")
    response.headers.remove("X-Frame-Options")
    response.headers["Content-Security-Policy"] = _merge(existing, policy)
    return response


def init_app(app: Flask) -> None:
    app.after_request(set_frame_headers)
