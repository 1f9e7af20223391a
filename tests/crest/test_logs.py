"""crest.logs: no secret reaches a log record or a log file; CRest's file layout and modes."""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crest.logs import MaskingFilter, get_logger, mask_data, mask_text, write_log
from crest.settings import Settings

# Every secret in these tests starts with SENTINEL; masked, it shows as "SENT…".
TOKEN = "SENTINELaccess0123456789abcdef"
REFRESH = "SENTINELrefresh0123456789abcdef"
APP_TOKEN = "SENTINELapp0123456789abcdef"
CLIENT_SECRET = "SENTINELclientsecret0123456789"
HOOK_SECRET = "SENTINELhook1234"
HOOK = f"https://example.bitrix24.com/rest/7/{HOOK_SECRET}/"


def leaks(text: str) -> bool:
    return "SENTINEL" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"auth={TOKEN}&ID=5", "auth=SENT…&ID=5"),
        (f"auth%5Baccess_token%5D={TOKEN}&auth%5Bdomain%5D=x.bitrix24.com", None),
        (f"auth[refresh_token]={REFRESH}&auth[domain]=x.bitrix24.com", None),
        (
            f'{{"access_token": "{TOKEN}", "expires_in": 3600}}',
            '{"access_token": "SENT…", "expires_in": 3600}',
        ),
        (
            f"{{'refresh_token': '{REFRESH}', 'member_id': 'abc'}}",
            "{'refresh_token': 'SENT…', 'member_id': 'abc'}",
        ),
        (f"client_secret => '{CLIENT_SECRET}'", "client_secret => 'SENT…'"),
        (f"grant_type=refresh_token&client_secret={CLIENT_SECRET}&refresh_token={REFRESH}", None),
        (f"APPLICATION_TOKEN={APP_TOKEN}", "APPLICATION_TOKEN=SENT…"),
        (f"AUTH_ID={TOKEN}&REFRESH_ID={REFRESH}&member_id=m", "AUTH_ID=SENT…&REFRESH_ID=SENT…&member_id=m"),
        (f"password: {TOKEN}", "password: SENT…"),
        (f"Authorization: Bearer {TOKEN}", "Authorization: Bearer SENT…"),
        (f"sent header bearer {TOKEN}", "sent header bearer SENT…"),
        (
            f"POST {HOOK}crm.deal.list.json",
            "POST https://example.bitrix24.com/rest/7/SENT…/crm.deal.list.json",
        ),
        (HOOK.rstrip("/"), "https://example.bitrix24.com/rest/7/SENT…"),
        (f'"password": "pa ss \\"{TOKEN}\\" word"', '"password": "pa s…"'),
    ],
)
def test_mask_text(text: str, expected: str | None) -> None:
    masked = mask_text(text)
    assert not leaks(masked), masked
    if expected is not None:
        assert masked == expected
    assert mask_text(masked) == masked  # masking twice changes nothing


@pytest.mark.parametrize(
    "text",
    [
        "POST https://example.bitrix24.com/rest/crm.deal.list.json",
        "https://oauth.bitrix.info/oauth/token/ answered 200",
        "member_id=0123456789abcdef0123456789abcdef&DOMAIN=x.bitrix24.com",
        "the authority said no; oauth failed",
        "event ONCRMDEALADD for portal x",
    ],
)
def test_mask_text_leaves_ordinary_text_alone(text: str) -> None:
    assert mask_text(text) == text


def test_short_secrets_are_masked_completely() -> None:
    assert mask_text("auth=abc") == "auth=…"


def test_known_secrets_are_masked_wherever_they_appear() -> None:
    assert mask_text(f"weird format <{CLIENT_SECRET}>", known=[CLIENT_SECRET]) == "weird format <SENT…>"


