"""The app factory and its health endpoints."""

from __future__ import annotations

import gc

from starlette.testclient import TestClient

from tests.conftest import ClientFactory, make_settings
from tests.provider import Provider
from webapp import migrate
from webapp.app import create_app


def test_healthz_touches_nothing(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_the_database(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_apps_are_independent(
    make_client: ClientFactory, sqlite_url: str, tmp_path: object
) -> None:
    first = make_client(sqlite_url)
    second = make_client(sqlite_url.replace("watchlist.db", "other.db"))
    assert first.app is not second.app
    assert first.get("/healthz").status_code == second.get("/healthz").status_code == 200


def test_in_production_start_up_is_kept_out_of_the_collectors_way_while_the_app_runs(
    provider: Provider, sqlite_url: str
) -> None:
    """What start-up loaded is frozen (gc.freeze) while a production app runs, and thawed
    again when it stops; a development app leaves the collector alone."""
    migrate.upgrade(sqlite_url)  # production refuses to migrate on start
    gc.unfreeze()
    development = create_app(make_settings(sqlite_url, provider))
    with TestClient(development) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() == 0
    production = create_app(make_settings(sqlite_url, provider, environment="production"))
    with TestClient(production) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0
