"""crest static-app new/build, and the archive rules the portal shares (crest.static_app)."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from crest.cli import main
from crest.static_app import (
    MAX_FILES,
    MAX_TOTAL_BYTES,
    StaticAppError,
    build,
    check_files,
    new,
    read_archive,
)

INDEX = b'<!doctype html><script src="/bx24/api/v1/"></script><script src="app.js"></script>'


def zipped(entries: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if name == symlink:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def problems_of(data: bytes) -> str:
    with pytest.raises(StaticAppError) as caught:
        read_archive(data)
    return " | ".join(caught.value.problems)


def test_cli_new_then_build_writes_an_archive_the_portal_accepts(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["static-app", "new", str(tmp_path / "app"), "--title", "Hi <there>"])
    assert result.exit_code == 0, result.output
    index = (tmp_path / "app" / "index.html").read_text()
    assert "user.current" in (tmp_path / "app" / "app.js").read_text()
    assert "BX24.installFinish()" in (tmp_path / "app" / "install.js").read_text()
    assert '<script src="/bx24/api/v1/"></script>' in index and "Hi &lt;there&gt;" in index
    result = runner.invoke(
        main, ["static-app", "build", str(tmp_path / "app"), "--out", str(tmp_path / "a.zip")]
    )
    assert result.exit_code == 0, result.output
    files = read_archive((tmp_path / "a.zip").read_bytes())
    assert sorted(files) == ["app.js", "index.html", "install.html", "install.js", "style.css"]
    # Deterministic: the same app builds to the same bytes.
    first = (tmp_path / "a.zip").read_bytes()
    build(tmp_path / "app", tmp_path / "a.zip")
    assert (tmp_path / "a.zip").read_bytes() == first


def test_new_refuses_a_non_empty_directory_and_can_leave_out_the_installer(tmp_path: Path) -> None:
    written = new(tmp_path / "a", install=False)
    assert sorted(p.name for p in written) == ["app.js", "index.html", "style.css"]
    with pytest.raises(StaticAppError):
        new(tmp_path / "a")


def test_build_refuses_bad_apps_and_writes_nothing(tmp_path: Path) -> None:
    app = tmp_path / "app"
    new(app)
    (app / "index.html").write_text(
        '<script src="https://cdn.example/x.js"></script><link href="//cdn.example/a.css">'
        '<a href="/crm/">x</a><img src="missing.png"><a href="../secret.html">y</a>'
        '<div style="background: url(http://evil.example/a.png)"></div>'
    )
    (app / "run.sh").write_text("#!/bin/sh\n")
    (app / "linked.js").symlink_to("/etc/passwd")
    result = CliRunner().invoke(main, ["static-app", "build", str(app), "--out", str(tmp_path / "a.zip")])
    assert result.exit_code != 0
    for needle in (
        "cdn.example/x.js",
        "//cdn.example/a.css",
        "'/crm/' is root-relative",
        "missing.png",
        "leaves the app's folder",
        "evil.example",
        "run.sh",
        "symbolic links",
    ):
        assert needle in result.output, needle
    assert not (tmp_path / "a.zip").exists()


def test_build_needs_index_html_at_the_root(tmp_path: Path) -> None:
    (tmp_path / "app" / "sub").mkdir(parents=True)
    (tmp_path / "app" / "sub" / "index.html").write_text("<p>hi</p>")
    with pytest.raises(StaticAppError, match=r"index\.html is missing"):
        build(tmp_path / "app", tmp_path / "a.zip")


def test_build_skips_dot_files_and_the_output_inside_the_app(tmp_path: Path) -> None:
    app = tmp_path / "app"
    new(app)
    (app / ".git").mkdir()
    (app / ".git" / "HEAD").write_text("ref")
    build(app, app / "app.zip")
    result = build(app, app / "app.zip")  # the first archive is not packed into the second
    assert ".git" in result.skipped and "app.zip" in result.skipped
    assert "app.zip" not in read_archive((app / "app.zip").read_bytes())


def test_allowed_links() -> None:
    files = {
        "index.html": b'<script src="//api.bitrix24.com/api/v1/"></script><a href="#top">t</a>'
        b'<a href="mailto:a@b.c">m</a><img src="data:image/png;base64,AA=="><a href="pages/">p</a>'
        b'<a href="pages/two.html?x=1#y">two</a><link rel="stylesheet" href="css/s.css">',
        "pages/index.html": b'<a href="../index.html">back</a>',
        "pages/two.html": b"",
        "css/s.css": b"body { background: url('../img/a.png') } @import 'more.css';",
        "css/more.css": b"",
        "img/a.png": b"\x89PNG",
    }
    assert check_files(files) == []


@pytest.mark.parametrize(
    "name",
    [
        "../evil.html",
        "/etc/passwd.txt",
        "a/../../b.html",
        "C:/x.html",
        "a\\..\\b.html",
        "a//b.html",
        "./a.html",
    ],
)
def test_zip_slip_names_are_refused(name: str) -> None:
    assert "not allowed" in problems_of(zipped({"index.html": b"", name: b"x"}))


def test_symlink_entries_are_refused() -> None:
    assert "symbolic links" in problems_of(
        zipped({"index.html": b"", "l.html": b"/etc/passwd"}, symlink="l.html")
    )


def test_size_bomb_is_cut_off_while_inflating() -> None:
    # 11 MiB of zeros deflates to about 11 KiB; the declared size is not what stops it.
    data = zipped({"index.html": b"", "big.txt": b"\0" * (MAX_TOTAL_BYTES + 1024 * 1024)})
    assert len(data) < 100_000
    assert "larger than" in problems_of(data)


def test_lying_declared_size_does_not_get_past_the_cap() -> None:
    data = bytearray(zipped({"index.html": b"", "big.txt": b"\0" * (MAX_TOTAL_BYTES + 10)}))
    # Patch the central directory's uncompressed size of big.txt down to 10 bytes.
    at = data.rfind(b"PK\x01\x02")
    data[at + 24 : at + 28] = (10).to_bytes(4, "little")
    message = problems_of(bytes(data))
    assert "larger than" in message or "cannot be read" in message


def test_too_many_files_and_garbage_are_refused() -> None:
    many = {"index.html": b"", **{f"f{i}.txt": b"" for i in range(MAX_FILES)}}
    assert "at most" in problems_of(zipped(many))
    assert "not a zip archive" in problems_of(b"not a zip")
    assert "appears twice" in problems_of(_duplicate())


def _duplicate() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", b"")
        with pytest.warns(UserWarning):
            archive.writestr("index.html", b"again")
    return buffer.getvalue()
