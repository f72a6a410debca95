"""Cross-site protection: state-changing page requests from other sites are refused."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers
from starlette.testclient import TestClient

from tests.conftest import sign_in
from webapp.csrf import is_cross_site

ORIGIN = "http://127.0.0.1:8000"
REFUSED = "Cross-site request refused: submit the form from this site's own pages."


@pytest.mark.parametrize(
    ("method", "headers", "refused"),
    [
        ("POST", {"sec-fetch-site": "same-origin"}, False),
        ("POST", {"sec-fetch-site": "none"}, False),
        ("POST", {"sec-fetch-site": "cross-site"}, True),
        ("POST", {"sec-fetch-site": "same-site"}, True),
        ("POST", {"sec-fetch-site": "cross-site", "origin": ORIGIN}, True),
        ("POST", {"origin": ORIGIN}, False),
        ("POST", {"origin": "https://evil.example"}, True),
        ("POST", {"origin": "null"}, True),
        ("POST", {}, False),
        ("DELETE", {"origin": "https://evil.example"}, True),
        ("PUT", {"sec-fetch-site": "cross-site"}, True),
        ("PATCH", {"origin": "https://evil.example"}, True),
        ("GET", {"sec-fetch-site": "cross-site"}, False),
        ("GET", {"origin": "https://evil.example"}, False),
        ("HEAD", {"sec-fetch-site": "cross-site"}, False),
        ("HEAD", {"origin": "https://evil.example"}, False),
        ("OPTIONS", {"sec-fetch-site": "cross-site"}, False),
        ("OPTIONS", {"origin": "https://evil.example"}, False),
    ],
)
def test_is_cross_site(method: str, headers: dict[str, str], refused: bool) -> None:
    assert is_cross_site(method, Headers(headers), ORIGIN) is refused


@pytest.mark.parametrize("path", ["/watchlist", "/watchlist/1", "/watchlist/1/delete", "/logout"])
def test_cross_site_page_posts_are_refused(sqlite_client: TestClient, path: str) -> None:
    sign_in(sqlite_client)
    sqlite_client.post("/watchlist", data={"symbol": "AAPL"})
    response = sqlite_client.post(
        path, data={"symbol": "EVIL"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == REFUSED
    evil_origin = sqlite_client.post(
        path, data={"symbol": "EVIL"}, headers={"Origin": "https://evil.example"}
    )
    assert evil_origin.status_code == 403
    assert evil_origin.text == REFUSED
    page = sqlite_client.get("/watchlist").text
    assert ">AAPL<" in page
    assert "EVIL" not in page
    assert "Sign out" in page


def test_links_from_other_sites_open_the_pages(sqlite_client: TestClient) -> None:
    """A link or a bookmark from another site is a cross-site GET (or HEAD): it reads and
    changes nothing, so it is let through to the page."""
    sign_in(sqlite_client)
    sqlite_client.post("/watchlist", data={"symbol": "AAPL"})
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        page = sqlite_client.get("/watchlist", headers=headers)
        assert page.status_code == 200
        assert ">AAPL<" in page.text
        assert sqlite_client.head("/watchlist", headers=headers).status_code == 200


def test_same_origin_posts_pass(sqlite_client: TestClient) -> None:
    sign_in(sqlite_client)
    response = sqlite_client.post(
        "/watchlist",
        data={"symbol": "AAPL"},
        headers={"Sec-Fetch-Site": "same-origin", "Origin": ORIGIN},
        follow_redirects=False,
    )
    assert response.status_code == 303
    # A browser that sends no Sec-Fetch-Site: our own Origin passes.
    older = sqlite_client.post(
        "/watchlist", data={"symbol": "MSFT"}, headers={"Origin": ORIGIN}, follow_redirects=False
    )
    assert older.status_code == 303
    page = sqlite_client.get("/watchlist").text
    assert ">AAPL<" in page
    assert ">MSFT<" in page


def test_the_api_is_exempt_and_ignores_cookies(sqlite_client: TestClient) -> None:
    """The API takes bearer tokens only: a cross-site request with a session cookie is 401."""
    sign_in(sqlite_client)
    response = sqlite_client.post(
        "/api/stocks", json={"symbol": "AAPL"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 401
