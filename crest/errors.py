"""The one exception tree of b24-crest.

Everything the toolkit raises on purpose derives from :class:`CrestError`::

    CrestError
    ├── ConfigError                 settings missing, malformed or unsafe (C_REST_IGNORE_SSL)
    ├── FormError                   a form body or field name over the size/field/depth/name-length
    │                               limits, or malformed (not UTF-8, NUL): a 400 on every endpoint
    ├── EncodingError               text that C_REST_CURRENT_ENCODING cannot convert (never "?")
    ├── SheetError                  a spreadsheet that cannot be imported as it is (unknown columns, unreadable)
    ├── StoreError                  the installation store cannot be read, written or locked
    │   └── NotInstalledError       no installation for this portal (CRest's ``no_install_app``)
    ├── TransportError              no usable HTTP answer came back
    │   ├── ConnectError            the request was never sent: always safe to retry
    │   ├── UnknownOutcomeError     sent, but no answer (timeout, dropped connection): a write may
    │   │                           or may not have happened, so it is reported, never re-sent blindly
    │   └── ProtocolError           an answer that is not Bitrix24's (no JSON, unexpected redirect)
    │       └── DomainChangedError  a 302 to another portal domain that could not be verified
    ├── OAuthError                  the OAuth server refused a token request
    │   ├── InvalidGrantError       ``invalid_grant``: code or refresh token used, expired or unknown
    │   ├── InvalidClientError      ``invalid_client`` / ``wrong_client``: our credentials are wrong
    │   ├── OAuthServerUnavailable  the OAuth server did not answer (outage, timeout)
    │   └── NeedsReinstallError     the refresh chain is dead; an admin must reopen/reinstall the app
    ├── InstallError                an install delivery failed verification (forged or mismatched)
    └── ApiError                    the portal answered with Bitrix24's error envelope
        ├── AuthError               401: ``expired_token``, ``invalid_token``, ``NO_AUTH_FOUND``, ...
        │   ├── ExpiredTokenError
        │   ├── InvalidTokenError
        │   ├── InsufficientScopeError
        │   └── PaymentRequiredError
        ├── AccessDeniedError       403: ``ACCESS_DENIED``, ``WRONG_AUTH_TYPE``, ...
        ├── LimitError              the portal throttles us
        │   ├── QueryLimitExceededError   503 ``QUERY_LIMIT_EXCEEDED`` (never executed: safe to retry)
        │   ├── OperationTimeLimitError   429 ``OPERATION_TIME_LIMIT`` (this method only, until reset)
        │   └── OverloadLimitError        503 ``OVERLOAD_LIMIT`` (a manual block: do not retry)
        ├── MethodNotFoundError     404 ``ERROR_METHOD_NOT_FOUND``
        ├── NotFoundError           ``NOT_FOUND`` and the legacy empty-code "Not found"
        ├── ArgumentError           400 ``ERROR_ARGUMENT``, ``INVALID_ARG_VALUE``, ``INVALID_REQUEST``
        ├── BatchError              per-command ``ERROR_BATCH_*`` codes
        ├── PortalDeletedError      ``PORTAL_DELETED``
        └── ServerError             500 ``INTERNAL_SERVER_ERROR`` and code-less 5xx

Every error carries the Bitrix24 ``code`` (``""`` for legacy CRM errors), the ``description``,
the HTTP ``status`` when there was one, and ``hint``: the human advice CRest returns as
``error_information``. Classes are chosen by code, never by HTTP status, because one status
means different things (503 is both a retryable rate limit and a manual block).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "AccessDeniedError",
    "ApiError",
    "ArgumentError",
    "AuthError",
    "BatchError",
    "ConfigError",
    "ConnectError",
    "CrestError",
    "DomainChangedError",
    "EncodingError",
    "ExpiredTokenError",
    "FormError",
    "InstallError",
    "InsufficientScopeError",
    "InvalidClientError",
    "InvalidGrantError",
    "InvalidTokenError",
    "LimitError",
    "MethodNotFoundError",
    "NeedsReinstallError",
    "NotFoundError",
    "NotInstalledError",
    "OAuthError",
    "OAuthServerUnavailable",
    "OperationTimeLimitError",
    "OverloadLimitError",
    "PaymentRequiredError",
    "PortalDeletedError",
    "ProtocolError",
    "QueryLimitExceededError",
    "ServerError",
    "SheetError",
    "StoreError",
    "TransportError",
    "UnknownOutcomeError",
    "api_error",
    "is_systemic",
    "oauth_error",
]


class CrestError(Exception):
    """Base of every error b24-crest raises on purpose."""

    code: str = ""
    hint: str = ""

    def __init__(
        self,
        description: str = "",
        *,
        code: str | None = None,
        status: int | None = None,
        hint: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        self.description = description
        self.status = status
        if hint is not None:
            self.hint = hint
        self.extra: dict[str, Any] = dict(extra or {})
        super().__init__(self._message())

    def _message(self) -> str:
        parts = [p for p in (self.code, self.description) if p]
        text = ": ".join(parts) if parts else type(self).__name__
        if self.status is not None:
            text += f" (HTTP {self.status})"
        return text

    def as_crest_dict(self) -> dict[str, Any]:
        """The error as CRest returns it: ``error``, ``error_description``, ``error_information``."""
        out: dict[str, Any] = {"error": self.code, "error_description": self.description}
        if self.hint:
            out["error_information"] = self.hint
        out.update({k: v for k, v in self.extra.items() if k not in out})
        return out


class ConfigError(CrestError):
    code = "config_error"


class FormError(CrestError, ValueError):
    """A form body :func:`crest.forms.decode` refuses; the only exception it raises on any input."""

    code = "form_error"


class SheetError(CrestError, ValueError):
    """A spreadsheet that cannot be imported as it is; nothing was sent for it."""

    code = "sheet_error"


class EncodingError(CrestError, ValueError):
    """A value cannot be converted between the site's encoding and UTF-8."""

    code = "encoding_error"


