"""The hosting check behind ``crest checkserver``, ``python checkserver.py`` and ``CRest.checkServer``.

CRest's ``checkserver.php`` checks that curl exists and that two folders are writable. What
actually breaks a Bitrix24 application is elsewhere: the store or the logs sit where the web
server hands them out, TLS towards the OAuth server or the portal fails, the public URL has no
valid certificate, or a proxy adds ``X-Frame-Options: SAMEORIGIN`` and the portal shows "site
does not allow connection". Each check here returns :class:`Check` records saying what was
found and how to fix it; nothing here prints, and no detail ever contains a secret (the
settings' secrets, tokens and the webhook URL's secret segment are never put into a detail).

Three groups, from cheapest to most intrusive:

* :func:`local_checks`: this machine only (Python, dependencies, settings, store, logs, file
  modes, CA bundle, clock). No network; ``CRest.checkServer`` runs these.
* :func:`outbound_checks`: DNS and TLS towards the OAuth server and the portal, with short
  timeouts. No network is a warning, never a crash.
* :func:`remote_checks`: the deployed application, reached through its public URL as the
  portal reaches it (certificate, HTTP redirect, frame headers, endpoints, exposed files).

Framework-free on purpose (stdlib and requests), like the rest of ``crest``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import os
import re
import secrets
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urljoin, urlsplit

import requests

from crest.errors import CrestError
from crest.installation import Installation
from crest.settings import Settings
from crest.stores.base import InstallationStore

__all__ = [
    "Check",
    "Status",
    "frame_findings",
    "local_checks",
    "outbound_checks",
    "portal_origins",
    "remote_checks",
    "run_all",
    "source_admits",
]

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    """One finding: ``check`` names it, ``detail`` says what was found, ``fix`` how to fix it."""

    check: str
    status: Status
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _ok(name: str, detail: str) -> Check:
    return Check(name, "ok", detail, "")


def _warn(name: str, detail: str, fix: str) -> Check:
    return Check(name, "warn", detail, fix)


def _fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, "fail", detail, fix)


# --- local ---------------------------------------------------------------------------------

#: Minimum versions, as pyproject.toml declares them. ``requests`` is the client's only
#: dependency; the others are the web application's and the command line's.
_DEPENDENCIES: dict[str, tuple[tuple[int, ...], bool]] = {
    "requests": ((2, 31), True),
    "flask": ((3, 0), False),
    "jinja2": ((3, 1), False),
    "itsdangerous": ((2, 1), False),
    "click": ((8, 1), False),
}

#: Folders that web servers serve by default on common distributions. A store below one of
#: them is served unless the document root is a sub-folder of it, which we cannot see.
WEB_ROOTS: tuple[str, ...] = (
    "/var/www",
    "/srv/www",
    "/srv/http",
    "/usr/share/nginx/html",
    "/usr/share/httpd",
    "/var/lib/nginx/html",
)
#: Files that mark a folder as a site's document root (CRest's own layout puts settings.json
#: next to index.php, which is exactly the problem).
_ROOT_MARKERS = ("index.php", "index.html", "index.htm", ".htaccess")
#: Folder names hosting panels serve as-is.
_SERVED_NAMES = ("public_html", "htdocs", "www", "static", "public")

#: Settings placeholders that are not secrets (docs and examples); compared case-insensitively.
_PLACEHOLDER_KEYS = frozenset({"secret", "changeme", "change-me", "dev", "development", "test", "key"})
_MIN_SECRET_KEY = 32

_MIN_PYTHON: tuple[int, int] = (3, 11)

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _version_tuple(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in text.split("."):
        match = re.match(r"\d+", piece)
        if match is None:
            break
        parts.append(int(match.group()))
    return tuple(parts)


def check_python() -> Check:
    version = ".".join(str(v) for v in sys.version_info[:3])
    # Read from a constant: the declared minimum may rise while this module still imports.
    if sys.version_info < _MIN_PYTHON:
        return _fail("python", f"Python {version}", "b24-crest needs Python 3.11 or newer")
    return _ok("python", f"Python {version} ({sys.executable})")


def check_dependencies() -> Check:
    found: list[str] = []
    problems: list[str] = []
    fatal = False
    for name, (minimum, required) in _DEPENDENCIES.items():
        wanted = ".".join(map(str, minimum))
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{name} is missing" + ("" if required else " (needed by the web app and CLI)"))
            fatal = fatal or required
            continue
        found.append(f"{name} {version}")
        if _version_tuple(version) < minimum:
            problems.append(f"{name} {version} is older than {wanted}")
            fatal = True
    detail = ", ".join(found) if found else "none found"
    if problems:
        fix = "pip install -U 'b24-crest' (or: pip install -e . in a checkout) to get the declared versions"
        detail = "; ".join(problems) + f" (found: {detail})"
        return _fail("dependencies", detail, fix) if fatal else _warn("dependencies", detail, fix)
    return _ok("dependencies", detail)


def _is_loopback_url(url: str) -> bool:
    return urlsplit(url).hostname in _LOOPBACK


def check_settings(settings: Settings) -> list[Check]:
    """Complete and well-formed: something to authenticate with, and a real secret key."""
    out: list[Check] = []
    name = "settings"
    if settings.web_hook_url:
        host = urlsplit(settings.web_hook_url).hostname or "?"
        if settings.web_hook_url.startswith("http://") and not _is_loopback_url(settings.web_hook_url):
            out.append(
                _fail(
                    name,
                    f"the webhook URL for {host} is plain http: its secret crosses the network in clear",
                    "use the https:// webhook URL Bitrix24 shows (Developer resources > Inbound webhook)",
                )
            )
        detail = f"webhook mode (portal {host})"
        if settings.client_id:
            out.append(
                _warn(
                    name,
                    "both a webhook URL and client_id are set: the webhook wins, as in CRest",
                    "remove C_REST_WEB_HOOK_URL to use the application's OAuth credentials",
                )
            )
        out.append(_ok(name, detail))
    elif settings.client_id or settings.client_secret:
        missing = [n for n in ("client_id", "client_secret") if not getattr(settings, n)]
        if missing:
            out.append(
                _fail(
                    name,
                    f"{' and '.join(missing)} missing: an application needs both",
                    "copy both values from the local application's card in Bitrix24 "
                    "(C_REST_CLIENT_ID / C_REST_CLIENT_SECRET in settings.py or the environment)",
                )
            )
        else:
            out.append(_ok(name, f"application mode (client_id {settings.client_id})"))
    else:
        out.append(
            _fail(
                name,
                "neither C_REST_WEB_HOOK_URL nor C_REST_CLIENT_ID/C_REST_CLIENT_SECRET is set",
                "set a webhook URL for a script, or the local application's client id and secret "
                "(see settings.example.py)",
            )
        )
    # The web application signs page tokens with secret_key; only an application (OAuth
    # mode) runs it, so a webhook-only script does not need one.
    if settings.client_id:
        key = settings.secret_key
        fix = (
            "set CREST_SECRET_KEY to a long random value, the same in every process: "
            'python -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
        if not key:
            out.append(
                _fail(
                    "secret key",
                    "secret_key is empty: page tokens use a per-process random key and break across workers",
                    fix,
                )
            )
        elif key.strip().lower() in _PLACEHOLDER_KEYS or len(set(key)) < 6:
            out.append(_fail("secret key", "secret_key is a placeholder value", fix))
        elif len(key) < _MIN_SECRET_KEY:
            out.append(
                _warn("secret key", f"secret_key is only {len(key)} characters (use {_MIN_SECRET_KEY}+)", fix)
            )
        else:
            out.append(_ok("secret key", f"set ({len(key)} characters)"))
        if settings.app_base_url is None:
            out.append(
                _fail(
                    "app_base_url",
                    "not set: the app binds no event handlers and no placements (it never takes "
                    "their address from a request's Host header, which the sender chooses)",
                    "set CREST_APP_BASE_URL to the public https:// address the portal opens",
                )
            )
        elif not settings.app_base_url.startswith("https://") and not _is_loopback_url(settings.app_base_url):
            out.append(
                _fail(
                    "app_base_url",
                    f"{settings.app_base_url} is not https: Bitrix24 opens and calls applications over HTTPS",
                    "serve the app behind TLS and set CREST_APP_BASE_URL to its https:// address",
                )
            )
        else:
            out.append(_ok("app_base_url", settings.app_base_url))
    return out


def _open(settings: Settings) -> InstallationStore:
    from crest.stores import open_store

    return open_store(settings.store)


def _store_paths(store: object) -> list[Path]:
    """The files a store keeps on disk (the data file first); none for the memory store."""
    paths: list[Path] = []
    for attr in ("path", "lock_path"):
        value = getattr(store, attr, None)
        if isinstance(value, Path):
            paths.append(value)
    return paths


def _close(store: object) -> None:
    close = getattr(store, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()


#: Run in a child process while we hold the store lock: it must not get the lock.
_CHILD_LOCK_PROBE = """
import sys
from crest.errors import StoreError
from crest.stores import open_store
store = open_store(sys.argv[1])
try:
    with store.lock(sys.argv[2], timeout=0.3):
        sys.exit(3)
