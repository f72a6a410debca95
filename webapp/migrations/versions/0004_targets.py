"""Add price targets (alert_above, alert_below) to items, and index a list's default order.

Revision ID: 0004_targets
Revises: 0003_lists
Create Date: 2026-12-01

Each step is safe to run again (webapp/migrations/steps.py), so a run stopped halfway on
MySQL finishes when run again. Both columns are nullable without a default, and the new
index replaces one it extends: on MySQL 8 each is an online (in-place) change.
"""

from __future__ import annotations

import sqlalchemy as sa

from webapp.migrations import steps

revision = "0004_targets"
down_revision = "0003_lists"
branch_labels = None
depends_on = None

# As webapp/tables.py declares a price: DECIMAL(16, 4), or exact text on SQLite.
_PRICE = sa.Numeric(16, 4).with_variant(sa.String(24), "sqlite")


def upgrade() -> None:
    steps.add_column("watchlist_items", sa.Column("alert_above", _PRICE, nullable=True))
    steps.add_column("watchlist_items", sa.Column("alert_below", _PRICE, nullable=True))
    # A list's items newest first, read in index order: (user_sub, list_id) then the
    # default sort. It serves every look-up the old (user_sub, list_id) index did.
    steps.create_index(
        "ix_watchlist_items_user_list_created",
        "watchlist_items",
        ["user_sub", "list_id", "created_at"],
    )
    steps.drop_index("ix_watchlist_items_user_list", "watchlist_items")


def downgrade() -> None:
    steps.create_index("ix_watchlist_items_user_list", "watchlist_items", ["user_sub", "list_id"])
    steps.drop_index("ix_watchlist_items_user_list_created", "watchlist_items")
    steps.drop_column("watchlist_items", "alert_below")
    steps.drop_column("watchlist_items", "alert_above")
