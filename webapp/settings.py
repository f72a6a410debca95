"""Configuration, read from the environment once into a frozen object.

Nothing else in the package reads ``os.environ``: the command line builds a
``Settings`` and everything else receives it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import sqlalchemy as sa
from starlette.datastructures import Secret

GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"
DEV_CLIENT_ID = "watchlist-development"
DEV_CLIENT_SECRET = "watchlist-development-secret"
SECRET_KEY_FILE = ".watchlist-secret-key"
MIN_SECRET_KEY_LENGTH = 32


class Setting(NamedTuple):
    name: str
    default: str
    help: str


#: Every variable the app reads: the README's configuration table is built from this.
SETTINGS = (
    Setting(
        "DATABASE_URL",
        "sqlite+aiosqlite:///./watchlist.db",
        "`mysql+aiomysql://user:pass@host:3306/db` or `sqlite+aiosqlite:///path.db`.",
    ),
    Setting("GOOGLE_CLIENT_ID", "", "The OAuth client's ID. Unset: the development sign-in."),
    Setting("GOOGLE_CLIENT_SECRET", "", "The OAuth client's secret; required with the ID."),
    Setting(
        "SECRET_KEY",
        "",
        "Signs the session cookie; at least 32 characters. Required in production; "
        f"in development generated once into `{SECRET_KEY_FILE}` (git-ignored).",
    ),
    Setting(
        "OIDC_DISCOVERY_URL", GOOGLE_DISCOVERY_URL, "The OpenID provider's discovery document."
    ),
    Setting(
        "PUBLIC_URL",
        "http://127.0.0.1:<port>",
        "The external base URL; redirect URIs are built from it, never from the Host header. "
        "Required in production.",
    ),
    Setting("API_AUDIENCES", "GOOGLE_CLIENT_ID", "Comma-separated `aud` values the API accepts."),
    Setting("WATCHLIST_ENV", "development", "`development` or `production`."),
    Setting(
        "SECRET_KEY_FALLBACKS",
        "",
        "Comma-separated earlier keys, still accepted for sessions they signed: rotate "
        "`SECRET_KEY` without signing everyone out.",
    ),
    Setting(
        "SESSION_IDLE_TIMEOUT",
        "12h",
        "A session unused this long ends (`30m`, `12h`, `7d` or seconds).",
    ),
    Setting("SESSION_LIFETIME", "7d", "A session ends this long after sign-in, used or not."),
    Setting(
        "QUOTES_PROVIDER",
        "demo",
        "Where quotes come from: `demo` (made up, no network), `finnhub`, `twelvedata`, "
        "`yahoo` or `off`. Unset in production: `off`.",
    ),
    Setting("QUOTES_API_KEY", "", "The key of `finnhub` or `twelvedata`; required with them."),
    Setting(
        "QUOTES_BASE_URL",
        "",
        "A keyed provider's API root, for a proxy or a recorded-response server "
        "(default: the provider's own).",
    ),
    Setting("QUOTES_TTL", "60", "Seconds a quote stays fresh (`60`, `2m`)."),
    Setting("QUOTES_TIMEOUT", "3", "Seconds a provider call may take (`3`, `0.5`)."),
    Setting(
        "QUOTES_CALLS_PER_MINUTE",
        "",
        "Calls a minute your provider plan allows (`300`); calls are spaced to it. Unset: "
        "the free tier's (Finnhub 60, Twelve Data 1, Yahoo no limit). A Twelve Data call "
        "carries up to 8 symbols, each a credit: set your credits a minute ÷ 8.",
    ),
)
QUOTES_PROVIDERS = ("demo", "finnhub", "twelvedata", "yahoo", "off")
KEYED_PROVIDERS = ("finnhub", "twelvedata")


class SettingsError(Exception):
    """A missing or malformed setting; the message names the variable and the fix."""


_DEV_SECRET, _NO_SECRET = Secret(DEV_CLIENT_SECRET), Secret("")


@dataclass(frozen=True)
class Settings:
    """Every setting. Secrets are ``Secret``s (``str()`` gives the value), so that a repr,
    a log line or a traceback's locals show ``'**********'``; the database URL's password
    is masked in the repr too."""

    database_url: str = "sqlite+aiosqlite:///./watchlist.db"
    google_client_id: str = DEV_CLIENT_ID
    google_client_secret: Secret = _DEV_SECRET
    secret_key: Secret = _NO_SECRET
    oidc_discovery_url: str = GOOGLE_DISCOVERY_URL
    public_url: str = "http://127.0.0.1:8000"
    api_audiences: tuple[str, ...] = (DEV_CLIENT_ID,)
    environment: str = "development"
    #: True when no Google client is configured: the bundled development provider stands in.
    dev_sign_in: bool = True
    #: Where the development provider listens (the app's port + 1), when ``dev_sign_in``.
    dev_provider_url: str = ""
    #: Earlier signing keys, accepted but never used to sign.
    secret_key_fallbacks: tuple[Secret, ...] = ()
    session_idle_timeout: int = 12 * 3600
    session_lifetime: int = 7 * 24 * 3600
    quotes_provider: str = "off"
    quotes_api_key: Secret = _NO_SECRET
    quotes_base_url: str = ""
    quotes_ttl: float = 60.0
    quotes_timeout: float = 3.0
    #: The provider's calls a minute, for a paid plan; ``None``: its free tier's limit.
    quotes_calls_per_minute: int | None = None

    def __repr__(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        shown["database_url"] = masked_url(self.database_url)
        return f"Settings({', '.join(f'{name}={value!r}' for name, value in shown.items())})"

    @property
    def session_keys(self) -> list[str]:
        """Every key a session may be signed with, the current one last (it signs)."""
        return [str(key) for key in (*self.secret_key_fallbacks, self.secret_key)]

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str], *, port: int = 8000, state_dir: Path = Path(".")
    ) -> Settings:
        """Build the settings; raise ``SettingsError`` naming the first bad variable."""

        def get(name: str) -> str:
            return environ.get(name, "").strip()

        environment = get("WATCHLIST_ENV") or "development"
        if environment not in ("development", "production"):
            raise SettingsError(
                f"WATCHLIST_ENV must be 'development' or 'production', not {environment!r}."
            )
        production = environment == "production"

        database_url = get("DATABASE_URL") or "sqlite+aiosqlite:///./watchlist.db"
        scheme = database_url.partition("://")[0]
        if scheme not in ("mysql+aiomysql", "sqlite+aiosqlite") or "://" not in database_url:
            raise SettingsError(
                "DATABASE_URL must start with mysql+aiomysql:// or sqlite+aiosqlite:// "
                "(for example mysql+aiomysql://user:pass@host:3306/watchlist)."
            )

        client_id, client_secret = get("GOOGLE_CLIENT_ID"), get("GOOGLE_CLIENT_SECRET")
        if client_id and not client_secret:
            raise SettingsError("GOOGLE_CLIENT_SECRET is required when GOOGLE_CLIENT_ID is set.")
        if client_secret and not client_id:
            raise SettingsError("GOOGLE_CLIENT_ID is required when GOOGLE_CLIENT_SECRET is set.")
        if production and not client_id:
            raise SettingsError(
                "GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET are required when "
                "WATCHLIST_ENV=production (the development sign-in is not for production)."
            )
        dev_sign_in = not client_id

        discovery_url = get("OIDC_DISCOVERY_URL") or GOOGLE_DISCOVERY_URL
        _require_http_url("OIDC_DISCOVERY_URL", discovery_url)
        dev_provider_url = ""
        if dev_sign_in:
            dev_provider_url = f"http://127.0.0.1:{port + 1}"
            discovery_url = f"{dev_provider_url}/.well-known/openid-configuration"

        public_url = get("PUBLIC_URL").rstrip("/")
        if not public_url:
            if production:
                raise SettingsError(
                    "PUBLIC_URL is required when WATCHLIST_ENV=production "
                    "(the external base URL, for example https://watchlist.example.com)."
                )
            public_url = f"http://127.0.0.1:{port}"
        _require_http_url("PUBLIC_URL", public_url)
        if urlsplit(public_url).path:
            raise SettingsError(
                "PUBLIC_URL must be an origin without a path, like https://watchlist.example.com."
            )

        audiences = tuple(a.strip() for a in get("API_AUDIENCES").split(",") if a.strip())

        secret_key = get("SECRET_KEY")
        if not secret_key:
            if production:
                raise SettingsError(
                    "SECRET_KEY is required when WATCHLIST_ENV=production; generate one with: "
                    'python -c "import secrets; print(secrets.token_urlsafe(48))"'
                )
            secret_key = _local_secret_key(state_dir / SECRET_KEY_FILE)
        elif len(secret_key) < MIN_SECRET_KEY_LENGTH:
            raise SettingsError(
                f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters; generate one "
                'with: python -c "import secrets; print(secrets.token_urlsafe(48))"'
            )

        fallbacks = tuple(k.strip() for k in get("SECRET_KEY_FALLBACKS").split(",") if k.strip())
        if any(len(key) < MIN_SECRET_KEY_LENGTH for key in fallbacks):
            raise SettingsError(
                "SECRET_KEY_FALLBACKS: each key must be at least "
                f"{MIN_SECRET_KEY_LENGTH} characters."
            )
        idle = _duration("SESSION_IDLE_TIMEOUT", get("SESSION_IDLE_TIMEOUT") or "12h")
        lifetime = _duration("SESSION_LIFETIME", get("SESSION_LIFETIME") or "7d")
        if idle > lifetime:
            raise SettingsError("SESSION_IDLE_TIMEOUT must not be longer than SESSION_LIFETIME.")

        provider = get("QUOTES_PROVIDER") or ("off" if production else "demo")
        if provider not in QUOTES_PROVIDERS:
            raise SettingsError(
                f"QUOTES_PROVIDER must be one of {', '.join(QUOTES_PROVIDERS)}, not {provider!r}."
            )
        api_key = get("QUOTES_API_KEY")
        if provider in KEYED_PROVIDERS and not api_key:
            raise SettingsError(f"QUOTES_API_KEY is required when QUOTES_PROVIDER={provider}.")
        base_url = get("QUOTES_BASE_URL").rstrip("/")
        if base_url:
            _require_http_url("QUOTES_BASE_URL", base_url)
        ttl = _duration("QUOTES_TTL", get("QUOTES_TTL") or "60")
        timeout = _seconds("QUOTES_TIMEOUT", get("QUOTES_TIMEOUT") or "3")
        per_minute = get("QUOTES_CALLS_PER_MINUTE")
        calls_per_minute = _calls_per_minute(per_minute) if per_minute else None

        return cls(
            database_url=database_url,
            google_client_id=client_id or DEV_CLIENT_ID,
            google_client_secret=Secret(client_secret or DEV_CLIENT_SECRET),
            secret_key=Secret(secret_key),
            oidc_discovery_url=discovery_url,
            public_url=public_url,
            api_audiences=audiences or (client_id or DEV_CLIENT_ID,),
            environment=environment,
            dev_sign_in=dev_sign_in,
            dev_provider_url=dev_provider_url,
            secret_key_fallbacks=tuple(Secret(key) for key in fallbacks),
            session_idle_timeout=idle,
            session_lifetime=lifetime,
            quotes_provider=provider,
            quotes_api_key=Secret(api_key),
            quotes_base_url=base_url,
            quotes_ttl=float(ttl),
            quotes_timeout=timeout,
            quotes_calls_per_minute=calls_per_minute,
        )


def masked_url(database_url: str) -> str:
    """``database_url`` with its password as ``***``, for showing and logging."""
    try:
        return sa.make_url(database_url).render_as_string(hide_password=True)
    except (ValueError, sa.exc.ArgumentError):
        return "**********"  # not a URL SQLAlchemy can read: it may be all password


def load_settings(*, port: int = 8000) -> Settings:
    """The settings from this process's environment."""
    return Settings.from_environ(os.environ, port=port)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(name: str, value: str) -> int:
    """Seconds from ``90``, ``30m``, ``12h`` or ``7d``."""
    number, unit = (value[:-1], value[-1]) if value[-1:] in _UNITS else (value, "s")
    if not number.isdigit() or int(number) == 0:
        raise SettingsError(
            f"{name} must be a positive duration like 30m, 12h or 7d, not {value!r}."
        )
    return int(number) * _UNITS[unit]


