"""Files that hold a secret are readable by their owner only, whatever the umask.

The rule, for everything b24-crest writes: a file that holds a secret is mode 0600 from the
moment it exists. Secrets are tokens (access, refresh, application), client secrets, webhook
URLs (their secret is part of the path), operator and session keys, TLS private keys, and
event bodies (Bitrix24 puts tokens in them). That covers the installation stores and their
lock files (:mod:`crest.stores`), the events inbox (:mod:`crest.inbox`), the call logs
(:mod:`crest.logs`), ``crest demo --info``, ``crest portal --info`` and ``--state``, and the
portal's TLS keys. Files with no secret in them, written because the user asked for them
(``crest export`` output and its checkpoint, ``crest import`` logs and reports, static-app
sources and archives, certificates), keep the ordinary umask mode.

Creating with the final mode matters: writing first and ``chmod`` afterwards leaves a moment
in which another user can open the file and keep reading it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from crest.stores.sqlite import create_private_file

__all__ = ["make_private", "write_private_file"]


def write_private_file(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write ``path`` whole as 0600: a temporary file beside it, then renamed over it.

    ``mkstemp`` creates the file 0600 whatever the umask, so there is no moment when it is
    readable by others; a reader polling for ``path`` never sees half of it; and an older
    file at ``path`` with a wider mode (or a symlink) is replaced, not written through.
    """
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise


def make_private(path: str | os.PathLike[str]) -> None:
    """Before SQLite opens ``path``: create it 0600, or narrow an older file of ours to 0600.

    SQLite gives its ``-wal`` and ``-shm`` files the database's mode, so they follow; any
    left from a run before this rule are narrowed too.
    """
    create_private_file(os.fspath(path))
    for candidate in (Path(path), Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            info = candidate.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077 and info.st_uid == os.geteuid():
            os.chmod(candidate, 0o600)