except StoreError:
    sys.exit(0)
"""


def _other_process_locked_out(store_setting: str, member_id: str) -> bool | None:
    """True if another process cannot take the lock we hold; None if that could not be tested."""
    try:
        child = subprocess.run(
            [sys.executable, "-c", _CHILD_LOCK_PROBE, store_setting, member_id],
            capture_output=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if child.returncode == 0:
        return True
    if child.returncode == 3:
        return False
    return None


def _probe_folder(folder: Path) -> None:
    """Create, fsync, read back and remove a probe file beside the store: what saving needs.

    SQLite writes its journal and WAL beside the database and the JSON store replaces its file
    by renaming a temporary one over it, so a folder that refuses new files breaks both even
    when the store file itself is writable. The probe is a file of its own: the live
    installations are never touched, so another process (or PHP CRest reading the same
    settings.json) never sees a record appear or vanish while checkserver runs.
    """
    probe = folder / f".crest-checkserver-{secrets.token_hex(8)}.probe"
    payload = b"crest checkserver write probe\n"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        if probe.read_bytes() != payload:
            raise OSError(f"{probe.name} read back different bytes")
    finally:
        with contextlib.suppress(FileNotFoundError):
            probe.unlink()


def _sqlite_write_lock(path: Path) -> None:
    """Take SQLite's write lock on the store and roll back: proves it can write, writes nothing."""
    import sqlite3

    if not path.exists():
        return
    db = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=5, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
    finally:
        db.close()


