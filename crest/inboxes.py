"""Which inbox a setting names, and what every inbox offers the receiver and the worker.

:class:`crest.inbox.Inbox` (a SQLite file, one host) and
:class:`crest.inbox_postgres.PostgresInbox` (one database for many hosts) both satisfy
:class:`EventInbox`. :func:`open_inbox` picks one: an explicit inbox setting wins, else the
inbox follows the store, so a ``postgresql://`` store gets its inbox in the same database.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from crest.inbox import FailedEvent, Inbox, InboxItem, RetryPolicy, inbox_path

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["EventInbox", "open_inbox"]


@runtime_checkable
class EventInbox(Protocol):
    """Persist, then acknowledge; claim under a lease; retry with backoff (see :mod:`crest.inbox`)."""

    @property
    def path(self) -> object:
        """Where the events live, for messages (a file path, a redacted URL)."""

    def enqueue(
        self,
        body: bytes,
        *,
        event: str,
        member_id: str,
        content_type: str = ...,
        source: str = ...,
    ) -> int | None: ...

    def claim(self, worker_id: str, lease: float = ...) -> InboxItem | None: ...

    def ack(self, item_id: int, worker_id: str) -> bool: ...

    def fail(self, item_id: int, worker_id: str, error: str) -> str | None: ...

    def list_failed(self, *, include_retrying: bool = ...) -> list[FailedEvent]: ...

    def retry(self, item_id: int) -> bool: ...

    def counts(self) -> dict[str, int]: ...

    def recent(self, limit: int = ...) -> list[dict[str, Any]]: ...

    def body(self, item_id: int) -> tuple[bytes, str] | None: ...

    def purge(self, older_than: float) -> int: ...

    def renew(self, item_id: int, worker_id: str, lease: float) -> bool: ...

    def forget_portal(self, member_id: str) -> int: ...

    def offline_process(self, member_id: str) -> str | None: ...

    def begin_offline_process(self, member_id: str, process_id: str) -> None: ...

    def end_offline_process(self, member_id: str, process_id: str) -> None: ...

    def wait_for_event(self, timeout: float, stop: threading.Event) -> None:
        """Return when an event may be due, ``stop`` is set, or ``timeout`` seconds passed."""


def _is_postgres(text: str) -> bool:
    return text.lower().startswith(("postgresql://", "postgres://"))


def open_inbox(
    inbox: str | os.PathLike[str] | None,
    store: str | os.PathLike[str],
    *,
    retry: RetryPolicy | None = None,
    clock: Callable[[], float] | None = None,
) -> EventInbox:
    """The inbox for an inbox setting (a path or a URL, or ``None``) and a store setting."""
    options: dict[str, Any] = {"retry": retry}
    if clock is not None:
        options["clock"] = clock
    where = os.fspath(inbox) if inbox else os.fspath(store)
    if _is_postgres(where):
        from crest.inbox_postgres import PostgresInbox  # psycopg is an optional extra

        return PostgresInbox(where, **options)
    return Inbox(where if inbox else inbox_path(where), **options)
