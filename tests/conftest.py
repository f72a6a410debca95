"""Shared fixtures: databases (SQLite and a real MariaDB/MySQL), a key server, app clients."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2
import pymysql
import pytest
from databases import Database
from itsdangerous import TimestampSigner
from pytest_mysql import factories
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from tests.mutation import is_own_test
from tests.provider import AUDIENCE, Provider, SigningKey, serve
from webapp import devprovider
from webapp.app import create_app
from webapp.settings import Settings
from webapp.tables import APP_ACCOUNT, metadata, watchlist_items

IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
INIT_SQL = Path(__file__).parent.parent / "init.sql"

mysql_proc = factories.mysql_proc()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running in this thread
    from its first use, after which ``asyncio.run`` cannot be called here. Under mutmut,
    the mutated module's own tests first (``tests.mutation.is_own_test``)."""
    items.sort(key=lambda item: "/e2e/" in item.nodeid.replace("\\", "/"))
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    if mutant:
        items.sort(key=lambda item: not is_own_test(item.nodeid, mutant))


def missing(reason: str) -> None:
    """Skip a test whose external part is missing here; in CI, fail it instead."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing part fails the run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mysql_server(request: pytest.FixtureRequest) -> str:
    """A MySQL-compatible server's URL without a database: TEST_DATABASE_URL's, or our own."""
    if TEST_DATABASE_URL:
        return TEST_DATABASE_URL.rsplit("/", 1)[0]
    if shutil.which("mariadbd") is None and shutil.which("mysqld") is None:
        missing("no MariaDB/MySQL server binary: apt-get install -y mariadb-server")
    proc = request.getfixturevalue("mysql_proc")
    # A fresh server's root signs in through the socket only; tests use TCP, like the app.
    with (
        pymysql.connect(unix_socket=proc.unixsocket, user="root", autocommit=True) as root,
        root.cursor() as cursor,
    ):
        cursor.execute("CREATE USER IF NOT EXISTS 'tests'@'127.0.0.1' IDENTIFIED BY 'tests'")
        cursor.execute("GRANT ALL PRIVILEGES ON *.* TO 'tests'@'127.0.0.1' WITH GRANT OPTION")
    return f"mysql+aiomysql://tests:tests@127.0.0.1:{proc.port}"


def admin_connection(server_url: str) -> pymysql.Connection[pymysql.cursors.Cursor]:
    rest = server_url.split("://", 1)[1]
    credentials, _, address = rest.rpartition("@")
    user, _, password = credentials.partition(":")
    host, _, port = address.partition(":")
    return pymysql.connect(
        host=host, port=int(port or 3306), user=user, password=password, autocommit=True
    )


@pytest.fixture
def mysql_url(mysql_server: str) -> Iterator[str]:
    """A fresh, empty database on the MySQL server, dropped afterwards."""
    name = f"wl_{uuid.uuid4().hex[:12]}"
    with admin_connection(mysql_server) as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    yield f"{mysql_server}/{name}"
    with admin_connection(mysql_server) as connection, connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def mysql_ordinary_url(mysql_url: str) -> Iterator[str]:
    """``mysql_url``'s database through an account with ALL on that database and nothing
    else: the usual application account on a managed MySQL (no GRANT OPTION, no ``mysql``
    schema)."""
    server, _, name = mysql_url.rpartition("/")
    account = f"'u_{uuid.uuid4().hex[:12]}'@'%'"
    password = uuid.uuid4().hex
    with admin_connection(server) as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE USER {account} IDENTIFIED BY '{password}'")
        cursor.execute(f"GRANT ALL PRIVILEGES ON {name}.* TO {account}")
    user = account.split("@")[0].strip("'")
    yield f"mysql+aiomysql://{user}:{password}@{server.rpartition('@')[2]}/{name}"
    with admin_connection(server) as connection, connection.cursor() as cursor:
        cursor.execute(f"DROP USER {account}")


def apply_init_sql(mysql_url: str) -> None:
    """Run init.sql in ``mysql_url``'s database as the admin user, one statement at a time."""
    server, _, name = mysql_url.rpartition("/")
    with admin_connection(server) as connection, connection.cursor() as cursor:
        cursor.execute(f"USE {name}")
        for statement in INIT_SQL.read_text().split(";"):
            body = "\n".join(line for line in statement.splitlines() if not line.startswith("--"))
            if body.strip():
                cursor.execute(body)


