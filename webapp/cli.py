"""The ``watchlist`` command: serve the app, print a development ID token, migrate the
database, print the schema.

uv run watchlist                          # serve on 127.0.0.1:8000
uv run watchlist serve --port 9000
uv run watchlist serve --workers 2        # one process per core (production settings only)
uv run watchlist token alice@example.com  # an ID token from the development sign-in
uv run watchlist migrate                  # apply pending migrations to DATABASE_URL
uv run watchlist schema > init.sql        # the MySQL DDL of the tables
"""

from __future__ import annotations

import argparse
import sys

import sqlalchemy as sa

from webapp import devprovider, migrate, serving
from webapp.settings import Settings, SettingsError, load_settings
from webapp.tables import mysql_ddl


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="watchlist", description="Stock Watchlist.")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="serve the app (the default command)")
    _serve_options(serve)
    token = commands.add_parser(
        "token", help="print an ID token from the development sign-in, for curl"
    )
    token.add_argument("email", help="who to sign in as, for example alice@example.com")
    token.add_argument("--name", help="the display name (default: the email's local part)")
    token.add_argument("--port", type=int, default=8000, help="the running app's port")
    commands.add_parser("migrate", help="apply pending migrations to DATABASE_URL's database")
    commands.add_parser("schema", help="print the MySQL DDL (the contents of init.sql)")
    _serve_options(parser)
    return parser


def _serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="the port to listen on")
    parser.add_argument(
        "--workers", type=_positive, default=1, help="worker processes (default: 1)"
    )


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return number


def _settings(port: int) -> Settings:
    try:
        return load_settings(port=port)
    except SettingsError as exc:
        sys.exit(f"watchlist: configuration error: {exc}")


def _serve(host: str, port: int, workers: int) -> None:
    from webapp.app import create_app

    settings = _settings(port)
    if settings.dev_sign_in and workers > 1:
        sys.exit(
            "watchlist: --workers needs GOOGLE_CLIENT_ID: the development sign-in runs its "
            "provider inside the one app process."
        )
    if settings.dev_sign_in:
        print(
            "\n  Development sign-in: no GOOGLE_CLIENT_ID is set, so a local OpenID provider\n"
            f"  at {settings.dev_provider_url} stands in for Google and signs in any email.\n"
            "  An ID token for the API: uv run watchlist token alice@example.com\n",
            file=sys.stderr,
        )
    if workers > 1:  # each worker builds its own app, with the same settings
        serving.run(serving.APP_FACTORY, factory=True, workers=workers, host=host, port=port)
    else:
        serving.run(create_app(settings), host=host, port=port)


def _token(email: str, name: str | None, port: int) -> None:
    settings = _settings(port)
    if not settings.dev_sign_in:
        sys.exit(
            "watchlist: GOOGLE_CLIENT_ID is set, so there is no development sign-in; "
            "use an ID token from Google."
        )
    try:
        print(devprovider.issue_id_token(settings.dev_provider_url, email, name))
    except devprovider.DevProviderError as exc:
        sys.exit(f"watchlist: {exc}")


def _migrate() -> None:
    database_url = _settings(8000).database_url
    where = sa.make_url(database_url).render_as_string(hide_password=True)
    try:
        upgraded = migrate.upgrade(database_url)
    except migrate.SchemaError as exc:
        sys.exit(f"watchlist: {exc}")
    if upgraded.adopted:
        print(f"Recorded the tables that predate migrations as {migrate.BASELINE}.")
    for revision in upgraded.applied:
        print(f"Applied {revision}.")
    changed = upgraded.applied or upgraded.adopted
    state = "now up to date" if changed else "already up to date, nothing to apply"
    print(f"{where} is at {upgraded.current}: {state}.")


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "token":
        _token(args.email, args.name, args.port)
    elif args.command == "migrate":
        _migrate()
    elif args.command == "schema":
        sys.stdout.write(mysql_ddl())
    else:
        _serve(args.host, args.port, args.workers)
