"""``crest checkserver`` checks the store without writing into the live installations.

A second process keeps reading the store the way the app does (every installation, and the
single-portal ``find()`` of webhook-less CRest) for as long as checkserver runs; it must never
see an error, a missing record or an extra one. For a CRest ``settings.json`` the file's bytes
must not change either: PHP CRest sharing it would read "not installed" from a rewritten file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from crest.installation import Installation
from crest.stores import open_store

CREST = str(Path(sys.executable).with_name("crest"))

READER = textwrap.dedent(
    """
    import json, os, sys
    from crest.stores import open_store

    setting, expected, stop, report = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
    reads, problems = 0, []
    print("reading", flush=True)
    while not os.path.exists(stop):
        try:
            store = open_store(setting)
            ids = sorted(i.member_id for i in store.all_installations())
            single = store.find()
            if ids != expected:
                problems.append(f"installations {ids}")
            if single is None or single.member_id != expected[0]:
                problems.append(f"find() gave {single and single.member_id}")
            close = getattr(store, "close", None)
            if close:
                close()
        except Exception as exc:
            problems.append(f"{type(exc).__name__}: {exc}")
        reads += 1
    with open(report, "w") as f:
        json.dump({"reads": reads, "problems": problems[:20]}, f)
    """
)


@pytest.mark.parametrize("kind", ["sqlite", "json"])
def test_a_concurrent_reader_never_sees_checkserver(tmp_path: Path, kind: str) -> None:
    data = tmp_path / "data"
    setting = f"sqlite:{data / 'crest.sqlite'}" if kind == "sqlite" else f"json:{data / 'settings.json'}"
    real = Installation(
        member_id="a" * 32,
        domain="b24-abc.bitrix24.com",
        client_endpoint="https://b24-abc.bitrix24.com/rest/",
        access_token="at",
        refresh_token="rt",
        expires=None,
    )
    open_store(setting).save(real)
    before = (data / "settings.json").read_bytes() if kind == "json" else b""
    (tmp_path / "settings.py").write_text(f"CREST_STORE = {setting!r}\n")
    stop, report = tmp_path / "stop", tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREST_", "C_REST_"))}
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, setting, json.dumps([real.member_id]), str(stop), str(report)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "reading"
        for _ in range(3):
            done = subprocess.run(
                [CREST, "checkserver", "--offline", "--settings", "settings.py"],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert "[  ok] store:" in done.stdout, done.stdout + done.stderr
            assert "[  ok] store lock: held against another process" in done.stdout, done.stdout
        time.sleep(0.2)
    finally:
        stop.write_text("")
        reader.wait(30)
    result = json.loads(report.read_text())
    assert result["reads"] > 10 and result["problems"] == [], result
    assert [i.member_id for i in open_store(setting).all_installations()] == [real.member_id]
    if kind == "json":
        assert (data / "settings.json").read_bytes() == before
    assert not [p.name for p in data.iterdir() if "checkserver" in p.name]  # the probe file is gone
