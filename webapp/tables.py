"""The schema, defined once in SQLAlchemy Core; ``init.sql`` is generated from it.

A change here ships with a migration in ``webapp/migrations/versions`` that makes the same
change to existing databases (a test checks the two agree).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from webapp.migrate import head_revision, version_table

metadata = sa.MetaData()
#: The least-privilege account the app connects as once the schema exists. ``init.sql``
#: creates it locked; the deployment sets its password and unlocks it.
APP_ACCOUNT = "'watchlist_app'@'%'"


class DecimalText(sa.types.TypeDecorator[Decimal]):
    """A price as exact decimal text, for SQLite.

    SQLite's NUMERIC affinity stores decimals as doubles, which cannot hold every price
    below 10^12 to four decimals. Elsewhere a price is DECIMAL(16, 4), which the driver
    already reads as a ``Decimal`` with four places: no conversion on every row.
    """

    impl = sa.String(24)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else str(value.quantize(_PLACES))

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value)).quantize(_PLACES)


_PLACES = Decimal("0.0001")
_PRICE = sa.Numeric(16, 4).with_variant(DecimalText(), "sqlite")

# BIGINT on MySQL; SQLite only auto-increments a column declared INTEGER PRIMARY KEY.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Microsecond precision on MySQL (DATETIME alone truncates to seconds). Values are naive UTC.
_TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

# The provider's stable subject identifier, never the email (which may change).
# Binary on MySQL: a _ci, PAD SPACE collation would let "ALICE " match "alice".
_SUB = sa.String(255).with_variant(mysql.VARBINARY(255), "mysql", "mariadb")
_TABLE_OPTIONS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    # Known to both MySQL 8.0 and MariaDB 10.11 (utf8mb4_0900_ai_ci is MySQL-only).
    "mysql_collate": "utf8mb4_unicode_ci",
}

# Each person's named lists, in the order they choose (position 0 first). A name is unique
# per person whatever its case: name_key is the name case-folded, compared byte for byte.
watchlists = sa.Table(
    "watchlists",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("user_sub", _SUB, nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column(
        "name_key",
        sa.String(300).with_variant(mysql.VARBINARY(1200), "mysql", "mariadb"),
        nullable=False,
    ),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("created_at", _TIMESTAMP, nullable=False),
    sa.UniqueConstraint("user_sub", "name_key", name="uq_watchlists_user_name"),
    **_TABLE_OPTIONS,
)

watchlist_items = sa.Table(
    "watchlist_items",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("user_sub", _SUB, nullable=False),
    sa.Column("symbol", sa.String(32), nullable=False),
    sa.Column("name", sa.String(255), nullable=False, server_default=""),
    sa.Column("price", _PRICE, nullable=True),
    sa.Column("notes", sa.Text(), nullable=False),
    sa.Column("created_at", _TIMESTAMP, nullable=False),
    sa.Column("updated_at", _TIMESTAMP, nullable=False),
    # In the order migrations added them to a table that had the others (the column order
    # must agree): 0003's list, 0004's price targets.
    sa.Column("list_id", _ID, nullable=False),
    sa.Column("alert_above", _PRICE, nullable=True),
    sa.Column("alert_below", _PRICE, nullable=True),
    # A symbol once per list; the owner's items are found through (user_sub, list_id),
    # newest first in index order. Indexes rather than constraints: that is what 0003 and
    # 0004 could add to an existing table.
    sa.Index("uq_watchlist_items_list_symbol", "list_id", "symbol", unique=True),
    sa.Index("ix_watchlist_items_user_list_created", "user_sub", "list_id", "created_at"),
    **_TABLE_OPTIONS,
)

# Everyone who has signed in; sessions signed in before sessions_valid_after are over
# ("sign out everywhere"), whatever their cookies say.
users = sa.Table(
    "users",
    metadata,
    sa.Column("sub", _SUB, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, server_default=""),
    sa.Column("name", sa.String(255), nullable=False, server_default=""),
    sa.Column("first_sign_in", _TIMESTAMP, nullable=False),
    sa.Column("last_sign_in", _TIMESTAMP, nullable=False),
    sa.Column("sessions_valid_after", _TIMESTAMP, nullable=False),
    **_TABLE_OPTIONS,
)

# Sessions ended by signing out: a copy of the cookie is refused until it would have
# expired anyway (then the row may go).
revoked_sessions = sa.Table(
    "revoked_sessions",
    metadata,
    sa.Column("sid", sa.String(64), primary_key=True),
    sa.Column("user_sub", _SUB, nullable=False),
    sa.Column("expires_at", _TIMESTAMP, nullable=False),
    **_TABLE_OPTIONS,
)


def create_statements(dialect: sa.engine.Dialect) -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` for every table, and its indexes, compiled for
    ``dialect`` (for an empty database: MySQL has no ``CREATE INDEX IF NOT EXISTS``)."""
    statements = []
    for table in metadata.sorted_tables:
        create = sa.schema.CreateTable(table, if_not_exists=True)
        statements.append(str(create.compile(dialect=dialect)).strip())
        for index in sorted(table.indexes, key=lambda index: str(index.name)):
            statements.append(str(sa.schema.CreateIndex(index).compile(dialect=dialect)).strip())
    return statements


ACCOUNT_PATTERN = re.compile(r"'[^'\\\s]{1,80}'@'[^'\\\s]{1,255}'")


def grant_statements(account: str) -> list[str]:
    """What the app's account needs on MySQL: rows of every table, and the schema's version
    (read only). ``init.sql`` runs them, and ``watchlist grant`` again after migrations."""
    if not ACCOUNT_PATTERN.fullmatch(account):
        raise ValueError(f"an account is written 'user'@'host', not {account!r}")
    quote = mysql.dialect().identifier_preparer.quote
    return [
        *(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {quote(table.name)} TO {account}"
            for table in metadata.sorted_tables
        ),
        f"GRANT SELECT ON {quote('alembic_version')} TO {account}",
    ]


def mysql_ddl() -> str:
    """The contents of ``init.sql``: the tables, their revision, and the app's account."""
    dialect = mysql.dialect()
    version = version_table(dialect)
    record_version = version.insert().values(version_num=head_revision())
    # No apostrophes or semicolons in the comments: SQL clients split the file on both.
    statements = [
        *create_statements(dialect),
        "-- The schema revision, as Alembic records it: a database made from this file is "
        "up to date.\n"
        + str(sa.schema.CreateTable(version, if_not_exists=True).compile(dialect=dialect)).strip(),
        str(record_version.compile(dialect=dialect, compile_kwargs={"literal_binds": True})),
        "-- The least-privilege account the app connects as, locked until its password is set.\n"
        f"CREATE USER IF NOT EXISTS {APP_ACCOUNT} ACCOUNT LOCK",
        *grant_statements(APP_ACCOUNT),
    ]
    header = (
        "-- Generated by `uv run watchlist schema` from webapp/tables.py and the migrations:\n"
        "-- do not edit by hand. Runs on MySQL 8.0 and MariaDB 10.11.\n"
    )
    body = ";\n\n".join(
        "\n".join(line.rstrip() for line in statement.splitlines()) for statement in statements
    )
    return f"{header}\n{body};\n"
