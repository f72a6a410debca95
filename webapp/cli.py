"""The ``watchlist`` command: serve the app, print a development ID token, migrate the
database, print the schema.

uv run watchlist                          # serve on 127.0.0.1:8000
uv run watchlist serve --port 9000
uv run watchlist serve --workers 2        # one process per core (production settings only)
uv run watchlist token alice@example.com  # an ID token from the development sign-in
uv run watchlist migrate                  # apply pending migrations to DATABASE_URL
uv run watchlist grant                    # give the app's MySQL account the tables
uv run watchlist migrate --grant          # both: what compose's migrate service runs
uv run watchlist schema > init.sql        # the MySQL DDL of the tables

A database failure is one line on stderr; ``--debug`` (before the command) adds the
traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import TypeVar

from webapp import devprovider, migrate, serving
from webapp.settings import Settings, SettingsError, load_settings, masked_url
from webapp.tables import APP_ACCOUNT, mysql_ddl

logger = logging.getLogger(__name__)
T = TypeVar("T")


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
    migrate_ = commands.add_parser(
        "migrate", help="apply pending migrations to DATABASE_URL's database"
    )
    migrate_.add_argument(
        "--grant", action="store_true", help="then give the app's account its tables (grant)"
    )
    _account_option(migrate_)
    grant = commands.add_parser(
        "grant",
        help="give the app's MySQL account SELECT, INSERT, UPDATE and DELETE on every table",
    )
    _account_option(grant)
    commands.add_parser("schema", help="print the MySQL DDL (the contents of init.sql)")
    parser.add_argument(
        "--debug", action="store_true", help="log in detail, with the traceback of a failure"
    )
    _serve_options(parser)
    return parser


def _account_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--account", default=APP_ACCOUNT, help=f"the app's account (default: {APP_ACCOUNT})"
    )


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


def _database(step: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Run a step on the database; a failure is one line, its traceback in the debug log."""
    try:
        return step(*args, **kwargs)
    except (migrate.SchemaError, migrate.DatabaseFailure) as exc:
        logger.debug("%s", exc, exc_info=True)
        sys.exit(f"watchlist: {exc}")


def _serve(host: str, port: int, workers: int, debug: bool) -> None:
    from webapp.app import create_app

    settings = _settings(port)
    # Here rather than only in the app's start-up, where a failure would be a traceback.
    _database(migrate.prepare, settings.database_url, production=settings.production)
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
        serving.run(
            serving.APP_FACTORY, factory=True, workers=workers, host=host, port=port, debug=debug
        )
    else:
        serving.run(create_app(settings), host=host, port=port, debug=debug)


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


def _migrate(then_grant: bool, account: str) -> None:
    database_url = _settings(8000).database_url
    where = masked_url(database_url)
    upgraded = _database(migrate.upgrade, database_url)
    if upgraded.adopted:
        print(f"Recorded the tables that predate migrations as {migrate.BASELINE}.")
    for revision in upgraded.applied:
        print(f"Applied {revision}.")
    changed = upgraded.applied or upgraded.adopted
    state = "now up to date" if changed else "already up to date, nothing to apply"
    print(f"{where} is at {upgraded.current}: {state}.")
    if then_grant:
        _grant(account)


def _grant(account: str) -> None:
    database_url = _settings(8000).database_url
    try:
        tables = _database(migrate.grant, database_url, account)
    except ValueError as exc:
        sys.exit(f"watchlist: --account: {exc}")
    if not tables:
        print("SQLite has no accounts: nothing to grant.")
        return
    print(f"Granted {account} its rights on {', '.join(tables)}.")


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.debug:
        logging.basicConfig(level=logging.DEBUG)
    if args.command == "token":
        _token(args.email, args.name, args.port)
    elif args.command == "migrate":
        _migrate(args.grant, args.account)
    elif args.command == "grant":
        _grant(args.account)
    elif args.command == "schema":
        sys.stdout.write(mysql_ddl())
    else:
        _serve(args.host, args.port, args.workers, args.debug)