def _seconds(name: str, value: str) -> float:
    """A positive number of seconds, fractions allowed (``3``, ``0.5``), at most a minute."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 60:
        raise SettingsError(
            f"{name} must be a number of seconds above 0 and up to 60, not {value!r}."
        )
    return seconds


#: A million calls a minute is no limit at all; more is a typo.
MAX_CALLS_PER_MINUTE = 1_000_000


def _calls_per_minute(value: str) -> int:
    """A whole number of calls a minute, above 0."""
    if not value.isdigit() or not 0 < int(value) <= MAX_CALLS_PER_MINUTE:
        raise SettingsError(
            "QUOTES_CALLS_PER_MINUTE must be a whole number of calls from 1 to "
            f"{MAX_CALLS_PER_MINUTE:,}, not {value!r}."
        )
    return int(value)


def _require_http_url(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{name} must be an http:// or https:// URL, not {value!r}.")


def _local_secret_key(path: Path) -> str:
    """Read the development signing key, creating it on first use (mode 0600)."""
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if len(key) >= MIN_SECRET_KEY_LENGTH:
        return key
    key = secrets.token_urlsafe(48)
    try:
        path.touch(mode=0o600)
        path.write_text(key + "\n")
    except OSError as exc:
        raise SettingsError(
            f"SECRET_KEY is unset and {path} cannot be written ({exc.strerror}); "
            "set SECRET_KEY or run from a writable folder."
        ) from exc
    return key


def settings_table() -> str:
    """The README's configuration table, in Markdown (a test keeps the two equal)."""
    rows = ["| variable | meaning | default |", "|---|---|---|"]
    for setting in SETTINGS:
        default = f"`{setting.default}`" if setting.default else "unset"
        rows.append(f"| `{setting.name}` | {setting.help} | {default} |")
    return "\n".join(rows) + "\n"
