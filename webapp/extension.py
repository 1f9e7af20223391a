"""What the webapp keeps in ``app.extensions["crest"]``: settings, the store, HTTP, clients."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests
from flask import Flask, current_app

from crest.client import Client
from crest.confirm import PortalWitness
from crest.install import Installer
from crest.oauth import OAuthClient
from crest.operator_key import OperatorGate
from crest.placement import FrameAuth
from crest.settings import Settings
from crest.stores.base import InstallationStore
from webapp.session import PageTokens


@dataclass
class CrestState:
    settings: Settings
    store: InstallationStore
    http: requests.Session = field(default_factory=requests.Session)
    clock: Callable[[], float] = time.time
    _clients: dict[str, Client] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _tokens: PageTokens | None = None
    _gate: OperatorGate | None = None

    def oauth(self) -> OAuthClient:
        return OAuthClient.from_settings(self.settings, self.http)

    def installer(self) -> Installer:
        return Installer(
            self.store,
            self.oauth(),
            self.settings.client_id or "",
            allow_http=self.settings.allow_http_portals,
            witness=self.witness(),
        )

    def witness(self) -> PortalWitness:
        """Asks the portal before an install, uninstall or update replaces what the app holds."""
        return PortalWitness(stored_client=self.client, token_client=self.token_client)

    def token_client(self, client_endpoint: str, access_token: str) -> Client:
        """A client acting once with a posted token (the frame's ``AUTH_ID``); never stored or renewed."""
        return Client(
            FrameAuth(client_endpoint, access_token),
            session=self.http,
            ca_bundle=self.settings.ca_bundle,
            timeout=(self.settings.connect_timeout, self.settings.read_timeout),
        )

    def client(self, member_id: str) -> Client:
        """A client acting with the stored (installer's) tokens of ``member_id``; renews itself."""
        with self._lock:
            client = self._clients.get(member_id)
            if client is None:
                client = Client.for_portal(
                    member_id, store=self.store, settings=self.settings, session=self.http
                )
                self._clients[member_id] = client
            return client

    def forget(self, member_id: str) -> None:
        """Drop the cached client: after a reinstall its cached installation is stale."""
        with self._lock:
            self._clients.pop(member_id, None)

    def page_tokens(self) -> PageTokens:
        """Signer of the page tokens; reads ``self.clock`` at each use, so tests can move time."""
        with self._lock:
            if self._tokens is None:
                key = self.settings.secret_key

                # Looked up at each call, not bound now: tests replace ``clock`` after creation.
                def now() -> float:
                    return self.clock()

                self._tokens = PageTokens(key, now) if key else PageTokens.ephemeral(now)
            return self._tokens

    def operator_gate(self) -> OperatorGate:
        """The operator key's checker; one per app, so failed attempts add up across requests."""
        with self._lock:
            if self._gate is None:
                # Looked up at each call, as for page tokens: tests replace ``clock`` after creation.
                self._gate = OperatorGate(self.settings.operator_key, lambda: self.clock())  # noqa: PLW0108
            return self._gate


def state(app: Flask | None = None) -> CrestState:
    return (app or current_app).extensions["crest"]  # type: ignore[no-any-return]