def check_store(settings: Settings, *, cross_process: bool = True) -> list[Check]:
    """Reachable, writable and lockable, without writing into the live installations: the store is
    read, a probe file is written and removed beside it, SQLite's write lock is taken and rolled
    back, and the store's own lock is held (under a key that is no portal's) while another
    process tries to take it."""
    from crest.stores.sqlite import SqliteStore

    name = "store"
    fix_perm = (
        "make the store's folder writable by the user the app runs as, outside the web root "
        "(e.g. mkdir -m 700 /var/lib/myapp && chown app: /var/lib/myapp; CREST_STORE=sqlite:/var/lib/myapp/crest.sqlite)"
    )
    try:
        store = _open(settings)
    except CrestError as exc:
        return [_fail(name, f"store setting {settings.store!r} is unusable: {exc.description}", fix_perm)]
    # A database server's store (postgresql://) keeps no files here but is shared all the same.
    server = getattr(store, "url", None) if not _store_paths(store) else None
    if not _store_paths(store) and not isinstance(server, str):
        return [
            _warn(
                name,
                f"{settings.store!r} keeps tokens in memory: they are lost on restart and not shared "
                "between worker processes",
                "use a file store: CREST_STORE=sqlite:/var/lib/myapp/crest.sqlite",
            )
        ]
    data_path = None if server else _store_paths(store)[0]
    where = repr(store) if data_path is None else str(data_path)  # repr hides a password
    blocked = None if data_path is None else _folder_problem(data_path.parent)
    if blocked:
        _close(store)
        return [_fail(name, f"{where}: {blocked}", fix_perm)]
    lock_key = f"checkserver-probe-{secrets.token_hex(8)}"  # not 32 hex characters: no portal's
    out: list[Check] = []
    try:
        store.all_installations()  # readable (and a new SQLite store gets its tables)
        if data_path is not None:
            data_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _probe_folder(data_path.parent)
            if data_path.exists() and not os.access(data_path, os.W_OK):
                raise OSError(f"{data_path.name} is read-only for this user")
            if isinstance(store, SqliteStore):
                _sqlite_write_lock(data_path)
        with store.lock(lock_key, timeout=5):
            if cross_process:
                excluded = _other_process_locked_out(settings.store, lock_key)
                if excluded is False:
                    out.append(
                        _fail(
                            "store lock",
                            f"{where}: another process took the lock while this one held it, so two "
                            "token renewals could overlap and kill the refresh chain",
                            "keep the store on a local filesystem (not NFS/SMB) that supports file locks",
                        )
                    )
                elif excluded is None:
                    out.append(
                        _warn(
                            "store lock",
                            "could not start a second Python process to test the lock across processes",
                            "run checkserver from the environment the app runs in",
                        )
                    )
                else:
                    out.append(_ok("store lock", "held against another process"))
    except CrestError as exc:
        out.append(_fail(name, f"{where}: {exc.description}", fix_perm))
    except OSError as exc:
        out.append(_fail(name, f"{where}: {exc.strerror or exc}", fix_perm))
    except Exception as exc:  # sqlite3.Error and the like: a finding, not a crash
        out.append(_fail(name, f"{where}: {type(exc).__name__}: {exc}", fix_perm))
    finally:
        _close(store)
    if not any(c.status == "fail" and c.check == name for c in out):
        out.insert(
            0, _ok(name, f"{where}: read, folder writable, locked; the installations were not touched")
        )
    return out


def _folder_problem(folder: Path) -> str | None:
    """Why files cannot be created in ``folder`` (made on demand), read from its nearest existing
    ancestor; None when that looks possible. The OS's own message ("File exists" from mkdir
    over a file) would not tell the operator what is wrong."""
    current = folder
    while not current.exists():
        if current.parent == current:
            return None
        current = current.parent
    if not current.is_dir():
        return f"{current} is a file, not a folder"
    if not os.access(current, os.W_OK | os.X_OK):
        return f"{current} is not writable by this user"
    return None


def check_logs(settings: Settings) -> Check:
    name = "log folder"
    if settings.block_log:
        return _ok(name, "log files are off (C_REST_BLOCK_LOG)")
    if not settings.logs_dir:
        return _ok(name, "no log files (C_REST_LOGS_DIR not set)")
    folder = Path(settings.logs_dir)
    fix = f"create {folder} writable by the app's user only (mkdir -m 700), outside the web root"
    blocked = _folder_problem(folder)
    if blocked:
        return _fail(name, f"{folder} is not writable: {blocked}", fix)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = _mkstemp(folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        return _fail(name, f"{folder} is not writable: {exc.strerror or exc}", fix)
    return _ok(name, f"{folder} is writable")


def _mkstemp(folder: Path) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(prefix=".checkserver-", dir=folder)


def _served_reason(path: Path, static_folders: Sequence[str | os.PathLike[str]]) -> tuple[Status, str] | None:
    """Why ``path`` looks web-served, and how sure we are; None if it does not.

    The heuristic, strongest sign first: below the app's own static folder (fail); in or
    below a folder holding a site's index.php/index.html/.htaccess (fail: that folder is a
    document root, CRest's own layout); below a folder named like a served one (public_html,
    htdocs...) or one of the distributions' default web roots (warn: the document root may be
    a sub-folder beside ours, which only the remote check with --url can prove).
    """
    resolved = path.resolve()
    for folder in static_folders:
        root = Path(folder).resolve()
        if resolved == root or root in resolved.parents:
            return "fail", f"it is inside the app's static folder {root}"
    for ancestor in resolved.parents:
        for marker in _ROOT_MARKERS:
            if (ancestor / marker).is_file():
                return "fail", f"{ancestor} holds {marker}, so it looks like a site's document root"
    for ancestor in (resolved, *resolved.parents):
        if ancestor.name.lower() in _SERVED_NAMES:
            return "warn", f"it is below {ancestor}, a folder name web servers commonly serve"
    for root_text in WEB_ROOTS:
        root = Path(root_text)
        if resolved == root or root in resolved.parents:
            return "warn", f"it is below {root}, a default web root"
    return None


def check_not_served(
    settings: Settings, static_folders: Sequence[str | os.PathLike[str]] = ()
) -> list[Check]:
    candidates: list[tuple[str, Path]] = []
    try:
        store = _open(settings)
    except CrestError:
        store = None  # reported by check_store
    if store is not None:
        paths = _store_paths(store)
        if paths:
            candidates.append(("store", paths[0]))
        _close(store)
    if settings.logs_dir and not settings.block_log:
        candidates.append(("logs", Path(settings.logs_dir)))
    out: list[Check] = []
    for what, path in candidates:
        reason = _served_reason(path, static_folders)
        name = f"{what} not web-served"
        if reason is None:
            out.append(_ok(name, f"{path} is outside the usual web-served folders"))
            continue
        status, why = reason
        detail = f"{path}: {why}; anyone could then download the {'tokens' if what == 'store' else 'logs'}"
        fix = (
            f"move the {what} outside the document root (e.g. /var/lib/<app>/) and point "
            f"{'CREST_STORE' if what == 'store' else 'C_REST_LOGS_DIR'} at it; "
            "run checkserver --url to prove the old path answers 404"
        )
        out.append(Check(name, status, detail, fix))
    return out


def _mode_problem(path: Path) -> str | None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return None  # not created yet, or its folder is broken (the store check says so)
    except OSError as exc:
        return f"{path}: cannot stat ({exc.strerror})"
    if mode & 0o077:
        return f"{path} has mode {mode:04o} (group/others may read it)"
    return None


def check_file_modes(settings: Settings, settings_path: str | os.PathLike[str] | None = None) -> Check:
    name = "file modes"
    files: list[Path] = []
    try:
        store = _open(settings)
    except CrestError:
        store = None
    if store is not None:
        paths = _store_paths(store)
        _close(store)
        if paths:
            data = paths[0]
            # SQLite's write-ahead log holds recent tokens too.
            files.extend([data, Path(f"{data}-wal"), Path(f"{data}-shm")])
    if settings_path is not None:
        files.append(Path(settings_path))
    elif Path("settings.py").is_file():
        files.append(Path("settings.py"))
    problems = [p for p in (_mode_problem(f) for f in files) if p]
    if problems:
        return _fail(
            name,
            "; ".join(problems),
            "these files hold secrets or tokens: chmod 600 them (chmod 700 their folders)",
        )
    existing = [str(f) for f in files if f.exists()]
    return _ok(name, ("owner-only: " + ", ".join(existing)) if existing else "no store or settings file yet")


def check_ca_bundle(settings: Settings) -> Check:
    name = "ca bundle"
    if not settings.ca_bundle:
        return _ok(name, "not set: certificates are checked against the standard public CAs (certifi)")
    path = settings.ca_bundle
    fix = "point CREST_CA_BUNDLE at a PEM file (or an OpenSSL hashed folder) holding the portal's CA certificate"
    if not os.path.exists(path):
        return _fail(name, f"{path} does not exist", fix)
    try:
        context = ssl.create_default_context()
        if os.path.isdir(path):
            context.load_verify_locations(capath=path)
        else:
            context.load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError, ValueError) as exc:
        return _fail(name, f"{path} is not a readable CA bundle: {exc}", fix)
    return _ok(name, f"{path} loads")


