"""Add users and revoked_sessions: sessions that signing out really ends.

Revision ID: 0002_sessions
Revises: 0001_watchlist_items
Create Date: 2026-11-26
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002_sessions"
down_revision = "0001_watchlist_items"
branch_labels = None
depends_on = None

_TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
_SUB = sa.String(255).with_variant(mysql.VARBINARY(255), "mysql", "mariadb")
_OPTIONS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}
_APP_ACCOUNT = "'watchlist_app'@'%'"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("sub", _SUB, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, server_default=""),
        sa.Column("name", sa.String(255), nullable=False, server_default=""),
        sa.Column("first_sign_in", _TIMESTAMP, nullable=False),
        sa.Column("last_sign_in", _TIMESTAMP, nullable=False),
        sa.Column("sessions_valid_after", _TIMESTAMP, nullable=False),
        **_OPTIONS,
    )
    op.create_table(
        "revoked_sessions",
        sa.Column("sid", sa.String(64), primary_key=True),
        sa.Column("user_sub", _SUB, nullable=False),
        sa.Column("expires_at", _TIMESTAMP, nullable=False),
        **_OPTIONS,
    )
    bind = op.get_bind()
    if bind.dialect.name in ("mysql", "mariadb"):
        # The app's least-privilege account (init.sql) reaches new tables only when granted.
        exists = bind.execute(
            sa.text("SELECT COUNT(*) FROM mysql.user WHERE user = 'watchlist_app' AND host = '%'")
        ).scalar()
        if exists:
            for table in ("users", "revoked_sessions"):
                op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {_APP_ACCOUNT}")


def downgrade() -> None:
    op.drop_table("revoked_sessions")
    op.drop_table("users")
