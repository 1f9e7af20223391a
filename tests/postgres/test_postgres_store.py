"""The PostgreSQL store: the shared store contract, plus what is particular to a server database."""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from crest.errors import StoreError
from crest.stores import open_store
from crest.stores.contract import MEMBER_A, MEMBER_B, StoreContract, StoreFactory, make_installation
from crest.stores.postgres import PostgresStore, redact


class TestPostgresStore(StoreContract):
    # Separate processes share nothing but the database, as separate hosts would.
    cross_process = True
    file_based = False
    # It keeps no files: nothing for the file-mode check to look at.
    test_files_are_private = None  # type: ignore[assignment]

    @pytest.fixture
    def store_factory(self, postgres_url: str) -> StoreFactory:
        return functools.partial(PostgresStore, postgres_url)


def test_open_store_reads_both_url_schemes(postgres_url: str) -> None:
    for url in (postgres_url, postgres_url.replace("postgresql://", "postgres://", 1)):
        store = open_store(url)
        assert isinstance(store, PostgresStore)
        store.save(make_installation(MEMBER_A, 1))
        assert store.find() == make_installation(MEMBER_A, 1)
        store.close()


def test_password_never_shows(postgres_url: str) -> None:
    url = "postgresql://crest:s3cret-pw@127.0.0.1:1/crest?password=other-secret"
    assert "s3cret" not in redact(url) and "other-secret" not in redact(url)
    assert "s3cret" not in repr(PostgresStore(url))


def test_unreachable_server_is_a_clear_store_error() -> None:
    # A closed loopback port: nothing listens there.
    store = PostgresStore("postgresql://crest:s3cret-pw@127.0.0.1:1/crest")
    with pytest.raises(StoreError) as caught:
        store.find(MEMBER_A)
    assert "cannot connect" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_saves_inside_the_lock_commit_at_unlock(postgres_url: str) -> None:
    # A renewal's re-read and save are one transaction under the advisory lock.
    store, other = PostgresStore(postgres_url), PostgresStore(postgres_url)
    store.save(make_installation(MEMBER_A, 1))
    with store.lock(MEMBER_A, timeout=5):
        store.save(make_installation(MEMBER_A, 2))
        assert store.find(MEMBER_A) == make_installation(MEMBER_A, 2)
        seen: list[object] = []
        reader = threading.Thread(target=lambda: seen.append(other.find(MEMBER_A)))
        reader.start()
        reader.join(10)
        assert seen == [make_installation(MEMBER_A, 1)]  # not committed yet
    assert other.find(MEMBER_A) == make_installation(MEMBER_A, 2)


def test_locks_of_two_portals_do_not_block_each_other(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    with store.lock(MEMBER_A, timeout=5):
        got: list[float] = []

        def take_b() -> None:
            started = time.monotonic()
            with PostgresStore(postgres_url).lock(MEMBER_B, timeout=2):
                got.append(time.monotonic() - started)

        thread = threading.Thread(target=take_b)
        thread.start()
        thread.join(10)
        assert got and got[0] < 1.5


def test_the_lock_is_a_server_advisory_lock(postgres_url: str) -> None:
    # Another host (a plain connection) sees the lock in pg_locks while it is held.
    store = PostgresStore(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as watcher:
        query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        with store.lock(MEMBER_A, timeout=5):
            assert watcher.execute(query).fetchone() == (1,)
        assert watcher.execute(query).fetchone() == (0,)


def test_server_restart_of_a_connection_is_survived(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    store.save(make_installation(MEMBER_A, 1))
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        # Ends every other session of this database, as a failover or restart would.
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    time.sleep(0.2)
    assert store.find(MEMBER_A) == make_installation(MEMBER_A, 1)


def test_crest_imports_without_psycopg() -> None:
    # psycopg is the optional `postgres` extra: only using a postgresql:// store needs it.
    script = (
        "import sys\n"
        "sys.modules['psycopg'] = None  # as if not installed\n"
        "import crest, crest.stores, crest.inboxes, crest.cli_db, crest.worker\n"
        "from crest.errors import StoreError\n"
        "from crest.stores import open_store\n"
        "store = open_store('postgresql://u@127.0.0.1:1/x')\n"
        "try:\n"
        "    store.find()\n"
        "except StoreError as exc:\n"
        "    print('refused:', exc, exc.hint)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "a postgresql:// store needs psycopg 3" in done.stdout
    assert "b24-crest[postgres]" in done.stdout


def test_checkserver_probes_a_postgres_store(postgres_url: str) -> None:
    from crest.checks import check_store
    from crest.settings import Settings

    url = postgres_url.replace("postgresql://postgres@", "postgresql://postgres:pw-s3cret@", 1)
    checks = check_store(Settings.load(None, env={}, store=url))
    assert [(c.check, c.status) for c in checks] == [("store", "ok"), ("store lock", "ok")], checks
    assert all("pw-s3cret" not in c.detail for c in checks)
    assert PostgresStore(postgres_url).all_installations() == []  # the probe was removed


def test_locks_of_many_portals_reuse_a_few_connections(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    for n in range(30):
        with store.lock(f"{n:032x}", timeout=5):
            store.save(make_installation(f"{n:032x}", n))
    with psycopg.connect(postgres_url, autocommit=True) as watcher:
        (count,) = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert count <= 1 + 4, count  # this thread's connection and the idle lock connections
    assert len(store.all_installations()) == 30
