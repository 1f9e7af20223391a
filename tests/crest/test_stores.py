"""The store contract for each store, and what is particular to each one.

The JSON store is checked against the real PHP (``php`` CLI): it must read what PHP CRest
writes and write what PHP CRest reads, byte for byte as ``json_encode`` would.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from crest.errors import StoreError
from crest.installation import Installation
from crest.stores import InstallationStore, JsonFileStore, MemoryStore, SqliteStore, open_store
from crest.stores.contract import MEMBER_A, MEMBER_B, StoreContract, StoreFactory, make_installation
from crest.stores.json_file import php_json_encode

# php-cli is a required test tool (make test installs it): a missing php fails, never skips.
needs_php = pytest.mark.usefixtures("php_required")


@pytest.fixture
def php_required() -> None:
    assert shutil.which("php"), "php-cli is required for these tests (make test installs it)"


PHP_FLAGS = "JSON_HEX_TAG|JSON_HEX_AMP|JSON_HEX_APOS|JSON_HEX_QUOT"


class TestMemoryStore(StoreContract):
    cross_process = False
    # A memory store lives in one process and keeps no files: those contract tests do not apply.
    test_lock_excludes_processes = None  # type: ignore[assignment]
    test_lock_held_by_another_process = None  # type: ignore[assignment]
    test_files_are_private = None  # type: ignore[assignment]

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        store = MemoryStore()
        return lambda: store


class TestJsonFileStore(StoreContract):
    file_based = True

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> StoreFactory:
        return functools.partial(JsonFileStore, tmp_path / "settings.json")


class TestSqliteStore(StoreContract):
    file_based = True

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> StoreFactory:
        return functools.partial(SqliteStore, tmp_path / "crest.sqlite")


# --- settings.json and PHP CRest ------------------------------------------------------------

# What PHP CRest 1.36 leaves after ONAPPINSTALL followed by one GetNewAuth() (the token
# response merged in, so `domain` is the OAuth server's), plus an old CRest's client keys.
CREST_FIXTURE = (
    '{"access_token":"s6p6eclrvim6da22ft9ch94ekreb52lv","expires":"1780319382","expires_in":"3600",'
    '"scope":"crm,user","domain":"oauth.bitrix.info","server_endpoint":"https:\\/\\/oauth.bitrix.info\\/rest\\/",'
    '"status":"L","client_endpoint":"https:\\/\\/b24-abc.bitrix24.ru\\/rest\\/",'
    '"member_id":"a223c6b3710f85df22e9377d6c4f7553","user_id":1,'
    '"refresh_token":"4s386p3q0tr8dy89xvmt96vvkr9pm3ho","application_token":"51856fefc120afa4b628cc82d3935cce",'
    '"client_id":"local.5c8bb1b0891cf2.87252039","client_secret":"SENTINEL_SECRET_d3935cce"}'
)

PHP_CREST_WRITE = r"""
$auth = [
    'access_token' => 'ac<c>&"q\'/' . "\u{00e9}\u{1F600}",
    'expires' => 1780319382,
    'expires_in' => 3600,
    'scope' => 'crm,user',
    'domain' => 'b24-abc.bitrix24.ru',
    'server_endpoint' => 'https://oauth.bitrix.info/rest/',
    'status' => 'L',
    'client_endpoint' => 'https://b24-abc.bitrix24.ru/rest/',
    'member_id' => 'a223c6b3710f85df22e9377d6c4f7553',
    'user_id' => 1,
    'refresh_token' => 'rf12345678',
    'application_token' => 'app12345678',
];
file_put_contents($argv[1], json_encode($auth, JSON_HEX_TAG|JSON_HEX_AMP|JSON_HEX_APOS|JSON_HEX_QUOT));
"""

# CRest's getAppSettings(): the file is installed if these five are non-empty.
PHP_CREST_READ = r"""
$data = json_decode(file_get_contents($argv[1]), true);
$ok = !empty($data['access_token']) && !empty($data['domain']) && !empty($data['refresh_token'])
    && !empty($data['application_token']) && !empty($data['client_endpoint']);
