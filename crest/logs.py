"""Logging with secrets masked, and CRest's hourly JSON log files.

Two things leave the process and may be read by people who must not see credentials: log
records and CRest-style log files. Both pass through the same masking:

* known secret keys (``access_token``, ``refresh_token``, ``client_secret``,
  ``application_token``, ``auth``, ``password``, ``AUTH_ID``, ``REFRESH_ID``, ...) whether they
  appear as ``key=value`` in a query or form body (``auth%5Baccess_token%5D=`` too), as
  ``"key": "value"`` in JSON or ``'key': 'value'`` in a Python repr, or as dict keys;
* the secret segment of webhook URLs, ``/rest/{user_id}/{secret}/``;
* ``Bearer`` credentials;
* the literal values of the secrets in :class:`~crest.settings.Settings`, wherever they appear.

A masked value keeps its first 4 characters followed by "…" (enough to tell two tokens apart),
short values become "…" alone; see :func:`crest.installation.mask_secret`.

The files follow CRest's layout, ``{logs_dir}/{Y-m-d}/{H}/{time}_{type}_{rand}log.json``, but are
written only when ``logs_dir`` is set (CRest's default, a ``logs/`` folder next to the code, is
usually inside the web root), with directories ``0700`` and files ``0600``.
"""

from __future__ import annotations

import json
import logging
import os
import pprint
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crest.installation import mask_secret

if TYPE_CHECKING:
    from crest.settings import Settings

__all__ = [
    "SECRET_KEYS",
    "MaskingFilter",
    "get_logger",
    "mask_data",
    "mask_text",
    "purge_portal_logs",
    "write_log",
]

#: Keys whose values are credentials, compared case-insensitively. ``AUTH_ID`` and
#: ``REFRESH_ID`` are the tokens of the iframe POST; ``auth`` is the REST call's token.
SECRET_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "client_secret",
        "application_token",
        "auth",
        "auth_id",
        "refresh_id",
        "password",
        "secret_key",
        "operator_key",
        "authorization",
    }
)

_KEY_NAMES = "|".join(sorted(SECRET_KEYS, key=len, reverse=True))
# key, optionally closed by "]" or "%5D" (form keys like auth[access_token]) and a quote, then
# "=", ":" or "=>", then a quoted value (JSON escapes allowed) or a bare one. The key must not be
# the tail of a longer word, except after "[" or "%5B".
_KEY_VALUE = re.compile(
    rf"""(?P<key>(?:(?<=%5B)|(?<=%5b)|(?<![A-Za-z0-9_]))(?:{_KEY_NAMES})(?:\]|%5D|%5d)?["']?)"""
    r"""(?P<sep>\s*(?:=>|=|:)\s*(?:(?:Bearer|Basic)\s+)?)"""
    r"""(?:(?P<quote>["'])(?P<quoted>(?:\\.|(?!(?P=quote)).)*)(?P=quote)|(?P<bare>[^\s"'&,;{}()\[\]<>]+))""",
    re.IGNORECASE,
)
# /rest/{user_id}/{secret}: the webhook secret, with or without what follows it.
_WEBHOOK = re.compile(r"(/rest/\d+/)([A-Za-z0-9_\-]+)(?=/|$|[\s?#\"'&,;)\]}>])")
_BEARER = re.compile(r"(\bBearer\s+)([^\s\"',;]+)", re.IGNORECASE)

# Type names become part of a file name: keep them to a safe alphabet.
_LOG_TYPE = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def _mask(value: str) -> str:
    # Text can be masked twice (a masked dict dumped to JSON, then masked as text): leave a
    # value that is already masked as it is instead of shortening it to a bare "…".
    return value if value.endswith("…") and len(value) <= 5 else mask_secret(value)


def _mask_match(match: re.Match[str]) -> str:
    key, sep = match.group("key"), match.group("sep")
    quote = match.group("quote")
    if quote is not None:
        return f"{key}{sep}{quote}{_mask(match.group('quoted'))}{quote}"
    return f"{key}{sep}{_mask(match.group('bare'))}"


