"""Errors the portal answers with, as Bitrix24 sends them (code, text, HTTP status)."""

from __future__ import annotations

from typing import Any


class RestError(Exception):
    """An error envelope: ``{"error": code, "error_description": text, ...extra}`` with a status.

    A ``RestException`` without an explicit status is HTTP 400 on a real portal.
    """

    def __init__(self, code: str, description: str, status: int = 400, **extra: Any) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.status = status
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "error_description": self.description, **self.extra}


def method_not_found() -> RestError:
    return RestError("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)


def no_auth() -> RestError:
    return RestError("NO_AUTH_FOUND", "Wrong authorization data", 401)


def expired_token() -> RestError:
    return RestError("expired_token", "The access token provided has expired", 401)


def invalid_token() -> RestError:
    return RestError("invalid_token", "Unable to get application by token", 401)


def invalid_credentials() -> RestError:
    return RestError("INVALID_CREDENTIALS", "Invalid request credentials", 401)


def insufficient_scope(kind: str, in_batch: bool = False) -> RestError:
    holder = "webhook" if kind == "webhook" else "access"
    text = "" if in_batch else f"The request requires higher privileges than provided by the {holder} token"
    return RestError("insufficient_scope", text, 401)


def wrong_auth_type() -> RestError:
    return RestError(
        "WRONG_AUTH_TYPE",
        "Current authorization type is denied for this method Application context required",
        403,
    )


def access_denied(detail: str = "") -> RestError:
    return RestError("ACCESS_DENIED", f"Access denied! {detail}".strip(), 403)


def argument_null(name: str) -> RestError:
    return RestError("ERROR_ARGUMENT", f"Argument '{name}' is null or empty", 400, argument=name)


def query_limit() -> RestError:
    return RestError("QUERY_LIMIT_EXCEEDED", "Too many requests", 503)


def operation_time_limit() -> RestError:
    return RestError("OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.", 429)


def legacy(description: str) -> RestError:
    """Legacy CRM methods answer with an empty error code."""
    return RestError("", description, 400)


def core(description: str, status: int = 400) -> RestError:
    return RestError("ERROR_CORE", description, status)
