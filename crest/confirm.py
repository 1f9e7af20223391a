"""Asking the portal before believing a POST that would change what the app holds.

Anything in a frame POST or an event body can be written by any user of the portal: every user
who opens the app receives their own ``AUTH_ID``/``REFRESH_ID`` and the app's
``APPLICATION_TOKEN`` (docs/threats.md, "Installation and lifecycle (this round)"). ``app.info`` at the
configured OAuth server proves that a token is a real token of this app on this portal, not
*whose* it is, and ``application_token`` proves only that the sender has seen the app open.
So the deliveries that replace or delete an installation are confirmed with the portal itself:

* a reinstall over an existing installation: ``user.admin`` with the posted token must say the
  poster is an administrator, and the posted ``application_token`` is taken only when the
  stored chain is dead at the portal (the app was really uninstalled and installed again);
* ``ONAPPUNINSTALL``: the portal must refuse the app's *stored* tokens (it does once the app
  is uninstalled), else the event is forged;
* ``ONAPPUPDATE``: the portal's ``app.info`` with the stored tokens must report the version
  the event claims.

:class:`PortalWitness` asks; the callers decide. Its answers are ``True``, ``False`` or, when
the portal could not be asked (an outage), :class:`~crest.errors.TransportError` /
:class:`~crest.errors.OAuthServerUnavailable` propagate, so that nothing changes on a guess.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crest.client import Client
from crest.errors import AuthError, InvalidGrantError, NeedsReinstallError, NotInstalledError, OAuthError
from crest.errors import OAuthServerUnavailable as _OAuthDown

__all__ = ["PortalWitness"]

log = logging.getLogger("crest.confirm")

#: The portal no longer accepts the stored chain: refused access token, refused refresh.
_CHAIN_DEAD = (AuthError, InvalidGrantError, NeedsReinstallError, NotInstalledError)


@dataclass(frozen=True)
class PortalWitness:
    """The portal's word on a delivery, asked with tokens the app controls.

    ``stored_client(member_id)`` acts with the stored installation (renewing it as usual);
    ``token_client(client_endpoint, access_token)`` acts once with a posted token, never stored.
    """

    stored_client: Callable[[str], Client]
    token_client: Callable[[str, str], Client] | None = None

    def is_admin(self, client_endpoint: str, access_token: str) -> bool:
        """``user.admin`` as the poster: may they manage (install, reinstall) applications?"""
        if self.token_client is None:
            return False
        try:
            result = self.token_client(client_endpoint, access_token).call("user.admin")
        except AuthError:
            return False
        return result is True or str(result).lower() == "true"

    def _app_info(self, member_id: str) -> dict[str, Any] | None:
        """``app.info`` with the stored chain; ``None`` when the portal refuses that chain."""
        try:
            info = self.stored_client(member_id).call("app.info")
        except _OAuthDown:
            raise
        except _CHAIN_DEAD:
            return None
        except OAuthError:
            # invalid_client and the like: our own configuration is wrong, not the portal's word.
            raise
        return info if isinstance(info, dict) else {}

    def chain_alive(self, member_id: str) -> bool:
        """Does the portal still accept the stored tokens with the app installed?"""
        info = self._app_info(member_id)
        return info is not None and info.get("INSTALLED", True) is not False

    def uninstalled(self, member_id: str) -> bool:
        """True when the portal confirms the app is gone: it refuses the stored chain."""
        return not self.chain_alive(member_id)

    def version(self, member_id: str) -> str | None:
        """The app's version as the portal reports it (``None``: the chain is dead)."""
        info = self._app_info(member_id)
        if info is None:
            return None
        return str(info.get("VERSION", ""))
