"""Schema steps that are safe to run again, for writing migrations that survive MySQL.

MySQL commits each DDL statement on its own, so a migration stopped halfway (the process
killed, the connection lost, a statement refused) leaves the steps before the failure done
while ``alembic_version`` still names the previous revision. The next ``watchlist migrate``
runs the whole revision again: every step here first looks whether its work is already
done, and does nothing if so. Each look uses only the app's own database (the inspector
reads ``information_schema`` as any account may), never the ``mysql`` system schema.

Data steps cannot be checked this way; write them so that running one twice changes
nothing the second time (``UPDATE ... WHERE new_column IS NULL``, an ``INSERT ... SELECT``
of the rows that are still missing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op


def _inspector() -> sa.Inspector:
    # A new inspector each time: one caches what it has read, and the steps change it.
    return sa.inspect(op.get_bind())


def create_table(name: str, *columns: sa.schema.SchemaItem, **options: Any) -> None:
    """Create the table, unless it exists (one statement: it is there whole, or not)."""
    if not _inspector().has_table(name):
        op.create_table(name, *columns, **options)


def drop_table(name: str) -> None:
    if _inspector().has_table(name):
        op.drop_table(name)


def add_column(table: str, column: sa.Column[Any]) -> None:
    """Add the column, unless the table has one of that name."""
    if column.name not in {c["name"] for c in _inspector().get_columns(table)}:
        op.add_column(table, column)


def drop_column(table: str, name: str) -> None:
    if name in {c["name"] for c in _inspector().get_columns(table)}:
        with op.batch_alter_table(table) as batch:
            batch.drop_column(name)


def _index_names(table: str) -> set[str]:
    inspector = _inspector()
    names = {index["name"] for index in inspector.get_indexes(table)}
    # MySQL reports a unique constraint as an index too; SQLite only as a constraint.
    names |= {constraint["name"] for constraint in inspector.get_unique_constraints(table)}
    return {name for name in names if name}


def create_index(name: str, table: str, columns: Sequence[str], *, unique: bool = False) -> None:
    """Create the index, unless the table has one of that name."""
    if name not in _index_names(table):
        op.create_index(name, table, list(columns), unique=unique)


def drop_index(name: str, table: str) -> None:
    """Drop the index, or the unique constraint, of that name, if the table has it."""
    inspector = _inspector()
    unique = {constraint["name"] for constraint in inspector.get_unique_constraints(table)}
    if op.get_bind().dialect.name == "sqlite" and name in unique:
        # SQLite keeps a table's constraints in its definition: the table is rebuilt.
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="unique")
    elif name in _index_names(table):
        op.drop_index(name, table_name=table)


def set_not_null(table: str, column: str, existing_type: sa.types.TypeEngine[Any]) -> None:
    """Make the column NOT NULL, unless it is already (fill it in first)."""
    columns = {c["name"]: c for c in _inspector().get_columns(table)}
    if columns[column]["nullable"]:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, existing_type=existing_type, nullable=False)
