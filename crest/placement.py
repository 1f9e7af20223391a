"""The iframe context a portal POSTs to an application page (reference 6.1), parsed and verified.

A portal opens an app page (``PLACEMENT=DEFAULT``) or a widget (``CRM_CONTACT_DETAIL_TAB``...)
with a browser form POSTed into the iframe: the current user's ``AUTH_ID``/``REFRESH_ID``,
``member_id``, ``PLACEMENT``, ``PLACEMENT_OPTIONS`` (a JSON string) and, in the query string,
``DOMAIN``. Anyone can send such a form, so nothing in it is used until
:func:`verify_frame` has asked ``app.info`` at the *configured* OAuth server about ``AUTH_ID``
and compared the answer with the installation the store already trusts (T6).

Framework-free: :mod:`webapp` only feeds it the decoded body and query.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crest.errors import ApiError, CrestError, FormError, OAuthError
from crest.forms import json_nesting, repeated_field
from crest.installation import Installation
from crest.oauth import OAuthClient

__all__ = [
    "FrameAuth",
    "FrameContext",
    "FrameError",
    "VerifiedFrame",
    "check_field_names",
    "parse_frame",
    "verify_frame",
]

_TOKEN = re.compile(r"[A-Za-z0-9._~-]{8,512}")
_MEMBER_ID = re.compile(r"[0-9a-f]{32}")
_PLACEMENT = re.compile(r"[A-Z0-9_]{1,64}")
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::\d{1,5})?")
#: PLACEMENT_OPTIONS is small in practice ({"ID": "8061", "URI": "..."}); anything larger is hostile.
MAX_OPTIONS_LENGTH = 16 * 1024
MAX_OPTIONS_DEPTH = 8


class FrameError(CrestError):
    """The posted iframe context is malformed (400) or does not verify (401)."""

    code = "frame_error"


@dataclass(frozen=True)
class FrameContext:
    """What the portal posted into the frame. Nothing here is trusted yet."""

    auth_id: str
    refresh_id: str
    auth_expires: int
    member_id: str
    domain: str
    placement: str
    options: Mapping[str, Any] = field(default_factory=dict)
    application_token: str = ""
    lang: str = ""

    def __repr__(self) -> str:
        # Tokens never reach logs or exception messages (T3).
        return f"FrameContext(member_id={self.member_id!r}, domain={self.domain!r}, placement={self.placement!r})"


@dataclass(frozen=True)
class VerifiedFrame:
    """A context the OAuth server vouched for, tied to the stored installation."""

    context: FrameContext
    installation: Installation
    user_id: int

    @property
    def client_endpoint(self) -> str:
        # The endpoint verified at install time, never the posted DOMAIN (T2).
        return self.installation.client_endpoint


def _scalar(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FrameError(f"{name} must be a single value", status=400)
    return value.strip()


def parse_options(text: str) -> dict[str, Any]:
    """``PLACEMENT_OPTIONS``: a JSON object, or ``{}`` for the empty string and ``"undefined"``."""
    if text in ("", "undefined", "null", "[]"):
        return {}
    if len(text) > MAX_OPTIONS_LENGTH:
        raise FrameError("PLACEMENT_OPTIONS is too large", status=400)
    # Depth is counted on the text before parsing: json.loads itself recurses (T23).
    if json_nesting(text) > MAX_OPTIONS_DEPTH:
        raise FrameError("PLACEMENT_OPTIONS is nested too deeply", status=400)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise FrameError("PLACEMENT_OPTIONS is not JSON", status=400) from None
    if not isinstance(value, dict):
        # Bitrix24 sends non-objects for some placements; PHP SDKs read them as an empty array.
        return {}
    return value


def parse_frame(form: Mapping[str, Any], query: Mapping[str, Any] | None = None) -> FrameContext:
    """Read the iframe POST. :class:`FrameError` 401 without ``AUTH_ID``, 400 if malformed."""
    query = query or {}
    auth_id = _scalar(form, "AUTH_ID")
    if not auth_id:
        raise FrameError("no Bitrix24 context: open the application from the portal", status=401)
    domain = _scalar(query, "DOMAIN") or _scalar(form, "DOMAIN")
    member_id = _scalar(form, "member_id").lower()
    placement = _scalar(form, "PLACEMENT").upper() or "DEFAULT"
    refresh_id = _scalar(form, "REFRESH_ID")
    app_token = _scalar(form, "APPLICATION_TOKEN")
    expires = _scalar(form, "AUTH_EXPIRES") or "3600"
    if not _TOKEN.fullmatch(auth_id) or (refresh_id and not _TOKEN.fullmatch(refresh_id)):
        raise FrameError("AUTH_ID or REFRESH_ID is malformed", status=400)
    if not _MEMBER_ID.fullmatch(member_id):
        raise FrameError("member_id is missing or malformed", status=400)
    if domain and not _DOMAIN.fullmatch(domain):
        raise FrameError("DOMAIN is malformed", status=400)
    if not _PLACEMENT.fullmatch(placement):
        raise FrameError("PLACEMENT is malformed", status=400)
    if app_token and not re.fullmatch(r"[A-Za-z0-9]{8,128}", app_token):
        raise FrameError("APPLICATION_TOKEN is malformed", status=400)
    if not expires.isdigit() or not 0 < int(expires) <= 86400:
        raise FrameError("AUTH_EXPIRES is out of range", status=400)
    lang = _scalar(query, "LANG")
    return FrameContext(
        auth_id=auth_id,
        refresh_id=refresh_id,
        auth_expires=int(expires),
        member_id=member_id,
        domain=domain.lower(),
        placement=placement,
        options=parse_options(_scalar(form, "PLACEMENT_OPTIONS")),
        application_token=app_token,
        lang=lang if re.fullmatch(r"[a-z]{2}", lang) else "",
    )


def verify_frame(
    context: FrameContext, installation: Installation | None, oauth: OAuthClient, client_id: str
) -> VerifiedFrame:
    """Tie a posted context to the stored installation; :class:`FrameError` (401) on any mismatch.

    The checks that cost nothing come first, so an anonymous or foreign request never makes
    the app send a request anywhere (T6).
    """
    if installation is None or installation.member_id != context.member_id:
        raise FrameError("the application is not installed on this portal", status=401)
    if context.domain and context.domain != installation.domain.lower():
        raise FrameError("DOMAIN is not the installed portal's", status=401)
    # An empty stored token (a UI install that did not send one) is not required either:
    # app.info below still vouches for AUTH_ID.
    if (
        context.application_token
        and installation.application_token
        and not hmac.compare_digest(
            context.application_token.encode(), installation.application_token.encode()
        )
    ):
        raise FrameError("APPLICATION_TOKEN does not match", status=401)
    try:
        info = oauth.app_info(context.auth_id)
    except (ApiError, OAuthError):
        raise FrameError("the OAuth server does not recognise AUTH_ID", status=401) from None
    install = info.get("install")
    install = install if isinstance(install, Mapping) else {}
    if not hmac.compare_digest(str(info.get("client_id") or "").encode(), client_id.encode()):
        raise FrameError("AUTH_ID belongs to another application", status=401)
    if install.get("member_id") != installation.member_id:
        raise FrameError("AUTH_ID belongs to another portal", status=401)
    if str(install.get("domain") or "").lower() != installation.domain.lower():
        raise FrameError("AUTH_ID belongs to another portal", status=401)
    user_id = info.get("user_id")
    if not str(user_id).isdigit():
        raise FrameError("the OAuth server did not name the user", status=401)
    return VerifiedFrame(context=context, installation=installation, user_id=int(str(user_id)))


class FrameAuth:
    """The current user's ``AUTH_ID`` for calls made while answering the iframe POST.

    It is never stored and never renewed: the page lives shorter than the token, and a later
    request uses the app's own stored tokens instead.
    """

    kind = "frame"

    def __init__(self, endpoint: str, token: str) -> None:
        self._endpoint = endpoint if endpoint.endswith("/") else endpoint + "/"
        self._token = token

    def endpoint(self) -> str:
        return self._endpoint

    def token(self) -> str:
        return self._token

    def renew(self, stale_token: str | None) -> bool:
        return False

    def follow_move(self, new_netloc: str) -> bool:
        return False

    def __repr__(self) -> str:
        return f"FrameAuth({self._endpoint!r})"


def check_field_names(body: bytes) -> None:
    """Refuse bodies whose meaning depends on the parser: duplicated fields and scalar/array clashes.

    PHP keeps the last of ``AUTH_ID=a&AUTH_ID=b``, Werkzeug the first, b24pysdk makes a list; a
    security-relevant value that differs by reader is refused instead (T19, T23). So is
    ``a[0]=x&a=y``, which PHP silently turns into a scalar. Call it after
    :func:`crest.forms.decode`, which already enforced the size, count and depth limits.
    """
    path = repeated_field(body)
    if path is not None:
        raise FormError(f"form field {path[0]!r} is sent more than once, or both as a value and an array")