def check_clock(now: Callable[[], float] = time.time) -> Check:
    current = dt.datetime.fromtimestamp(now(), dt.UTC)
    # Tokens expire after an hour and certificates are checked against the clock: a machine
    # that booted without its time set (1970, 2000...) fails both in confusing ways.
    if not 2024 <= current.year < 2100:
        return _fail(
            "clock",
            f"the system clock says {current:%Y-%m-%d %H:%M} UTC",
            "set the clock and keep it synchronised (systemd-timesyncd, chrony or ntpd)",
        )
    return _ok("clock", f"{current:%Y-%m-%d %H:%M:%S} UTC")


def local_checks(
    settings: Settings,
    *,
    settings_path: str | os.PathLike[str] | None = None,
    static_folders: Sequence[str | os.PathLike[str]] = (),
    now: Callable[[], float] = time.time,
    cross_process: bool = True,
) -> list[Check]:
    """This machine only; no network. ``CRest.checkServer`` runs these."""
    return [
        check_python(),
        check_dependencies(),
        *check_settings(settings),
        *check_store(settings, cross_process=cross_process),
        check_logs(settings),
        *check_not_served(settings, static_folders),
        check_file_modes(settings, settings_path),
        check_ca_bundle(settings),
        check_clock(now),
    ]


# --- outbound ------------------------------------------------------------------------------

#: Short: a check that hangs is worse than one that says "timed out".
_NET_TIMEOUT = 3.0
_SKEW_WARN = 30.0
_SKEW_FAIL = 300.0


def _resolve(host: str, port: int, timeout: float) -> list[str] | str:
    """Addresses of ``host``, or the reason it did not resolve. getaddrinfo has no timeout of
    its own, so it runs in a daemon thread we stop waiting for."""
    result: list[list[str] | str] = []

    def work() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            result.append(sorted({str(info[4][0]) for info in infos}))
        except OSError as exc:
            result.append(str(exc.strerror or exc))

    thread = threading.Thread(target=work, daemon=True, name="checkserver-dns")
    thread.start()
    thread.join(timeout)
    return result[0] if result else f"no answer within {timeout:g} s"


def _verify(settings: Settings) -> str | bool:
    return settings.ca_bundle or True


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _reach(
    label: str,
    url: str,
    settings: Settings,
    *,
    now: Callable[[], float] = time.time,
    check_skew: bool = False,
) -> list[Check]:
    """DNS, then TLS and an HTTP answer from ``url``'s origin; the clock against its Date."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    timeout = min(settings.connect_timeout, _NET_TIMEOUT)
    try:
        import ipaddress

        ipaddress.ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = False
    if not is_ip:
        addresses = _resolve(host, port, timeout)
        if isinstance(addresses, str):
            return [
                _warn(
                    f"{label} DNS",
                    f"{host} does not resolve ({addresses}): no network or no DNS on this machine?",
                    f"check /etc/resolv.conf and that this machine may reach {host} (firewall, proxy)",
                )
            ]
        dns = _ok(f"{label} DNS", f"{host} -> {', '.join(addresses[:4])}")
    else:
        dns = _ok(f"{label} DNS", f"{host} is an address")
    name = f"{label} TLS" if parts.scheme == "https" else f"{label} HTTP"
    try:
        # The origin only: a GET of the portal's or OAuth server's home page carries nothing
        # of ours (never the webhook path, which holds its secret).
        resp = requests.get(
            _origin(url) + "/", timeout=(timeout, timeout), allow_redirects=False, verify=_verify(settings)
        )
        resp.close()
    except requests.exceptions.SSLError as exc:
        return [
            dns,
            _fail(
                name,
                f"TLS to {host}:{port} failed: {_ssl_reason(exc)}",
                "install the system CA certificates (apt install ca-certificates) and update certifi; "
                "for a portal with a private CA set CREST_CA_BUNDLE; never turn verification off",
            ),
        ]
    except requests.exceptions.RequestException as exc:
        return [
            dns,
            _warn(
                name,
                f"no answer from {host}:{port} ({type(exc).__name__}): offline, or a firewall in the way",
                f"allow outgoing HTTPS from this machine to {host}:{port}",
            ),
        ]
    out = [dns]
    if parts.scheme == "https":
        out.append(_ok(name, f"{host}:{port} answered over verified TLS (HTTP {resp.status_code})"))
    else:
        out.append(
            _ok(name, f"{host}:{port} answered over plain HTTP (HTTP {resp.status_code}; loopback only)")
        )
    if check_skew:
        out.append(_skew_check(host, resp.headers.get("Date"), now()))
    return out


def _skew_check(host: str, date_header: str | None, current: float) -> Check:
    from email.utils import parsedate_to_datetime

    if not date_header:
        return _warn("clock skew", f"{host} sent no Date header to compare with", "")
    try:
        theirs = parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError):
        return _warn("clock skew", f"{host} sent an unreadable Date header", "")
    skew = current - theirs
    detail = f"{abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} {host}"
    fix = "synchronise the clock (systemd-timesyncd, chrony or ntpd)"
    if abs(skew) > _SKEW_FAIL:
        return _fail("clock skew", detail, fix)
    if abs(skew) > _SKEW_WARN:
        return _warn("clock skew", detail, fix)
    return _ok("clock skew", detail)


def _ssl_reason(exc: BaseException) -> str:
    """The certificate verification message buried in requests' exception chain."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current.verify_message or str(current)
        stack.extend(
            [
                current.__cause__,
                current.__context__,
                *[a for a in current.args if isinstance(a, BaseException)],
            ]
        )
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
    text = str(exc)
    match = re.search(r"certificate verify failed: ([^(]+)", text)
    return match.group(1).strip() if match else "handshake failed"


