"""Add watchlists: several named lists per person; every item moves into a first one.

Revision ID: 0003_lists
Revises: 0002_sessions
Create Date: 2026-12-01

Each step is safe to run again (webapp/migrations/steps.py, and data statements that
touch only what is still to do), so a run stopped halfway on MySQL finishes when run again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from webapp.migrations import steps

revision = "0003_lists"
down_revision = "0002_sessions"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
_SUB = sa.String(255).with_variant(mysql.VARBINARY(255), "mysql", "mariadb")
_OPTIONS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}
FIRST_LIST = "My watchlist"


def upgrade() -> None:
    steps.create_table(
        "watchlists",
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
        **_OPTIONS,
    )
    steps.add_column("watchlist_items", sa.Column("list_id", _ID, nullable=True))
    bind = op.get_bind()
    # Everyone who has items gets their first list (once), and every item not yet in a list
    # goes into its owner's first one.
    bind.execute(
        sa.text(
            "INSERT INTO watchlists (user_sub, name, name_key, position, created_at)"
            " SELECT DISTINCT i.user_sub, :name, :key, 0, :now FROM watchlist_items i"
            " WHERE NOT EXISTS (SELECT 1 FROM watchlists w WHERE w.user_sub = i.user_sub)"
        ),
        {
            "name": FIRST_LIST,
            "key": FIRST_LIST.casefold(),
            "now": datetime.now(UTC).replace(tzinfo=None),
        },
    )
    bind.execute(
        sa.text(
            "UPDATE watchlist_items SET list_id = (SELECT MIN(w.id) FROM watchlists w"
            " WHERE w.user_sub = watchlist_items.user_sub) WHERE list_id IS NULL"
        )
    )
    steps.create_index(
        "uq_watchlist_items_list_symbol", "watchlist_items", ["list_id", "symbol"], unique=True
    )
    steps.create_index("ix_watchlist_items_user_list", "watchlist_items", ["user_sub", "list_id"])
    steps.drop_index("uq_watchlist_items_user_symbol", "watchlist_items")
    steps.set_not_null("watchlist_items", "list_id", _ID)


def downgrade() -> None:
    # Back to one list per person: a symbol in several lists keeps its oldest item.
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "DELETE FROM watchlist_items WHERE id NOT IN (SELECT keep FROM (SELECT MIN(id) AS keep"
            " FROM watchlist_items GROUP BY user_sub, symbol) AS kept)"
        )
    )
    steps.create_index(
        "uq_watchlist_items_user_symbol", "watchlist_items", ["user_sub", "symbol"], unique=True
    )
    steps.drop_index("uq_watchlist_items_list_symbol", "watchlist_items")
    steps.drop_index("ix_watchlist_items_user_list", "watchlist_items")
    steps.drop_column("watchlist_items", "list_id")
    steps.drop_table("watchlists")
