"""Installation stores: where each portal's tokens live.

``open_store`` turns a setting into a store:

========================================  =========================================
``"memory:"``                             :class:`MemoryStore` (one process only)
``"json:/path/settings.json"``            :class:`JsonFileStore` (CRest's file)
``"/path/settings.json"`` (ends .json)    :class:`JsonFileStore`
``"sqlite:/path/crest.sqlite"``           :class:`SqliteStore` (the default)
any other path                            :class:`SqliteStore`
``"postgresql://user:pw@host/db"``        :class:`~crest.stores.postgres.PostgresStore`
========================================  =========================================

``postgres://`` is read as ``postgresql://``. The PostgreSQL store is imported only when named,
and needs the ``postgres`` extra (psycopg 3).

``json://`` and ``sqlite://`` are read like the URL forms (``sqlite:///abs/path``).
"""

from __future__ import annotations

import os
import re

from crest.errors import StoreError
from crest.stores.base import InstallationStore
from crest.stores.json_file import JsonFileStore
from crest.stores.memory import MemoryStore
from crest.stores.sqlite import SqliteStore

__all__ = ["InstallationStore", "JsonFileStore", "MemoryStore", "SqliteStore", "open_store"]

# Two letters at least, so a Windows drive ("C:\\x") is never read as a scheme.
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]+):(.*)\Z", re.DOTALL)


def _path_part(rest: str) -> str:
    # "sqlite:///abs" and "sqlite:/abs" both mean /abs; "sqlite://rel" is not a thing.
    if rest.startswith("//"):
        rest = rest[2:]
    if not rest:
        raise StoreError("the store URL has no path")
    return rest


def open_store(url_or_path: str | os.PathLike[str]) -> InstallationStore:
    """The store a setting names (see the module docstring)."""
    text = os.fspath(url_or_path)
    match = _SCHEME.match(text)
    if match is None:
        return JsonFileStore(text) if text.lower().endswith(".json") else SqliteStore(text)
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme == "memory":
        return MemoryStore()
    if scheme == "json":
        return JsonFileStore(_path_part(rest))
    if scheme in {"sqlite", "sqlite3"}:
        return SqliteStore(_path_part(rest))
    if scheme in {"postgresql", "postgres"}:
        from crest.stores.postgres import PostgresStore  # psycopg is an optional extra

        return PostgresStore(text)
    raise StoreError(f"unknown store {scheme!r}: use memory:, json:<path>, sqlite:<path> or postgresql://...")
