"""The schema is defined once: ``init.sql`` is exactly what the metadata generates."""

from __future__ import annotations

import asyncio
from pathlib import Path

from databases import Database

from tests.conftest import admin_connection
from webapp.store import Store
from webapp.tables import mysql_ddl

INIT_SQL = Path(__file__).parent.parent / "init.sql"


def test_init_sql_is_generated_from_the_metadata() -> None:
    assert INIT_SQL.read_text() == mysql_ddl(), (
        "init.sql is stale: regenerate it with `uv run watchlist schema > init.sql`"
    )


def _columns(url: str) -> dict[str, tuple[str, str]]:
    async def read() -> dict[str, tuple[str, str]]:
        database = Database(url)
        await database.connect()
        try:
            rows = await database.fetch_all(
                "SELECT column_name AS name, column_type AS type, is_nullable AS nullable"
                " FROM information_schema.columns"
                " WHERE table_schema = DATABASE() AND table_name = 'watchlist_items'"
            )
        finally:
            await database.disconnect()
        return {row[0]: (row[1], row[2]) for row in rows}

    return asyncio.run(read())


def test_init_sql_and_the_app_create_the_same_table(mysql_url: str) -> None:
    """init.sql applied by hand and the app's own start-up give identical columns."""
    server, _, name = mysql_url.rpartition("/")
    with admin_connection(server) as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}_init CHARACTER SET utf8mb4")
        cursor.execute(f"USE {name}_init")
        for statement in INIT_SQL.read_text().split(";"):
            body = "\n".join(line for line in statement.splitlines() if not line.startswith("--"))
            if body.strip():
                cursor.execute(body)
    try:
        from_init_sql = _columns(f"{server}/{name}_init")

        async def create() -> None:
            database = Database(mysql_url)
            await database.connect()
            await Store(database).create_tables()
            await Store(database).create_tables()  # idempotent
            await database.disconnect()

        asyncio.run(create())
        assert _columns(mysql_url) == from_init_sql
        assert from_init_sql["created_at"] == ("datetime(6)", "NO")
        assert from_init_sql["user_sub"] == ("varbinary(255)", "NO")
    finally:
        with admin_connection(server) as connection, connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE {name}_init")
