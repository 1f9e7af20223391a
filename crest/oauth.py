"""Requests to Bitrix24's OAuth server: token exchange, refresh, and ``app.info``.

The OAuth server's address comes from settings, never from a request: ``client_secret`` is
sent only there (T2). Parameters go in a POST body, never in the URL, so that secrets do not
end up in proxy logs (T17).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from crest.errors import OAuthError, OAuthServerUnavailable, api_error, oauth_error

if TYPE_CHECKING:
    from crest.settings import Settings

__all__ = ["OAuthClient"]


@dataclass(frozen=True)
class OAuthClient:
    token_url: str
    server_endpoint: str
    client_id: str
    client_secret: str
    session: requests.Session
    timeout: tuple[float, float] = (5.0, 30.0)
    verify: str | bool = True

    @classmethod
    def from_settings(cls, settings: Settings, session: requests.Session | None = None) -> OAuthClient:
        return cls(
            token_url=settings.oauth_token_url,
            server_endpoint=settings.oauth_server_endpoint,
            client_id=settings.client_id or "",
            client_secret=settings.client_secret or "",
            session=session or requests.Session(),
            timeout=(settings.connect_timeout, min(settings.read_timeout, 30.0)),
            verify=settings.ca_bundle or True,
        )

    def _post(self, url: str, data: Mapping[str, str]) -> tuple[int, Any]:
        try:
            resp = self.session.post(
                url, data=dict(data), timeout=self.timeout, allow_redirects=False, verify=self.verify
            )
        except requests.RequestException as exc:
            # A refresh whose answer was lost may have rotated the chain: never retried (T14).
            raise OAuthServerUnavailable(f"the OAuth server did not answer: {type(exc).__name__}") from None
        try:
            body = resp.json()
        except ValueError:
            raise OAuthServerUnavailable(
                f"the OAuth server answered HTTP {resp.status_code} without JSON", status=resp.status_code
            ) from None
        return resp.status_code, body

    def _tokens(self, data: Mapping[str, str]) -> dict[str, Any]:
        status, body = self._post(self.token_url, data)
        if not isinstance(body, dict):
            raise OAuthServerUnavailable("the OAuth server answered with an unexpected body", status=status)
        # An error may come with HTTP 200 (wrong_client): the body decides, not the status.
        if "error" in body:
            raise oauth_error(str(body["error"]), str(body.get("error_description") or ""), status=status)
        if not body.get("access_token") or not body.get("refresh_token"):
            raise OAuthError("the token response has no tokens", status=status)
        return body

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        return self._tokens(
            {
                "grant_type": "refresh_token",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "refresh_token": refresh_token,
            }
        )

    def exchange_code(self, code: str) -> dict[str, Any]:
        return self._tokens(
            {
                "grant_type": "authorization_code",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "code": code,
            }
        )

    def app_info(self, access_token: str) -> dict[str, Any]:
        """``app.info`` at the OAuth server: the trusted word on a token and its installation."""
        status, body = self._post(self.server_endpoint.rstrip("/") + "/app.info", {"auth": access_token})
        if not isinstance(body, dict):
            raise OAuthServerUnavailable("app.info answered with an unexpected body", status=status)
        if "error" in body:
            raise api_error(str(body["error"]), str(body.get("error_description") or ""), status=status)
        result = body.get("result")
        if not isinstance(result, dict):
            raise OAuthServerUnavailable("app.info answered without a result", status=status)
        return result