def test_mask_data_walks_nested_structures() -> None:
    data: dict[str, Any] = {
        "auth": {
            "access_token": TOKEN,
            "refresh_token": REFRESH,
            "domain": "x.bitrix24.com",
            "member_id": "m",
        },
        "event": "ONAPPINSTALL",
        "list": [{"application_token": APP_TOKEN}, ("tuple", {"client_secret": CLIENT_SECRET})],
        "auth[access_token]": TOKEN,
        "AUTH_ID": TOKEN,
        "password": 123456789,
        "url": f"{HOOK}user.current.json",
        "body": f"auth={TOKEN}",
        "headers": {"Authorization": f"Bearer {TOKEN}"},
        "raw": f"access_token={TOKEN}".encode(),
        "none": None,
        "n": 5,
    }
    masked = mask_data(data)
    assert not leaks(json.dumps(masked))
    assert masked["auth"]["domain"] == "x.bitrix24.com" and masked["auth"]["member_id"] == "m"
    assert masked["auth"]["access_token"] == "SENT…"
    assert masked["password"] == "1234…"
    assert masked["event"] == "ONAPPINSTALL" and masked["none"] is None and masked["n"] == 5
    assert data["auth"] == {
        "access_token": TOKEN,
        "refresh_token": REFRESH,
        "domain": "x.bitrix24.com",
        "member_id": "m",
    }  # unchanged


# --- log records --------------------------------------------------------------------------


@pytest.fixture
def clean_logging() -> Iterator[None]:
    yield
    # get_logger changes process-wide logging: undo it so other tests see plain loggers.
    for logger in [logging.getLogger(), *logging.root.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger):
            for target in [logger, *logger.handlers]:
                for f in [f for f in target.filters if isinstance(f, MaskingFilter)]:
                    target.removeFilter(f)


def _settings() -> Settings:
    return Settings.load(env={}, web_hook_url=HOOK, client_id="app", client_secret=CLIENT_SECRET)


@pytest.mark.usefixtures("clean_logging")
def test_no_secret_reaches_a_log_record(caplog: pytest.LogCaptureFixture) -> None:
    existing_child = logging.getLogger("crest.test_existing")
    logger = get_logger(_settings())
    late_child = logging.getLogger("crest.test_created_later")
    caplog.set_level(logging.DEBUG)

    logger.info("POST %s", f"{HOOK}crm.contact.get.json")
    logger.info("tokens %s", {"access_token": TOKEN, "refresh_token": REFRESH})
    logger.info("application_token=%s client_secret=%s", APP_TOKEN, CLIENT_SECRET)
    existing_child.warning("refresh with %r", {"auth": {"access_token": TOKEN}})
    late_child.warning("header: Authorization: Bearer %s", TOKEN)
    logger.info("settings are %s", _settings())
    logger.info("the secret is %s and nothing else", CLIENT_SECRET)  # only the literal match knows
    try:
        raise RuntimeError(f"call failed: auth={TOKEN}")
    except RuntimeError:
        logger.exception("failed %s", f"refresh_token={REFRESH}")
    logger.info("stack", stack_info=True, extra={"unused": 1})
    logger.info("broken format %s %s", f"auth={TOKEN}")  # noqa: PLE1206 - getMessage() raises: still masked

    assert len(caplog.records) == 10
    handler_text = caplog.text
    assert not leaks(handler_text), handler_text
    for record in caplog.records:
        assert not leaks(record.getMessage())
        assert not leaks(logging.Formatter().format(record))
    assert "crm.contact.get.json" in handler_text and "SENT…" in handler_text
    assert "RuntimeError" in handler_text  # the traceback is kept, masked


@pytest.mark.usefixtures("clean_logging")
def test_get_logger_is_idempotent() -> None:
    logger = get_logger(_settings())
    get_logger(_settings())
    assert logger is logging.getLogger("crest")
    assert sum(isinstance(f, MaskingFilter) for f in logger.filters) == 1


