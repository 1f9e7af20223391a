"""``CRest.checkServer()``: CRest's answer shape on top of the local checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crest.compat import CRest
from crest.settings import Settings


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    CRest.configure(None)


def test_good_local_config_is_success(tmp_path: Path) -> None:
    CRest.configure(
        Settings(
            web_hook_url="https://b24-abc.bitrix24.com/rest/1/SENTINELhook/",
            store=f"sqlite:{tmp_path / 'var' / 'crest.sqlite'}",
        )
    )
    assert CRest.checkServer() == {"success": "Success!"}


def test_failures_are_named_with_detail_and_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "blocked").write_text("")
    CRest.configure(
        Settings(store=f"sqlite:{tmp_path / 'blocked' / 'crest.sqlite'}", client_secret="SENTINEL_S")
    )
    result = CRest.checkServer(print_=True)
    assert set(result) == {"settings", "store"}
    assert "client_id missing" in result["settings"]
    assert "blocked/crest.sqlite" in result["store"]
    printed = capsys.readouterr().out
    assert "store" in printed and "SENTINEL_S" not in printed