echo json_encode(['installed' => $ok, 'data' => $data]), "\n";
echo json_encode($data, JSON_HEX_TAG|JSON_HEX_AMP|JSON_HEX_APOS|JSON_HEX_QUOT);
"""


def php(script: str, *args: str) -> str:
    done = subprocess.run(
        ["php", "-r", script, "--", *args], check=False, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def php_reads(path: Path) -> tuple[bool, dict[str, Any], str]:
    """What PHP CRest sees in ``path``, and how PHP itself would re-encode it."""
    first, reencoded = php(PHP_CREST_READ, str(path)).split("\n", 1)
    seen = json.loads(first)
    return seen["installed"], seen["data"], reencoded


@needs_php
def test_reads_a_settings_json_written_by_php(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    php(PHP_CREST_WRITE, str(path))
    assert "\\u003C" in path.read_text()  # the HEX flags really were used
    found = JsonFileStore(path).find()
    assert found is not None
    assert found.access_token == "ac<c>&\"q'/\u00e9\U0001f600"
    assert found.member_id == MEMBER_A
    assert found.expires == 1780319382
    assert found.user_id == 1
    assert found.client_endpoint == "https://b24-abc.bitrix24.ru/rest/"
    assert JsonFileStore(path).find(MEMBER_A) == found


@needs_php
def test_writes_what_php_crest_reads_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    record = make_installation(
        MEMBER_A, 4, scope="crm,<b>&'\"/", domain="пример.рф", installed_at=1780000000.5
    )
    JsonFileStore(path).save(record)
    installed, data, reencoded = php_reads(path)
    assert installed
    assert data["access_token"] == record.access_token
    assert data["refresh_token"] == record.refresh_token
    assert data["application_token"] == record.application_token
    assert data["client_endpoint"] == record.client_endpoint
    assert data["domain"] == "пример.рф"
    assert data["member_id"] == MEMBER_A
    assert data["expires"] == 1780319386  # whole seconds stay integers, as Bitrix24 sends them
    assert data["expires_in"] == 3600
    assert reencoded == path.read_text()


@needs_php
def test_php_encoding_matches_php_on_odd_values() -> None:
    value: dict[str, Any] = {
        "s": ["<>&'\"\\/", "\x00\x01\x1f\x7f\b\f\n\r\t", "é€😀", ""],
        "f": [0.1, 1780319382.25, 1e25, 1e-7, 1e16, 1e17, -2.5e-300, 5e-324, 1.0, -0.0],
        "i": [0, -1, 2**62],
        "o": [True, False, None, {"a": []}],
    }
    # PHP decodes Python's plain JSON of the value and encodes it with CRest's flags.
    done = subprocess.run(
        ["php", "-r", f"echo json_encode(json_decode(stream_get_contents(STDIN), true), {PHP_FLAGS});"],
        input=json.dumps(value),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert php_json_encode(value) == done.stdout


@needs_php
def test_fixture_file_keeps_client_keys_and_never_reads_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(CREST_FIXTURE)
    store = JsonFileStore(path)
    found = store.find()
    assert found is not None
    assert found.domain == "oauth.bitrix.info"  # as CRest left it; the client uses client_endpoint
    assert found.expires == 1780319382
    assert "SENTINEL_SECRET" not in repr(found.to_dict())
    store.save(found.with_tokens({"access_token": "new-access-123", "refresh_token": "new-refresh-123"}, 1.0))
    installed, data, reencoded = php_reads(path)
    assert installed
    assert data["access_token"] == "new-access-123"
    assert data["client_id"] == "local.5c8bb1b0891cf2.87252039"
    assert data["client_secret"] == "SENTINEL_SECRET_d3935cce"  # untouched, where it was
    assert data["expires_in"] == "3600"  # CRest's own value kept as it was
    assert reencoded == path.read_text()
    # Deleting the installation leaves the old CRest's client keys, and nothing else.
    store.delete(MEMBER_A)
    assert json.loads(path.read_text()) == {
        "client_id": "local.5c8bb1b0891cf2.87252039",
        "client_secret": "SENTINEL_SECRET_d3935cce",
    }
    assert store.find() is None


def test_secret_is_never_written_by_us(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    store = JsonFileStore(path)
    store.save(make_installation(MEMBER_A, 1))
    store.save(make_installation(MEMBER_B, 2))
    assert "secret" not in path.read_text()


def test_a_second_portal_switches_format_and_back(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    store = JsonFileStore(path)
    store.save(make_installation(MEMBER_A, 1))
    assert json.loads(path.read_text())["member_id"] == MEMBER_A  # one portal: CRest's object
    store.save(make_installation(MEMBER_B, 2))
    document = json.loads(path.read_text())
    assert set(document) == {"installations"}
    assert set(document["installations"]) == {MEMBER_A, MEMBER_B}
    assert (
        document["installations"][MEMBER_B]["refresh_token"] == make_installation(MEMBER_B, 2).refresh_token
    )
    store.delete(MEMBER_A)
    assert json.loads(path.read_text())["member_id"] == MEMBER_B
    store.delete(MEMBER_B)
    assert not path.exists()


def test_crest_install_page_record_without_member_id(tmp_path: Path) -> None:
    # CRest's installApp() for PLACEMENT=DEFAULT stores no member_id and no expires.
    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps(
            {
                "access_token": "a" * 32,
                "expires_in": "3600",
                "application_token": "b" * 32,
                "refresh_token": "c" * 32,
                "domain": "portal.example.com",
                "client_endpoint": "https://portal.example.com/rest/",
            }
        )
    )
    store = JsonFileStore(path)
    legacy = store.find()
    assert legacy is not None
    assert legacy.member_id == "" and legacy.expires is None and not legacy.expired(now=time.time())
    assert store.find(MEMBER_A) is None
    # The first save for that portal with a member_id adopts the record instead of adding one.
    store.save(make_installation(MEMBER_A, 1))
    assert store.find() == make_installation(MEMBER_A, 1)
    assert json.loads(path.read_text())["expires_in"] == "3600"


def test_corrupt_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"access_token": "abc", ')
    store = JsonFileStore(path)
    with pytest.raises(StoreError):
        store.find()
    with pytest.raises(StoreError):
        store.save(make_installation())
    assert path.read_text() == '{"access_token": "abc", '  # never clobbered
    path.write_text('{"access_token": "x", "refresh_token": "y"}')
    with pytest.raises(StoreError):  # no address at all: not usable
        store.find()
    path.write_text("[1, 2]")
    with pytest.raises(StoreError):
        store.find()


def test_empty_or_client_only_file_means_not_installed(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("")
    assert JsonFileStore(path).find() is None
    path.write_text('{"client_id": "x", "client_secret": "y"}')
    assert JsonFileStore(path).all_installations() == []


def test_lock_file_symlink_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("")
    (tmp_path / "settings.json.lock").symlink_to(target)
    with pytest.raises(StoreError), JsonFileStore(tmp_path / "settings.json").lock(MEMBER_A, timeout=1):
        pass


def test_stale_temp_files_are_cleaned(tmp_path: Path) -> None:
    stale = tmp_path / ".settings.json.abc123.tmp"
    stale.write_text("half a fi")
    JsonFileStore(tmp_path / "settings.json").save(make_installation())
    assert not stale.exists()


def test_json_store_syncs_the_new_file_before_the_rename_and_the_directory_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rename that reaches the disk before the file's data leaves an empty settings.json after
    a power cut: the tokens are lost, and the old refresh token is already spent."""
    from crest.stores import json_file

    target = tmp_path / "settings.json"
    steps: list[tuple[str, int]] = []
    real_fsync, real_replace = json_file.os.fsync, json_file.os.replace

    def fsync(fd: int) -> None:
        steps.append(("fsync", os.fstat(fd).st_ino))
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        if Path(dst) == target:
            steps.append(("replace", os.stat(src).st_ino))
        real_replace(src, dst)

    store = JsonFileStore(target)
    monkeypatch.setattr(json_file.os, "fsync", fsync)
    monkeypatch.setattr(json_file.os, "replace", replace)
    store.save(make_installation(n=1))
    store.save(make_installation(n=2))
    monkeypatch.undo()

    directory = os.stat(tmp_path).st_ino
    renames = [i for i, (step, _) in enumerate(steps) if step == "replace"]
    assert len(renames) == 2
    for at in renames:
        new_file = steps[at][1]
        # The very file being renamed was synced before the rename, and the directory after it.
        assert ("fsync", new_file) in steps[:at]
        assert ("fsync", directory) in steps[at + 1 : at + 3]
    assert store.find() == make_installation(n=2)


