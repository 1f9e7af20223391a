"""Shared test setup.

The ``portal`` fixture comes from the b24portal pytest plugin (portal.pytest_plugin). The
``browser`` and ``page`` fixtures drive Debian's Chromium through Playwright; a module sets
``BROWSER_HOSTS`` to narrow where its pages may load from (loopback by default).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying public hosts this machine
# cannot reach; the sandbox needs a non-root user, and tests run as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh tab; the test fails if the page throws or loads anything from outside loopback."""
    allowed = getattr(request.module, "BROWSER_HOSTS", {"127.0.0.1", "localhost"})
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    outside: list[str] = []

    def guard(route: Any) -> None:
        host = route.request.url.split("/")[2].split(":")[0]
        if host in allowed:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    yield tab
    context.close()
    assert outside == []
    assert errors == []


def screenshot(page: Any, name: str) -> None:
    """Keep a screenshot as a test artifact (tests/artifacts/, not committed)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


# --- PostgreSQL: one throwaway cluster per pytest process (per xdist worker) -----------------


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Any]:
    """A cluster this test run started; missing PostgreSQL fails in CI, skips elsewhere."""
    from tests.postgres_cluster import find_bin_dir, running_cluster

    if find_bin_dir() is None:
        message = "PostgreSQL is not installed: `make sysdeps` installs Debian's postgresql"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def postgres_url(postgres_cluster: Any) -> str:
    """The URL of a new, empty database of its own for this test."""
    return str(postgres_cluster.new_database())


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections for the whole test: bound, never listening, so
    no other test's server (under xdist) can take it the way it can take a freed port."""
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    try:
        yield int(holder.getsockname()[1])
    finally:
        holder.close()
