"""Settings: read once from the environment; bad values stop start-up with a clear line."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
import sqlalchemy as sa

from tests.conftest import bearer, free_port, wait_until_serving
from tests.provider import AUDIENCE, Provider
from webapp.settings import (
    DEV_CLIENT_ID,
    GOOGLE_DISCOVERY_URL,
    SECRET_KEY_FILE,
    SETTINGS,
    Settings,
    SettingsError,
    masked_url,
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
    assert len(str(first.secret_key)) >= 32
    assert str(first.secret_key) == str(second.secret_key)
    assert (tmp_path / SECRET_KEY_FILE).stat().st_mode & 0o077 == 0
    assert str(first.secret_key) not in repr(first)


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


SECRETS = {
    "GOOGLE_CLIENT_SECRET": "google-client-secret-7d1f",
    "SECRET_KEY": "session-signing-key-" + "s" * 32,
    "SECRET_KEY_FALLBACKS": "older-signing-key-" + "o" * 32,
}


def test_no_secret_is_in_the_settings_repr(tmp_path: Path) -> None:
    environ = {
        **PRODUCTION,
        **SECRETS,
        "DATABASE_URL": "mysql+aiomysql://app:p%40ss-word-93@db:3306/watchlist",
    }
    settings = Settings.from_environ(environ, state_dir=tmp_path)
    shown = repr(settings) + str(settings) + f"{settings}" + repr(settings.secret_key_fallbacks)
    for secret in [*SECRETS.values(), "p%40ss-word-93", "p@ss-word-93"]:
        assert secret not in shown
    assert "mysql+aiomysql://app:***@db:3306/watchlist" in shown
    assert "client.apps.googleusercontent.com" in shown, "what is not secret is still shown"
    assert settings.session_keys == [SECRETS["SECRET_KEY_FALLBACKS"], SECRETS["SECRET_KEY"]]
    assert masked_url("mysql+aiomysql://app:pw@db:notaport/x") == "**********"


def test_no_secret_is_in_the_logs_of_a_full_start_up(
    tmp_path: Path, mysql_ordinary_url: str, provider: Provider
) -> None:
    """`watchlist --debug serve` with every secret set, signed-in traffic and a stop:
    nothing it prints holds a secret, even with the most detailed logging."""
    password = sa.make_url(mysql_ordinary_url).password
    assert password
    ours = {setting.name for setting in SETTINGS}
    environ = {name: value for name, value in os.environ.items() if name not in ours}
    environ.update(
        SECRETS,
        DATABASE_URL=mysql_ordinary_url,
        GOOGLE_CLIENT_ID=AUDIENCE,
        OIDC_DISCOVERY_URL=provider.discovery_url,
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "webapp", "--debug", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_serving(url, process, log.read_text)
        token = bearer(provider.token())
        with httpx2.Client(base_url=url, timeout=10) as client:
            assert client.get("/readyz").status_code == 200
            assert client.get("/login").status_code in (302, 303)
            assert (
                client.post("/api/stocks", json={"symbol": "AAPL"}, headers=token).status_code
                == 201
            )
            assert client.get("/api/stocks", headers=token).status_code == 200
            assert client.get("/api/stocks", headers=bearer("not-a-token")).status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=30)
    output = log.read_text()
    assert "Application startup complete" in output
    assert "DEBUG" in output, "the most detailed logging was on"
    # The start-up log says where quotes come from (development's default: demo).
    assert "quotes: demo, fresh for 60 s" in output
    for secret in [*SECRETS.values(), password]:
        assert secret not in output


def test_quotes_default_to_demo_in_development_and_off_in_production(tmp_path: Path) -> None:
    assert Settings.from_environ({}, state_dir=tmp_path).quotes_provider == "demo"
    assert Settings.from_environ(PRODUCTION, state_dir=tmp_path).quotes_provider == "off"
    environ = {**PRODUCTION, "QUOTES_PROVIDER": "finnhub", "QUOTES_API_KEY": "finnhub-key-1"}
    settings = Settings.from_environ(environ, state_dir=tmp_path)
    assert (settings.quotes_provider, str(settings.quotes_api_key)) == ("finnhub", "finnhub-key-1")
    assert "finnhub-key-1" not in repr(settings)
    assert (settings.quotes_ttl, settings.quotes_timeout) == (60.0, 3.0)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"QUOTES_PROVIDER": "bloomberg"}, "QUOTES_PROVIDER must be one of demo, finnhub"),
        ({"QUOTES_PROVIDER": "finnhub"}, "QUOTES_API_KEY is required when QUOTES_PROVIDER=finnhub"),
        ({"QUOTES_PROVIDER": "twelvedata"}, "QUOTES_API_KEY is required"),
        ({"QUOTES_BASE_URL": "ftp://proxy"}, "QUOTES_BASE_URL must be an http:// or https:// URL"),
        ({"QUOTES_TTL": "0"}, "QUOTES_TTL must be a positive duration"),
        ({"QUOTES_TTL": "soon"}, "QUOTES_TTL must be a positive duration"),
        ({"QUOTES_TIMEOUT": "0"}, "QUOTES_TIMEOUT must be a number of seconds above 0"),
        ({"QUOTES_TIMEOUT": "nan"}, "QUOTES_TIMEOUT must be a number of seconds above 0"),
        ({"QUOTES_TIMEOUT": "120"}, "QUOTES_TIMEOUT must be a number of seconds above 0"),
        ({"QUOTES_CALLS_PER_MINUTE": "0"}, "QUOTES_CALLS_PER_MINUTE must be a whole number"),
        ({"QUOTES_CALLS_PER_MINUTE": "1.5"}, "QUOTES_CALLS_PER_MINUTE must be a whole number"),
        ({"QUOTES_CALLS_PER_MINUTE": "-3"}, "QUOTES_CALLS_PER_MINUTE must be a whole number"),
        ({"QUOTES_CALLS_PER_MINUTE": "1000001"}, "from 1 to 1,000,000, not '1000001'"),
    ],
)
def test_bad_quote_settings_name_the_variable(
    tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_environ(environ, state_dir=tmp_path)


def test_production_without_a_provider_says_quotes_are_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from webapp.app import _quote_cache

    settings = Settings.from_environ(PRODUCTION, state_dir=tmp_path)
    with caplog.at_level(logging.INFO, logger="webapp.app"):
        assert _quote_cache(settings) is None
    assert "quotes: off (QUOTES_PROVIDER=off, or unset in production)" in caplog.messages


@pytest.mark.parametrize(
    ("environ", "spacing", "said"),
    [
        # The free tiers: Finnhub's 60 calls a minute, Twelve Data's one (of 8 symbols).
        ({"QUOTES_PROVIDER": "finnhub"}, 1.0, "60 calls a minute"),
        ({"QUOTES_PROVIDER": "twelvedata"}, 60.0, "1 call a minute"),
        ({"QUOTES_PROVIDER": "yahoo"}, 0.0, "any calls a minute"),
        # A paid plan.
        ({"QUOTES_PROVIDER": "finnhub", "QUOTES_CALLS_PER_MINUTE": "300"}, 0.2, "300 calls"),
        ({"QUOTES_PROVIDER": "yahoo", "QUOTES_CALLS_PER_MINUTE": "30"}, 2.0, "30 calls"),
    ],
)
def test_calls_are_spaced_to_the_free_tier_or_the_plan_configured(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    environ: dict[str, str],
    spacing: float,
    said: str,
) -> None:
    from webapp.app import _quote_cache

    settings = Settings.from_environ({**environ, "QUOTES_API_KEY": "key-1"}, state_dir=tmp_path)
    with caplog.at_level(logging.INFO, logger="webapp.app"):
        cache = _quote_cache(settings)
    assert cache is not None
    assert cache._spacing == spacing
    assert any(said in message for message in caplog.messages), caplog.messages
