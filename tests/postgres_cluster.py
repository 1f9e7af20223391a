"""A throwaway PostgreSQL cluster for the tests: initdb into a temp dir, pg_ctl on loopback.

Never assumes a server is running. Each pytest process (each xdist worker too) starts its
own cluster on a free loopback port, with its unix socket inside the temp dir, and stops it
at the end; each test that wants a clean slate gets a database of its own.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PostgresCluster", "find_bin_dir", "running_cluster"]

# The OS user that owns the cluster: initdb refuses to run as root, and the tests run as root.
_OWNER = "postgres"


def find_bin_dir() -> Path | None:
    """Debian's /usr/lib/postgresql/<major>/bin with initdb, the newest major; None if absent."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name)
    )
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class PostgresCluster:
    """A running cluster: ``url(dbname)`` for psycopg, ``new_database()`` for a clean slate."""

    port: int
    socket_dir: Path

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def new_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_owner(*command: str) -> list[str]:
    if os.geteuid() != 0:
        return list(command)
    return ["runuser", "-u", _OWNER, "--", *command]


@contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    """Start a cluster for the duration of the ``with`` block (raises if PostgreSQL is missing)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL is not installed (`make sysdeps` installs Debian's postgresql)")
    root = Path(tempfile.mkdtemp(prefix="crest-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    if os.geteuid() == 0:
        owner = pwd.getpwnam(_OWNER)
        for path in (root, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    log = root / "server.log"
    started = False
    try:
        subprocess.run(
            _as_owner(
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        port = _free_port()
        # No fsync: the tests kill processes, never the machine, and the disk is shared by many.
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sockets}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        subprocess.run(
            _as_owner(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"),
            check=True,
            capture_output=True,
            timeout=120,
        )
        started = True
        yield PostgresCluster(port=port, socket_dir=sockets)
    finally:
        if started:
            subprocess.run(
                _as_owner(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"),
                check=False,
                capture_output=True,
                timeout=120,
            )
        shutil.rmtree(root, ignore_errors=True)
