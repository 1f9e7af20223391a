"""One local portal: its configuration, clock, state and the services around it."""

from __future__ import annotations

import secrets
import threading
from typing import Any
from urllib.parse import urlsplit

from portal.clock import Clock
from portal.config import PortalConfig
from portal.credentials import Credentials
from portal.directory import Directory
from portal.faults import Faults, RequestLog
from portal.limits import LeakyBucket, OperatingLimiter
from portal.persist import MemoryPersistence, Persistence, SqlitePersistence, Table


class Portal:
    """The state and services of one portal; the Flask app in :mod:`portal.app` serves it."""

    def __init__(self, config: PortalConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.persist: Persistence = (
            SqlitePersistence(config.state_path) if config.state_path else MemoryPersistence()
        )
        # Method handlers run one at a time under this lock; simulated method cost is slept
        # outside it, so slow calls overlap as they do on a real portal.
        self.lock = threading.RLock()
        self.meta: Table[str] = Table(self.persist, "meta", str)
        self.directory = Directory(self)
        self.credentials = Credentials(self)
        burst, drain = config.bucket
        self.bucket = LeakyBucket(burst, drain, self.clock)
        self.operating = OperatingLimiter(config, self.clock)
        self.faults = Faults()
        self.requests = RequestLog()
        self._base_url = config.base_url.rstrip("/") if config.base_url else None
        self.moved_from: set[str] = set()
        self.deleted = False
        # Component stores; each module owns its own.
        from portal.crm import CrmStore
        from portal.eventbus import EventBus
        from portal.options import Options

        self.crm = CrmStore(self)
        self.events = EventBus(self)
        self.options = Options(self)
        from portal.im_store import ImStore

        self.im = ImStore(self.persist, self.clock.time)
        from portal.feed import FeedStore

        self.feed = FeedStore(self.persist, self.clock.time)
        from portal.funnel import FunnelStore

        self.funnel = FunnelStore(self.persist)
        from portal.crm import Records

        self.task_comments = Records(self.persist, "task_comment", self.crm.seq)
        self.default_webhook = self._ensure_default_webhook()
        self.default_app = self._ensure_default_app()
        self.admin_token = self._ensure_admin_token()

    # --- addresses --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the portal's base URL is not known yet")
        return self._base_url

    def set_base_url(self, url: str) -> None:
        self._base_url = url.rstrip("/")

    def learn_base_url(self, url: str) -> None:
        """Take the first request's host as the base URL when none was configured."""
        if self._base_url is None:
            self.set_base_url(url)

    @property
    def domain(self) -> str:
        return urlsplit(self.base_url).netloc

    @property
    def client_endpoint(self) -> str:
        return f"{self.base_url}/rest/"

    @property
    def server_endpoint(self) -> str:
        """The OAuth server's REST endpoint (``app.info`` lives there)."""
        return f"{self.base_url}/oauth/rest/"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token/"

    @property
    def oauth_domain(self) -> str:
        # In token responses ``domain`` is the authorization server's, not the portal's.
        return self.domain

    # --- seed -------------------------------------------------------------------------------

    def _ensure_default_webhook(self) -> dict[str, Any]:
        for hook in self.credentials.webhooks.values():
            if hook["user_id"] == 1:
                return dict(hook)
        return self.credentials.add_webhook(1)

    def _ensure_admin_token(self) -> str:
        if self.config.admin_token:
            return self.config.admin_token
        stored = self.meta.get("admin_token")
        if isinstance(stored, str) and stored:
            return stored  # kept with --state, so a restarted portal keeps its clients working
        token = secrets.token_urlsafe(32)
        while token.startswith("-"):
            # `--admin-token -x...` reads as another option to argparse: the examples' commands
            # (and their tests) failed about one run in 64.
            token = secrets.token_urlsafe(32)
        self.meta.put("admin_token", token)
        return token

    def _ensure_default_app(self) -> dict[str, Any]:
        for app in self.credentials.apps.values():
            return dict(app)
        return self.credentials.add_app(title="Pre-registered local application", api_only=True)

    def register_app(
        self,
        *,
        title: str,
        handler_url: str = "",
        install_url: str = "",
        scopes: tuple[str, ...] = (),
        api_only: bool = False,
        redirect_uri: str = "",
        static: bool = False,
    ) -> dict[str, Any]:
        """Register a local application, as the portal's Developer resources form does.

        An API-only app counts as installed at once and gets ONAPPINSTALL, server to server,
        at its install path; an app with UI is installed when its installer calls
        ``BX24.installFinish()``.
        """
        app = self.credentials.add_app(
            title=title,
            handler_url=handler_url,
            install_url=install_url,
            scopes=scopes or tuple(self.default_app["scopes"]),
            api_only=api_only,
            static=static,
        )
        app = self.credentials.update_app(app, redirect_uri=redirect_uri, installed=api_only)
        if api_only:
            self.events.app_installed(app, user_id=1)
        return app

    def info(self) -> dict[str, Any]:
        """What ``crest portal --info`` writes."""
        app = self.credentials.apps.get(self.default_app["client_id"])
        return {
            "base_url": self.base_url,
            "webhook_url": self.credentials.webhook_url(self.default_webhook),
            "domain": self.domain,
            "member_id": self.config.member_id,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "token_url": self.token_url,
            "server_endpoint": self.server_endpoint,
            "admin_url": f"{self.base_url}/_portal/",
            "admin_token": self.admin_token,
            "static_apps_url": self.config.static_apps_url,
        }
