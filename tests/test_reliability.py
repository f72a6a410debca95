"""Reliability, against a real MariaDB server that these tests stop and start again: 503s
while the database is away, recovery without a restart, idle connections past the server's
``wait_timeout``, no write lost or doubled, graceful shutdown, and two processes sharing
one database.

The server is this module's own (the suite's shared one must not go away under other
tests): a fresh data directory, loopback only, the same port and data directory across
restarts, stopped by its PID. The app runs as it does in production, under uvicorn in a
subprocess (in-process only where a TCP relay stands between it and the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import psutil  # type: ignore[import-untyped]  # no stubs here
import pymysql
import pytest
from databases import Database

from tests.conftest import (
    ClientFactory,
    free_port,
    missing,
    session_cookie,
    sign_in,
    wait_until_serving,
)
from tests.provider import AUDIENCE, Provider
from webapp import migrate
from webapp.store import Store, is_lost_connection, is_unavailable

SECRET_KEY = "reliability-secret-key-" + "r" * 32
APP_USER, APP_PASSWORD = "reliability", "reliability-password"
#: Debian installs the server binaries in sbin, which is not on every PATH.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
#: The longest the app may take to answer 200 again once the database is back.
RECOVERY_SECONDS = 2.0
HTMX = {"HX-Request": "true"}
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


# A MariaDB server of our own.


@dataclass
class MariaDB:
    workdir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.workdir / "mariadb.sock"

    @property
    def log(self) -> Path:
        return self.workdir / "mariadb.log"

    def install(self) -> None:
        install = shutil.which("mariadb-install-db", path=SEARCH_PATH)
        assert install is not None
        subprocess.run(
            [
                install,
                "--no-defaults",
                f"--datadir={self.workdir / 'data'}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *self._as_root(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> float:
        """Start the server, and return when it accepts connections (monotonic time)."""
        assert self.process is None, "already running"
        server = shutil.which("mariadbd", path=SEARCH_PATH)
        assert server is not None
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    server,
                    "--no-defaults",
                    f"--datadir={self.workdir / 'data'}",
                    f"--socket={self.socket}",
                    f"--port={self.port}",
                    f"--pid-file={self.workdir / 'mariadb.pid'}",
                    "--bind-address=127.0.0.1",
                    "--skip-name-resolve",
                    "--innodb-buffer-pool-size=32M",
                    *self._as_root(),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while not self._accepts():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop(kill=True)
                pytest.fail(f"mariadbd did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.02)
        return time.monotonic()

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (a clean shutdown) or SIGKILL (a crash), to our server's PID only."""
        if self.process is None:
            return
        if self.process.poll() is None:
            (self.process.kill if kill else self.process.terminate)()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def ensure_running(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self.process = None
            self.start()

    def admin(self) -> pymysql.Connection[pymysql.cursors.Cursor]:
        return pymysql.connect(
            unix_socket=str(self.socket), user="root", autocommit=True, connect_timeout=2
        )

    def sql(self, statement: str, *args: Any) -> list[tuple[Any, ...]]:
        with self.admin() as connection, connection.cursor() as cursor:
            cursor.execute(statement, args or None)
            return list(cursor.fetchall())

    @staticmethod
    def _as_root() -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    if shutil.which("mariadbd", path=SEARCH_PATH) is None:
        missing("no MariaDB server binary: apt-get install -y mariadb-server")
    server = MariaDB(tmp_path_factory.mktemp("mariadb"), free_port())
    server.install()
    server.start()
    try:
        # Over TCP with a password, as the app connects in production.
        server.sql(f"CREATE USER '{APP_USER}'@'127.0.0.1' IDENTIFIED BY '{APP_PASSWORD}'")
        server.sql(f"GRANT ALL PRIVILEGES ON *.* TO '{APP_USER}'@'127.0.0.1'")
        yield server
    finally:
        server.stop()


@pytest.fixture
def database_url(mariadb: MariaDB) -> Iterator[str]:
    """A fresh database at the newest schema (apps then start at once, side by side); the
    server is running again afterwards."""
    name = f"rel_{uuid.uuid4().hex[:12]}"
    mariadb.sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    url = f"mysql+aiomysql://{APP_USER}:{APP_PASSWORD}@127.0.0.1:{mariadb.port}/{name}"
    migrate.upgrade(url)
    yield url
    mariadb.ensure_running()
    mariadb.sql("SET GLOBAL wait_timeout = DEFAULT")
    mariadb.sql(f"DROP DATABASE IF EXISTS {name}")


# The app under uvicorn, in a subprocess.


@dataclass
class App:
    url: str
    process: subprocess.Popen[str]
    log: Path

    def client(self, **options: Any) -> httpx2.Client:
        return httpx2.Client(base_url=self.url, timeout=10, **options)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def wait_ready(self) -> App:
        wait_until_serving(self.url, self.process, self.log.read_text)
        return self

    def assert_no_traceback(self) -> None:
        log = self.log.read_text()
        assert "Traceback" not in log, log[-5000:]


#: The app with a slow route, served as ``uvicorn`` serves the real one.
SLOW_APP = """
import asyncio, sys
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from webapp import serving
from webapp.app import create_app
from webapp.settings import load_settings

async def slow(request):
    await asyncio.sleep(float(request.query_params["seconds"]))
    await request.state.store.ping()  # the database is still there while requests finish
    return PlainTextResponse("finished")

port = int(sys.argv[1])
app = create_app(load_settings(port=port))
app.router.routes.insert(0, Route("/slow", slow, methods=["GET"]))
serving.run(app, host="127.0.0.1", port=port)
"""


def environment(database_url: str, provider: Provider, **more: str) -> dict[str, str]:
    ours = {"DATABASE_URL", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "SECRET_KEY"}
    ours |= {"OIDC_DISCOVERY_URL", "PUBLIC_URL", "API_AUDIENCES", "WATCHLIST_ENV"}
    env = {name: value for name, value in os.environ.items() if name not in ours}
    env.update(
        {
            "DATABASE_URL": database_url,
            "GOOGLE_CLIENT_ID": AUDIENCE,
            "GOOGLE_CLIENT_SECRET": "reliability-secret",
            "SECRET_KEY": SECRET_KEY,
            "OIDC_DISCOVERY_URL": provider.discovery_url,
            **more,
        }
    )
    return env


@pytest.fixture
def start_app(tmp_path: Path, provider: Provider) -> Iterator[Callable[..., App]]:
    """Start the app (``python -m webapp``, or a script) on a free port; stopped afterwards."""
    apps: list[App] = []

    def start(
        database_url: str,
        *,
        script: str | None = None,
        arguments: tuple[str, ...] = (),
        wait: bool = True,
        **env: str,
    ) -> App:
        port = free_port()
        log = tmp_path / f"app-{port}.log"
        command = (
            ["-c", script, str(port)]
            if script
            else ["-m", "webapp", *arguments, "--port", str(port)]
        )
        with log.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, *command],
                cwd=tmp_path,
                env=environment(database_url, provider, **env),
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        app = App(f"http://127.0.0.1:{port}", process, log)
        apps.append(app)
        return app.wait_ready() if wait else app

    yield start
    for app in apps:
        app.stop()


