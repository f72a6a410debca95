"""A throwaway MariaDB server: a fresh data directory, on loopback, a free port, stopped by PID."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pymysql

from bench.net import free_port

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
#: Debian installs the server binaries in sbin, which is not on every PATH.
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])


class MissingServer(Exception):
    """No MariaDB server binary on this machine; the message says what to install."""


def binaries() -> tuple[str, str]:
    """``mariadb-install-db`` and ``mariadbd``, or ``MissingServer``."""
    install = shutil.which("mariadb-install-db", path=_SEARCH_PATH)
    server = shutil.which("mariadbd", path=_SEARCH_PATH)
    if install is None or server is None:
        raise MissingServer("no MariaDB server binary: apt-get install -y mariadb-server")
    return install, server


@dataclass(frozen=True)
class MariaDB:
    pid: int
    port: int
    socket: Path

    def root(self) -> pymysql.Connection[pymysql.cursors.Cursor]:
        """An administrator's connection over the server's socket."""
        return pymysql.connect(unix_socket=str(self.socket), user="root", autocommit=True)

    def version(self) -> str:
        with self.root() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            row = cursor.fetchone()
        return str(row[0]) if row else "?"


@contextmanager
def running(workdir: Path) -> Iterator[MariaDB]:
    """Initialise a data directory under ``workdir``, serve it on 127.0.0.1, stop it after."""
    install, server = binaries()
    datadir, socket = workdir / "mariadb", workdir / "mariadb.sock"
    log = workdir / "mariadb.log"
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run(  # noqa: S603
        [
            install,
            "--no-defaults",
            f"--datadir={datadir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            *as_root,
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603
            [
                server,
                "--no-defaults",
                f"--datadir={datadir}",
                f"--socket={socket}",
                f"--port={port}",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                f"--pid-file={workdir / 'mariadb.pid'}",
                "--max-connections=300",
                "--innodb-buffer-pool-size=512M",
                *as_root,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    db = MariaDB(process.pid, port, socket)
    try:
        _wait_ready(db, process, log)
        yield db
    finally:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(db: MariaDB, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"mariadbd exited with {process.returncode}:\n{log.read_text()}")
        try:
            db.root().close()
            return
        except pymysql.err.OperationalError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"mariadbd did not start in time:\n{log.read_text()}") from None
            time.sleep(0.1)
