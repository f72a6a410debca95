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


@contextlib.contextmanager
def _connect(database_url: str) -> Iterator[sa.Connection]:
    url = sync_url(database_url)
    connect_args = {"charset": "utf8mb4"} if url.get_backend_name() == "mysql" else {}
    engine = sa.create_engine(url, poolclass=sa.NullPool, connect_args=connect_args)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


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
    with _connect(database_url) as connection:
        before = _current(connection)
        adopted = before is None and sa.inspect(connection).has_table("watchlist_items")
        # End the read's transaction: Alembic runs each migration in a transaction of its own.
        connection.commit()
        config = _config(connection)
        if adopted:
            command.stamp(config, BASELINE)
            before = BASELINE
            logger.info("recorded the tables that predate migrations as %s", BASELINE)
        command.upgrade(config, revision)
        connection.commit()
        current = _current(connection)
    ids = revisions()
    start = 0 if before is None else ids.index(before) + 1
    applied = ids[start : ids.index(current) + 1] if current else []
    if applied:
        logger.info("applied migrations: %s", ", ".join(applied))
    return Upgraded(applied, current, adopted)


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