def test_masking_filter_alone_on_a_handler() -> None:
    lines: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = ListHandler()
    handler.addFilter(MaskingFilter())
    other = logging.getLogger("urllib3.test_masking")
    other.addHandler(handler)
    other.propagate = False
    try:
        other.warning('"POST /rest/7/%s/user.current.json HTTP/1.1" 200', HOOK_SECRET)
    finally:
        other.removeHandler(handler)
    assert lines == ['"POST /rest/7/SENT…/user.current.json HTTP/1.1" 200']


# --- log files ----------------------------------------------------------------------------


def _log_settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings.load(
        env={}, logs_dir=str(tmp_path / "logs"), client_id="app", client_secret=CLIENT_SECRET, **values
    )


def test_no_files_unless_asked(tmp_path: Path) -> None:
    assert write_log(Settings.load(env={}), {"a": 1}, "callCurl") is None
    assert write_log(_log_settings(tmp_path, block_log=True), {"a": 1}, "callCurl") is None
    assert not (tmp_path / "logs").exists()


@pytest.fixture
def open_umask() -> Iterator[None]:
    # With umask 0 the modes come only from the code: 0700/0600 must be set on purpose.
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.mark.usefixtures("open_umask")
def test_crest_layout_and_private_modes(tmp_path: Path) -> None:
    now = 1_764_000_000.0
    path = write_log(_log_settings(tmp_path), {"method": "user.current"}, "callCurl", now=now)
    assert path is not None
    local = time.localtime(now)
    folder = tmp_path / "logs" / time.strftime("%Y-%m-%d", local) / time.strftime("%H", local)
    assert path.parent == folder
    assert re.fullmatch(rf"{int(now)}_callCurl_[1-9][0-9]{{0,6}}log\.json", path.name)
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "data": {"method": "user.current"},
        "type": "callCurl",
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in (tmp_path / "logs", folder.parent, folder):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


def test_same_second_same_type_makes_two_files(tmp_path: Path) -> None:
    settings = _log_settings(tmp_path)
    paths = {write_log(settings, {"i": i}, "installApp", now=1_764_000_000.0) for i in range(20)}
    assert len(paths) == 20


@pytest.mark.parametrize("dump", [False, True])
def test_no_secret_reaches_a_log_file(tmp_path: Path, dump: bool) -> None:
    settings = _log_settings(tmp_path, log_type_dump=dump)
    data: dict[str, Any] = {
        "url": f"{HOOK}crm.deal.add.json",
        "params": {"auth": TOKEN, "fields": {"TITLE": "deal"}},
        "install": {
            "auth": {
                "access_token": TOKEN,
                "refresh_token": REFRESH,
                "application_token": APP_TOKEN,
                "domain": "x.bitrix24.com",
            }
        },
        "oauth": {"client_secret": CLIENT_SECRET, "password": "SENTINELpassword"},
        "note": f"retrying after Bearer {TOKEN}",
        "object": object(),
    }
    path = write_log(settings, data, "exceptionCurl")
    assert path is not None
    text = path.read_text(encoding="utf-8")
    assert not leaks(text), text
    assert "x.bitrix24.com" in text and "deal" in text
    if dump:
        assert path.name.endswith("log.txt") and text.startswith("{'data'")
    else:
        assert path.name.endswith("log.json")
        assert json.loads(text)["data"]["install"]["auth"]["access_token"] == "SENT…"


def test_circular_data_is_cut_not_fatal(tmp_path: Path) -> None:
    data: dict[str, Any] = {"auth": TOKEN}
    data["self"] = data
    path = write_log(_log_settings(tmp_path), {"loop": [data, data]}, "callCurl")
    assert path is not None
    logged = json.loads(path.read_text(encoding="utf-8"))["data"]["loop"]
    assert logged == [{"auth": "SENT…", "self": "<recursion>"}] * 2


@pytest.mark.parametrize("bad", ["../escape", "a/b", "", "x" * 65, "type with space"])
def test_log_type_cannot_shape_the_path(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="log type"):
        write_log(_log_settings(tmp_path), {}, bad)
