"""crest.settings: sources and their precedence, checks, CRest's names, masking."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from crest.errors import ConfigError
from crest.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
HOOK = "https://example.bitrix24.com/rest/1/SENTINELhooksecret/"
SECRET = "SENTINEL_client_secret_value"


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings.load(None) reads ./settings.py: run every test where there is none.
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    s = Settings.load(env={})
    assert s == Settings()
    assert s.mode is None
    assert s.oauth_token_url == "https://oauth.bitrix.info/oauth/token/"
    assert s.oauth_server_endpoint == "https://oauth.bitrix.info/rest/"
    assert s.store == "sqlite:var/crest.sqlite"
    assert (s.connect_timeout, s.read_timeout, s.speed, s.plan) == (5.0, 65.0, 1.0, "standard")
    assert s.bx24_js_url == "//api.bitrix24.com/api/v1/"
    assert (s.ca_bundle, s.logs_dir, s.block_log, s.ignore_ssl, s.frame_ancestors) == (
        None,
        None,
        False,
        False,
        (),
    )


def test_precedence_defaults_file_env_arguments(tmp_path: Path) -> None:
    conf = write(
        tmp_path / "conf.py",
        'C_REST_CLIENT_ID = "file.id"\nC_REST_CLIENT_SECRET = "file-secret"\nCREST_STORE = "memory:"\n'
        'CREST_READ_TIMEOUT = 30\nCREST_PLAN = "enterprise"\n',
    )
    only_file = Settings.load(conf, env={})
    assert (only_file.client_id, only_file.client_secret, only_file.store) == (
        "file.id",
        "file-secret",
        "memory:",
    )
    assert (only_file.read_timeout, only_file.plan, only_file.connect_timeout) == (30.0, "enterprise", 5.0)

    env = {"CREST_CLIENT_SECRET": "env-secret", "C_REST_CLIENT_ID": "env.id", "CREST_READ_TIMEOUT": "40"}
    with_env = Settings.load(conf, env=env)
    assert (with_env.client_id, with_env.client_secret, with_env.read_timeout) == (
        "env.id",
        "env-secret",
        40.0,
    )
    assert with_env.store == "memory:"  # still the file's

    with_args = Settings.load(conf, env=env, client_secret="arg-secret", read_timeout=None)
    assert with_args.client_secret == "arg-secret"
    assert with_args.read_timeout == 40.0  # None arguments do not override
    assert with_args.mode == "oauth"


def test_settings_py_in_the_working_directory_is_read_when_no_path_is_given(tmp_path: Path) -> None:
    assert Settings.load(env={}).client_id is None
    write(tmp_path / "settings.py", 'C_REST_CLIENT_ID = "cwd.id"\nHELPER = 1\n_private = 2\nimport os\n')
    assert Settings.load(env={}).client_id == "cwd.id"


def test_a_given_path_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load(tmp_path / "missing.py", env={})


def test_a_settings_file_that_fails_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"bad\.py.*ZeroDivisionError"):
        Settings.load(write(tmp_path / "bad.py", "C_REST_CLIENT_ID = 1 / 0\n"), env={})


def test_os_environ_is_the_default_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREST_WEB_HOOK_URL", HOOK)
    assert Settings.load().web_hook_url == HOOK
    assert Settings.load(env={}).web_hook_url is None


@pytest.mark.parametrize("name", ["C_REST_WEB_HOOK_URL", "CREST_WEB_HOOK_URL"])
def test_webhook_url_gets_its_final_slash(name: str) -> None:
    s = Settings.load(env={name: HOOK.rstrip("/")})
    assert s.web_hook_url == HOOK
    assert s.mode == "webhook"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.bitrix24.com/rest/1/abc/",
        "example.bitrix24.com/rest/1/abc/",
        "https://example.bitrix24.com/",
        "https://example.bitrix24.com/rest/abc/",
        "https://example.bitrix24.com/rest/1/abc/crm.deal.list/",
        "https://example.bitrix24.com/rest/1/abc/?x=1",
    ],
)
def test_malformed_webhook_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="C_REST_WEB_HOOK_URL"):
        Settings(web_hook_url=url)


def test_webhook_wins_over_app_credentials_as_in_crest() -> None:
    assert Settings(web_hook_url=HOOK, client_id="a", client_secret="b").mode == "webhook"
    assert Settings(client_id="a").mode is None  # no secret, no OAuth


@pytest.mark.parametrize(
    "source",
    ["file", "env", "argument"],
)
def test_ignore_ssl_is_refused_with_advice(tmp_path: Path, source: str) -> None:
    with pytest.raises(ConfigError) as info:
        if source == "file":
            Settings.load(write(tmp_path / "s.py", "C_REST_IGNORE_SSL = True\n"), env={})
        elif source == "env":
            Settings.load(env={"C_REST_IGNORE_SSL": "1"})
        else:
            Settings.load(env={}, ignore_ssl=True)
    message = str(info.value)
    assert "TLS" in message and "ca_bundle" in message
    # False is CRest's default and fine.
    assert Settings.load(env={"C_REST_IGNORE_SSL": "false"}).ignore_ssl is False


@pytest.mark.parametrize("text", ["1", "true", "TRUE", "yes", "on", " On "])
def test_true_from_the_environment(text: str) -> None:
    assert Settings.load(env={"C_REST_BLOCK_LOG": text}).block_log is True


@pytest.mark.parametrize("text", ["0", "false", "no", "off", ""])
def test_false_from_the_environment(text: str) -> None:
    assert Settings.load(env={"CREST_BLOCK_LOG": text}).block_log is False


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("CREST_BLOCK_LOG", "maybe"),
        ("C_REST_LOG_TYPE_DUMP", "2"),
        ("CREST_CONNECT_TIMEOUT", "five"),
        ("CREST_SPEED", "fast"),
    ],
)
def test_bad_values_name_the_variable(name: str, text: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.load(env={name: text})


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("connect_timeout", 0, "connect_timeout"),
        ("read_timeout", -1.0, "read_timeout"),
        ("speed", float("nan"), "speed"),
        ("plan", "gold", "plan"),
        ("store", "", "store"),
        ("current_encoding", "klingon-8", "klingon-8"),
        ("ca_bundle", "/nonexistent/ca.pem", "ca_bundle"),
        ("oauth_token_url", "http://oauth.example.com/oauth/token/", "https"),
        ("oauth_server_endpoint", "not a url", "oauth_server_endpoint"),
        ("events_worker", "fork", "events_worker"),
        ("block_log", "perhaps", "block_log"),
        ("frame_ancestors", 5, "frame_ancestors"),
        ("client_id", 42, "client_id"),
    ],
)
def test_invalid_values_are_refused(field: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.load(env={}, **{field: value})


def test_encoding_names_are_checked_with_codecs() -> None:
    assert Settings(current_encoding="windows-1251").current_encoding == "windows-1251"
    assert Settings.load(env={"C_REST_CURRENT_ENCODING": "cp1251"}).current_encoding == "cp1251"


def test_http_oauth_urls_only_for_loopback_or_when_allowed() -> None:
    local = "http://127.0.0.1:8080/oauth/token/"
    assert Settings(oauth_token_url=local).oauth_token_url == local
    remote = "http://oauth.example.com/oauth/token/"
    assert Settings(oauth_token_url=remote, allow_http_portals=True).oauth_token_url == remote


def test_ca_bundle_and_tuples(tmp_path: Path) -> None:
    ca = write(tmp_path / "ca.pem", "-----BEGIN CERTIFICATE-----\n")
    s = Settings.load(
        env={"CREST_CA_BUNDLE": str(ca), "CREST_FRAME_ANCESTORS": "https://a.corp, https://b.corp"}
    )
    assert s.ca_bundle == str(ca)
    assert s.frame_ancestors == ("https://a.corp", "https://b.corp")
    assert Settings(frame_ancestors=["https://c.corp"]).frame_ancestors == ("https://c.corp",)  # type: ignore[arg-type]
    assert Settings.load(env={"CREST_CA_BUNDLE": ""}).ca_bundle is None  # empty means unset


def test_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"client_secrte.*did you mean client_secret"):
        Settings.load(env={}, client_secrte="x")
    # A typo in a CRest constant of settings.py is an error, not a silently ignored line...
    with pytest.raises(ConfigError, match=r"C_REST_WEBHOOK_URL.*C_REST_WEB_HOOK_URL"):
        Settings.load(write(tmp_path / "s.py", f'C_REST_WEBHOOK_URL = "{HOOK}"\n'), env={})
    # ...while other CREST_* variables belong to other parts of the kit and are left alone.
    assert Settings.load(env={"CREST_SOMETHING_ELSE": "x", "C_REST_UNKNOWN": "y"}) == Settings()


def test_both_names_with_different_values_in_one_source_is_an_error() -> None:
    with pytest.raises(
        ConfigError, match=r"C_REST_CLIENT_ID.*CREST_CLIENT_ID|CREST_CLIENT_ID.*C_REST_CLIENT_ID"
    ):
        Settings.load(env={"C_REST_CLIENT_ID": "a", "CREST_CLIENT_ID": "b"})
    assert Settings.load(env={"C_REST_CLIENT_ID": "a", "CREST_CLIENT_ID": "a"}).client_id == "a"


def test_frozen_and_a_real_dataclass() -> None:
    s = Settings(client_id="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.client_id = "y"  # type: ignore[misc]
    assert dataclasses.asdict(s)["client_id"] == "x"
    assert dataclasses.replace(s, client_id="z").client_id == "z"


def test_repr_masks_every_secret() -> None:
    s = Settings(
        web_hook_url=HOOK,
        client_id="local.app",
        client_secret=SECRET,
        secret_key="SENTINEL_signing_key",
        operator_key="SENTINEL_operator_key",
        outgoing_webhook_tokens=("b24.example=SENTINEL_outgoing_token",),
    )
    for text in (repr(s), str(s), f"{s}", repr([s])):
        assert "SENTINEL" not in text.replace("SENT…", "")
        assert "local.app" in text and "example.bitrix24.com/rest/1/" in text
    assert re.search(r"client_secret='SENT…'", repr(s))


def test_example_settings_file_is_complete_and_loads() -> None:
    example = ROOT / "settings.example.py"
    s = Settings.load(example, env={})
    assert s == Settings()  # the example's values are the safe defaults
    text = example.read_text(encoding="utf-8")
    for name in ["WEB_HOOK_URL", "CLIENT_ID", "CLIENT_SECRET", "CURRENT_ENCODING", "BLOCK_LOG", "LOGS_DIR"]:
        assert f"\nC_REST_{name} = " in text
    assert "\nC_REST_LOG_TYPE_DUMP = " in text and "\nC_REST_IGNORE_SSL = False" in text
    for f in dataclasses.fields(Settings):
        crest_name = (
            f"C_REST_{f.name.upper()}" if f"C_REST_{f.name.upper()}" in text else f"CREST_{f.name.upper()}"
        )
        if f.name == "web_hook_url":
            crest_name = "C_REST_WEB_HOOK_URL"
        line = f"\n{crest_name} = "
        assert line in text, f"settings.example.py does not set {crest_name}"
        # ...and explains it: a comment right above it, or above the group it belongs to.
        above = [ln for ln in text[: text.index(line)].splitlines() if ln.strip()]
        while above and re.match(r"C_?REST_\w+ = ", above[-1]):
            above.pop()
        assert above and above[-1].startswith("#"), f"{crest_name} has no comment"


def test_outgoing_webhook_tokens_must_name_their_portal() -> None:
    with pytest.raises(ConfigError, match="MEMBER_ID=TOKEN") as info:
        Settings(outgoing_webhook_tokens=("0123456789abcdef0123456789",))
    assert "0123456789abcdef0123456789" not in str(info.value)
    ok = Settings.load(
        env={"CREST_OUTGOING_WEBHOOK_TOKENS": "b24.example=abcdef0123456789,x.example=t0k3n0123"}
    )
    assert ok.outgoing_webhook_tokens == ("b24.example=abcdef0123456789", "x.example=t0k3n0123")
    assert "abcdef0123456789" not in repr(ok)


def test_only_settings_reads_the_environment() -> None:
    # One configuration path: no module of crest/ or webapp/ but crest/settings.py reads os.environ.
    root = Path(__file__).resolve().parents[2]
    offenders = [
        str(path.relative_to(root))
        for package in ("crest", "webapp")
        for path in (root / package).rglob("*.py")
        if path.name != "settings.py" or path.parent.name != "crest"
        # Reads only: `crest worker` may *set* a variable for the Settings.load() of the app it imports.
        if re.search(
            r"os\.environ(?!\[[^\]]+\]\s*=[^=])|os\.getenv|getenv\(", path.read_text(encoding="utf-8")
        )
    ]
    assert offenders == []
