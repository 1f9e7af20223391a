"""How a :class:`~crest.client.Client` authenticates: an incoming webhook, or an app's OAuth tokens.

Token renewal never races. Bitrix24 refresh tokens are single-use and a refresh kills the old
access token, so two workers refreshing at once would leave one of them with a dead chain.
:meth:`AppAuth.renew` therefore holds the store's lock for the portal (across threads and
processes), re-reads the installation, and refreshes only if nobody else already did; a
worker that gets ``invalid_grant`` because a peer won the race re-reads instead of failing.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit

from crest.errors import (
    ConfigError,
    InvalidGrantError,
    NeedsReinstallError,
    NotInstalledError,
    OAuthServerUnavailable,
)
from crest.installation import Installation
from crest.oauth import OAuthClient
from crest.stores.base import InstallationStore
from crest.sync_points import SyncPoint, no_sync

__all__ = ["RENEWAL_BACKOFF", "AppAuth", "Auth", "RenewalBackoff", "WebhookAuth", "mask_url"]

#: Renew proactively this many seconds before a known expiry (clock skew, T26), but never
#: more than a tenth of the token's life, so short-lived tokens are not renewed on every call.
RENEW_LEEWAY = 60.0


#: Refresh an idle chain once its refresh token is this old (T13): refresh tokens lived 28 days
#: in older Bitrix24 docs (180 now), so 20 days keeps a quiet app alive under either rule.
KEEPALIVE_AGE = 20 * 86400.0


def _leeway(inst: Installation) -> float:
    issued = inst.refreshed_at or inst.installed_at
    if inst.expires is None or issued is None or inst.expires <= issued:
        return RENEW_LEEWAY
    return min(RENEW_LEEWAY, (inst.expires - issued) / 10)


def mask_url(url: str) -> str:
    """A webhook URL with its secret masked: ``/rest/1/ab…/``."""
    parts = url.split("/rest/", 1)
    if len(parts) != 2:
        return url
    segments = parts[1].split("/")
    if len(segments) >= 2 and segments[0].isdigit():
        segments[1] = segments[1][:2] + "…"
    return parts[0] + "/rest/" + "/".join(segments)


class Auth(Protocol):
    """What the client needs from an authentication mode."""

    kind: str

    def endpoint(self) -> str:
        """The REST base URL, ending in ``/``."""
        ...

    def token(self) -> str | None:
        """The access token to send as ``auth``; None for webhooks (the URL is the credential)."""
        ...

    def renew(self, stale_token: str | None) -> bool:
        """React to ``expired_token``/``invalid_token`` for ``stale_token``; True to retry once."""
        ...

    def follow_move(self, new_netloc: str) -> bool:
        """The portal answered 302 to ``new_netloc``: True if the move is verified and adopted."""
        ...


class WebhookAuth:
    kind = "webhook"

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.netloc or "/rest/" not in parts.path:
            raise ConfigError("a webhook URL looks like https://portal.bitrix24.com/rest/1/secret/")
        self._url = url if url.endswith("/") else url + "/"

    def endpoint(self) -> str:
        return self._url

    def token(self) -> None:
        return None

    def renew(self, stale_token: str | None) -> bool:
        return False

    def follow_move(self, new_netloc: str) -> bool:
        # Nothing can vouch for a webhook's new host without sending it the secret.
        return False

    def __repr__(self) -> str:
        return f"WebhookAuth({mask_url(self._url)!r})"


class RenewalBackoff:
    """While the OAuth server fails, renewals of a portal wait instead of piling up.

    Renewals are already one at a time (the store's lock), but every thread whose token had
    expired would send its own token request as soon as the previous one failed: hundreds a
    second during an outage. So a failed renewal makes the next try of that portal wait, 1 s
    at first and doubling to ``ceiling``; until then a renewal fails at once, without a request.
    Shared by every :class:`AppAuth` of the process (the module's :data:`RENEWAL_BACKOFF`);
    another process learns of the outage by its own first failure, so N processes send at most
    N requests per wait.
    """

    def __init__(self, ceiling: float = 30.0) -> None:
        self.ceiling = ceiling
        self._lock = threading.Lock()
        self._state: dict[str, tuple[int, float]] = {}  # OAuth server|member_id -> (failures, next try)

    def wait_left(self, key: str, now: float) -> float:
        with self._lock:
            _, at = self._state.get(key, (0, 0.0))
            return max(0.0, at - now)

    def failed(self, key: str, now: float) -> float:
        """Record a failure; returns the seconds until the next try."""
        with self._lock:
            failures = self._state.get(key, (0, 0.0))[0] + 1
            wait = min(self.ceiling, 2.0 ** (failures - 1))
            self._state[key] = (failures, now + wait)
            return wait

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._state.pop(key, None)


#: One per process: every client of a portal shares its backoff.
RENEWAL_BACKOFF = RenewalBackoff()


class AppAuth:
    """OAuth tokens of one portal, kept in an :class:`InstallationStore` and renewed in place."""

    kind = "oauth"

    def __init__(
        self,
        member_id: str | None,
        store: InstallationStore,
        oauth: OAuthClient,
        *,
        clock: Callable[[], float] = time.time,
        on_renew: Callable[[Installation], None] | None = None,
        sync: SyncPoint = no_sync,
        backoff: RenewalBackoff = RENEWAL_BACKOFF,
    ) -> None:
        self._member_id = member_id
        self._backoff = backoff
        self._store = store
        self._oauth = oauth
        self._clock = clock
        self._on_renew = on_renew
        self._sync = sync  # tests force interleavings of renewal here (crest.sync_points)
        self._cached: Installation | None = None
        self._flight = threading.Lock()  # one renewal at a time in this process

    # --- reading -----------------------------------------------------------------------------

    def installation(self, *, reload: bool = False) -> Installation:
        if self._cached is None or reload:
            found = self._store.find(self._member_id)
            if found is None:
                raise NotInstalledError("no installation for this portal in the store")
            self._cached = found
            self._member_id = found.member_id
        return self._cached

    @property
    def member_id(self) -> str:
        return self.installation().member_id

    def endpoint(self) -> str:
        return self.installation().client_endpoint

    def token(self) -> str:
        inst = self.installation()
        if inst.needs_reinstall:
            raise NeedsReinstallError("this portal's token chain is dead; reopen or reinstall the app")
        if inst.expires is not None and inst.expired(self._clock(), leeway=_leeway(inst)):
            # Known to be expired: renew before the call instead of spending a request on a 401.
            inst = self._renew(inst.access_token)
        return inst.access_token

    # --- renewal -----------------------------------------------------------------------------

    def renew(self, stale_token: str | None) -> bool:
        self._renew(stale_token)
        return True

    def _fresh_enough(self, inst: Installation, stale_token: str | None) -> bool:
        return inst.access_token != stale_token and not inst.expired(self._clock(), leeway=_leeway(inst))

    def _renew(self, stale_token: str | None) -> Installation:
        with self._flight:
            # Another thread of this process may have renewed while we waited.
            current = self.installation(reload=True)
            if self._fresh_enough(current, stale_token):
                return current
            self._sync("renew.read")
            with self._store.lock(current.member_id):
                self._sync("renew.locked")
                # Re-read under the cross-process lock: another process may have won.
                current = self.installation(reload=True)
                if self._fresh_enough(current, stale_token):
                    return current
                if current.needs_reinstall:
                    raise NeedsReinstallError(
                        "this portal's token chain is dead; reopen or reinstall the app"
                    )
                backoff_key = f"{self._oauth.token_url}|{current.member_id}"
                wait = self._backoff.wait_left(backoff_key, self._clock())
                if wait > 0:
                    raise OAuthServerUnavailable(
                        f"the OAuth server failed a moment ago; the next renewal try is in {wait:.0f} s"
                    )
                self._sync("renew.refreshing")
                try:
                    tokens = self._oauth.refresh(current.refresh_token)
                except OAuthServerUnavailable:
                    self._backoff.failed(backoff_key, self._clock())
                    raise
                except InvalidGrantError:
                    # Compare before clearing: only our own, still-stored chain is dead.
                    again = self.installation(reload=True)
                    if again.refresh_token != current.refresh_token:
                        return again
                    dead = dataclasses.replace(current, needs_reinstall=True)
                    self._store.save(dead)
                    self._cached = dead
                    raise NeedsReinstallError(
                        "the OAuth server refused the stored refresh token; reopen or reinstall the app"
                    ) from None
                self._backoff.succeeded(backoff_key)
                renewed = current.with_tokens(tokens, self._clock())
                self._sync("renew.saving")
                self._store.save(renewed)
                self._cached = renewed
                self._sync("renew.saved")
        if self._on_renew is not None:
            self._on_renew(renewed)
        return renewed

    def keepalive(self, max_age: float = KEEPALIVE_AGE) -> bool:
        """Refresh once if the stored refresh token is older than ``max_age``; True if it did.

        Bitrix24 asks apps not to refresh on a timer, and this does not: it renews only a chain
        that has been idle for weeks, so that it does not die of old age (T13). Under the store
        lock, as every renewal, so two processes doing this refresh once between them.
        """
        inst = self.installation(reload=True)
        issued = inst.refreshed_at or inst.installed_at
        if inst.needs_reinstall or issued is None or self._clock() - issued < max_age:
            return False
        return self._renew(inst.access_token).access_token != inst.access_token

    def follow_move(self, new_netloc: str) -> bool:
        """Accept a portal rename only when the OAuth server confirms it (T2).

        ``app.info`` at the configured OAuth server must report this member on the new
        domain, with a client endpoint there; only then is the store updated.
        """
        inst = self.installation()
        install = self._oauth.app_info(inst.access_token).get("install")
        if not isinstance(install, dict):
            return False
        endpoint = str(install.get("client_endpoint") or "")
        if (
            install.get("member_id") != inst.member_id
            or install.get("domain") != new_netloc
            or urlsplit(endpoint).netloc != new_netloc
        ):
            return False
        self.adopt(dataclasses.replace(inst, domain=new_netloc, client_endpoint=endpoint))
        return True

    def adopt(self, installation: Installation) -> None:
        """Use (and persist) an installation whose domain or endpoint changed after a verified move."""
        with self._store.lock(installation.member_id):
            self._store.save(installation)
            self._cached = installation
