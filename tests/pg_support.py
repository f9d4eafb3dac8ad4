"""A throwaway PostgreSQL server for the tests: Debian's binaries, a temporary data folder.

``postgres_server`` (session-scoped) starts one server on 127.0.0.1 and a free port with trust
authentication, and stops it (``pg_ctl stop -m immediate``) and removes its folder at the end;
``server.database()`` gives each test a fresh database. PostgreSQL refuses to run as root, so
as root the binaries run as the ``postgres`` user (``runuser``) in a folder it owns.

Without the binaries the tests that need the server are skipped, or fail when ``CI=true`` or
``REQUIRE_POSTGRES=1`` (there a missing server is a broken machine, not an option).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One running server; :meth:`database` hands out fresh databases on it."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.as_root = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="ppo-pg-"))
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "data"
        self.port = _free_port()
        self.user = "postgres" if self.as_root else os.environ.get("USER", "postgres")

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)

    def start(self) -> None:
        done = self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user, "-E", "UTF8", "--no-instructions")
        if done.returncode:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        for _ in range(3):  # the free port may be taken between our probe and the server's bind
            options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root}"
            done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "-w", "-t", "60", "start")
            if not done.returncode:
                return
            log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
            if "could not bind" not in log:
                break
            self.port = _free_port()
        raise RuntimeError(f"pg_ctl start failed:\n{done.stdout}\n{done.stderr}\n{log}")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "stop", "-m", "immediate", timeout=60)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        secret = f":{password}" if password else ""
        return f"postgresql+psycopg://{self.user}{secret}@127.0.0.1:{self.port}/{database}"

    @contextmanager
    def database(self) -> Iterator[str]:
        """A new empty database for one test (dropped afterwards); yields its URL."""
        import sqlalchemy as sa

        name = f"test_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            yield self.url(name)
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            admin.dispose()


def _required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session (skip, or fail under CI, without one)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        message = "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql"
        if _required():
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """The URL of an empty database: a SQLite file, or a fresh database on the test server.
    A test that takes it runs once on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ppo.sqlite3'}"
    else:
        with request.getfixturevalue("postgres_server").database() as url:
            yield url
