"""A static app in real headless Chromium: built by `crest static-app`, uploaded, opened from the
portal page, installed by its install.html, then showing the current user's full name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from crest.cli import main
from portal.testing import PortalHandle, running_portal
from tests.conftest import screenshot

pytestmark = pytest.mark.browser

WAIT = 10_000  # ms


@pytest.fixture(scope="module")
def portal() -> Iterator[PortalHandle]:
    with running_portal() as handle:
        yield handle


# Everything must come from the portal itself (its page, and its static apps' own origin).
BROWSER_HOSTS = {"127.0.0.1"}


def built_starter(tmp_path: Path, *extra: str) -> bytes:
    runner = CliRunner()
    assert (
        runner.invoke(
            main, ["static-app", "new", str(tmp_path / "app"), "--title", "Who am I", *extra]
        ).exit_code
        == 0
    )
    result = runner.invoke(
        main, ["static-app", "build", str(tmp_path / "app"), "--out", str(tmp_path / "app.zip")]
    )
    assert result.exit_code == 0, result.output
    return (tmp_path / "app.zip").read_bytes()


def upload(portal: PortalHandle, data: bytes) -> dict[str, Any]:
    resp = portal.upload_static_app(data, title="Who am I", scopes=["user"])
    resp.raise_for_status()
    return resp.json()  # type: ignore[no-any-return]


def test_starter_installs_and_shows_the_current_users_full_name(
    page: Any, portal: PortalHandle, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    app = upload(portal, built_starter(tmp_path))
    assert app["installed"] is False
    page.goto(f"{portal.base_url}/marketplace/app/{app['id']}/")
    frame = page.frame_locator("iframe.app-iframe")
    # install.html calls BX24.installFinish(); the portal then opens index.html in the frame.
    expect(frame.locator("h1")).to_have_text("Who am I", timeout=WAIT)
    expect(frame.locator("#user-name")).to_have_text(portal.portal.directory.full_name(1), timeout=WAIT)
    assert portal.portal.credentials.apps.get(app["client_id"])["installed"] is True
    assert page.locator(f'.left-menu li[data-client-id="{app["client_id"]}"] .badge').count() == 0
    screenshot(page, "static-app")


def test_another_user_sees_their_own_name(page: Any, portal: PortalHandle, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    app = upload(portal, built_starter(tmp_path, "--no-install"))
    page.goto(f"{portal.base_url}/marketplace/app/{app['id']}/?user_id=2")
    frame = page.frame_locator("iframe.app-iframe")
    name = portal.portal.directory.full_name(2)
    assert name and name != portal.portal.directory.full_name(1)
    expect(frame.locator("#user-name")).to_have_text(name, timeout=WAIT)
