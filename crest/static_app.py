"""Static local applications: a starter, the builder, and the archive rules the portal enforces.

A static local app is a zip of HTML, CSS and JavaScript that the portal itself hosts and opens
in its iframe (reference 5.1). It has no server of its own: it calls REST through the BX24
library with the current user's token, and it cannot receive events.

The same rules run on both sides. :func:`build` checks a directory before zipping it, and the
portal checks every uploaded archive with :func:`read_archive` before storing a byte, because
an archive may come from anywhere: names may climb out of the app's folder, entries may be
symlinks, and a few kilobytes may inflate into gigabytes.

Links: an app is served from the portal's origin under its own folder, so every ``src``/``href``
must be relative and point at a file inside the archive. The one exception is the portal's BX24
library, which the portal provides: ``/bx24/api/v1/`` (this local portal) or
``//api.bitrix24.com/api/v1/`` (what Bitrix24's own pages load).
"""

from __future__ import annotations

import io
import posixpath
import re
import stat
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from urllib.parse import unquote, urlsplit

from crest.errors import CrestError

__all__ = [
    "BX24_URLS",
    "LOCAL_BX24_URL",
    "MAX_ARCHIVE_BYTES",
    "MAX_FILES",
    "MAX_TOTAL_BYTES",
    "BuildResult",
    "StaticAppError",
    "build",
    "check_files",
    "new",
    "read_archive",
]

#: The BX24 library of the local portal; root-relative, since static apps live on its origin.
LOCAL_BX24_URL = "/bx24/api/v1/"
#: Where an app may load BX24 from: the only links that need not be relative.
BX24_URLS = frozenset({LOCAL_BX24_URL, "//api.bitrix24.com/api/v1/", "https://api.bitrix24.com/api/v1/"})

MAX_TOTAL_BYTES = 10 * 1024 * 1024  # uncompressed, all files together
MAX_ARCHIVE_BYTES = 10 * 1024 * 1024  # the uploaded zip itself
MAX_FILES = 1000
MAX_NAME_LENGTH = 255
MAX_DEPTH = 16

#: What a static app may contain. An allowlist, because the portal serves these files from its
#: own origin: an unexpected type (an .exe, a .php) has no business there.
CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
}

