"""`crest new`, then the new app's own tests and `crest dev`, exactly as the README gives them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import screenshot

BIN = Path(sys.executable).parent
WAIT = 15_000


def _env() -> dict[str, str]:
    # As a person's shell with the venv activated, without the suite's own settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREST_", "C_REST_", "PYTEST_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture
def new_app(tmp_path: Path) -> Path:
    done = subprocess.run(
        [str(BIN / "crest"), "new", "myapp", "--title", "My app"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "crest dev" in done.stdout
    return tmp_path / "myapp"


def test_the_new_apps_own_tests_pass(new_app: Path) -> None:
    done = subprocess.run(
        ["make", "test", f"PYTHON={sys.executable}"],
        cwd=new_app,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b4 passed\b", done.stdout), done.stdout
    assert "skipped" not in done.stdout


def test_new_refuses_a_folder_that_is_not_empty(new_app: Path) -> None:
    done = subprocess.run(
        [str(BIN / "crest"), "new", str(new_app)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "not empty" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.browser
def test_crest_dev_opens_the_app_in_the_portal(new_app: Path, page: Any) -> None:
    from playwright.sync_api import expect

    proc = subprocess.Popen(
        [str(BIN / "crest"), "dev", "--port", "0"],
        cwd=new_app,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        out = ""
        for line in proc.stdout:
            out += line
            if "Ctrl-C" in line:
                break
        found = re.search(r"Open the app:\s+(\S+)", out)
        assert found, out
        page.goto(found.group(1))
        frame = page.frame_locator("iframe.app-iframe")
        expect(frame.locator("#user-name")).to_have_text("Maria Ivanova", timeout=WAIT)
        screenshot(page, "new-app-dev")
        card = re.search(r"CRM contact:\s+(\S+)", out)
        assert card, out
        page.goto(card.group(1))
        page.locator("a[data-tab^='placement_']", has_text="My app").click()
        expect(page.frame_locator("iframe.app-iframe").locator("#contact-name")).not_to_be_empty(timeout=WAIT)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        rest = proc.communicate(timeout=30)[0]
    assert "Traceback" not in out + rest, out + rest
