"""Alembic's environment: migrations run on the connection that ``webapp.migrate`` opens."""

from __future__ import annotations

from alembic import context

from webapp.tables import metadata

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=metadata,
    # A failed migration leaves the ones before it recorded as applied.
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