def _portal_endpoints(settings: Settings, store: InstallationStore | None) -> list[str]:
    """Where REST calls go: the webhook's portal, or the stored installations' endpoints."""
    if settings.web_hook_url:
        return [_origin(settings.web_hook_url)]
    endpoints: list[str] = []
    for inst in _installations(settings, store):
        origin = _origin(inst.client_endpoint)
        if origin not in endpoints:
            endpoints.append(origin)
    return endpoints[:5]  # a bounded run even for a store with many portals


def _installations(settings: Settings, store: InstallationStore | None) -> list[Installation]:
    own = store is None
    try:
        if store is None:
            store = _open(settings)
        return [i for i in store.all_installations() if not i.member_id.startswith("checkserver-probe-")]
    except (CrestError, OSError):
        return []
    finally:
        if own and store is not None:
            _close(store)


def outbound_checks(
    settings: Settings,
    *,
    store: InstallationStore | None = None,
    now: Callable[[], float] = time.time,
) -> list[Check]:
    """DNS and TLS towards the OAuth server (applications) and the portal, short timeouts."""
    out: list[Check] = []
    if settings.client_id:
        out.extend(_reach("oauth server", settings.oauth_token_url, settings, now=now, check_skew=True))
    portals = _portal_endpoints(settings, store)
    if not portals:
        out.append(
            _ok(
                "portal", "no portal known yet (no webhook URL, nothing installed): checked after the install"
            )
        )
    for origin in portals:
        out.extend(_reach(f"portal {urlsplit(origin).netloc}", origin, settings))
    return out


# --- remote --------------------------------------------------------------------------------

#: Paths that must never be served: CRest's settings file, ours, environment files, logs and
#: the default SQLite store (also tried where the store and logs settings point).
SECRET_PATHS: tuple[str, ...] = (
    "settings.json",
    "settings.py",
    ".env",
    "logs/",
    "var/crest.sqlite",
    "crest.sqlite",
)
_SLOW_WARN = 2.0
_SLOW_FAIL = 10.0
_EXPIRY_WARN_DAYS = 14


def _parse_origin(origin: str) -> tuple[str, str, int] | None:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname.lower(), port


def source_admits(source: str, portal: str, app_origin: str) -> bool:
    """Whether one CSP source expression lets ``portal`` (an origin) frame a page of ``app_origin``.

    CSP Level 3's matching, reduced to what frame-ancestors uses: ``*``, ``'self'``, scheme
    sources (``https:``) and host sources with optional scheme, ``*.`` host wildcard and port
    (``*`` or a number); http sources also admit https, paths are ignored. ``'none'`` and
    keywords that do not apply to frame-ancestors admit nothing.
    """
    target = _parse_origin(portal)
    if target is None:
        return False
    scheme, host, port = target
    token = source.strip()
    lowered = token.lower()
    if lowered == "*":
        return True
    if lowered == "'self'":
        return _parse_origin(app_origin) == target
    if lowered.startswith("'"):
        return False
    match = re.fullmatch(r"([a-z][a-z0-9+.-]*):", lowered)
    if match:
        return match.group(1) == scheme or (match.group(1) == "http" and scheme == "https")
    match = re.fullmatch(r"(?:([a-z][a-z0-9+.-]*)://)?(\*|\*\.[^:/]+|[^:/*]+)(?::(\*|\d+))?(?:/.*)?", lowered)
    if match is None:
        return False
    src_scheme, src_host, src_port = match.groups()
    app = _parse_origin(app_origin)
    if src_scheme is None:
        # No scheme: the protected page's own, upgraded from http to https.
        src_scheme = app[0] if app else "https"
    if not (src_scheme == scheme or (src_scheme == "http" and scheme == "https")):
        return False
    if src_host.startswith("*."):
        if not host.endswith(src_host[1:]):
            return False
    elif src_host not in ("*", host):
        return False
    if src_port is None:
        default = 443 if scheme == "https" else 80
        # http: sources upgraded to https keep matching the default ports of both.
        return port == default or (src_scheme == "http" and scheme == "https" and port == 443)
    return src_port == "*" or int(src_port) == port


def _frame_ancestors(policy: str) -> list[str] | None:
    for directive in policy.split(";"):
        words = directive.split()
        if words and words[0].lower() == "frame-ancestors":
            return words[1:]
    return None


