"""The schema's version: Alembic migrations in ``webapp/migrations``, run from code.

Alembic is synchronous, so it runs on a synchronous URL derived from ``DATABASE_URL``
(PyMySQL for MySQL, the standard library's sqlite3 for SQLite); the app calls it in a
thread. A database is up to date when its ``alembic_version`` row names the newest
migration; reading that needs nothing but SELECT on ``alembic_version``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: What an operator runs to apply pending migrations.
MIGRATE_COMMAND = "watchlist migrate"
#: The first revision, which created the tables that predate migrations.
BASELINE = "0001_watchlist_items"

_SYNC_DRIVERS = {"mysql+aiomysql": "mysql+pymysql", "sqlite+aiosqlite": "sqlite"}


class SchemaError(Exception):
    """This code cannot run on the database's schema; the one-line message says what to do."""


def sync_url(database_url: str) -> sa.URL:
    """``DATABASE_URL`` with its async driver swapped for the synchronous one Alembic uses."""
    url = sa.make_url(database_url)
    if url.drivername not in _SYNC_DRIVERS:
        raise ValueError(f"no synchronous driver for {url.drivername!r} URLs")
    return url.set(drivername=_SYNC_DRIVERS[url.drivername])


class DatabaseFailure(Exception):
    """The database could not be reached, or refused a statement; the message is one line
    that names what failed and what to do (the traceback goes to the debug log)."""


@contextlib.contextmanager
def _connect(database_url: str) -> Iterator[sa.Connection]:
    url = sync_url(database_url)
    connect_args = {"charset": "utf8mb4"} if url.get_backend_name() == "mysql" else {}
    engine = sa.create_engine(url, poolclass=sa.NullPool, connect_args=connect_args)
    try:
        with _failures(url, "Reading the schema's version"), engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


# MySQL's error codes, as the server or the client reports them.
_UNREACHABLE = {2002, 2003, 2005, 2006, 2013}  # no server there, unknown host, gone, lost
_BAD_CREDENTIALS = 1045
_UNKNOWN_DATABASE = 1049
_DENIED = {1044, 1142, 1143, 1227, 1370}  # database, table, column, global, routine
_NO_SUCH_ACCOUNT = {1133, 1410}  # MariaDB's, MySQL 8's "GRANT to an account that is not there"


@contextlib.contextmanager
def _failures(url: sa.URL, doing: str, needs: str = "") -> Iterator[None]:
    """Turn the database's refusal of ``doing`` into a ``DatabaseFailure``; ``needs`` is
    what a refused privilege asks for."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        logger.debug("%s failed on %s", doing, _where(url), exc_info=True)
        raise DatabaseFailure(_explain(exc, url, doing, needs)) from exc


def _where(url: sa.URL) -> str:
    if url.get_backend_name() == "sqlite":
        return f"the SQLite database {url.database}"
    return f"{url.host}:{url.port or 3306}"


def _explain(exc: sa.exc.DBAPIError, url: sa.URL, doing: str, needs: str) -> str:
    args = exc.orig.args if exc.orig is not None else ()
    code = args[0] if args and isinstance(args[0], int) else None
    said = " ".join(str(args[-1] if code is not None else exc.orig).split())
    where, user, database = _where(url), url.username, url.database
    if url.get_backend_name() == "sqlite":
        return (
            f"{doing} failed on {where} ({said}): check that its folder exists and is "
            "writable, or set DATABASE_URL."
        )
    if code in _UNREACHABLE:
        return (
            f"Cannot reach the database server at {where} ({said}): check that it is "
            "running and that DATABASE_URL names it."
        )
    if code == _BAD_CREDENTIALS:
        return (
            f"The database server at {where} refused to sign in {user!r} ({said}): check "
            "the user name and password in DATABASE_URL."
        )
    if code == _UNKNOWN_DATABASE:
        return (
            f"The database {database!r} does not exist on {where}: create it (CREATE DATABASE "
            f"{database} CHARACTER SET utf8mb4) or correct DATABASE_URL."
        )
    if code in _DENIED:
        needs = needs or (
            f"DDL and DML on {database!r} (GRANT ALL ON {database}.* TO the account), or run "
            f"`{MIGRATE_COMMAND}` as an account that has them"
        )
        return f"{doing} failed: {user!r} lacks a privilege on {where} ({said}); it needs {needs}."
    if code in _NO_SUCH_ACCOUNT:
        return (
            f"{doing} failed: there is no such account on {where} ({said}); create it "
            "(init.sql does, locked) or name the app's account with --account."
        )
    return (
        f"{doing} failed: the database at {where} refused a statement "
        f"({code}: {said}). Fix the cause and run `{MIGRATE_COMMAND}` again: the steps "
        "already done are kept, and skipped."
    )


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def revisions() -> list[str]:
    """Every revision id, oldest first (the history is one line)."""
    scripts = ScriptDirectory.from_config(_config())
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


def head_revision() -> str:
    """The newest revision: the schema this code expects."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "webapp/migrations/versions holds no migration"
    return head


