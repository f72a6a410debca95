"""The schema's version: every database, empty or holding data at an older revision, reaches
the schema the code defines, and nothing is lost on the way. Written over the revision list,
so each new migration is tested by the same code."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from databases import Database

from tests.conftest import ClientFactory, admin_connection, free_port
from webapp.migrate import (
    BASELINE,
    MIGRATIONS_DIR,
    SchemaError,
    current_revision,
    head_revision,
    is_up_to_date,
    revisions,
    sync_url,
    upgrade,
)
from webapp.settings import SETTINGS
from webapp.store import Item, Store
from webapp.tables import metadata


@pytest.fixture(params=["sqlite", "mysql_ordinary"])
def empty_url(request: pytest.FixtureRequest) -> str:
    """An empty database that the tests may create tables in, on SQLite and on MariaDB/MySQL
    through an account with ALL on that database and nothing more: migrations must need no
    other privilege."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def connection(empty_url: str) -> Iterator[sa.Connection]:
    """A synchronous connection to ``empty_url``, for looking at what migrations did."""
    engine = sa.create_engine(sync_url(empty_url), poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


#: Every state older than the code: no schema at all, then each revision before the newest.
OLDER = [None, *revisions()[:-1]]


def test_the_history_is_one_line_of_readable_ids() -> None:
    ids = revisions()
    assert ids[0] == BASELINE
    assert head_revision() == ids[-1]
    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    for number, revision in enumerate(ids, start=1):
        script = scripts.get_revision(revision)
        assert script is not None
        assert re.fullmatch(rf"{number:04d}_[a-z0-9_]+", revision)
        assert len(revision) <= 32, "alembic_version.version_num is VARCHAR(32)"
        assert Path(script.path).name == f"{revision}.py"
        assert script.down_revision == (ids[number - 2] if number > 1 else None)
    assert {path.stem for path in (MIGRATIONS_DIR / "versions").glob("*.py")} == set(ids)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "mysql+aiomysql://app:p%40ss@db:3306/watchlist?charset=utf8mb4",
            "mysql+pymysql://app:p%40ss@db:3306/watchlist?charset=utf8mb4",
        ),
        ("sqlite+aiosqlite:///./watchlist.db", "sqlite:///./watchlist.db"),
        ("sqlite+aiosqlite:////var/lib/watchlist.db", "sqlite:////var/lib/watchlist.db"),
    ],
)
def test_alembic_runs_on_the_synchronous_driver(url: str, expected: str) -> None:
    assert sync_url(url).render_as_string(hide_password=False) == expected


def test_other_urls_have_no_synchronous_driver() -> None:
    with pytest.raises(ValueError, match="postgresql"):
        sync_url("postgresql+asyncpg://db/watchlist")


def test_upgrade_an_empty_database(empty_url: str) -> None:
    assert current_revision(empty_url) is None
    assert not is_up_to_date(empty_url)

    upgraded = upgrade(empty_url)
    assert upgraded.applied == revisions()
    assert upgraded.current == head_revision()
    assert not upgraded.adopted
    assert is_up_to_date(empty_url)

    assert upgrade(empty_url).applied == []


def test_the_metadata_agrees_with_the_newest_migration(
    empty_url: str, connection: sa.Connection
) -> None:
    """What webapp/tables.py defines is what the migrations build: a change to one without
    the other fails here, with the differences."""
    upgrade(empty_url)
    options = {"compare_type": True, "compare_server_default": _different_defaults}
    context = MigrationContext.configure(connection, opts=options)
    assert compare_metadata(context, metadata) == []


