"""Rendering: a template shows who is signed in as it is told, and never touches the
session (so no error page or fragment can end or extend one)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import session_cookie, signed_in_session

#: Pages rendered without any check of the session against the database.
RENDERED_WITHOUT_A_SESSION_CHECK = [
    ("GET", "/no-such-page", 404),
    ("DELETE", "/watchlist", 405),
    ("GET", "/api/docs", 200),
]


def _with_session(client: TestClient, **changes: Any) -> dict[str, Any]:
    settings = client.app_state["settings"]
    session = signed_in_session(client, **changes)
    client.cookies.set("session", session_cookie(str(settings.secret_key), session))
    return session


@pytest.mark.parametrize(("method", "path", "status"), RENDERED_WITHOUT_A_SESSION_CHECK)
@pytest.mark.parametrize("state", ["stale last-seen", "past its idle timeout", "expired"])
def test_rendering_never_sets_the_session_cookie(
    sqlite_client: TestClient, method: str, path: str, status: int, state: str
) -> None:
    """Before, rendering asked identity.current_user, which rewrites a stale last-seen
    time and clears a session past its limits: each a Set-Cookie from an error page."""
    settings = sqlite_client.app_state["settings"]
    now = time.time()
    changes = {
        "stale last-seen": {"seen": int(now) - 600},
        "past its idle timeout": {"seen": int(now) - settings.session_idle_timeout - 1},
        "expired": {"signed_in_at": now - settings.session_lifetime - 1},
    }[state]
    _with_session(sqlite_client, **changes)

    response = sqlite_client.request(method, path)
    assert response.status_code == status
    assert "set-cookie" not in response.headers
    # The header shows a live session's person, and nobody for one that is over.
    shows_alice = "Sign out" in response.text
    assert shows_alice == (state == "stale last-seen" and not path.startswith("/api/"))


def test_the_pages_that_check_the_session_still_keep_it_current(
    sqlite_client: TestClient,
) -> None:
    """What rendering no longer does, the session check still does: a stale last-seen
    time is rewritten by a page that verifies the session."""
    _with_session(sqlite_client, seen=int(time.time()) - 600)
    response = sqlite_client.get("/watchlist")
    assert response.status_code == 200
    assert "set-cookie" in response.headers