#: Link schemes that fetch nothing from another origin.
_HARMLESS_SCHEMES = frozenset({"data", "mailto", "tel"})
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)|@import\s+(['"])(.*?)\3""", re.IGNORECASE | re.DOTALL)
_LINK_ATTRS = frozenset({"src", "href", "action", "formaction", "poster", "data", "background"})
#: A zip entry's type bits (high 16 bits of external_attr, from Unix zip tools).
_S_IFLNK = 0o120000


class StaticAppError(CrestError):
    """The app or archive breaks a rule; ``problems`` lists every one found."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems) or "invalid static application")


@dataclass(frozen=True)
class BuildResult:
    out: Path
    files: int
    total_bytes: int
    archive_bytes: int
    skipped: tuple[str, ...]


# --- names ---------------------------------------------------------------------------------------


def check_name(name: str) -> str | None:
    """Why ``name`` cannot be a file of a static app, or ``None``.

    Names are POSIX paths relative to the app's root. Anything that could resolve outside the
    root (``..``, absolute paths, drive letters, backslashes that Windows tools treat as
    separators) is refused rather than normalised: a well-made archive never has them.
    """
    if not name or len(name) > MAX_NAME_LENGTH:
        return f"{name[:40]!r}: empty or longer than {MAX_NAME_LENGTH} characters"
    if "\\" in name or "\x00" in name or any(ord(c) < 32 for c in name):
        return f"{name!r}: backslashes and control characters are not allowed in names"
    if name.startswith("/") or re.match(r"^[a-zA-Z]:", name):
        return f"{name!r}: absolute paths are not allowed"
    parts = name.split("/")
    if any(part in {"", ".", ".."} for part in parts):
        return f"{name!r}: '.', '..' and empty path segments are not allowed"
    if len(parts) > MAX_DEPTH:
        return f"{name!r}: nested deeper than {MAX_DEPTH} folders"
    suffix = posixpath.splitext(name)[1].lower()
    if suffix not in CONTENT_TYPES:
        return f"{name!r}: file type {suffix or '(none)'} is not served by the portal"
    return None


def content_type(name: str) -> str:
    return CONTENT_TYPES.get(posixpath.splitext(name)[1].lower(), "application/octet-stream")


# --- links ---------------------------------------------------------------------------------------


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.css: list[str] = []
        self.base = False
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base":
            self.base = True
        if tag == "style":
            self._in_style = True
        for key, value in attrs:
            if value is None:
                continue
            if key in _LINK_ATTRS:
                self.links.append(value)
            elif key == "srcset":
                self.links.extend(part.strip().split(" ")[0] for part in value.split(",") if part.strip())
            elif key == "style":
                self.css.append(value)
            elif key == "content" and ("http-equiv", "refresh") in [(k, (v or "").lower()) for k, v in attrs]:
                _, _, target = value.partition("=")
                if target.strip():
                    self.links.append(target.strip().strip("'\""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.css.append(data)


def _css_links(text: str) -> list[str]:
    return [m.group(2) if m.group(2) is not None else m.group(4) for m in _CSS_URL.finditer(text)]


def _check_link(owner: str, link: str, names: Mapping[str, object]) -> str | None:
    link = link.strip()
    if not link or link.startswith("#"):
        return None
    if link.split("?", 1)[0] in BX24_URLS:
        return None  # the portal provides the BX24 library
    if link.startswith("//"):
        return f"{owner}: {link!r} points at another site; static apps may only link to their own files"
    scheme = _SCHEME.match(link)
    if scheme:
        if scheme.group(0)[:-1].lower() in _HARMLESS_SCHEMES:
            return None
        return f"{owner}: {link!r} is not a relative link; static apps may only link to their own files"
    if link.startswith("/"):
        return f"{owner}: {link!r} is root-relative; use a relative link (only the BX24 library may be /bx24/...)"
    path = unquote(urlsplit(link).path)
    if not path:
        return None  # "?x=1": the same page
    target = posixpath.normpath(posixpath.join(posixpath.dirname(owner), path))
    if target == ".." or target.startswith("../"):
        return f"{owner}: {link!r} leaves the app's folder"
    if path.endswith("/"):
        target = posixpath.join(target, "index.html") if target != "." else "index.html"
    if target not in names:
        return f"{owner}: {link!r} points at {target!r}, which is not in the app"
    return None


def _links_of(name: str, data: bytes) -> tuple[list[str], list[str]]:
    """(links, problems) found in one HTML or CSS file."""
    suffix = posixpath.splitext(name)[1].lower()
    text = data.decode("utf-8", errors="replace")
    if suffix in {".html", ".htm"}:
        parser = _LinkCollector()
        parser.feed(text)
        parser.close()
        links = parser.links + [u for css in parser.css for u in _css_links(css)]
        return links, [f"{name}: <base> changes where links point; remove it"] if parser.base else []
    if suffix == ".css":
        return _css_links(text), []
    return [], []


def check_files(files: Mapping[str, bytes]) -> list[str]:
    """Every problem of an app given as {name: content}; an empty list means it is valid.

    JavaScript is not scanned (no reliable way short of running it); the portal serves static
    apps with a Content-Security-Policy that keeps their scripts on the portal's origin.
    """
    problems: list[str] = []
    if len(files) > MAX_FILES:
        problems.append(f"{len(files)} files; a static app may have at most {MAX_FILES}")
    total = sum(len(v) for v in files.values())
    if total > MAX_TOTAL_BYTES:
        problems.append(f"{total} bytes; a static app may have at most {MAX_TOTAL_BYTES}")
    problems.extend(p for p in (check_name(n) for n in sorted(files)) if p)
    if "index.html" not in files:
        problems.append("index.html is missing at the root of the app")
    for name in sorted(files):
        links, found = _links_of(name, files[name])
        problems.extend(found)
        problems.extend(p for p in (_check_link(name, link, files) for link in links) if p)
    return problems


# --- the archive (what the portal accepts) -------------------------------------------------------


def read_archive(data: bytes) -> dict[str, bytes]:
    """The files of an uploaded archive, after every check; :class:`StaticAppError` otherwise.

    Nothing in the zip is trusted: the entry count is checked before anything is inflated, and
    each entry is read through a cap, so declared sizes that lie cannot exhaust memory.
    """
    if len(data) > MAX_ARCHIVE_BYTES:
        raise StaticAppError([f"the archive is {len(data)} bytes; at most {MAX_ARCHIVE_BYTES} are accepted"])
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise StaticAppError([f"not a zip archive ({exc})"]) from None
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_FILES * 2:  # directory entries count too; far beyond any real app
            raise StaticAppError([f"{len(entries)} entries; a static app may have at most {MAX_FILES} files"])
        files: dict[str, bytes] = {}
        problems: list[str] = []
        budget = MAX_TOTAL_BYTES
        for info in entries:
            name = info.filename
            mode = info.external_attr >> 16
            if stat.S_IFMT(mode) == _S_IFLNK:
                problems.append(f"{name!r}: symbolic links are not allowed")
                continue
            if info.flag_bits & 0x1:
                problems.append(f"{name!r}: encrypted entries are not allowed")
                continue
            if name.endswith("/"):
                # A directory entry: only its name matters (it must not climb out either).
                problem = check_name(name.rstrip("/") + "/x.txt") if name.rstrip("/") else None
                if problem:
                    problems.append(f"{name!r}: bad folder name")
                continue
            problem = check_name(name)
            if problem:
                problems.append(problem)
                continue
            if name in files:
                problems.append(f"{name!r}: appears twice in the archive")
                continue
            if info.file_size > budget:
                problems.append(f"the files are larger than {MAX_TOTAL_BYTES} bytes in total")
                break
            try:
                with archive.open(info) as fh:
                    content = fh.read(budget + 1)
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as exc:
                problems.append(f"{name!r}: cannot be read ({exc})")
                continue
            if len(content) > budget:
                problems.append(f"the files are larger than {MAX_TOTAL_BYTES} bytes in total")
                break
            budget -= len(content)
            files[name] = content
        if problems:
            raise StaticAppError(problems)
    problems = check_files(files)
    if problems:
        raise StaticAppError(problems)
    return files


# --- the builder ---------------------------------------------------------------------------------


def _collect(root: Path) -> tuple[dict[str, bytes], list[str], list[str]]:
    """(files, skipped, problems) of a directory; dot-files (.git, .DS_Store) are skipped."""
    files: dict[str, bytes] = {}
    skipped: list[str] = []
    problems: list[str] = []
    total = 0
    # Symlinks are refused, not followed: a link could pull in files from anywhere on the disk.
    pending = [root]
    while pending:
        folder = pending.pop()
        for entry in sorted(folder.iterdir()):
            rel = entry.relative_to(root).as_posix()
            if entry.name.startswith("."):
                skipped.append(rel)
                continue
            if entry.is_symlink():
                problems.append(f"{rel!r}: symbolic links are not allowed")
                continue
            if entry.is_dir():
                pending.append(entry)
                continue
            if not entry.is_file():
                problems.append(f"{rel!r}: not a regular file")
                continue
            if len(files) >= MAX_FILES:
                problems.append(f"more than {MAX_FILES} files")
                return files, skipped, problems
            size = entry.stat().st_size
            total += size
            if total > MAX_TOTAL_BYTES:
                problems.append(f"more than {MAX_TOTAL_BYTES} bytes in total")
                return files, skipped, problems
            files[rel] = entry.read_bytes()
    return files, skipped, problems


def build(directory: str | Path, out: str | Path) -> BuildResult:
    """Check the app in ``directory`` and write the zip the portal's upload accepts to ``out``.

    The archive is deterministic (sorted names, fixed timestamps), so building twice gives the
    same bytes. It is read back through :func:`read_archive` before it is kept: the builder
    never writes an archive the portal would refuse.
    """
    root = Path(directory)
    if not root.is_dir():
        raise StaticAppError([f"{root} is not a directory"])
    out_path = Path(out)
    files, skipped, problems = _collect(root)
    # An archive written inside the app's own folder would be packed into the next build.
    try:
        inside = out_path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        inside = None
    if inside is not None:
        files.pop(inside, None)
        skipped.append(inside)
    problems += check_files(files)
    if problems:
        raise StaticAppError(problems)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, files[name])
    data = buffer.getvalue()
    read_archive(data)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(out_path)
    return BuildResult(out_path, len(files), sum(map(len, files.values())), len(data), tuple(skipped))


# --- the starter ---------------------------------------------------------------------------------

#: Starter files (package data under crest/static_app_template/); install* only with an installer.
TEMPLATE_FILES = ("index.html", "app.js", "style.css", "install.html", "install.js")
_INSTALL_FILES = frozenset({"install.html", "install.js"})


def new(
    directory: str | Path,
    *,
    title: str = "My static app",
    install: bool = True,
    bx24_url: str = LOCAL_BX24_URL,
) -> list[Path]:
    """Write a starter app into ``directory`` (created; it must be empty if it exists).

    ``index.html`` shows the current user's full name through ``BX24.callMethod('user.current')``;
    ``install.html`` (unless ``install=False``) finishes the install with ``BX24.installFinish()``.
    """
    if bx24_url not in BX24_URLS:
        raise StaticAppError([f"{bx24_url!r}: the BX24 library is one of {sorted(BX24_URLS)}"])
    root = Path(directory)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise StaticAppError([f"{root} exists and is not an empty directory"])
    root.mkdir(parents=True, exist_ok=True)
    template = resources.files("crest").joinpath("static_app_template")
    written = []
    for name in TEMPLATE_FILES:
        if name in _INSTALL_FILES and not install:
            continue
        text = template.joinpath(name).read_text(encoding="utf-8")
        # Plain replacement, not a template engine: the values are checked or escaped here.
        text = text.replace("{{BX24_URL}}", bx24_url).replace("{{TITLE}}", _html_escape(title))
        path = root / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)