def _different_defaults(
    context: MigrationContext,
    inspected_column: sa.Column[Any],
    metadata_column: sa.Column[Any],
    inspected_default: str | None,
    metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    """Compare a plain-string default (``server_default=""``) as the SQL literal it becomes:
    Alembic compares it unquoted with the quoted literal the database reports (SQLite's in
    parentheses), and finds an empty string different from itself."""
    if isinstance(metadata_default, sa.DefaultClause) and isinstance(metadata_default.arg, str):
        literal = sa.literal(metadata_default.arg).compile(
            dialect=context.dialect, compile_kwargs={"literal_binds": True}
        )
        inspected = re.sub(r"^\((.*)\)$", r"\1", inspected_default or "")
        return inspected != str(literal)
    return None


# Rows in the first revision's shape, written without the current metadata: the test data
# must not change when the schema does.
_FIRST_ROWS = sa.table(
    "watchlist_items",
    sa.column("user_sub", sa.String()),
    sa.column("symbol", sa.String()),
    sa.column("name", sa.String()),
    sa.column("price", sa.String()),
    sa.column("notes", sa.String()),
    sa.column("created_at", sa.DateTime()),
    sa.column("updated_at", sa.DateTime()),
)
_SEED: list[dict[str, Any]] = [
    {
        "user_sub": "alice-sub",
        "symbol": "BRK.B",
        "name": "Berkshire 😀",
        "price": "412.5000",
        "notes": "a\nb",
        "created_at": datetime(2024, 1, 2, 3, 4, 5, 678901),
        "updated_at": datetime(2024, 2, 3, 4, 5, 6, 789012),
    },
    {
        "user_sub": "alice-sub",
        "symbol": "^GSPC",
        "name": "",
        "price": None,
        "notes": "",
        "created_at": datetime(2024, 1, 3),
        "updated_at": datetime(2024, 1, 3),
    },
    {
        "user_sub": "bob-sub",
        "symbol": "BRK.B",
        "name": "",
        "price": "999999999999.9999",
        "notes": "",
        "created_at": datetime(2024, 1, 4),
        "updated_at": datetime(2024, 1, 4),
    },
]


def _seed_the_first_revision(url: str, connection: sa.Connection) -> None:
    assert upgrade(url, BASELINE).current == BASELINE
    connection.execute(_FIRST_ROWS.insert(), _SEED)
    connection.commit()


Snapshot = dict[str, dict[tuple[Any, ...], dict[str, Any]]]


def _snapshot(connection: sa.Connection) -> Snapshot:
    """Every row of every table but Alembic's, by primary key, as the database holds it."""
    reflected = sa.MetaData()
    reflected.reflect(connection)
    snapshot: Snapshot = {}
    for table in reflected.sorted_tables:
        if table.name == "alembic_version":
            continue
        key = [column.name for column in table.primary_key.columns]
        rows = connection.execute(sa.select(table)).mappings()
        snapshot[table.name] = {tuple(row[name] for name in key): dict(row) for row in rows}
    connection.rollback()
    return snapshot


def _assert_nothing_lost(before: Snapshot, after: Snapshot) -> None:
    """Every table, row and value that existed still does (columns may be added)."""
    for table, rows in before.items():
        assert table in after, f"{table} was dropped"
        assert after[table].keys() == rows.keys(), f"rows of {table} were lost or added"
        for key, row in rows.items():
            kept = after[table][key]
            assert row.items() <= kept.items(), f"{table} {key}: {row} became {kept}"


async def _items(url: str, user_sub: str) -> list[Item]:
    database = Database(url)
    await database.connect()
    try:
        return await Store(database).list_items(user_sub)
    finally:
        await database.disconnect()


def test_upgrading_a_database_with_data_loses_nothing(
    empty_url: str, connection: sa.Connection
) -> None:
    """From the first revision with rows in it, one migration at a time, to the newest."""
    _seed_the_first_revision(empty_url, connection)
    before = _snapshot(connection)
    assert len(before["watchlist_items"]) == len(_SEED)
    for revision in revisions()[1:]:
        assert upgrade(empty_url, revision).applied == [revision]
        after = _snapshot(connection)
        _assert_nothing_lost(before, after)
        before = after
    assert upgrade(empty_url).applied == []

    # The code reads the rows back exactly as they were written.
    alice = asyncio.run(_items(empty_url, "alice-sub"))
    assert [(item.symbol, item.name, item.price, item.notes) for item in alice] == [
        ("^GSPC", "", None, ""),
        ("BRK.B", "Berkshire 😀", Decimal("412.5"), "a\nb"),
    ]
    assert alice[1].created_at == datetime(2024, 1, 2, 3, 4, 5, 678901)
    assert alice[1].updated_at == datetime(2024, 2, 3, 4, 5, 6, 789012)
    (bob,) = asyncio.run(_items(empty_url, "bob-sub"))
    assert bob.price == Decimal("999999999999.9999")


def test_tables_that_predate_migrations_are_adopted(
    empty_url: str, connection: sa.Connection
) -> None:
    """A database made before migrations (the first revision's tables, no version) is
    recorded as the first revision, then upgraded without losing a row."""
    _seed_the_first_revision(empty_url, connection)
    connection.execute(sa.text("DROP TABLE alembic_version"))
    connection.commit()
    before = _snapshot(connection)
    assert current_revision(empty_url) is None

    upgraded = upgrade(empty_url)
    assert upgraded.adopted
    assert upgraded.applied == revisions()[1:]
    assert is_up_to_date(empty_url)
    _assert_nothing_lost(before, _snapshot(connection))


def test_a_revision_this_code_does_not_know_is_refused(
    sqlite_url: str, make_client: ClientFactory
) -> None:
    upgrade(sqlite_url)
    engine = sa.create_engine(sync_url(sqlite_url), poolclass=sa.NullPool)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    for attempt in (current_revision, upgrade, make_client):
        with pytest.raises(SchemaError) as refused:
            attempt(sqlite_url)
        assert "9999_future" in str(refused.value)
        assert "\n" not in str(refused.value)


def _watchlist(
    database_url: str, cwd: Path, *arguments: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    ours = {setting.name for setting in SETTINGS}
    environ = {name: value for name, value in os.environ.items() if name not in ours}
    return subprocess.run(
        [sys.executable, "-m", "webapp", *arguments],
        cwd=cwd,
        env={**environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
    )


def _migrate_command(database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return _watchlist(database_url, cwd, "migrate")


def test_the_migrate_command_on_an_empty_sqlite_file(tmp_path: Path) -> None:
    url = "sqlite+aiosqlite:///./fresh.db"
    first = _migrate_command(url, tmp_path)
    assert first.stdout.splitlines() == [
        *(f"Applied {revision}." for revision in revisions()),
        f"{url} is at {head_revision()}: now up to date.",
    ]
    assert is_up_to_date(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")

    again = _migrate_command(url, tmp_path)
    assert again.stdout == f"{url} is at {head_revision()}: already up to date, nothing to apply.\n"


@pytest.mark.parametrize("older", OLDER)
def test_production_refuses_an_older_schema(
    empty_url: str, older: str | None, make_client: ClientFactory
) -> None:
    if older is not None:
        upgrade(empty_url, older)
    with pytest.raises(SchemaError) as refused:
        make_client(empty_url, environment="production")
    message = str(refused.value)
    assert "\n" not in message
    assert "`watchlist migrate`" in message
    assert head_revision() in message
    assert current_revision(empty_url) == older, "production must not migrate"


@pytest.mark.parametrize("older", OLDER)
def test_development_applies_pending_migrations_at_start(
    empty_url: str, older: str | None, make_client: ClientFactory
) -> None:
    if older is not None:
        upgrade(empty_url, older)
    client = make_client(empty_url)
    assert is_up_to_date(empty_url)
    assert client.get("/readyz").status_code == 200


def test_production_starts_on_an_up_to_date_schema(
    empty_url: str, make_client: ClientFactory
) -> None:
    upgrade(empty_url)
    client = make_client(empty_url, environment="production")
    assert client.get("/readyz").status_code == 200


def test_a_database_made_by_init_sql_needs_no_ddl(
    mysql_app_account_url: str, make_client: ClientFactory
) -> None:
    """init.sql leaves the database up to date, so the app's account, which may read and
    write rows but not change tables, is enough to start and run the app."""
    assert is_up_to_date(mysql_app_account_url)
    assert upgrade(mysql_app_account_url).applied == []
    for environment in ("production", "development"):
        client = make_client(mysql_app_account_url, environment=environment)
        assert client.get("/readyz").status_code == 200

    engine = sa.create_engine(sync_url(mysql_app_account_url), poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            for statement in [
                "CREATE TABLE intruder (id INT)",
                "ALTER TABLE watchlist_items ADD COLUMN intruder INT",
                "DROP TABLE watchlist_items",
                "UPDATE alembic_version SET version_num = 'x'",
            ]:
                with pytest.raises(sa.exc.OperationalError, match="denied"):
                    connection.execute(sa.text(statement))
    finally:
        engine.dispose()


class Interrupted(Exception):
    """Stands for the process dying, or the connection breaking, before a statement."""


@contextmanager
def _interrupted_before(statement_number: int) -> Iterator[list[str]]:
    """Interrupt the ``statement_number``-th statement that changes the database (DDL, or a
    write; reads do not count). Yields the statements that ran, the interrupted one last."""
    ran: list[str] = []

    def before_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "SHOW", "PRAGMA", "DESCRIBE")):
            return
        ran.append(statement)
        if len(ran) == statement_number:
            raise Interrupted(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", before_execute)
    try:
        yield ran
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", before_execute)


def _drop_everything(connection: sa.Connection) -> None:
    reflected = sa.MetaData()
    reflected.reflect(connection)
    reflected.drop_all(connection)
    connection.commit()


@pytest.mark.parametrize("start", [None, BASELINE])
def test_a_migration_interrupted_at_any_statement_completes_when_run_again(
    empty_url: str, connection: sa.Connection, start: str | None
) -> None:
    """MySQL commits each DDL statement on its own: a run stopped before any of its
    statements (the version's update included) leaves what came before it done. Running
    the migrations again completes them, and loses nothing; on every revision, so every
    new migration is held to it."""
    interruptions = 0
    for statement_number in range(1, 100):
        _drop_everything(connection)
        if start is not None:
            _seed_the_first_revision(empty_url, connection)
        before = _snapshot(connection)
        with _interrupted_before(statement_number) as ran:
            try:
                upgrade(empty_url)
            except Interrupted:
                interruptions += 1
            else:
                break  # fewer statements than that: nothing left to interrupt
        assert current_revision(empty_url) != head_revision(), ran

        assert upgrade(empty_url).current == head_revision(), f"after stopping at {ran[-1]}"
        _assert_nothing_lost(before, _snapshot(connection))
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == [], f"after stopping at {ran[-1]}"
        connection.rollback()
    assert interruptions >= len(revisions()) - (0 if start is None else 1)


def test_0002_after_a_run_that_created_only_its_first_table(
    empty_url: str, connection: sa.Connection, tmp_path: Path
) -> None:
    """The stuck database the defect report describes: `users` made, `alembic_version`
    still at 0001. `watchlist migrate` finishes the job."""
    _seed_the_first_revision(empty_url, connection)
    metadata.tables["users"].create(connection)
    connection.commit()
    assert current_revision(empty_url) == BASELINE

    result = _watchlist(empty_url, tmp_path, "migrate")
    assert "Applied 0002_sessions." in result.stdout.splitlines()
    assert is_up_to_date(empty_url)
    assert sa.inspect(connection).has_table("revoked_sessions")


def _one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("watchlist: ")
    return line


def test_a_refused_privilege_is_one_line_naming_what_to_grant(
    mysql_server: str, mysql_app_account_url: str, tmp_path: Path
) -> None:
    """The app's own account may not change tables: migrating through it on an older
    schema says which migration was refused and what the account needs."""
    url = mysql_app_account_url
    name = sa.make_url(url).database
    # init.sql made the database up to date; say it is one migration behind. Running the
    # newest again needs at least the version's UPDATE, which the app's account lacks.
    with admin_connection(mysql_server) as admin, admin.cursor() as cursor:
        cursor.execute(f"UPDATE {name}.alembic_version SET version_num = %s", (revisions()[-2],))

    line = _one_line_failure(_watchlist(url, tmp_path, "migrate", check=False))
    assert f"Migration {head_revision()} failed" in line
    assert "'watchlist_app' lacks a privilege" in line
    assert re.search(r"\b(CREATE|ALTER|INSERT|UPDATE) command denied", line), line
    assert f"GRANT ALL ON {name}.*" in line

    debug = _watchlist(url, tmp_path, "--debug", "migrate", check=False)
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr, "--debug logs the traceback"


def test_an_unreachable_server_is_one_line(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"mysql+aiomysql://app:secret-password@127.0.0.1:{port}/watchlist"
    for command in (["migrate"], ["grant"], ["serve", "--port", str(free_port())]):
        line = _one_line_failure(_watchlist(url, tmp_path, *command, check=False))
        assert f"Cannot reach the database server at 127.0.0.1:{port}" in line, command
        assert "DATABASE_URL" in line
        assert "secret-password" not in line


def test_a_missing_database_and_a_wrong_password_are_one_line(
    mysql_ordinary_url: str, tmp_path: Path
) -> None:
    url = sa.make_url(mysql_ordinary_url)
    missing = url.set(database="no_such_database").render_as_string(False)
    line = _one_line_failure(_watchlist(missing, tmp_path, "migrate", check=False))
    assert "no_such_database" in line
    assert "CREATE DATABASE" in line or "lacks a privilege" in line  # MySQL may say either

    wrong = url.set(password="wrong-password").render_as_string(False)
    line = _one_line_failure(_watchlist(wrong, tmp_path, "migrate", check=False))
    assert f"refused to sign in {url.username!r}" in line
    assert "wrong-password" not in line


def test_watchlist_grant_gives_the_app_account_new_tables(
    mysql_server: str, mysql_url: str, tmp_path: Path
) -> None:
    """A database whose app account was set up by an older init.sql (watchlist_items
    only): after migrating, `watchlist migrate --grant` gives it the new tables too, as
    compose's migrate service runs it; and running it again changes nothing."""
    account = f"'g_{uuid.uuid4().hex[:10]}'@'%'"
    password = uuid.uuid4().hex
    name = sa.make_url(mysql_url).database
    assert upgrade(mysql_url, BASELINE).current == BASELINE
    with admin_connection(mysql_server) as admin, admin.cursor() as cursor:
        cursor.execute(f"CREATE USER {account} IDENTIFIED BY '{password}'")
        rows = "SELECT, INSERT, UPDATE, DELETE"
        cursor.execute(f"GRANT {rows} ON {name}.watchlist_items TO {account}")
        cursor.execute(f"GRANT SELECT ON {name}.alembic_version TO {account}")
    user = account.split("@")[0].strip("'")
    app_url = sa.make_url(mysql_url).set(username=user, password=password)
    app = sa.create_engine(sync_url(app_url.render_as_string(False)), poolclass=sa.NullPool)
    try:
        first = _watchlist(mysql_url, tmp_path, "migrate", "--grant", "--account", account)
        tables = ", ".join([*metadata.tables, "alembic_version"])
        assert first.stdout.splitlines()[-1] == f"Granted {account} its rights on {tables}."
        _watchlist(mysql_url, tmp_path, "grant", "--account", account)
        with app.connect() as connection:
            for table in metadata.tables:
                connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}"))
            connection.execute(sa.text("INSERT INTO revoked_sessions VALUES ('s', 'u', NOW())"))
            with pytest.raises(sa.exc.OperationalError, match="denied"):
                connection.execute(sa.text("UPDATE alembic_version SET version_num = 'x'"))
    finally:
        app.dispose()
        with admin_connection(mysql_server) as admin, admin.cursor() as cursor:
            cursor.execute(f"DROP USER {account}")


def test_grant_needs_an_account_that_may_grant(mysql_ordinary_url: str, tmp_path: Path) -> None:
    upgrade(mysql_ordinary_url)
    line = _one_line_failure(_watchlist(mysql_ordinary_url, tmp_path, "grant", check=False))
    assert "GRANT OPTION" in line


def test_grant_refuses_an_account_that_is_not_one(sqlite_url: str, tmp_path: Path) -> None:
    assert _watchlist(sqlite_url, tmp_path, "grant").stdout == (
        "SQLite has no accounts: nothing to grant.\n"
    )
    for account in ["watchlist_app", "'a'@'%'; DROP TABLE users", "'a'@'%' IDENTIFIED BY 'x'"]:
        result = _watchlist(sqlite_url, tmp_path, "grant", "--account", account, check=False)
        assert result.returncode == 1
        assert result.stderr.startswith("watchlist: --account: an account is written")


def test_0003_puts_each_persons_items_in_one_first_list(
    empty_url: str, connection: sa.Connection
) -> None:
    """Several people's items at 0002: afterwards each has exactly one list, "My
    watchlist", holding all of their items and nobody else's, and every value is kept."""
    _seed_the_first_revision(empty_url, connection)
    assert upgrade(empty_url, "0002_sessions").current == "0002_sessions"
    carol = {**_SEED[0], "user_sub": "carol-sub", "symbol": "AAPL"}
    connection.execute(_FIRST_ROWS.insert(), [carol])
    connection.commit()
    before = _snapshot(connection)

    assert upgrade(empty_url, "0003_lists").applied == ["0003_lists"]
    after = _snapshot(connection)
    _assert_nothing_lost(before, after)
    lists = after["watchlists"].values()
    assert sorted(
        (_text(entry["user_sub"]), entry["name"], entry["position"]) for entry in lists
    ) == [
        ("alice-sub", "My watchlist", 0),
        ("bob-sub", "My watchlist", 0),
        ("carol-sub", "My watchlist", 0),
    ]
    owner = {entry["id"]: _text(entry["user_sub"]) for entry in lists}
    for item in after["watchlist_items"].values():
        assert owner[item["list_id"]] == _text(item["user_sub"])
    # The same symbol in two people's lists, and the new unique key per list.
    assert sorted(_text(item["user_sub"]) for item in after["watchlist_items"].values()) == [
        "alice-sub",
        "alice-sub",
        "bob-sub",
        "carol-sub",
    ]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def test_0004_gives_every_item_empty_targets_and_the_newest_first_index(
    empty_url: str, connection: sa.Connection
) -> None:
    """Several people's items at 0003: afterwards every value is kept, every item has no
    target, and a list's items are found by (user_sub, list_id, created_at)."""
    _seed_the_first_revision(empty_url, connection)
    assert upgrade(empty_url, "0003_lists").current == "0003_lists"
    before = _snapshot(connection)

    assert upgrade(empty_url, "0004_targets").applied == ["0004_targets"]
    after = _snapshot(connection)
    _assert_nothing_lost(before, after)
    items = after["watchlist_items"].values()
    assert len(items) == len(_SEED)
    assert {(item["alert_above"], item["alert_below"]) for item in items} == {(None, None)}
    indexes = {
        index["name"]: index["column_names"]
        for index in sa.inspect(connection).get_indexes("watchlist_items")
    }
    connection.rollback()
    assert indexes["ix_watchlist_items_user_list_created"] == ["user_sub", "list_id", "created_at"]
    assert "ix_watchlist_items_user_list" not in indexes
    # And the code reads the items back with their targets.
    alice = asyncio.run(_items(empty_url, "alice-sub"))
    assert [(item.symbol, item.alert_above, item.alert_below) for item in alice] == [
        ("^GSPC", None, None),
        ("BRK.B", None, None),
    ]