def mask_text(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with every credential it visibly carries masked.

    ``known`` are literal secret values (from settings) to mask wherever they occur, in case
    they turn up in a form no pattern recognises.
    """
    for secret in sorted({k for k in known if k}, key=len, reverse=True):
        text = text.replace(secret, mask_secret(secret))
    text = _KEY_VALUE.sub(_mask_match, text)
    text = _WEBHOOK.sub(lambda m: m.group(1) + _mask(m.group(2)), text)
    return _BEARER.sub(lambda m: m.group(1) + _mask(m.group(2)), text)


def _is_secret_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    name = key.lower()
    # A flattened form key such as "auth[access_token]" is judged by its innermost part.
    if name.endswith("]") and "[" in name:
        name = name[name.rfind("[") + 1 : -1]
    return name in SECRET_KEYS


def mask_data(value: Any, known: Iterable[str] = ()) -> Any:
    """A copy of ``value`` (dicts, lists, tuples, scalars) with credentials masked.

    Values under secret keys are masked; containers under them are walked like any other, so
    ``{"auth": {"domain": ..., "access_token": ...}}`` keeps its domain readable. Every other
    string goes through :func:`mask_text`. A container that contains itself is cut at the
    repeat with the string ``"<recursion>"``, so the copy is always a tree JSON can write.
    """
    known = tuple(known)
    on_path: set[int] = set()

    def walk(item: Any) -> Any:
        if isinstance(item, Mapping | list | tuple):
            if id(item) in on_path:
                return "<recursion>"
            on_path.add(id(item))
            try:
                if isinstance(item, Mapping):
                    return {k: _masked_value(v) if _is_secret_key(k) else walk(v) for k, v in item.items()}
                return [walk(v) for v in item]
            finally:
                on_path.discard(id(item))
        if isinstance(item, str):
            return mask_text(item, known)
        if isinstance(item, bytes):
            return mask_text(item.decode("utf-8", "replace"), known)
        return item

    def _masked_value(item: Any) -> Any:
        if item is None or isinstance(item, Mapping | list | tuple):
            return walk(item)
        return _mask(item if isinstance(item, str) else str(item))

    return walk(value)


def settings_secrets(settings: Settings | None) -> tuple[str, ...]:
    if settings is None:
        return ()
    found = [settings.client_secret or "", settings.secret_key, settings.operator_key]
    if settings.web_hook_url:
        match = _WEBHOOK.search(settings.web_hook_url)
        if match:
            found.append(match.group(2))
    # Very short values would mask innocent text everywhere; patterns still catch them in context.
    return tuple(s for s in found if len(s) >= 6)


class MaskingFilter(logging.Filter):
    """Masks credentials in a log record: its formatted message, exception and stack text.

    The record is rewritten in place (``msg`` becomes the masked message, ``args`` empty,
    ``exc_info`` replaced by masked ``exc_text``), so every handler after this filter sees the
    masked record. The filter never drops a record.
    """

    def __init__(self, known: Iterable[str] = ()) -> None:
        super().__init__()
        self.known = tuple(known)
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "crest_masked", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not leak its arguments unmasked
            message = f"{record.msg!s} {record.args!r}"
        record.msg = mask_text(message, self.known)
        record.args = None
        if record.exc_info:
            # Formatters reuse exc_text when it is set; dropping exc_info stops one that
            # formats the traceback itself from showing the unmasked exception message.
            if not record.exc_text:
                record.exc_text = self._formatter.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text, self.known)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info, self.known)
        record.crest_masked = True
        return True


def _install(target: logging.Logger | logging.Handler, masking: MaskingFilter) -> None:
    for existing in list(target.filters):
        if isinstance(existing, MaskingFilter):
            target.removeFilter(existing)
    target.addFilter(masking)


def get_logger(settings: Settings | None = None, *, also: Iterable[str] = ()) -> logging.Logger:
    """The ``crest`` logger with a :class:`MaskingFilter` that also knows the secrets of ``settings``.

    A logger's filters see only records logged on that very logger, not those of its children,
    so the filter is put on ``crest``, on every ``crest.*`` logger that exists now, and on the
    handlers of ``crest`` and of the root logger (where propagated records end up, including
    urllib3's request lines, which carry webhook URLs). Calling it again replaces the filter.
    ``also`` names more logger trees to cover the same way (the web app's ``webapp``).
    """
    masking = MaskingFilter(settings_secrets(settings))
    logger = logging.getLogger("crest")
    trees = ("crest", *also)
    for tree in trees:
        _install(logging.getLogger(tree), masking)
    for name, child in list(logging.root.manager.loggerDict.items()):
        if name.startswith(tuple(f"{tree}." for tree in trees)) and isinstance(child, logging.Logger):
            _install(child, masking)
    for handler in [*logger.handlers, *logging.getLogger().handlers]:
        _install(handler, masking)
    return logger


# --- CRest log files ----------------------------------------------------------------------


def _private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) so that the directories we create are 0700."""
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)  # exist_ok: another process may be first
        # mkdir's mode is reduced by the umask; set it exactly.
        directory.chmod(0o700)


def write_log(
    settings: Settings, data: Mapping[str, Any], type_: str, *, now: float | None = None
) -> Path | None:
    """Write one CRest log entry; returns its path, or ``None`` when file logging is off.

    Logging is off unless ``settings.logs_dir`` is set, and off when ``settings.block_log`` is
    true (C_REST_BLOCK_LOG). The content is CRest's ``{"data": ..., "type": ...}``, masked with
    :func:`mask_data`; with ``settings.log_type_dump`` (C_REST_LOG_TYPE_DUMP) it is a Python
    repr in a ``.txt`` file instead of JSON. Types are CRest's: ``callCurl``, ``installApp``,
    ``exceptionCurl``, ``emptySetting``; any name of letters, digits, ``_`` and ``-`` works.
    """
    if settings.block_log or not settings.logs_dir:
        return None
    if not _LOG_TYPE.fullmatch(type_):
        raise ValueError(f"log type must be 1-64 letters, digits, '_' or '-': {type_!r}")
    stamp = time.time() if now is None else now
    local = time.localtime(stamp)
    folder = Path(settings.logs_dir) / time.strftime("%Y-%m-%d", local) / time.strftime("%H", local)
    _private_dir(folder)

    known = settings_secrets(settings)
    entry = {"data": mask_data(dict(data), known), "type": type_}
    if settings.log_type_dump:
        suffix, text = ".txt", pprint.pformat(entry, sort_dicts=False)
    else:
        # default=repr: an object JSON cannot write is logged as its repr rather than lost.
        suffix, text = ".json", json.dumps(entry, ensure_ascii=False, default=repr)
    # Values that went through repr() (objects) are masked once more as text.
    text = mask_text(text, known)

    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        # CRest's rand(1, 9999999); O_EXCL turns a collision into another draw, not an overwrite.
        path = folder / f"{int(stamp)}_{type_}_{secrets.randbelow(9_999_999) + 1}log{suffix}"
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(text)
        return path
    raise OSError(f"could not create a unique log file in {folder}")


def purge_portal_logs(settings: Settings, *, member_id: str, domain: str) -> int:
    """Delete the CRest log files that mention one portal; returns how many went.

    For a verified ``ONAPPUNINSTALL``: the entries are masked, but they still hold that portal's
    calls and data, which the app no longer has any business keeping. A file names its portal
    by its domain (in the URLs it logged) or its ``member_id``.
    """
    if not settings.logs_dir:
        return 0
    root = Path(settings.logs_dir)
    if not root.is_dir():
        return 0
    needles = tuple(n for n in (member_id, domain) if n)
    gone = 0
    for path in root.glob("*/*/*log.*"):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if any(needle in text for needle in needles):
            path.unlink(missing_ok=True)
            gone += 1
    return gone