def test_json_store_in_a_new_directory(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path / "new" / "dir" / "settings.json")
    store.save(make_installation())
    assert store.find() == make_installation()


def test_forked_child_does_not_keep_the_parents_flock(tmp_path: Path) -> None:
    # A child forked inside lock() inherits the flocked descriptor; it must drop it, or the
    # lock would stay held until the child exits although the parent released it.
    store = JsonFileStore(tmp_path / "settings.json")
    ready_read, ready_write = os.pipe()
    with store.lock(MEMBER_A, timeout=5):
        pid = os.fork()
        if pid == 0:  # the fork hooks have run by now
            os.write(ready_write, b"1")
            time.sleep(3)
            os._exit(0)
    try:
        assert os.read(ready_read, 1) == b"1"
        fd = os.open(tmp_path / "settings.json.lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if the child still holds it
        finally:
            os.close(fd)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(ready_read)
        os.close(ready_write)


# --- SQLite ---------------------------------------------------------------------------------


def test_sqlite_schema_and_pragmas(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "crest.sqlite")
    store.save(make_installation())
    db = sqlite3.connect(tmp_path / "crest.sqlite")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT component, version FROM crest_schema_version").fetchall() == [("store", 1)]
        columns = [row[1] for row in db.execute("PRAGMA table_info(installations)")]
        assert columns == ["member_id", "data", "updated_at"]
        ((data,),) = db.execute("SELECT data FROM installations").fetchall()
        assert json.loads(data) == make_installation().to_dict()
    finally:
        db.close()
    store.close()


def test_sqlite_lock_does_not_block_saves(tmp_path: Path) -> None:
    # The lock lives on its own file, so a refresh in flight never stalls other writers.
    path = tmp_path / "crest.sqlite"
    holder = SqliteStore(path)
    with holder.lock(MEMBER_A, timeout=5):
        holder.save(make_installation(MEMBER_A, 1))
        done = threading.Event()

        def save_elsewhere() -> None:
            SqliteStore(path).save(make_installation(MEMBER_B, 2))
            done.set()

        thread = threading.Thread(target=save_elsewhere)
        thread.start()
        assert done.wait(2), "a save waited for the lock"
        thread.join()
        # Saved inside the lock and already committed: visible to others before unlock.
        assert SqliteStore(path).find(MEMBER_A) == make_installation(MEMBER_A, 1)


def test_sqlite_unreadable_row_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "crest.sqlite"
    store = SqliteStore(path)
    store.save(make_installation())
    db = sqlite3.connect(path)
    db.execute("UPDATE installations SET data = '{\"access_token\": 1'")
    db.commit()
    db.close()
    with pytest.raises(StoreError):
        store.find(MEMBER_A)


def test_sqlite_close_and_reopen(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "crest.sqlite")
    store.save(make_installation())
    store.close()
    assert store.find() == make_installation()  # reconnects on use
    store.close()


def test_sqlite_store_is_usable_after_fork(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "crest.sqlite")
    store.save(make_installation(MEMBER_A, 1))
    with store.lock(MEMBER_A, timeout=5):
        pid = os.fork()
        if pid == 0:  # the child must not reuse the parent's connection or its held lock
            code = 1
            try:
                store.save(make_installation(MEMBER_A, 2))
                code = 0
            finally:
                os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.find(MEMBER_A) == make_installation(MEMBER_A, 2)


# --- open_store -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kind", "name"),
    [
        ("json:{d}/settings.json", JsonFileStore, "settings.json"),
        ("json://{d}/s.json", JsonFileStore, "s.json"),
        ("{d}/settings.json", JsonFileStore, "settings.json"),
        ("{d}/SETTINGS.JSON", JsonFileStore, "SETTINGS.JSON"),
        ("sqlite:{d}/x.sqlite", SqliteStore, "x.sqlite"),
        ("sqlite://{d}/x.db", SqliteStore, "x.db"),
        ("{d}/crest.db", SqliteStore, "crest.db"),
    ],
)
def test_open_store(tmp_path: Path, spec: str, kind: type[Any], name: str) -> None:
    store = open_store(spec.format(d=tmp_path))
    assert isinstance(store, kind)
    assert store.path == tmp_path / name


def test_open_store_memory_and_errors(tmp_path: Path) -> None:
    assert isinstance(open_store("memory:"), MemoryStore)
    assert isinstance(open_store(tmp_path / "x.sqlite"), SqliteStore)
    with pytest.raises(StoreError):
        open_store("mysql://db/crest")
    with pytest.raises(StoreError):
        open_store("sqlite:")


def test_records_are_the_same_in_every_store(tmp_path: Path) -> None:
    record = make_installation(MEMBER_A, 9, user_id=None, expires=1780319391.75)
    stores: list[InstallationStore] = [
        MemoryStore(),
        JsonFileStore(tmp_path / "s.json"),
        SqliteStore(tmp_path / "s.sqlite"),
    ]
    for store in stores:
        store.save(record)
    found: list[Installation | None] = [store.find() for store in stores]
    assert found == [record] * 3
