"""The app factory and its health endpoints."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.conftest import ClientFactory


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