@pytest.fixture
def mysql_app_account_url(mysql_url: str) -> Iterator[str]:
    """A fresh database made by init.sql, reached through the app's least-privilege account.

    The account is server-wide: it is dropped afterwards if this fixture created it, and
    otherwise keeps everything but its grants on this database.
    """
    server, _, name = mysql_url.rpartition("/")
    password = uuid.uuid4().hex
    user = APP_ACCOUNT.split("@")[0].strip("'")
    with admin_connection(server) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM mysql.user WHERE user = %s AND host = '%%'", (user,))
        row = cursor.fetchone()
        existed = bool(row and row[0])
    apply_init_sql(mysql_url)
    with admin_connection(server) as connection, connection.cursor() as cursor:
        cursor.execute(f"ALTER USER {APP_ACCOUNT} IDENTIFIED BY '{password}' ACCOUNT UNLOCK")
    yield f"mysql+aiomysql://{user}:{password}@{server.rpartition('@')[2]}/{name}"
    with admin_connection(server) as connection, connection.cursor() as cursor:
        if not existed:
            cursor.execute(f"DROP USER {APP_ACCOUNT}")
            return
        for table in [*metadata.tables, "alembic_version"]:
            cursor.execute(f"REVOKE ALL PRIVILEGES ON {name}.{table} FROM {APP_ACCOUNT}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'watchlist.db'}"


@pytest.fixture(params=["sqlite", "mysql", "mysql_app_account"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that uses this runs on SQLite, on MariaDB/MySQL, and on a MariaDB/MySQL
    database made by init.sql and reached through the app's least-privilege account."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture(scope="session")
def signing_keys() -> list[SigningKey]:
    return [SigningKey.generate("key-1"), SigningKey.generate("key-2")]


@pytest.fixture
def provider(signing_keys: list[SigningKey]) -> Iterator[Provider]:
    """A key server publishing the first key (tests may publish more)."""
    with serve(signing_keys[:1]) as provider:
        yield provider


def make_settings(database_url: str, provider: Provider, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "google_client_id": AUDIENCE,
        "google_client_secret": "test-secret",
        "secret_key": "test-secret-key-" + "x" * 32,
        "oidc_discovery_url": provider.discovery_url,
        "api_audiences": (AUDIENCE,),
        "dev_sign_in": False,
    }
    values.update(overrides)
    for secret in ("google_client_secret", "secret_key", "quotes_api_key"):
        if secret in values:
            values[secret] = Secret(str(values[secret]))
    fallbacks = values.get("secret_key_fallbacks", ())
    values["secret_key_fallbacks"] = tuple(Secret(str(key)) for key in fallbacks)  # type: ignore[attr-defined]
    return Settings(**values)  # type: ignore[arg-type]


ClientFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(provider: Provider) -> Iterator[ClientFactory]:
    """Start apps (lifespan included) on a database URL; each is shut down afterwards."""
    clients: list[TestClient] = []

    def make(database_url: str, **overrides: object) -> TestClient:
        app = create_app(make_settings(database_url, provider, **overrides))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: ClientFactory, database_url: str) -> TestClient:
    """An app on each database."""
    return make_client(database_url)


@pytest.fixture
def sqlite_client(make_client: ClientFactory, sqlite_url: str) -> TestClient:
    """An app on SQLite, for tests about the HTTP surface rather than storage."""
    return make_client(sqlite_url)


def wait_until_serving(
    url: str, process: subprocess.Popen[Any], output: Callable[[], str], seconds: float = 30
) -> None:
    """Poll ``url``/healthz until the server in ``process`` answers; fail with its output
    if it exits or does not answer within ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx2.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the server did not start:\n{output()}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[str]:
    """A real OpenID provider (the development sign-in) on loopback: its discovery URL."""
    url = f"http://127.0.0.1:{free_port()}"
    with devprovider.running(url):
        yield f"{url}/.well-known/openid-configuration"


def session_cookie(secret_key: str, session: dict[str, object]) -> str:
    """A session cookie as SessionMiddleware signs it: how tests sign in directly."""
    data = base64.b64encode(json.dumps(session).encode())
    return TimestampSigner(secret_key).sign(data).decode()


def signed_in_session(
    client: TestClient, sub: str = "alice-sub", email: str = "alice@example.com", **changes: Any
) -> dict[str, Any]:
    """A session as a sign-in leaves it, with the user recorded as the callback does."""
    name = email.split("@")[0].title()
    store = client.app_state["store"]
    assert client.portal is not None, "enter the TestClient first"
    client.portal.call(store.record_sign_in, sub, email, name)
    now = time.time()
    identity = {"sub": sub, "email": email, "name": name, "picture": None}
    session = {"user": identity, "signed_in_at": now, "seen": int(now), "sid": uuid.uuid4().hex}
    return {**session, **changes}


def sign_in(client: TestClient, sub: str = "alice-sub", email: str = "alice@example.com") -> None:
    """Give ``client`` the session cookie of a signed-in person."""
    settings: Settings = client.app_state["settings"]
    value = session_cookie(str(settings.secret_key), signed_in_session(client, sub, email))
    client.cookies.set("session", value, "testserver.local")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def insert_items(database_url: str, sub: str, list_id: int, count: int) -> None:
    """``count`` items (``S0``, ``S1``, ...) straight into one of ``sub``'s lists, in one
    statement: a person near the item limit without a thousand requests."""

    async def insert() -> None:
        database = Database(database_url)
        await database.connect()
        try:
            now = datetime(2024, 1, 1)
            rows = [
                {
                    "list_id": list_id,
                    "user_sub": sub,
                    "symbol": f"S{n}",
                    "name": "",
                    "price": None,
                    "notes": "",
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(count)
            ]
            await database.execute(watchlist_items.insert().values(rows))
        finally:
            await database.disconnect()

    asyncio.run(insert())
