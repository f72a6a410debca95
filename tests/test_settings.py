"""Settings: read once from the environment; bad values stop start-up with a clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from webapp.settings import (
    DEV_CLIENT_ID,
    GOOGLE_DISCOVERY_URL,
    SECRET_KEY_FILE,
    Settings,
    SettingsError,
)

KEY = "k" * 40
PRODUCTION = {
    "WATCHLIST_ENV": "production",
    "GOOGLE_CLIENT_ID": "client.apps.googleusercontent.com",
    "GOOGLE_CLIENT_SECRET": "secret",
    "SECRET_KEY": KEY,
    "PUBLIC_URL": "https://watchlist.example.com",
    "DATABASE_URL": "mysql+aiomysql://app:pw@db:3306/watchlist",
}


def test_defaults_give_sqlite_and_the_development_sign_in(tmp_path: Path) -> None:
    settings = Settings.from_environ({}, port=8123, state_dir=tmp_path)
    assert settings.database_url == "sqlite+aiosqlite:///./watchlist.db"
    assert settings.dev_sign_in
    assert settings.environment == "development"
    assert settings.public_url == "http://127.0.0.1:8123"
    assert settings.dev_provider_url == "http://127.0.0.1:8124"
    assert settings.oidc_discovery_url == ("http://127.0.0.1:8124/.well-known/openid-configuration")
    assert settings.api_audiences == (DEV_CLIENT_ID,)


def test_development_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings.from_environ({}, state_dir=tmp_path)
    second = Settings.from_environ({}, state_dir=tmp_path)
    assert len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key
    assert (tmp_path / SECRET_KEY_FILE).stat().st_mode & 0o077 == 0
    assert first.secret_key not in repr(first)


def test_production_configuration(tmp_path: Path) -> None:
    settings = Settings.from_environ(PRODUCTION, state_dir=tmp_path)
    assert settings.production
    assert not settings.dev_sign_in
    assert settings.oidc_discovery_url == GOOGLE_DISCOVERY_URL
    assert settings.api_audiences == ("client.apps.googleusercontent.com",)
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_api_audiences_are_a_comma_separated_list(tmp_path: Path) -> None:
    environ = {**PRODUCTION, "API_AUDIENCES": " a.example , b.example,, "}
    settings = Settings.from_environ(environ, state_dir=tmp_path)
    assert settings.api_audiences == ("a.example", "b.example")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"WATCHLIST_ENV": "staging"}, "WATCHLIST_ENV"),
        ({"DATABASE_URL": "postgresql://x/y"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"GOOGLE_CLIENT_ID": ""}, "GOOGLE_CLIENT_ID"),
        ({"GOOGLE_CLIENT_SECRET": ""}, "GOOGLE_CLIENT_SECRET"),
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"PUBLIC_URL": ""}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "watchlist.example.com"}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "https://watchlist.example.com/app"}, "PUBLIC_URL"),
        ({"OIDC_DISCOVERY_URL": "ftp://example.com/x"}, "OIDC_DISCOVERY_URL"),
        ({"SECRET_KEY_FALLBACKS": "short"}, "SECRET_KEY_FALLBACKS"),
        ({"SESSION_IDLE_TIMEOUT": "soon"}, "SESSION_IDLE_TIMEOUT"),
        ({"SESSION_IDLE_TIMEOUT": "0"}, "SESSION_IDLE_TIMEOUT"),
        ({"SESSION_LIFETIME": "-5d"}, "SESSION_LIFETIME"),
        ({"SESSION_IDLE_TIMEOUT": "8d"}, "SESSION_IDLE_TIMEOUT"),
    ],
)
def test_a_bad_value_names_the_variable(change: dict[str, str], named: str, tmp_path: Path) -> None:
    environ = {**PRODUCTION, **change}
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ(environ, state_dir=tmp_path)
    message = str(raised.value)
    assert named in message
    assert "\n" not in message


def test_production_refuses_the_development_sign_in(tmp_path: Path) -> None:
    environ = {"WATCHLIST_ENV": "production", "SECRET_KEY": KEY}
    with pytest.raises(SettingsError, match="GOOGLE_CLIENT_ID"):
        Settings.from_environ(environ, state_dir=tmp_path)


def test_session_durations_and_key_rotation(tmp_path: Path) -> None:
    old = "o" * 40
    environ = {
        **PRODUCTION,
        "SESSION_IDLE_TIMEOUT": "30m",
        "SESSION_LIFETIME": "2d",
        "SECRET_KEY_FALLBACKS": f" {old} ,",
    }
    settings = Settings.from_environ(environ, state_dir=tmp_path)
    assert settings.session_idle_timeout == 1800
    assert settings.session_lifetime == 2 * 86400
    assert settings.session_keys == [old, KEY]
    assert old not in repr(settings)
    defaults = Settings.from_environ(PRODUCTION, state_dir=tmp_path)
    assert (defaults.session_idle_timeout, defaults.session_lifetime) == (12 * 3600, 7 * 86400)