def version_table(dialect: sa.Dialect) -> sa.Table:
    """The table Alembic keeps the database's revision in, as Alembic defines it, but for
    the primary key's name: MySQL ignores it, and MariaDB warns that it does."""
    impl = MigrationContext.configure(dialect=dialect).impl
    table = impl.version_table_impl(
        version_table="alembic_version", version_table_schema=None, version_table_pk=False
    )
    table.append_constraint(sa.PrimaryKeyConstraint("version_num"))
    return table


def _current(connection: sa.Connection) -> str | None:
    current = MigrationContext.configure(connection).get_current_revision()
    if current is not None and current not in revisions():
        raise SchemaError(
            f"The database's schema is at revision {current}, which this code does not know "
            "(a newer release migrated it): run that release, or this one on another database."
        )
    return current


def current_revision(database_url: str) -> str | None:
    """The database's revision; ``None`` when no migration has run on it."""
    with _connect(database_url) as connection:
        return _current(connection)


def is_up_to_date(database_url: str) -> bool:
    return current_revision(database_url) == head_revision()


class Upgraded(NamedTuple):
    """What ``upgrade`` did."""

    #: The revisions applied, oldest first.
    applied: list[str]
    #: The database's revision now.
    current: str | None
    #: The tables predated migrations and were recorded as the baseline revision first.
    adopted: bool = False


def upgrade(database_url: str, revision: str = "head") -> Upgraded:
    """Apply the pending migrations up to ``revision`` (the newest by default).

    Tables made before migrations existed (by an earlier ``init.sql`` or start-up) are the
    baseline revision's: they are recorded as such, then upgraded like any other.
    """
    url = sync_url(database_url)
    ids = revisions()
    target = ids.index(head_revision() if revision == "head" else revision)
    with _connect(database_url) as connection:
        before = _current(connection)
        with _failures(url, "Reading the schema"):
            adopted = before is None and sa.inspect(connection).has_table("watchlist_items")
            # End the read's transaction: each migration runs in a transaction of its own.
            connection.commit()
        config = _config(connection)
        if adopted:
            with _failures(url, f"Recording the tables as {BASELINE}"):
                command.stamp(config, BASELINE)
            before = BASELINE
            logger.info("recorded the tables that predate migrations as %s", BASELINE)
        start = 0 if before is None else ids.index(before) + 1
        applied = ids[start : target + 1]
        # One at a time, so that a failure names its migration.
        for pending in applied:
            with _failures(url, f"Migration {pending}"):
                command.upgrade(config, pending)
                connection.commit()
        current = _current(connection)
    if applied:
        logger.info("applied migrations: %s", ", ".join(applied))
    return Upgraded(applied, current, adopted)


def grant(database_url: str, account: str) -> list[str]:
    """Give ``account`` what the app needs on every table: read and write rows, read the
    schema's version. Safe to repeat. Returns the tables; SQLite has no accounts (none)."""
    # Imported here: webapp.tables builds on this module (the version table, the head).
    from webapp.tables import grant_statements, metadata

    statements = grant_statements(account)
    url = sync_url(database_url)
    if url.get_backend_name() != "mysql":
        return []
    needs = "GRANT OPTION on the app's tables (MySQL's root has it; migrate as that account)"
    with _connect(database_url) as connection, _failures(url, f"Granting {account}", needs):
        for statement in statements:
            connection.execute(sa.text(statement))
    return [*metadata.tables, "alembic_version"]


def prepare(database_url: str, *, production: bool) -> None:
    """At start-up: bring the schema up to date in development; in production, refuse to
    run on a schema older than the code. Nothing is written when no migration is pending.
    """
    current = current_revision(database_url)
    head = head_revision()
    if current == head:
        return
    if production:
        raise SchemaError(
            f"The database's schema ({current or 'none yet'}) is older than the code ({head}): "
            f"run `{MIGRATE_COMMAND}` on it, as an account that may change tables, then start "
            "the app."
        )
    upgrade(database_url)