_XFO_FIX = (
    "remove `add_header X-Frame-Options {value};` from the nginx server/location block that "
    "proxies to the app (look in included snippets too: grep -rn X-Frame-Options /etc/nginx/); "
    "if the header comes from behind nginx, add `proxy_hide_header X-Frame-Options;` there. "
    "The app already sends Content-Security-Policy frame-ancestors naming the portal"
)


def frame_findings(
    xfo_headers: Sequence[str],
    csp_headers: Sequence[str],
    portals: Sequence[str],
    app_origin: str,
    *,
    where: str = "app page",
) -> list[Check]:
    """Whether the portal may frame a page that answered with these raw header values.

    ``xfo_headers``/``csp_headers`` are every ``X-Frame-Options`` and ``Content-Security-Policy``
    header as received (duplicates kept: they are the usual proxy bug).
    """
    out: list[Check] = []
    name = f"framing ({where})"
    # Browsers read a comma-separated X-Frame-Options like several headers.
    values = [v.strip() for header in xfo_headers for v in header.split(",") if v.strip()]
    distinct = sorted({v.upper() for v in values})
    if len(distinct) > 1:
        out.append(
            _fail(
                name,
                f"{len(values)} conflicting X-Frame-Options values ({', '.join(distinct)}): browsers then "
                "refuse every frame and the portal shows 'site does not allow connection'",
                " ".join(_XFO_FIX.format(value=v) for v in distinct[:1])
                + f" (remove every `add_header X-Frame-Options ...;`: {', '.join(distinct)})",
            )
        )
    elif distinct:
        value = distinct[0]
        if value in ("DENY", "SAMEORIGIN"):
            out.append(
                _fail(
                    name,
                    f"X-Frame-Options: {value} forbids the portal ({', '.join(portals) or 'another site'}) "
                    "to frame the app: the portal shows 'site does not allow connection'",
                    _XFO_FIX.format(value=value),
                )
            )
        elif value.startswith("ALLOW-FROM"):
            out.append(
                _warn(
                    name,
                    f"X-Frame-Options: {value} is obsolete: browsers ignore it, so it restricts nothing",
                    _XFO_FIX.format(value=value),
                )
            )
        else:
            out.append(
                _warn(
                    name,
                    f"X-Frame-Options: {value} is not a valid value (browsers ignore it)",
                    _XFO_FIX.format(value=value),
                )
            )
    policies = [p.strip() for header in csp_headers for p in header.split(",") if p.strip()]
    if len(csp_headers) > 1:
        out.append(
            _warn(
                name,
                f"{len(csp_headers)} Content-Security-Policy headers: each one is enforced on its own, "
                "so a proxy's policy can block the portal whatever the app's says",
                "remove `add_header Content-Security-Policy ...;` from the nginx block that proxies to the "
                "app (or `proxy_hide_header Content-Security-Policy;` the other one): the app sends one "
                "policy with the portal in frame-ancestors",
            )
        )
    with_fa = [(p, fa) for p in policies if (fa := _frame_ancestors(p)) is not None]
    if not with_fa:
        if not values:
            out.append(
                _warn(
                    name,
                    "no frame-ancestors and no X-Frame-Options: any site may frame the app (clickjacking)",
                    "do not strip the app's Content-Security-Policy in the proxy (no `proxy_hide_header "
                    "Content-Security-Policy;`)",
                )
            )
        return out
    if not portals:
        shown = "; ".join("frame-ancestors " + " ".join(fa) for _, fa in with_fa)
        out.append(
            _warn(
                name,
                f"{shown}: no portal known to compare with",
                "install the app first, set CREST_FRAME_ANCESTORS, or pass --portal https://yours.bitrix24.com",
            )
        )
        return out
    for policy, sources in with_fa:
        refused = [p for p in portals if not any(source_admits(s, p, app_origin) for s in sources)]
        if refused:
            several = len(csp_headers) > 1
            out.append(
                _fail(
                    name,
                    f"'frame-ancestors {' '.join(sources)}' does not admit {', '.join(refused)}",
                    (
                        f'remove `add_header Content-Security-Policy "{policy}";` from the nginx block '
                        "that proxies to the app; the app builds frame-ancestors from the installed portals"
                        if several
                        else "the app builds frame-ancestors from the installed portals and "
                        "CREST_FRAME_ANCESTORS: install the app, or add the portal's origin there; "
                        f'if nginx sets this header, remove `add_header Content-Security-Policy "{policy}";`'
                    ),
                )
            )
    if not any(c.status == "fail" for c in out):
        out.append(_ok(name, f"the portal may frame it ({', '.join(portals)})"))
    return out


def portal_origins(
    settings: Settings, store: InstallationStore | None = None, extra: Iterable[str] = ()
) -> list[str]:
    """The portals that will frame the app: given ones, the webhook's, the installed ones and
    the exact (wildcard-free) origins of ``settings.frame_ancestors``."""
    found: list[str] = []

    def add(origin: str) -> None:
        origin = origin.rstrip("/").lower()
        if _parse_origin(origin) is not None and "*" not in origin and origin not in found:
            found.append(origin)

    for origin in extra:
        add(origin)
    for origin in settings.frame_ancestors:
        add(origin)
    if settings.web_hook_url:
        add(_origin(settings.web_hook_url))
    for inst in _installations(settings, store):
        scheme = urlsplit(inst.client_endpoint).scheme or "https"
        add(f"{scheme}://{inst.domain}")
    return found


