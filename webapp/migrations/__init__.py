"""Alembic's migrations (``versions/``), and the repeatable steps they are written in."""
