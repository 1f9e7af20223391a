"""Who may call the portal: incoming webhooks, local applications, OAuth codes and tokens.

Refresh tokens are single-use by default, as Bitrix24 documented them: a refresh consumes
the refresh token sent *and* kills the access token issued with it. ``reuse_refresh_tokens``
switches that off.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from portal import errors
from portal.persist import Table

if TYPE_CHECKING:
    from portal.core import Portal

#: Every scope this portal knows; a webhook or app "with all scopes" gets these.
ALL_SCOPES = (
    "crm",
    "task",
    "im",
    "imbot",
    "log",
    "telephony",
    "user",
    "user_brief",
    "user_basic",
    "placement",
    "entity",
    "department",
)


@dataclass(frozen=True)
class AuthContext:
    """The caller of one REST request, once authenticated."""

    kind: str  # "webhook" or "oauth"
    user_id: int
    scopes: frozenset[str]
    client_id: str | None = None
    webhook_id: str | None = None
    access_token: str | None = None

    @property
    def limiter_key(self) -> str:
        """Operating time is counted per app (client_id) or per webhook."""
        return f"oauth|{self.client_id}" if self.kind == "oauth" else f"apauth|{self.webhook_id}"


class OAuthFailure(Exception):
    """An OAuth server error: ``{"error", "error_description"}`` with its HTTP status."""

    def __init__(self, error: str, description: str | None, status: int) -> None:
        super().__init__(error)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        out = {"error": self.error}
        if self.description:
            out["error_description"] = self.description
        return out


def new_token() -> str:
    # Modern Bitrix24 tokens are about 70 hex characters; clients must not parse them.
    return secrets.token_hex(35)


def new_hex32() -> str:
    return secrets.token_hex(16)


class Credentials:
    def __init__(self, portal: Portal) -> None:
        self.portal = portal
        p = portal.persist
        self.webhooks: Table[str] = Table(p, "webhook", str)
        self.apps: Table[str] = Table(p, "app", str)
        self.access: Table[str] = Table(p, "access_token", str)
        self.refresh: Table[str] = Table(p, "refresh_token", str)
        self.codes: dict[str, dict[str, Any]] = {}

    # --- registration ------------------------------------------------------------------------

    def add_webhook(
        self, user_id: int, scopes: tuple[str, ...] = ALL_SCOPES, secret: str | None = None
    ) -> dict[str, Any]:
        secret = secret or "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16))
        hook = {
            "id": str(len(self.webhooks) + 1),
            "user_id": user_id,
            "secret": secret,
            "scopes": list(scopes),
        }
        self.webhooks.put(secret, hook)
        return hook

    def webhook_url(self, hook: dict[str, Any]) -> str:
        return f"{self.portal.base_url}/rest/{hook['user_id']}/{hook['secret']}/"

    def add_app(
        self,
        *,
        title: str = "Local application",
        handler_url: str = "",
        install_url: str = "",
        scopes: tuple[str, ...] = ALL_SCOPES,
        api_only: bool = False,
        static: bool = False,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> dict[str, Any]:
        rand = secrets.token_hex(7)
        client_id = client_id or f"local.{rand}.{secrets.randbelow(10**8):08d}"
        app = {
            "id": len(self.apps) + 1,
            "client_id": client_id,
            "client_secret": client_secret
            or "".join(
                secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                for _ in range(50)
            ),
            "title": title,
            "handler_url": handler_url,
            "install_url": install_url,
            "scopes": list(scopes),
            "api_only": api_only,
            "static": static,
            "installed": False,
            "application_token": new_hex32(),
            "version": 1,
            "status": "L",
        }
        self.apps.put(client_id, app)
        return app

    def update_app(self, app: dict[str, Any], **changes: Any) -> dict[str, Any]:
        app = {**app, **changes}
        self.apps.put(app["client_id"], app)
        return app

    # --- tokens --------------------------------------------------------------------------------

    def issue(self, client_id: str, user_id: int) -> dict[str, Any]:
        """A full token response, as the OAuth server sends it."""
        portal = self.portal
        app = self.apps.get(client_id)
        now = portal.clock.time()
        lifetime = portal.config.scaled(portal.config.access_token_lifetime)
        access, refresh = new_token(), new_token()
        expires = int(now + lifetime)
        scope = ",".join(app["scopes"])
        self.access.put(
            access, {"client_id": client_id, "user_id": user_id, "expires": now + lifetime, "scope": scope}
        )
        self.refresh.put(
            refresh,
            {
                "client_id": client_id,
                "user_id": user_id,
                "expires": now + portal.config.scaled(portal.config.refresh_token_lifetime),
                "access_token": access,
            },
        )
        return {
            "access_token": access,
            "expires": expires,
            "expires_in": round(lifetime) or 1,
            "scope": scope,
            "domain": portal.oauth_domain,
            "server_endpoint": portal.server_endpoint,
            "status": app["status"],
            "client_endpoint": portal.client_endpoint,
            "member_id": portal.config.member_id,
            "user_id": user_id,
            "refresh_token": refresh,
        }

    def new_code(self, client_id: str, user_id: int) -> str:
        code = new_token()
        self.codes[code] = {
            "client_id": client_id,
            "user_id": user_id,
            "expires": self.portal.clock.time() + self.portal.config.scaled(self.portal.config.code_lifetime),
        }
        return code

    def _client(self, client_id: str | None, client_secret: str | None) -> dict[str, Any]:
        if not client_id:
            raise OAuthFailure("invalid_request", 'No "client_id" parameter found', 400)
        app = self.apps.get(client_id)
        if app is None:
            # Bitrix24's OAuth server answers an unknown client with HTTP 200.
            raise OAuthFailure("wrong_client", None, 200)
        if not client_secret or not secrets.compare_digest(str(client_secret), app["client_secret"]):
            raise OAuthFailure("invalid_client", "Invalid client credentials", 400)
        return dict(app)

    def exchange_code(
        self, client_id: str | None, client_secret: str | None, code: str | None
    ) -> dict[str, Any]:
        app = self._client(client_id, client_secret)
        if not code:
            raise OAuthFailure("invalid_request", 'No "code" parameter found', 400)
        record = self.codes.pop(code, None)
        if (
            record is None
            or record["client_id"] != app["client_id"]
            or record["expires"] < self.portal.clock.time()
        ):
            raise OAuthFailure("invalid_grant", "Invalid authorization code", 400)
        return self.issue(app["client_id"], record["user_id"])

    def refresh_tokens(
        self, client_id: str | None, client_secret: str | None, refresh_token: str | None
    ) -> dict[str, Any]:
        app = self._client(client_id, client_secret)
        if not refresh_token:
            raise OAuthFailure("invalid_request", 'No "refresh_token" parameter found', 400)
        record = self.refresh.get(refresh_token)
        if (
            record is None
            or record["client_id"] != app["client_id"]
            or record["expires"] < self.portal.clock.time()
        ):
            raise OAuthFailure("invalid_grant", "Invalid refresh token", 400)
        if app.get("uninstalled"):
            raise OAuthFailure("NOT_INSTALLED", "Application not installed", 401)
        if not self.portal.config.reuse_refresh_tokens:
            self.refresh.delete(refresh_token)
            self.access.delete(record["access_token"])
        return self.issue(app["client_id"], record["user_id"])

    # --- authentication of REST calls ---------------------------------------------------------

    def resolve_webhook(self, user_id: str, secret: str) -> AuthContext:
        hook = self.webhooks.get(secret)
        if hook is None or str(hook["user_id"]) != user_id:
            raise errors.invalid_credentials()
        return AuthContext("webhook", int(hook["user_id"]), frozenset(hook["scopes"]), webhook_id=hook["id"])

    def resolve_token(self, token: str) -> AuthContext:
        record = self.access.get(token)
        if record is None:
            raise errors.invalid_token()
        if record["expires"] <= self.portal.clock.time():
            raise errors.expired_token()
        app = self.apps.get(record["client_id"])
        if app is None:
            raise errors.RestError("APPLICATION_NOT_FOUND", "Application not found", 401)
        if app.get("uninstalled"):
            raise errors.RestError("ERROR_OAUTH", "Application not installed", 401)
        return AuthContext(
            "oauth",
            int(record["user_id"]),
            frozenset(app["scopes"]),
            client_id=record["client_id"],
            access_token=token,
        )
