"""The README's configuration table is the settings module's own."""

from __future__ import annotations

from pathlib import Path

from webapp.settings import settings_table

README = Path(__file__).parent.parent / "README.md"


def test_readme_configuration_table_matches_the_code() -> None:
    assert settings_table() in README.read_text()
