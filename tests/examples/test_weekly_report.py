"""examples/weekly_report.py as the README runs it, and its post read on the portal's feed page
in real Chromium: the numbers are those of crm.deal.list, the markup is escaped."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crest.client import Client
from portal.testing import PortalHandle, running_portal
from tests.conftest import screenshot

pytestmark = pytest.mark.browser

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "weekly_report.py"


@pytest.fixture
def portal() -> Iterator[PortalHandle]:
    with running_portal(deals=20) as handle:  # `crest portal --http --deals 20`, as the README starts it
        yield handle


def run(portal: PortalHandle, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREST_", "C_REST_"))}
    return subprocess.run(
        [sys.executable, str(EXAMPLE), "--webhook", portal.webhook_url, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_report_is_published_and_shown_on_the_feed_page(page: Any, portal: PortalHandle) -> None:
    from playwright.sync_api import expect

    done = run(portal)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    found = re.search(r"posted to the live feed as #(\d+) \(\S+\): (\S+)", done.stdout)
    assert found, done.stdout
    deals = list(
        Client.from_webhook(portal.webhook_url).list_all(
            "crm.deal.list", select=["STAGE_ID", "OPPORTUNITY", "DATE_MODIFY"]
        )
    )
    week_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=7)
    changed = sum(1 for d in deals if dt.datetime.fromisoformat(d["DATE_MODIFY"]) >= week_ago)
    won = [Decimal(str(d["OPPORTUNITY"])) for d in deals if d["STAGE_ID"] == "WON"]
    expected = f"Won: {len(won)} deal{'' if len(won) == 1 else 's'}, {sum(won, Decimal(0)):,.2f} USD"
    page.goto(found.group(2))
    post = page.locator(f"article.feed-post[data-post-id='{found.group(1)}']")
    expect(post.locator("h2")).to_have_text(re.compile(r"^Weekly sales report, "))
    expect(post.locator(".feed-text strong")).to_have_text(expected)  # [B]...[/B] drawn bold
    expect(post.locator(".feed-text")).to_contain_text(
        f"Changed in the last 7 days: {changed} of {len(deals)} deals"
    )
    expect(post.locator(".feed-author")).to_have_text("Maria Ivanova")
    screenshot(page, "weekly_report_feed")


def test_markup_in_a_post_is_shown_as_text(page: Any, portal: PortalHandle) -> None:
    from playwright.sync_api import expect

    Client.from_webhook(portal.webhook_url).call(
        "log.blogpost.add",
        {"POST_TITLE": "<i>t</i>", "POST_MESSAGE": "<img src=x onerror=alert(1)>[B]ok[/B]"},
    )
    page.goto(f"{portal.base_url}/stream/")
    post = page.locator("article.feed-post").first
    expect(post.locator("h2")).to_have_text("<i>t</i>")
    expect(post.locator(".feed-text")).to_have_text("<img src=x onerror=alert(1)>ok")
    expect(post.locator("img")).to_have_count(0)


def test_dry_run_posts_nothing_and_a_dead_portal_is_a_clear_error(
    portal: PortalHandle, refused_port: int
) -> None:
    done = run(portal, "--dry-run")
    assert done.returncode == 0 and "Weekly sales report" in done.stdout
    assert Client.from_webhook(portal.webhook_url).call("log.blogpost.get") == []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREST_", "C_REST_"))}
    dead = subprocess.run(
        [sys.executable, str(EXAMPLE), "--webhook", f"http://127.0.0.1:{refused_port}/rest/1/secret/"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dead.returncode == 1 and "the report was not published" in dead.stderr
    assert "Traceback" not in dead.stderr