def _tls_check(host: str, port: int, settings: Settings, timeout: float) -> tuple[Check, str | bool]:
    """The certificate of the public URL; also how later requests should verify it."""
    name = "https certificate"
    import certifi  # requests' own trust store: what the client and most portals trust

    def handshake(context: ssl.SSLContext) -> dict[str, object]:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            cert = tls.getpeercert()
            return dict(cert) if cert else {}

    public = ssl.create_default_context(cafile=certifi.where())
    trusted_by = "a public CA"
    verify: str | bool = True
    try:
        try:
            cert = handshake(public)
        except ssl.SSLCertVerificationError as exc:
            # Unknown CA: a private CA given in ca_bundle may still vouch for it (on-premise).
            if exc.verify_code not in (18, 19, 20, 21) or not settings.ca_bundle:
                raise
            private = ssl.create_default_context(cafile=certifi.where())
            if os.path.isdir(settings.ca_bundle):
                private.load_verify_locations(capath=settings.ca_bundle)
            else:
                private.load_verify_locations(cafile=settings.ca_bundle)
            cert = handshake(private)
            trusted_by = f"the CA in ca_bundle {settings.ca_bundle} (a cloud Bitrix24 trusts only public CAs)"
            verify = settings.ca_bundle
    except ssl.SSLCertVerificationError as exc:
        message = exc.verify_message or str(exc)
        if exc.verify_code == 10:
            detail = f"the certificate of {host} has expired"
            fix = "renew it (certbot renew) and reload nginx; set up automatic renewal"
        elif exc.verify_code in (18, 19, 20, 21):
            detail = f"the certificate of {host} is self-signed or from an unknown CA ({message})"
            fix = (
                "use a certificate from a public CA (e.g. Let's Encrypt: certbot --nginx -d your.host) "
                "with its full chain (ssl_certificate fullchain.pem); for an on-premise portal with a "
                "private CA set CREST_CA_BUNDLE"
            )
        elif exc.verify_code == 62:
            detail = f"the certificate does not name {host} ({message})"
            fix = "issue the certificate for this host name (server_name and certbot -d must match)"
        else:
            detail = f"certificate of {host} rejected: {message}"
            fix = "serve a valid certificate with its full chain (ssl_certificate fullchain.pem)"
        return _fail(name, detail, fix), False
    except ssl.SSLError as exc:
        return _fail(
            name,
            f"TLS handshake with {host}:{port} failed: {exc.reason or exc}",
            "check nginx's ssl_* lines (listen ... ssl; ssl_certificate; ssl_certificate_key)",
        ), False
    except OSError as exc:
        return _fail(
            name,
            f"cannot connect to {host}:{port}: {exc.strerror or exc}",
            "check that the app's server listens there and the firewall allows 443",
        ), False
    not_after = cert.get("notAfter")
    if not isinstance(not_after, str):
        return _ok(name, f"valid, trusted by {trusted_by}"), verify
    days = int((ssl.cert_time_to_seconds(not_after) - time.time()) // 86400)
    detail = f"valid, trusted by {trusted_by}; expires in {days} days ({not_after})"
    if days < _EXPIRY_WARN_DAYS:
        return _warn(name, detail, "renew the certificate now and check that automatic renewal runs"), verify
    return _ok(name, detail), verify


def _http_redirect_check(http_url: str, timeout: float) -> Check:
    name = "http redirect"
    try:
        resp = requests.get(http_url, timeout=(timeout, timeout), allow_redirects=False)
        resp.close()
    except requests.exceptions.ConnectionError:
        return _ok(name, f"nothing answers on {http_url}: the app is not served over plain HTTP")
    except requests.exceptions.RequestException as exc:
        return _warn(name, f"{http_url}: {type(exc).__name__}", "answer plain HTTP with a redirect to https")
    location = resp.headers.get("Location", "")
    if resp.is_redirect and location.startswith("https://"):
        return _ok(name, f"{http_url} -> {resp.status_code} {location}")
    return _warn(
        name,
        f"{http_url} answers {resp.status_code} without redirecting to https",
        "in nginx: server { listen 80; server_name your.host; return 301 https://$host$request_uri; }",
    )


def _raw_list(resp: requests.Response, header: str) -> list[str]:
    # requests joins repeated headers with ", "; urllib3's header dict keeps each one.
    raw_headers = getattr(resp.raw, "headers", None)
    getlist = getattr(raw_headers, "getlist", None)
    if callable(getlist):
        return [str(v) for v in getlist(header)]
    value = resp.headers.get(header)
    return [value] if value is not None else []


def _endpoint_check(name: str, resp: requests.Response | None, error: str, path: str) -> Check:
    if resp is None:
        return _fail(name, f"POST {path}: {error}", "check that nginx proxies this path to the app")
    code = resp.status_code
    if code == 404:
        return _fail(
            name,
            f"POST {path} without credentials -> 404: the path does not reach the app",
            "proxy it to the app (location / { proxy_pass http://127.0.0.1:8000; }) and check the "
            "handler paths in the application's settings in Bitrix24",
        )
    if code >= 500:
        return _fail(name, f"POST {path} without credentials -> {code}", "read the app's log for the error")
    if 400 <= code < 500:
        return _ok(name, f"POST {path} without credentials -> {code} (refused, as it should be)")
    if 300 <= code < 400:
        return _warn(
            name,
            f"POST {path} -> {code} redirect to {resp.headers.get('Location', '?')}: Bitrix24 does not follow it",
            "give Bitrix24 the final https:// URL",
        )
    return _fail(
        name,
        f"POST {path} without credentials -> {code}: it should refuse an unauthenticated request",
        "make sure the path reaches this app and not another one or a static file",
    )


def remote_checks(
    url: str,
    settings: Settings,
    *,
    store: InstallationStore | None = None,
    portals: Iterable[str] = (),
    http_url: str | None = None,
    timeout: float = 5.0,
) -> list[Check]:
    """The deployed app at its public ``url``, as the portal sees it.

    The frame headers are read from two answers: ``GET`` of the app page (200: what nginx's
    ``add_header`` decorates, since without ``always`` it skips error answers) and the
    portal's own ``POST`` without credentials (401 from our app: its headers still count).
    """
    out: list[Check] = []
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [_fail("url", f"{url!r} is not an http(s) URL", "pass the app's public https:// URL")]
    base = url if url.endswith("/") else url + "/"
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    verify: str | bool = False
    if parts.scheme == "https":
        tls, verify = _tls_check(host, port, settings, timeout)
        out.append(tls)
        if http_url is None:
            bracketed = f"[{host}]" if ":" in host else host
            http_url = f"http://{bracketed}{parts.path or '/'}"
        out.append(_http_redirect_check(http_url, timeout))
    else:
        out.append(
            _fail(
                "https certificate",
                f"{url} is plain http: Bitrix24 opens and calls applications over HTTPS only",
                "put nginx with a certificate in front of the app (certbot --nginx) and use the https:// URL",
            )
        )
    known = portal_origins(settings, store, portals)
    app_origin = _origin(url)
    session = requests.Session()
    # With a bad certificate the remaining probes still run, unverified, so that every finding
    # shows at once. They send nothing secret (no credentials, no tokens), so skipping
    # verification for them exposes nothing; the certificate itself is reported above.
    # Every request passes verify= itself: a Session's own setting loses to REQUESTS_CA_BUNDLE.
    session.verify = verify
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out.extend(_http_checks(session, base, app_origin, known, settings, timeout))
        finally:
            session.close()
    return out


def _http_checks(
    session: requests.Session,
    base: str,
    app_origin: str,
    portals: list[str],
    settings: Settings,
    timeout: float,
) -> list[Check]:
    out: list[Check] = []
    page_path = urlsplit(base).path
    started = time.monotonic()
    try:
        page = session.get(base, timeout=(timeout, timeout), allow_redirects=False, verify=session.verify)
    except requests.exceptions.RequestException as exc:
        return [
            *out,
            _fail(
                "app page",
                f"GET {page_path}: no answer ({type(exc).__name__})",
                "check that nginx runs and proxies to the app",
            ),
        ]
    elapsed = time.monotonic() - started
    posted, post_error = _post(session, base, timeout)
    # Both answers are reported: nginx's add_header (without `always`) decorates the 200 of
    # GET but not the 401 of the portal's POST, so they can differ.
    for where, resp in (("GET " + page_path, page), ("POST " + page_path, posted)):
        if resp is not None:
            out.extend(
                frame_findings(
                    _raw_list(resp, "X-Frame-Options"),
                    _raw_list(resp, "Content-Security-Policy"),
                    portals,
                    app_origin,
                    where=where,
                )
            )
    if page.status_code >= 500:
        out.append(_fail("app page", f"GET {page_path} -> {page.status_code}", "read the app's log"))
    detail = f"GET {page_path} answered {page.status_code} in {elapsed * 1000:.0f} ms"
    slow_fix = "the portal waits only seconds for the install and event handlers: check the server's load"
    if elapsed > _SLOW_FAIL:
        out.append(_fail("response time", detail, slow_fix))
    elif elapsed > _SLOW_WARN:
        out.append(_warn("response time", detail, slow_fix))
    else:
        out.append(_ok("response time", detail))
    out.append(_endpoint_check("app page endpoint", posted, post_error, page_path))
    for name, path in (("install endpoint", "install"), ("events endpoint", "events")):
        resp, error = _post(session, urljoin(base, path), timeout)
        out.append(_endpoint_check(name, resp, error, urlsplit(urljoin(base, path)).path))
    out.extend(_secret_checks(session, base, settings, timeout))
    return out


def _post(session: requests.Session, url: str, timeout: float) -> tuple[requests.Response | None, str]:
    try:
        resp = session.post(
            url, data={}, timeout=(timeout, timeout), allow_redirects=False, verify=session.verify
        )
        resp.close()
        return resp, ""
    except requests.exceptions.RequestException as exc:
        return None, f"no answer ({type(exc).__name__})"


def _secret_paths(settings: Settings) -> list[str]:
    paths = list(SECRET_PATHS)
    extra: list[str] = []
    try:
        store = _open(settings)
        files = _store_paths(store)
        _close(store)
    except CrestError:
        files = []
    if files and not files[0].is_absolute():
        extra.extend([files[0].as_posix(), files[0].name])
    elif files:
        extra.append(files[0].name)
    if settings.logs_dir:
        extra.append(Path(settings.logs_dir).name + "/")
    for path in extra:
        if path and path not in paths:
            paths.append(path)
    return paths


def _secret_checks(session: requests.Session, base: str, settings: Settings, timeout: float) -> list[Check]:
    name = "no secrets served"
    bad: list[Check] = []
    probed: list[str] = []
    for path in _secret_paths(settings):
        url = urljoin(base, path)
        shown = urlsplit(url).path
        probed.append(shown)
        try:
            resp = session.get(
                url, timeout=(timeout, timeout), allow_redirects=False, stream=True, verify=session.verify
            )
            resp.close()  # the body may be the secret: never read it
        except requests.exceptions.RequestException as exc:
            bad.append(
                _warn(name, f"GET {shown}: no answer ({type(exc).__name__})", "retry; check the proxy")
            )
            continue
        code = resp.status_code
        if code in (401, 403, 404, 410):
            continue
        if 200 <= code < 300:
            bad.append(
                _fail(
                    name,
                    f"GET {shown} -> {code}: the file is downloadable by anyone",
                    "move it out of the document root; until then block it in nginx: "
                    r"location ~ (^|/)(settings\.(json|py)|\.env|logs/|var/|.*\.sqlite) { return 404; }",
                )
            )
        else:
            bad.append(
                _warn(
                    name,
                    f"GET {shown} -> {code} (expected 404)",
                    "make the proxy answer 404 for it",
                )
            )
    return bad or [_ok(name, f"404/403 for {', '.join(probed)}")]


# --- all -------------------------------------------------------------------------------------


def run_all(
    settings: Settings,
    *,
    url: str | None = None,
    settings_path: str | os.PathLike[str] | None = None,
    portals: Iterable[str] = (),
    http_url: str | None = None,
    outbound: bool = True,
    static_folders: Sequence[str | os.PathLike[str]] = (),
) -> list[Check]:
    """Local, then outbound (unless ``outbound`` is false), then remote when ``url`` is given."""
    checks = local_checks(settings, settings_path=settings_path, static_folders=static_folders)
    if outbound:
        checks.extend(outbound_checks(settings))
    if url:
        checks.extend(remote_checks(url, settings, portals=portals, http_url=http_url))
    return checks


def failed(checks: Iterable[Check]) -> bool:
    return any(c.status == "fail" for c in checks)
