"""The schema is defined once: ``init.sql`` is exactly what the metadata generates, and it
makes the same tables as the migrations, recorded at the newest revision."""

from __future__ import annotations

import pymysql

from tests.conftest import INIT_SQL, admin_connection
from webapp.migrate import head_revision, is_up_to_date, upgrade
from webapp.tables import APP_ACCOUNT, metadata, mysql_ddl


def test_init_sql_is_generated_from_the_metadata() -> None:
    assert INIT_SQL.read_text() == mysql_ddl(), (
        "init.sql is stale: regenerate it with `uv run watchlist schema > init.sql`"
    )


def test_init_sql_records_the_newest_revision_and_grants_only_data_access() -> None:
    ddl = mysql_ddl()
    assert f"INSERT INTO alembic_version (version_num) VALUES ('{head_revision()}');" in ddl
    assert f"CREATE USER IF NOT EXISTS {APP_ACCOUNT} ACCOUNT LOCK;" in ddl
    grants = [line for line in ddl.splitlines() if line.startswith("GRANT ")]
    assert grants == [
        *(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ACCOUNT};"
            for table in (t.name for t in metadata.sorted_tables)
        ),
        f"GRANT SELECT ON alembic_version TO {APP_ACCOUNT};",
    ]


def _tables(cursor: pymysql.cursors.Cursor, database: str) -> dict[str, str]:
    """``SHOW CREATE TABLE`` for every table in ``database``."""
    cursor.execute(f"USE {database}")
    cursor.execute("SHOW TABLES")
    names = sorted(row[0] for row in cursor.fetchall())
    tables = {}
    for name in names:
        cursor.execute(f"SHOW CREATE TABLE {name}")
        row = cursor.fetchone()
        assert row is not None
        tables[name] = row[1]
    return tables


def test_init_sql_and_the_migrations_make_the_same_tables(
    mysql_url: str, mysql_app_account_url: str
) -> None:
    """A database made by init.sql is up to date and identical to one the migrations made."""
    assert is_up_to_date(mysql_app_account_url)
    server, _, name = mysql_url.rpartition("/")
    migrated = f"{name}_migrated"
    with admin_connection(server) as connection, connection.cursor() as cursor:
        cursor.execute(
            f"CREATE DATABASE {migrated} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
    try:
        assert upgrade(f"{server}/{migrated}").current == head_revision()
        with admin_connection(server) as connection, connection.cursor() as cursor:
            from_init_sql = _tables(cursor, name)
            from_migrations = _tables(cursor, migrated)
            cursor.execute(f"SELECT version_num FROM {name}.alembic_version")
            assert cursor.fetchall() == ((head_revision(),),)
        assert from_init_sql == from_migrations
        assert set(from_init_sql) == {*metadata.tables, "alembic_version"}
        items = from_init_sql["watchlist_items"]
        assert "`created_at` datetime(6) NOT NULL" in items
        assert "`user_sub` varbinary(255) NOT NULL" in items
        assert "`price` decimal(16,4) DEFAULT NULL" in items
        assert "ENGINE=InnoDB" in items
        assert "COLLATE=utf8mb4_unicode_ci" in items
    finally:
        with admin_connection(server) as connection, connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {migrated}")
