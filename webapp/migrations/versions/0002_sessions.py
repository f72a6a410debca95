"""Add users and revoked_sessions: sessions that signing out really ends.

Revision ID: 0002_sessions
Revises: 0001_watchlist_items
Create Date: 2026-11-26
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from webapp.migrations import steps

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


def upgrade() -> None:
    # No grants here: `watchlist grant` gives the app's account its tables (README).
    steps.create_table(
        "users",
        sa.Column("sub", _SUB, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, server_default=""),
        sa.Column("name", sa.String(255), nullable=False, server_default=""),
        sa.Column("first_sign_in", _TIMESTAMP, nullable=False),
        sa.Column("last_sign_in", _TIMESTAMP, nullable=False),
        sa.Column("sessions_valid_after", _TIMESTAMP, nullable=False),
        **_OPTIONS,
    )
    steps.create_table(
        "revoked_sessions",
        sa.Column("sid", sa.String(64), primary_key=True),
        sa.Column("user_sub", _SUB, nullable=False),
        sa.Column("expires_at", _TIMESTAMP, nullable=False),
        **_OPTIONS,
    )


def downgrade() -> None:
    steps.drop_table("revoked_sessions")
    steps.drop_table("users")
