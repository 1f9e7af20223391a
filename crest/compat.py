"""``CRest``: the PHP SDK's static facade, so CRest code ports line by line.

    # PHP:    $result = CRest::call('crm.contact.get', ['ID' => 42]);
    result = CRest.call("crm.contact.get", {"ID": 42})

Every method returns CRest-shaped dicts instead of raising: a success is the decoded
envelope (``result``, ``total``, ``next``, ``time``), a failure is ``error``,
``error_description`` and, where CRest has one, the human hint ``error_information``.
What differs from CRest, on purpose: batches of any size run completely (CRest drops
commands past 50); install deliveries are verified with the OAuth server before anything is
stored; TLS is always verified.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from crest.client import Client
from crest.errors import CrestError
from crest.settings import Settings
from crest.stores.base import InstallationStore

__all__ = ["CRest"]


class CRest:
    VERSION: ClassVar[str] = "1.36"
    BATCH_COUNT: ClassVar[int] = 50
    TYPE_TRANSPORT: ClassVar[str] = "json"

    _settings: ClassVar[Settings | None] = None
    _store: ClassVar[InstallationStore | None] = None
    _client: ClassVar[Client | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def configure(cls, settings: Settings | None = None, *, store: InstallationStore | None = None) -> None:
        """Use these settings (default: ``settings.py`` and ``CREST_*`` variables) and store."""
        with cls._lock:
            if cls._client is not None:
                cls._client.close()
            cls._settings, cls._store, cls._client = settings, store, None

    @classmethod
    def _get_settings(cls) -> Settings:
        if cls._settings is None:
            cls._settings = Settings.load()
        return cls._settings

    @classmethod
    def _get_store(cls) -> InstallationStore:
        if cls._store is None:
            from crest.stores import open_store

            cls._store = open_store(cls._get_settings().store)
        return cls._store

    @classmethod
    def _get_client(cls) -> Client:
        with cls._lock:
            if cls._client is None:
                settings = cls._get_settings()
                if settings.web_hook_url:
                    cls._client = Client.from_settings(settings)
                else:
                    cls._client = Client.for_portal(None, store=cls._get_store(), settings=settings)
            return cls._client

    @classmethod
    def call(cls, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = cls._get_client().request(method, params)
        except CrestError as exc:
            return exc.as_crest_dict()
        return response.envelope()

    @classmethod
    def callBatch(cls, arData: Mapping[Any, Mapping[str, Any]], halt: int | bool = 0) -> dict[str, Any]:
        """``[key => ['method' => ..., 'params' => [...]]]``; entries without a method are skipped as in CRest."""
        commands = {k: v for k, v in arData.items() if isinstance(v, Mapping) and v.get("method")}
        if not commands:
            return {}
        try:
            result = cls._get_client().batch(commands, halt=bool(halt))
        except CrestError as exc:
            return exc.as_crest_dict()
        return {"result": result.as_crest_body()}

    @classmethod
    def installApp(cls, form: Mapping[str, Any], query: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Handle an install delivery (the request's parsed form and query); verified before saving.

        Returns CRest's ``{"rest_only": bool, "install": bool}``; with a failed verification
        ``install`` is False and ``error``/``error_description`` say why.
        """
        from crest.confirm import PortalWitness
        from crest.install import Installer, parse_install
        from crest.oauth import OAuthClient
        from crest.placement import FrameAuth

        settings = cls._get_settings()
        rest_only = str(form.get("event", "")).upper() == "ONAPPINSTALL"
        try:
            payload = parse_install(form, query)
            oauth = OAuthClient.from_settings(settings)
            store = cls._get_store()
            witness = PortalWitness(
                stored_client=lambda member_id: Client.for_portal(member_id, store=store, settings=settings),
                token_client=lambda endpoint, token: Client(
                    FrameAuth(endpoint, token),
                    ca_bundle=settings.ca_bundle,
                    timeout=(settings.connect_timeout, settings.read_timeout),
                ),
            )
            Installer(
                store,
                oauth,
                settings.client_id or "",
                allow_http=settings.allow_http_portals,
                witness=witness,
            ).accept(payload, time.time())
        except CrestError as exc:
            return {"rest_only": rest_only, "install": False, **exc.as_crest_dict()}
        with cls._lock:
            cls._client = None  # the next call reads the new installation
        return {"rest_only": rest_only, "install": True}

    @classmethod
    def checkServer(cls, print_: bool = False) -> dict[str, Any]:
        """CRest's self-check: ``{"success": "Success!"}`` or a map of what failed."""
        from crest.checks import local_checks

        failed = {
            c.check: f"{c.detail} ({c.fix})" for c in local_checks(cls._get_settings()) if c.status == "fail"
        }
        result = failed or {"success": "Success!"}
        if print_:
            print(result)
        return result