def signed_in_cookie(database_url: str, sub: str, email: str) -> dict[str, str]:
    """The session cookie a sign-in leaves, with the user recorded as the callback does."""

    async def record() -> None:
        database = Database(database_url)
        await database.connect()
        try:
            await Store(database).record_sign_in(sub, email, email.split("@")[0].title())
        finally:
            await database.disconnect()

    asyncio.run(record())
    now = time.time()
    identity = {"sub": sub, "email": email, "name": email.split("@")[0].title(), "picture": None}
    session = {"user": identity, "signed_in_at": now, "seen": int(now), "sid": uuid.uuid4().hex}
    return {"Cookie": f"session={session_cookie(SECRET_KEY, session)}"}


def token_for(provider: Provider, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {provider.token(sub=sub, email=f'{sub}@example.com')}"}


# The classification of errors.


@pytest.mark.parametrize(
    ("error", "unavailable", "lost"),
    [
        (pymysql.err.OperationalError(2003, "Can't connect to MySQL server"), True, False),
        (pymysql.err.OperationalError(2013, "Lost connection to MySQL server"), True, True),
        (pymysql.err.OperationalError(2006, "MySQL server has gone away"), True, True),
        (pymysql.err.OperationalError(1053, "Server shutdown in progress"), True, False),
        (pymysql.err.OperationalError(1040, "Too many connections"), True, False),
        (pymysql.err.InterfaceError(0, "Not connected"), True, True),
        (ConnectionResetError(), True, True),
        (TimeoutError(), True, False),
        (pymysql.err.OperationalError(1045, "Access denied"), False, False),
        (pymysql.err.ProgrammingError(1146, "Table doesn't exist"), False, False),
        (pymysql.err.IntegrityError(1062, "Duplicate entry"), False, False),
        (sqlite3.OperationalError("database is locked"), True, False),
        (sqlite3.OperationalError("no such table: users"), False, False),
    ],
)
def test_which_errors_are_outages(error: Exception, unavailable: bool, lost: bool) -> None:
    """Outages answer 503 (and a lost connection lets a read run again); the rest stay 500s,
    so that a broken deployment (a wrong password, a missing table) is not taken for one."""
    assert is_unavailable(error) is unavailable
    assert is_lost_connection(error) is lost


# The database goes away and comes back.


def test_while_the_database_is_down_everyone_gets_a_503_then_it_recovers(
    mariadb: MariaDB, database_url: str, start_app: Callable[..., App], provider: Provider
) -> None:
    app = start_app(database_url)
    cookie = signed_in_cookie(database_url, "dora-sub", "dora@example.com")
    token = token_for(provider, "dora-sub")
    with app.client() as client:
        assert client.get("/watchlist", headers=cookie).status_code == 200
        assert client.get("/api/stocks", headers=token).status_code == 200

        mariadb.stop()

        page = client.get("/watchlist", headers=cookie)
        assert page.status_code == 503
        assert page.headers["retry-after"] == "5"
        assert page.headers["content-type"].startswith("text/html")
        assert "Back in a moment" in page.text
        assert "Dora" in page.text  # still signed in: the page says who
        assert "set-cookie" not in page.headers  # and the session is not cleared
        assert "content-security-policy" in page.headers

        fragment = client.get("/watchlist", headers={**cookie, **HTMX})
        assert fragment.status_code == 503
        assert fragment.headers["hx-refresh"] == "true"

        form = client.post("/watchlist", data={"symbol": "IBM"}, headers={**cookie, **SAME_ORIGIN})
        assert form.status_code == 503
        assert "may not have been saved" in form.text

        for response in (
            client.get("/api/stocks", headers=token),
            client.post("/api/stocks", json={"symbol": "IBM"}, headers=token),
        ):
            assert response.status_code == 503
            assert response.headers["retry-after"] == "5"
            body = response.json()
            assert set(body) == {"detail", "errors"}
            assert body["errors"] == {}
            assert "database" in body["detail"]

        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.headers["retry-after"] == "5"
        assert client.get("/healthz").status_code == 200
        assert client.get("/").status_code == 200  # signed out: the landing page needs no data

        back = mariadb.start()
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() - back < RECOVERY_SECONDS
            time.sleep(0.05)
        page = client.get("/watchlist", headers=cookie)
        assert page.status_code == 200, "the same session works again: nobody was signed out"
        assert client.post("/api/stocks", json={"symbol": "IBM"}, headers=token).status_code == 201
    app.assert_no_traceback()


@dataclass
class Outcome:
    kind: str
    started: float
    ended: float
    status: int


@dataclass
class Stream:
    """Clients that send requests one after another until told to stop, recording each."""

    app: App
    requests: dict[str, tuple[str, dict[str, str]]]
    outcomes: list[Outcome] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Stream:
        for kind in self.requests:
            thread = threading.Thread(target=self._send, args=(kind,), daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)

    def _send(self, kind: str) -> None:
        path, headers = self.requests[kind]
        with self.app.client() as client:
            for _ in range(5000):  # bounded; the test stops it much sooner
                if self.stop.is_set():
                    return
                started = time.monotonic()
                try:
                    status = client.get(path, headers=headers).status_code
                except httpx2.TransportError:
                    status = 0
                self.outcomes.append(Outcome(kind, started, time.monotonic(), status))


def test_recovers_by_itself_under_a_steady_stream_of_requests(
    mariadb: MariaDB, database_url: str, start_app: Callable[..., App], provider: Provider
) -> None:
    app = start_app(database_url)
    cookie = signed_in_cookie(database_url, "erin-sub", "erin@example.com")
    token = token_for(provider, "erin-sub")
    with app.client() as client:
        created = client.post("/api/stocks", json={"symbol": "AAPL"}, headers=token)
        item = created.json()["id"]
    requests = {
        "page": ("/watchlist", cookie),
        "fragment": ("/watchlist", {**cookie, **HTMX}),
        "api list": ("/api/stocks", token),
        "api item": (f"/api/stocks/{item}", token),
        "readyz": ("/readyz", {}),
    }
    with Stream(app, requests) as stream:
        time.sleep(0.5)
        stopped = time.monotonic()
        mariadb.stop()
        time.sleep(0.8)
        back = mariadb.start()
        time.sleep(RECOVERY_SECONDS + 0.3)
    outcomes = stream.outcomes
    counts = Counter((outcome.kind, outcome.status) for outcome in outcomes)
    print(f"\nstatuses: {dict(sorted(counts.items()))}")
    assert {outcome.status for outcome in outcomes} <= {200, 503}, counts
    before = [o for o in outcomes if o.ended < stopped]
    after = [o for o in outcomes if o.started > back + RECOVERY_SECONDS]
    assert before
    assert after
    assert all(o.status == 200 for o in before), "503s only once the database is gone"
    assert all(o.status == 200 for o in after), "200s again within 2 s of its return"
    for kind in requests:
        during = [o for o in outcomes if o.kind == kind and stopped < o.started < back]
        assert any(o.status == 503 for o in during), f"{kind}: the outage was not seen"
        mine = [o for o in outcomes if o.kind == kind]
        first_200 = min(o.ended for o in mine if o.started >= back and o.status == 200)
        last_503 = max(o.ended for o in mine if o.status == 503)
        print(
            f"{kind}: first 200 {first_200 - back:.3f} s after the database was back, "
            f"last 503 {last_503 - back:+.3f} s"
        )
        assert first_200 - back < RECOVERY_SECONDS
    app.assert_no_traceback()


def app_connections(mariadb: MariaDB) -> int:
    rows = mariadb.sql(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s", APP_USER
    )
    return int(rows[0][0])


def test_connections_idle_past_wait_timeout_are_not_used(
    mariadb: MariaDB, database_url: str, start_app: Callable[..., App], provider: Provider
) -> None:
    # Applies to connections opened from now on: all of the app's.
    mariadb.sql("SET GLOBAL wait_timeout = 1")
    app = start_app(database_url)
    cookie = signed_in_cookie(database_url, "finn-sub", "finn@example.com")
    token = token_for(provider, "finn-sub")

    def burst() -> list[int]:
        """Enough requests at once that several pooled connections are used."""
        with app.client() as client:

            def one(index: int) -> int:
                if index % 2:
                    return client.get("/watchlist", headers=cookie).status_code
                return client.get("/api/stocks", headers=token).status_code

            results: list[int] = []
            threads = [
                threading.Thread(target=lambda i=i: results.append(one(i))) for i in range(12)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=15)
            return results

    assert burst() == [200] * 12
    assert app_connections(mariadb) > 1
    deadline = time.monotonic() + 10
    while app_connections(mariadb):  # the server closes them after a second
        assert time.monotonic() < deadline, "the server kept the idle connections"
        time.sleep(0.1)
    assert burst() == [200] * 12
    with app.client() as client:
        assert client.get("/readyz").status_code == 200
    app.assert_no_traceback()


class SilentDropProxy:
    """A TCP relay on loopback in front of the database that can drop every connection as
    a NAT or a cloud load balancer does after its idle timeout: without a word to either
    end, so the app learns of it only when it next sends, from a reset."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.live: list[tuple[socket.socket, socket.socket]] = []
        self.dropped: list[tuple[socket.socket, socket.socket]] = []
        #: How many times the app sent on a dropped connection and got a reset.
        self.resets = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> SilentDropProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.listener.close()
        with self.lock:
            for pair in self.live + self.dropped:
                for sock in pair:
                    sock.close()

    def drop_silently(self) -> None:
        with self.lock:
            for _, server in self.live:
                with contextlib.suppress(OSError):  # unless it has gone already
                    server.shutdown(socket.SHUT_RDWR)  # the server sees its client go
            self.dropped += self.live
            self.live = []

    def _accept(self) -> None:
        for _ in range(1000):
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.live.append((client, server))
            threading.Thread(target=self._relay, args=(client, server), daemon=True).start()
            threading.Thread(target=self._relay, args=(server, client), daemon=True).start()

    def _relay(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            with self.lock:
                dropped_clients = {client for client, _ in self.dropped}
            if source in dropped_clients:
                if data:  # the app sent on a dropped connection: a reset, as a NAT answers
                    linger = struct.pack("ii", 1, 0)
                    source.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    source.close()
                    with self.lock:
                        self.resets += 1
                return
            if sink in dropped_clients:
                return  # the server's side has ended: the app hears nothing
            if not data:
                with contextlib.suppress(OSError):
                    sink.shutdown(socket.SHUT_WR)
                return
            try:
                sink.sendall(data)
            except OSError:
                return


def test_reads_on_connections_dropped_without_a_word_run_again_on_live_ones(
    mariadb: MariaDB, database_url: str, make_client: ClientFactory, provider: Provider
) -> None:
    """The pool cannot tell such connections are dead (pool_recycle keeps its connections
    younger than such timeouts); a read that fails on one runs again on another, until one
    is alive or new."""
    with SilentDropProxy(mariadb.port) as proxy:
        client = make_client(database_url.replace(f":{mariadb.port}/", f":{proxy.port}/"))
        sign_in(client, "hana-sub", "hana@example.com")
        token = token_for(provider, "hana-sub")
        assert client.post("/api/stocks", json={"symbol": "TSLA"}, headers=token).status_code == 201

        def burst() -> Counter[int]:
            """Reads at once, from the page and the API, so the pool holds several connections."""
            statuses: list[int] = []

            def read(index: int) -> None:
                if index % 2:
                    statuses.append(client.get("/api/stocks", headers=token).status_code)
                else:
                    statuses.append(client.get("/watchlist").status_code)

            threads = [threading.Thread(target=read, args=(n,)) for n in range(16)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=15)
            return Counter(statuses)

        assert burst() == {200: 16}
        for _ in range(3):
            proxy.drop_silently()
            assert burst() == {200: 16}
        assert proxy.resets > 3, "the reads did not meet the dropped connections"


# Writes under a restart.


@dataclass(frozen=True)
class Values:
    name: str
    price: Decimal
    notes: str

    def json(self) -> dict[str, Any]:
        return {"name": self.name, "price": float(self.price), "notes": self.notes}


@dataclass
class Tracked:
    """What the answers said about one item created with a 201."""

    symbol: str
    #: The values the last 2xx answer (the create, or an update) said the item has.
    confirmed: Values
    #: Updates answered 503 after that: each may have been made, or not.
    maybe: list[Values] = field(default_factory=list)
    #: "no", "yes" (204), or "maybe" (503).
    deleted: str = "no"


@dataclass
class Ledger:
    """One user's requests and what each answer promised."""

    sub: str
    items: dict[int, Tracked] = field(default_factory=dict)
    #: Creates answered 503: the row may exist, with exactly these values.
    maybe_created: dict[str, Values] = field(default_factory=dict)
    #: Creates answered 422: the row must not exist.
    refused: set[str] = field(default_factory=set)
    statuses: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    #: When the last 503 came (monotonic time).
    last_503: float = 0.0

    def live(self) -> list[int]:
        """Items that exist as far as the answers tell."""
        return [item for item, tracked in self.items.items() if tracked.deleted == "no"]


def write_load(
    app: App, ledger: Ledger, token: dict[str, str], stop: threading.Event, seed: int
) -> None:
    """Creates, updates, deletes, invalid and duplicate creates, one after another."""
    rng = random.Random(seed)
    with app.client(headers=token) as client:
        for n in range(5000):  # bounded; the test stops it much sooner
            if stop.is_set():
                return
            try:
                write_once(client, ledger, rng, f"S{n}")
            except httpx2.TransportError as exc:
                ledger.unexpected.append(f"no answer: {exc!r}")
                return


def write_once(client: httpx2.Client, ledger: Ledger, rng: random.Random, symbol: str) -> None:
    def values() -> Values:
        return Values(
            f"name {rng.randrange(10**6)}",
            Decimal(rng.randrange(100, 10**7)) / 100,
            f"notes {rng.randrange(10**6)}",
        )

    def expect(action: str, response: httpx2.Response, *allowed: int) -> int:
        ledger.statuses[f"{action} {response.status_code}"] += 1
        if response.status_code == 503:
            ledger.last_503 = time.monotonic()
        if response.status_code not in allowed:
            ledger.unexpected.append(f"{action}: {response.status_code} {response.text[:200]}")
        return response.status_code

    live = ledger.live()
    roll = rng.random()
    if roll < 0.45 or not live:
        wanted = values()
        response = client.post("/api/stocks", json={"symbol": symbol, **wanted.json()})
        if expect("create", response, 201, 503) == 201:
            ledger.items[response.json()["id"]] = Tracked(symbol, wanted)
        else:
            ledger.maybe_created[symbol] = wanted
    elif roll < 0.50:
        response = client.post("/api/stocks", json={"symbol": symbol, "price": -1})
        expect("invalid create", response, 422)
        ledger.refused.add(symbol)
    elif roll < 0.55:
        tracked = ledger.items[rng.choice(live)]
        response = client.post("/api/stocks", json={"symbol": tracked.symbol})
        expect("duplicate create", response, 409, 503)
    elif roll < 0.85:
        item, wanted = rng.choice(live), values()
        response = client.patch(f"/api/stocks/{item}", json=wanted.json())
        if expect("update", response, 200, 503) == 200:
            ledger.items[item].confirmed, ledger.items[item].maybe = wanted, []
        else:
            ledger.items[item].maybe.append(wanted)
    else:
        item = rng.choice(live)
        status = expect("delete", client.delete(f"/api/stocks/{item}"), 204, 503)
        ledger.items[item].deleted = "yes" if status == 204 else "maybe"


def check_table(mariadb: MariaDB, database_url: str, ledgers: list[Ledger]) -> Counter[str]:
    """The table holds what the 2xx answers said, and nothing a refusal said it did not do;
    a write answered 503 may have been made or not. Returns what became of the 503s."""
    name = database_url.rsplit("/", 1)[1]
    rows = mariadb.sql(
        f"SELECT id, user_sub, symbol, name, price, notes FROM {name}.watchlist_items"
    )
    # user_sub is binary (compared byte for byte): the driver gives bytes.
    table = {(bytes(row[1]).decode(), row[2]): row for row in rows}
    assert len(table) == len(rows), "a symbol twice in one watchlist"
    fates: Counter[str] = Counter()
    for ledger in ledgers:
        assert not ledger.unexpected, ledger.unexpected
        mine = {symbol: row for (sub, symbol), row in table.items() if sub == ledger.sub}
        for item, tracked in ledger.items.items():
            row = mine.pop(tracked.symbol, None)
            if tracked.deleted == "yes":
                assert row is None, f"{tracked.symbol} was deleted (204) but is still there"
                continue
            if row is None:
                assert tracked.deleted == "maybe", f"{tracked.symbol} (201) is lost"
                fates["delete 503, done"] += 1
                continue
            if tracked.deleted == "maybe":
                fates["delete 503, not done"] += 1
            assert row[0] == item
            found = Values(row[3], row[4], row[5])
            allowed = [tracked.confirmed, *tracked.maybe]
            assert found in allowed, f"{tracked.symbol}: {found} is none of {allowed}"
            if tracked.maybe:
                fates[f"update 503, {'not done' if found == tracked.confirmed else 'done'}"] += 1
        for symbol, wanted in ledger.maybe_created.items():
            row = mine.pop(symbol, None)
            fates[f"create 503, {'not done' if row is None else 'done'}"] += 1
            if row is not None:
                assert Values(row[3], row[4], row[5]) == wanted
        for symbol in ledger.refused:
            assert symbol not in mine, f"{symbol} was refused (422) but is there"
        assert not mine, f"rows no request created: {sorted(mine)}"
    return fates


@pytest.mark.parametrize("crash", [False, True], ids=["restart", "crash"])
def test_no_write_is_lost_or_doubled_across_a_database_restart(
    mariadb: MariaDB,
    database_url: str,
    start_app: Callable[..., App],
    provider: Provider,
    crash: bool,
) -> None:
    app = start_app(database_url)
    ledgers = [Ledger(f"user{n}-sub") for n in range(4)]
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=write_load, args=(app, ledger, token_for(provider, ledger.sub), stop, n)
        )
        for n, ledger in enumerate(ledgers)
    ]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 10
        while any(len(ledger.live()) < 10 for ledger in ledgers):  # something to change
            assert time.monotonic() < deadline, "the load did not get going"
            time.sleep(0.05)
        mariadb.stop(kill=crash)
        time.sleep(0.5)
        back = mariadb.start()
        time.sleep(0.7)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    statuses = sum((ledger.statuses for ledger in ledgers), Counter[str]())
    fates = check_table(mariadb, database_url, ledgers)
    print(f"\nanswers: {dict(sorted(statuses.items()))}\n503s: {dict(sorted(fates.items()))}")
    last_503 = max(ledger.last_503 for ledger in ledgers)
    print(f"last 503 {last_503 - back:+.3f} s after the database was back")
    assert last_503 < back + RECOVERY_SECONDS, "a write failed after the database was back"
    for answer in (
        "create 201",
        "update 200",
        "delete 204",
        "create 503",
        "update 503",
        "delete 503",
    ):
        assert statuses[answer], f"no {answer}: the load did not cover it"
    app.assert_no_traceback()