class StoreError(CrestError):
    code = "store_error"


class NotInstalledError(StoreError):
    code = "no_install_app"
    hint = "The application is not installed on this portal: open it in Bitrix24 to install it."


class TransportError(CrestError):
    code = "transport_error"


class ConnectError(TransportError):
    code = "connect_error"
    hint = "The portal could not be reached; the request was not sent."


class UnknownOutcomeError(TransportError):
    code = "unknown_outcome"
    hint = (
        "The request was sent but no answer came back; it may or may not have been executed. "
        "Check the portal before sending it again."
    )


class ProtocolError(TransportError):
    code = "protocol_error"


class DomainChangedError(ProtocolError):
    code = "domain_changed"
    hint = "The portal answered with a redirect to another domain that could not be verified."


class OAuthError(CrestError):
    code = "oauth_error"


class InvalidGrantError(OAuthError):
    code = "invalid_grant"
    hint = "The refresh token or authorization code is used, expired or unknown."


class InvalidClientError(OAuthError):
    code = "invalid_client"
    hint = "Check C_REST_CLIENT_ID and C_REST_CLIENT_SECRET: the OAuth server does not accept them."


class OAuthServerUnavailable(OAuthError):
    code = "oauth_unavailable"
    hint = "The OAuth server did not answer; the tokens may or may not have been renewed."


class NeedsReinstallError(OAuthError):
    code = "needs_reinstall"
    hint = "The token chain of this portal is dead: open the application in Bitrix24 (or reinstall it)."


class InstallError(CrestError):
    code = "install_error"


class ApiError(CrestError):
    """The portal answered with Bitrix24's error envelope."""

    code = "api_error"

    @property
    def retry_safe(self) -> bool:
        """True when the portal refused the call before executing it."""
        return False


class AuthError(ApiError):
    pass


class ExpiredTokenError(AuthError):
    code = "expired_token"
    hint = "The access token has expired and could not be renewed."


class InvalidTokenError(AuthError):
    code = "invalid_token"
    hint = "The access token is not valid: reinstall the application or renew the tokens."


class InsufficientScopeError(AuthError):
    code = "insufficient_scope"
    hint = "The application or webhook lacks the scope of this method: add it in the app's settings."


class PaymentRequiredError(AuthError):
    code = "PAYMENT_REQUIRED"


class AccessDeniedError(ApiError):
    code = "ACCESS_DENIED"


class LimitError(ApiError):
    pass


class QueryLimitExceededError(LimitError):
    code = "QUERY_LIMIT_EXCEEDED"
    hint = "Too many requests: Bitrix24 allows a burst of 50, then 2 requests a second."

    @property
    def retry_safe(self) -> bool:
        return True


class OperationTimeLimitError(LimitError):
    code = "OPERATION_TIME_LIMIT"
    hint = "This method used its 10-minute server-time budget; other methods still work."

    @property
    def reset_at(self) -> float | None:
        value = self.extra.get("operating_reset_at")
        return float(value) if isinstance(value, int | float) else None

    @property
    def retry_safe(self) -> bool:
        return True


class OverloadLimitError(LimitError):
    code = "OVERLOAD_LIMIT"
    hint = "REST is blocked on this portal by an administrator or by Bitrix24 support."


class MethodNotFoundError(ApiError):
    code = "ERROR_METHOD_NOT_FOUND"
    hint = "The method does not exist or its module is off; call `scope` and `methods` to see what exists."


class NotFoundError(ApiError):
    code = "NOT_FOUND"


class ArgumentError(ApiError):
    code = "ERROR_ARGUMENT"


class BatchError(ApiError):
    code = "ERROR_BATCH_LENGTH_EXCEEDED"


class PortalDeletedError(ApiError):
    code = "PORTAL_DELETED"


