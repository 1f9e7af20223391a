"""Accepting an installation: parse the delivery, verify it with the OAuth server, pin, save.

Anyone can POST to an install endpoint, and the first ``application_token`` arrives in the
install request itself (T1). So nothing posted is trusted until ``app.info`` at the
*configured* OAuth server vouches for the access token: our ``client_id``, the posted
``member_id`` and the posted domain must all match, and ``client_endpoint`` is taken from
that answer, never from the request (T2). A local application is pinned to its first portal
(T25); repeated or late deliveries keep the chain already stored (T5).

Both install kinds are read:

* API-only apps: the ONAPPINSTALL event, ``event=ONAPPINSTALL&auth[access_token]=...``;
* UI apps: the install page POSTed into the iframe with ``PLACEMENT=DEFAULT``, ``AUTH_ID``,
  ``REFRESH_ID``, ``member_id`` and, in the query, ``DOMAIN``. ``application_token`` comes
  from ``APPLICATION_TOKEN``, never from ``APP_SID`` (which changes on every render: CRest's
  mistake).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from crest.errors import ApiError, InstallError, OAuthError
from crest.installation import Installation
from crest.oauth import OAuthClient
from crest.stores.base import InstallationStore

if TYPE_CHECKING:
    from crest.confirm import PortalWitness

__all__ = ["InstallConflict", "InstallPayload", "Installer", "parse_install"]

log = logging.getLogger("crest.install")

_MEMBER_ID = re.compile(r"[0-9a-f]{32}")
_TOKEN = re.compile(r"[A-Za-z0-9._~-]{8,512}")
_APP_TOKEN = re.compile(r"[A-Za-z0-9]{8,128}")
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::\d{1,5})?")


class InstallConflict(InstallError):
    """Another portal tried to install a local app already pinned to its first portal."""

    code = "install_conflict"
    hint = "This local application is bound to another portal; run `crest reset-install` to release it."


@dataclass(frozen=True)
class InstallPayload:
    kind: str  # "event" (ONAPPINSTALL) or "placement" (PLACEMENT=DEFAULT)
    member_id: str
    domain: str
    access_token: str
    refresh_token: str
    expires_in: int
    application_token: str

    def __repr__(self) -> str:
        return f"InstallPayload(kind={self.kind!r}, member_id={self.member_id!r}, domain={self.domain!r})"


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        # A list or map where a scalar belongs: duplicated or nested keys (T19, T23).
        raise InstallError(f"{name} must be a single value", status=400)
    return value.strip()


def _check(pattern: re.Pattern[str], value: str, name: str, *, required: bool = True) -> str:
    if not value and not required:
        return ""
    if not pattern.fullmatch(value):
        raise InstallError(f"{name} is missing or malformed", status=400)
    return value


def parse_install(form: Mapping[str, Any], query: Mapping[str, Any] | None = None) -> InstallPayload:
    """Read an install delivery (form body plus query string); :class:`InstallError` (400) if malformed."""
    query = query or {}
    event = _text(form.get("event"), "event").upper()
    if event == "ONAPPINSTALL":
        auth = form.get("auth")
        if not isinstance(auth, Mapping):
            raise InstallError("ONAPPINSTALL without auth", status=400)
        kind = "event"
        access = _text(auth.get("access_token"), "auth[access_token]")
        refresh = _text(auth.get("refresh_token"), "auth[refresh_token]")
        member_id = _text(auth.get("member_id"), "auth[member_id]")
        domain = _text(auth.get("domain"), "auth[domain]")
        app_token = _text(auth.get("application_token"), "auth[application_token]")
        expires_in = _text(auth.get("expires_in"), "auth[expires_in]")
    elif _text(form.get("PLACEMENT"), "PLACEMENT") == "DEFAULT" and form.get("AUTH_ID"):
        kind = "placement"
        access = _text(form.get("AUTH_ID"), "AUTH_ID")
        refresh = _text(form.get("REFRESH_ID"), "REFRESH_ID")
        member_id = _text(form.get("member_id"), "member_id")
        domain = _text(query.get("DOMAIN") or form.get("DOMAIN"), "DOMAIN")
        app_token = _text(form.get("APPLICATION_TOKEN"), "APPLICATION_TOKEN")
        expires_in = _text(form.get("AUTH_EXPIRES"), "AUTH_EXPIRES")
    else:
        raise InstallError("not an install request (expected ONAPPINSTALL or PLACEMENT=DEFAULT)", status=400)
    try:
        seconds = int(expires_in or "3600")
    except ValueError:
        raise InstallError("expires_in is not a number", status=400) from None
    if not 0 < seconds <= 86400:
        raise InstallError("expires_in is out of range", status=400)
    return InstallPayload(
        kind=kind,
        member_id=_check(_MEMBER_ID, member_id.lower(), "member_id"),
        domain=_check(_DOMAIN, domain.lower(), "domain"),
        access_token=_check(_TOKEN, access, "access token"),
        refresh_token=_check(_TOKEN, refresh, "refresh token"),
        expires_in=seconds,
        application_token=_check(_APP_TOKEN, app_token, "application_token", required=kind == "event"),
    )


@dataclass(frozen=True)
class Installer:
    """Verifies install deliveries and keeps the store's binding right."""

    store: InstallationStore
    oauth: OAuthClient
    client_id: str
    #: Allow ``http://`` client endpoints (on-premise portals an operator enabled, the local portal).
    allow_http: bool = False
    #: Asks the portal before an existing installation is replaced; without one, it never is.
    witness: PortalWitness | None = None

    def verify(self, payload: InstallPayload, now: float) -> Installation:
        """Ask the configured OAuth server about the posted token; :class:`InstallError` (403) if it disagrees."""
        try:
            info = self.oauth.app_info(payload.access_token)
        except (ApiError, OAuthError) as exc:
            raise InstallError("the OAuth server does not recognise the posted token", status=403) from exc
        install = info.get("install") if isinstance(info.get("install"), Mapping) else {}
        assert isinstance(install, Mapping)
        if info.get("client_id") != self.client_id:
            raise InstallError("the token belongs to another application", status=403)
        if (
            install.get("member_id") != payload.member_id
            or str(install.get("domain", "")).lower() != payload.domain
        ):
            raise InstallError("the token belongs to another portal", status=403)
        endpoint = str(install.get("client_endpoint") or "")
        parts = urlsplit(endpoint)
        if parts.netloc.lower() != payload.domain or parts.scheme not in (
            {"https", "http"} if self.allow_http else {"https"}
        ):
            raise InstallError("the OAuth server reported an unusable client endpoint", status=403)
        user_id = info.get("user_id")
        return Installation(
            member_id=payload.member_id,
            domain=payload.domain,
            client_endpoint=endpoint,
            access_token=payload.access_token,
            refresh_token=payload.refresh_token,
            expires=now + payload.expires_in,
            application_token=payload.application_token,
            server_endpoint=self.oauth.server_endpoint,
            scope=str(info.get("scope") or ""),
            user_id=int(user_id) if isinstance(user_id, int | str) and str(user_id).isdigit() else None,
            status=str(install.get("status") or "L"),
            installed_at=now,
        )

    def accept(self, payload: InstallPayload, now: float) -> tuple[Installation, bool]:
        """Verify and store; returns (installation, changed).

        The first verified install is stored. Once an installation exists, a delivery changes
        it only with the portal's own word (:class:`~crest.confirm.PortalWitness`): the poster
        must be an administrator (``user.admin``), and the posted ``application_token`` replaces
        the stored one only when the portal refuses the stored chain (a real reinstall). Every
        user of the portal receives tokens and the application token in the frame POST, so
        without this any user could take the installation over.
        :class:`InstallConflict` if the app is pinned to another portal.
        """
        verified = self.verify(payload, now)
        existing = self.store.find(verified.member_id)
        chain_alive = False
        if existing is not None:
            # Asked before taking the store lock: the witness may renew the stored chain, which
            # takes that lock itself.
            if self.witness is None:
                raise InstallError("this installer cannot confirm a reinstall with the portal", status=403)
            if not self.witness.is_admin(verified.client_endpoint, verified.access_token):
                log.warning(
                    "refused a reinstall on %s by user %s: not an administrator",
                    verified.domain,
                    verified.user_id,
                )
                raise InstallError(
                    "only an administrator of the portal can reinstall the application", status=403
                )
            chain_alive = not existing.needs_reinstall and self.witness.chain_alive(verified.member_id)
        with self.store.lock(verified.member_id):
            others = [i for i in self.store.all_installations() if i.member_id != verified.member_id]
            if others:
                raise InstallConflict(f"already installed on portal {others[0].domain}", status=409)
            current = self.store.find(verified.member_id)
            if current is not None and chain_alive and not current.needs_reinstall:
                # The portal still accepts the stored chain: this is the same installation (a
                # late, repeated or re-opened install). Keep the first verified chain (T5) and
                # its application token; learn the token only if the first delivery lacked it.
                if not current.application_token and verified.application_token:
                    current = dataclasses.replace(current, application_token=verified.application_token)
                    self.store.save(current)
                    return current, True
                return current, False
            self.store.save(verified)
            return verified, True