# Stopping the app.


def test_sigterm_lets_a_running_request_finish_then_exits_0(
    database_url: str, start_app: Callable[..., App]
) -> None:
    app = start_app(database_url, script=SLOW_APP)
    port = int(app.url.rsplit(":", 1)[1])
    answers: list[httpx2.Response] = []
    slow = threading.Thread(
        target=lambda: answers.append(httpx2.get(f"{app.url}/slow?seconds=1.5", timeout=15))
    )
    started = time.monotonic()
    slow.start()
    time.sleep(0.5)
    app.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 2
    while True:  # new connections are refused while the slow request runs on
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
        except ConnectionRefusedError:
            break
        assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
        time.sleep(0.05)
    assert slow.is_alive()
    slow.join(timeout=15)
    assert answers[0].status_code == 200
    assert answers[0].text == "finished"
    assert time.monotonic() - started >= 1.5
    assert app.process.wait(timeout=15) == 0
    log = app.log.read_text()
    assert "Waiting for connections to close" in log
    assert "Traceback" not in log


def test_sigterm_stops_every_worker_then_exits_0(
    database_url: str, start_app: Callable[..., App], provider: Provider
) -> None:
    """``watchlist serve --workers 2``: two processes answer; SIGTERM ends them all, and
    the supervisor exits 0."""
    app = start_app(database_url, arguments=("serve", "--workers", "2"))
    supervisor = psutil.Process(app.process.pid)
    workers = [
        child
        for child in supervisor.children()
        if "resource_tracker" not in " ".join(child.cmdline())
    ]
    assert len(workers) == 2, [child.cmdline() for child in supervisor.children()]
    token = token_for(provider, "wendy-sub")
    with app.client() as client:
        for n in range(10):
            created = client.post("/api/stocks", json={"symbol": f"W{n}"}, headers=token)
            assert created.status_code == 201
        assert len(client.get("/api/stocks", headers=token).json()) == 10
    app.process.send_signal(signal.SIGTERM)
    assert app.process.wait(timeout=30) == 0
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == []
    app.assert_no_traceback()


