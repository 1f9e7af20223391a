"""Where portal state lives: in memory, or written through to a SQLite file (``--state``).

State is held in memory as plain dicts (fast to filter and page); a :class:`Table` writes
each change through to SQLite when the portal has a state file, and reads it back at start,
so that a demo survives a restart.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, Protocol, TypeVar

from crest.private_files import make_private

K = TypeVar("K", int, str)


class Persistence(Protocol):
    def load(self, kind: str) -> dict[str, Any]: ...
    def put(self, kind: str, key: str, value: Any) -> None: ...
    def put_many(self, kind: str, rows: list[tuple[str, Any]]) -> None: ...
    def delete(self, kind: str, key: str) -> None: ...
    def clear(self, kind: str) -> None: ...
    @property
    def fresh(self) -> bool: ...


class MemoryPersistence:
    fresh = True

    def load(self, kind: str) -> dict[str, Any]:
        return {}

    def put(self, kind: str, key: str, value: Any) -> None:
        pass

    def put_many(self, kind: str, rows: list[tuple[str, Any]]) -> None:
        pass

    def delete(self, kind: str, key: str) -> None:
        pass

    def clear(self, kind: str) -> None:
        pass


class SqlitePersistence:
    """Write-through JSON rows in one SQLite table; WAL so writes stay cheap."""

    def __init__(self, path: str) -> None:
        # Client secrets, tokens and webhooks live here: 0600 before SQLite creates it.
        make_private(path)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS rows (kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
            " PRIMARY KEY (kind, key))"
        )
        (count,) = self._db.execute("SELECT count(*) FROM rows").fetchone()
        self._fresh: bool = count == 0

    @property
    def fresh(self) -> bool:
        return self._fresh

    def load(self, kind: str) -> dict[str, Any]:
        with self._lock:
            cur = self._db.execute("SELECT key, value FROM rows WHERE kind = ? ORDER BY rowid", (kind,))
            return {key: json.loads(value) for key, value in cur}

    def put(self, kind: str, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO rows (kind, key, value) VALUES (?, ?, ?)",
                (kind, key, json.dumps(value)),
            )

    def put_many(self, kind: str, rows: list[tuple[str, Any]]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO rows (kind, key, value) VALUES (?, ?, ?)",
                [(kind, key, json.dumps(value)) for key, value in rows],
            )
            self._db.execute("COMMIT")

    def delete(self, kind: str, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM rows WHERE kind = ? AND key = ?", (kind, key))

    def clear(self, kind: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM rows WHERE kind = ?", (kind,))


class Table(Generic[K]):
    """An in-memory dict of JSON-able records, written through to the persistence."""

    def __init__(self, persist: Persistence, kind: str, key_type: Callable[[str], K]) -> None:
        self._persist = persist
        self._kind = kind
        self.rows: dict[K, Any] = {key_type(k): v for k, v in persist.load(kind).items()}

    def get(self, key: K) -> Any:
        return self.rows.get(key)

    def put(self, key: K, value: Any) -> None:
        self.rows[key] = value
        self._persist.put(self._kind, str(key), value)

    def put_many(self, items: list[tuple[K, Any]]) -> None:
        for key, value in items:
            self.rows[key] = value
        self._persist.put_many(self._kind, [(str(k), v) for k, v in items])

    def delete(self, key: K) -> Any:
        value = self.rows.pop(key, None)
        if value is not None:
            self._persist.delete(self._kind, str(key))
        return value

    def clear(self) -> None:
        self.rows.clear()
        self._persist.clear(self._kind)

    def __contains__(self, key: object) -> bool:
        return key in self.rows

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[K]:
        return iter(self.rows)

    def values(self) -> list[Any]:
        return list(self.rows.values())