class ServerError(ApiError):
    code = "INTERNAL_SERVER_ERROR"
    hint = "The portal failed internally; try again later."


_AUTH_CODES = {
    "NO_AUTH_FOUND": "No authorization data, or the portal does not know it (check the webhook URL).",
    "INVALID_CREDENTIALS": "The webhook's user id or secret is wrong, or the webhook was deleted.",
    "APPLICATION_NOT_FOUND": "The application was deleted or deactivated on the portal.",
    "ERROR_OAUTH": "The application is not installed on the portal.",
    "AUTHORIZATION_ERROR": "The user is fired or inactive.",
    "USER_ACCESS_ERROR": "The user has no access to the application.",
    "CONNECTION_ERROR": "The portal could not reach the authorization server.",
    "METHOD_CONFIRM_WAITING": "An administrator must confirm this method first.",
    "INVALID_REQUEST": "",
}

_CODE_CLASSES: dict[str, type[ApiError]] = {
    "EXPIRED_TOKEN": ExpiredTokenError,
    "INVALID_TOKEN": InvalidTokenError,
    "INSUFFICIENT_SCOPE": InsufficientScopeError,
    "PAYMENT_REQUIRED": PaymentRequiredError,
    "NO_AUTH_FOUND": AuthError,
    "INVALID_CREDENTIALS": AuthError,
    "APPLICATION_NOT_FOUND": AuthError,
    "ERROR_OAUTH": AuthError,
    "AUTHORIZATION_ERROR": AuthError,
    "USER_ACCESS_ERROR": AuthError,
    "CONNECTION_ERROR": AuthError,
    "METHOD_CONFIRM_WAITING": AuthError,
    "ACCESS_DENIED": AccessDeniedError,
    "METHOD_CONFIRM_DENIED": AccessDeniedError,
    "WRONG_AUTH_TYPE": AccessDeniedError,
    "ALLOWED_ONLY_INTRANET_USER": AccessDeniedError,
    "QUERY_LIMIT_EXCEEDED": QueryLimitExceededError,
    "OPERATION_TIME_LIMIT": OperationTimeLimitError,
    "OVERLOAD_LIMIT": OverloadLimitError,
    "ERROR_METHOD_NOT_FOUND": MethodNotFoundError,
    "NOT_FOUND": NotFoundError,
    "ERROR_ARGUMENT": ArgumentError,
    "INVALID_ARG_VALUE": ArgumentError,
    "INVALID_REQUEST": ArgumentError,
    "ERROR_BATCH_LENGTH_EXCEEDED": BatchError,
    "ERROR_BATCH_METHOD_NOT_ALLOWED": BatchError,
    "PORTAL_DELETED": PortalDeletedError,
    "INTERNAL_SERVER_ERROR": ServerError,
    "ERROR_UNEXPECTED_ANSWER": ServerError,
}


def api_error(
    code: str,
    description: str = "",
    *,
    status: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ApiError:
    """Build the right :class:`ApiError` subclass for a Bitrix24 error envelope.

    Codes are matched case-insensitively. The legacy CRM methods send an empty code with a
    description such as ``"Not found"``; those map by description. Unknown codes give a plain
    :class:`ApiError`, or :class:`ServerError` for a 5xx.
    """
    key = code.upper()
    cls: type[ApiError] | None = _CODE_CLASSES.get(key)
    if cls is None and not code and description.strip().lower().startswith("not found"):
        cls = NotFoundError
    if cls is None:
        cls = ServerError if status is not None and status >= 500 and not code else ApiError
    hint = _AUTH_CODES.get(key) or None
    return cls(description, code=code, status=status, hint=hint, extra=extra)


_OAUTH_CLASSES: dict[str, type[OAuthError]] = {
    "INVALID_GRANT": InvalidGrantError,
    "BAD_VERIFICATION_CODE": InvalidGrantError,
    "INVALID_CLIENT": InvalidClientError,
    "WRONG_CLIENT": InvalidClientError,
    "NOT_INSTALLED": NeedsReinstallError,
}


def oauth_error(
    code: str, description: str = "", *, status: int | None = None, extra: Mapping[str, Any] | None = None
) -> OAuthError:
    """Build the right :class:`OAuthError` for an OAuth server error body."""
    cls = _OAUTH_CLASSES.get(code.upper(), OAuthError)
    return cls(description, code=code, status=status, extra=extra)


#: Failures that are not one request's: every other request would fail the same way, so a bulk
#: run stops at the first of them instead of grinding through every row.
_SYSTEMIC = (
    AuthError,
    AccessDeniedError,
    PortalDeletedError,
    ConnectError,
    MethodNotFoundError,
    LimitError,
    OAuthError,
    StoreError,
    DomainChangedError,
    ConfigError,
)


def is_systemic(exc: BaseException) -> bool:
    """True for a failure that is the portal's or the credentials', not the row's."""
    return isinstance(exc, _SYSTEMIC)