# Scaling out.


def test_two_processes_share_sessions_and_data(
    database_url: str, start_app: Callable[..., App], provider: Provider
) -> None:
    # Behind a load balancer, both have its address as their public URL.
    public_url = f"http://127.0.0.1:{free_port()}"
    first = start_app(database_url, wait=False, PUBLIC_URL=public_url)
    second = start_app(database_url, wait=False, PUBLIC_URL=public_url)
    first.wait_ready()
    second.wait_ready()

    # Sign in through the first, as a browser does.
    with first.client() as browser:
        start = browser.get("/login")
        assert start.status_code == 302
        params = {k: v[0] for k, v in parse_qs(urlsplit(start.headers["location"]).query).items()}
        provider.id_token = provider.token(
            nonce=params["nonce"], sub="gus-sub", email="gus@example.com", name="Gus"
        )
        done = browser.get("/auth/callback", params={"code": "c", "state": params["state"]})
        assert done.status_code == 303
        cookie = {"Cookie": f"session={browser.cookies['session']}"}

    with first.client(headers=cookie) as one, second.client(headers=cookie) as two:
        page = two.get("/watchlist")
        assert page.status_code == 200, "the second process accepts the first one's session"
        assert "Gus" in page.text
        added = two.post("/watchlist", data={"symbol": "NVDA"}, headers=SAME_ORIGIN)
        assert added.status_code == 303
        assert "NVDA" in one.get("/watchlist").text
        token = token_for(provider, "gus-sub")
        assert one.post("/api/stocks", json={"symbol": "AMD"}, headers=token).status_code == 201
        listed = two.get("/api/stocks", headers=token).json()
        assert [item["symbol"] for item in listed] == ["AMD", "NVDA"]
        rows = re.findall(r'<tr id="item-(\d+)"', two.get("/watchlist").text)
        assert len(rows) == 2

        # Signing out on one ends the session on both: it is refused server-side.
        assert one.post("/logout", headers=SAME_ORIGIN).status_code == 303
        assert two.get("/watchlist").status_code == 303
    first.assert_no_traceback()
    second.assert_no_traceback()
