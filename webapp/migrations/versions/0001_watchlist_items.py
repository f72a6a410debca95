"""Create watchlist_items: the schema as it stood when migrations began.

Revision ID: 0001_watchlist_items
Revises:
Create Date: 2025-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from webapp.migrations import steps

revision = "0001_watchlist_items"
down_revision = None
branch_labels = None
depends_on = None

# The types are spelled out rather than imported from webapp.tables: a migration keeps
# describing the schema of its own day when the metadata moves on.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
# webapp.tables' price: DECIMAL(16, 4), or exact decimal text on SQLite.
_PRICE = sa.Numeric(16, 4).with_variant(sa.String(24), "sqlite")


def upgrade() -> None:
    steps.create_table(
        "watchlist_items",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column(
            "user_sub",
            sa.String(255).with_variant(mysql.VARBINARY(255), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False, server_default=""),
        sa.Column("price", _PRICE, nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.UniqueConstraint("user_sub", "symbol", name="uq_watchlist_items_user_symbol"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
    )


def downgrade() -> None:
    steps.drop_table("watchlist_items")
