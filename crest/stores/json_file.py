"""A store in CRest's ``settings.json``, readable and writable by PHP CRest too.

File format. PHP CRest keeps one portal as one JSON object (``access_token``,
``refresh_token``, ``domain``, ``client_endpoint``, ``application_token``, ``expires_in``,
``expires``, ``member_id``, ``scope``, ``server_endpoint``, ``status``, ``user_id``) written
with ``json_encode(JSON_HEX_TAG|JSON_HEX_AMP|JSON_HEX_APOS|JSON_HEX_QUOT)``. This store writes
exactly that while it holds one portal, byte for byte as PHP would, plus our own
``installed_at``, ``refreshed_at`` and ``needs_reinstall`` keys, which CRest ignores. Keys it does
not manage (an old CRest's ``client_id``/``client_secret``, ``is_web_hook``...) are kept as they
are and never read: the secret is not ours to take, and it is never written by us.

Only when a second portal is saved does the file switch to::

    {"installations": {"<member_id>": {<one CRest object>}, ...}}

and it switches back to the plain object when one portal is left. PHP CRest, being
one-portal, reads the multi-portal file as "not installed". A CRest file written by the
install page has no ``member_id``; that record is read with ``member_id=""`` and adopted by
the first save of an installation for the same domain.

Writes go to a temp file in the same directory (mode 0600), are fsynced and renamed over
the file, so a reader or a crash never sees half a file. Every write and every ``lock()``
holds ``fcntl.flock`` on ``settings.json.lock`` (a separate file, so the rename cannot
break the lock), which the kernel drops if the holder dies. One lock covers the whole file.
POSIX only.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from crest.errors import StoreError
from crest.installation import Installation
from crest.stores.base import DEFAULT_LOCK_TIMEOUT, LockRegistry, ReentrantLock, single_installation

__all__ = ["JsonFileStore", "php_json_encode"]

_MULTI_KEY = "installations"
# Keys this store owns in a CRest object; everything else in the object is passed through.
_MANAGED_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "domain",
        "client_endpoint",
        "application_token",
        "expires_in",
        "expires",
        "member_id",
        "scope",
        "server_endpoint",
        "status",
        "user_id",
        "installed_at",
        "refreshed_at",
        "needs_reinstall",
    }
)
# Bitrix24's fixed access-token lifetime; written as expires_in when the file has none, since
# CRest's own files always carry the key.
_ACCESS_TOKEN_LIFETIME = 3600

_REGISTRY = LockRegistry()

# --- PHP's json_encode(JSON_HEX_TAG|JSON_HEX_AMP|JSON_HEX_APOS|JSON_HEX_QUOT) -----------------

_PHP_ESCAPES = {
    '"': "\\u0022",
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "'": "\\u0027",
}


def _php_string(text: str) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        escaped = _PHP_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif code < 0x20 or 0x80 <= code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        elif code < 0x80:
            out.append(char)
        else:
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
    out.append('"')
    return "".join(out)


def _php_float(value: float) -> str:
    # PHP (serialize_precision=-1) prints the shortest round-trip digits, like repr(), but
    # drops ".0" from whole numbers and switches to "1.5e+25" form only when the decimal
    # exponent is below -4 or at least 17.
    if not math.isfinite(value):
        raise ValueError("PHP's json_encode cannot encode NaN or infinity")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    number = Decimal(repr(value)).normalize()
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    adjusted = len(digits) - 1 + exponent
    prefix = "-" if sign else ""
    if adjusted < -4 or adjusted >= 17:
        mantissa = "".join(map(str, digits))
        fraction = mantissa[1:] or "0"
        return f"{prefix}{mantissa[0]}.{fraction}e{'-' if adjusted < 0 else '+'}{abs(adjusted)}"
    return format(number, "f")


def php_json_encode(value: Any) -> str:
    """``value`` encoded exactly as PHP's ``json_encode`` with CRest's four ``JSON_HEX_*`` flags."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _php_float(value)
    if isinstance(value, str):
        return _php_string(value)
    if isinstance(value, Mapping):
        items = (f"{_php_string(str(key))}:{php_json_encode(item)}" for key, item in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(php_json_encode(item) for item in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


# --- the lock file --------------------------------------------------------------------------


def _open_private(path: str, flags: int) -> int:
    """Open (creating with mode 0600) a file that must be a regular file, never a symlink."""
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot open {path}: {exc.strerror}") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise StoreError(f"{path} is not a regular file")
    if info.st_mode & 0o077 and info.st_uid == os.geteuid():
        # An older file readable by others: narrow it rather than keep leaking.
        os.fchmod(fd, 0o600)
    return fd


class _FlockFile:
    """``flock`` on a lock file: exclusive across processes, dropped by the kernel on death."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd: int | None = None

    def acquire(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        fd = _open_private(self._path, os.O_RDWR)
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    os.close(fd)
                    raise StoreError(f"timed out after {timeout:g} s waiting for {self._path}") from None
                # flock has no timed wait; poll with a short backoff instead of blocking forever.
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, 0.05)
            except OSError as exc:
                os.close(fd)
                raise StoreError(f"cannot lock {self._path}: {exc.strerror}") from exc
            else:
                self._fd = fd
                return

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor releases the flock

    def forget(self) -> None:
        # A forked child shares the parent's open file description, and with it the flock:
        # if the child kept the descriptor, the lock would outlive the parent's release.
        # Closing (not LOCK_UN, which would unlock the parent too) drops only the child's share.
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


# --- the store ------------------------------------------------------------------------------


def _whole(value: float | None) -> float | int | None:
    # Bitrix24 sends Unix times as integers; keep them integers so PHP sees what it wrote.
    if value is not None and value.is_integer():
        return int(value)
    return value


def _crest_record(installation: Installation, base: Mapping[str, Any]) -> dict[str, Any]:
    """The CRest object for ``installation``, keeping ``base``'s keys we do not manage."""
    record = dict(base)
    values: dict[str, Any] = {
        "access_token": installation.access_token,
        "refresh_token": installation.refresh_token,
        "domain": installation.domain,
        "client_endpoint": installation.client_endpoint,
        "application_token": installation.application_token,
        "expires_in": base.get("expires_in", _ACCESS_TOKEN_LIFETIME),
        "expires": _whole(installation.expires),
        "member_id": installation.member_id,
        "scope": installation.scope,
        "server_endpoint": installation.server_endpoint,
        "status": installation.status,
        "user_id": installation.user_id,
        "installed_at": _whole(installation.installed_at),
        "refreshed_at": _whole(installation.refreshed_at),
        "needs_reinstall": installation.needs_reinstall,
    }
    for key, value in values.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    return record


class JsonFileStore:
    """CRest's ``settings.json`` as an :class:`~crest.stores.base.InstallationStore`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def close(self) -> None:
        """Nothing stays open between calls; here so every store can be closed the same way."""

    def __repr__(self) -> str:
        return f"JsonFileStore({str(self.path)!r})"

    # -- reading

    def _read_document(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StoreError(f"cannot read {self.path}: {exc.strerror}") from exc
        if not raw.strip():
            return {}
        try:
            document = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise StoreError(f"{self.path} is not valid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise StoreError(f"{self.path}: expected a JSON object")
        return document

    def _records(self, document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        multi = document.get(_MULTI_KEY)
        if isinstance(multi, dict):
            records: dict[str, dict[str, Any]] = {}
            for key, record in multi.items():
                if not isinstance(record, dict):
                    raise StoreError(f"{self.path}: installation {key!r} is not an object")
                records[str(key)] = record
            return records
        if "access_token" in document or "refresh_token" in document:
            member_id = document.get("member_id")
            return {member_id if isinstance(member_id, str) else "": dict(document)}
        return {}  # no file yet, or only an old CRest's client_id/client_secret

    def _parse(self, key: str, record: Mapping[str, Any]) -> Installation:
        try:
            installation = Installation.from_dict(record)
        except ValueError as exc:
            raise StoreError(f"{self.path}: installation {key!r} is unreadable: {exc}") from None
        if installation.member_id != key:
            raise StoreError(f"{self.path}: installation {key!r} holds member_id {installation.member_id!r}")
        return installation

    def find(self, member_id: str | None = None) -> Installation | None:
        # No lock: writes replace the file atomically, so any read sees one whole version.
        records = self._records(self._read_document())
        if member_id is None:
            return single_installation(self._parse(key, record) for key, record in records.items())
        record = records.get(member_id)
        return self._parse(member_id, record) if record is not None else None

    def all_installations(self) -> list[Installation]:
        records = self._records(self._read_document())
        return [self._parse(key, record) for key, record in records.items()]

    # -- writing

    def save(self, installation: Installation) -> None:
        with self._gate().hold(DEFAULT_LOCK_TIMEOUT):
            records = self._records(self._read_document())
            base = records.pop(installation.member_id, None)
            legacy = records.get("")
            if base is None and legacy is not None and legacy.get("domain") == installation.domain:
                # The install page of PHP CRest does not store member_id: same portal, adopt it.
                base = records.pop("")
            records[installation.member_id] = _crest_record(installation, base or {})
            self._write(records, leftover={})

    def delete(self, member_id: str) -> None:
        with self._gate().hold(DEFAULT_LOCK_TIMEOUT):
            records = self._records(self._read_document())
            removed = records.pop(member_id, None)
            if removed is None:
                return
            leftover = {k: v for k, v in removed.items() if k not in _MANAGED_KEYS}
            self._write(records, leftover=leftover)

    def _write(self, records: Mapping[str, Mapping[str, Any]], leftover: Mapping[str, Any]) -> None:
        document: Mapping[str, Any]
        if len(records) > 1:
            document = {_MULTI_KEY: dict(records)}
        elif records:
            document = next(iter(records.values()))
        elif leftover:
            document = leftover  # keep an old CRest's client_id/client_secret where they were
        else:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self._sync_directory()
            return
        self._replace(php_json_encode(document).encode("ascii"))

    def _replace(self, data: bytes) -> None:
        directory = self.path.parent
        prefix = f".{self.path.name}."
        # Under the lock, any temp file left here is from a writer that died mid-write.
        for stale in directory.glob(f"{prefix}*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
        try:
            fd, temp_name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
        except OSError as exc:
            raise StoreError(f"cannot write in {directory}: {exc.strerror}") from exc
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, self.path)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            if isinstance(exc, OSError):
                raise StoreError(f"cannot write {self.path}: {exc.strerror}") from exc
            raise
        self._sync_directory()

    def _sync_directory(self) -> None:
        # Make the rename itself durable: otherwise a power cut can bring back the old pair,
        # whose refresh token the OAuth server has already retired.
        fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- locking

    def _gate(self) -> ReentrantLock:
        directory = self.path.parent
        if not directory.is_dir():
            try:
                directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create {directory}: {exc.strerror}") from exc
        # Resolve the directory only: the lock file itself must be opened with O_NOFOLLOW.
        key = os.path.join(os.path.realpath(self.lock_path.parent), self.lock_path.name)
        return _REGISTRY.get(key, _FlockFile, name=str(self.lock_path))

    @contextlib.contextmanager
    def lock(self, member_id: str, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
        """The whole file's lock (``member_id`` does not narrow it): see the module docstring."""
        with self._gate().hold(timeout):
            yield
