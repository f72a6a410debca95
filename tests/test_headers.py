"""Security headers on every response, and no link built from a forged Host header."""

from __future__ import annotations

import re

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.conftest import ClientFactory, bearer, sign_in
from tests.provider import Provider
from webapp.headers import SecurityHeaders

EXPECTED = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}
HSTS = "max-age=63072000; includeSubDomains"


def assert_secured(response: object, https: bool = False) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    for name, value in EXPECTED.items():
        assert headers[name] == value, name
    *policy, form_action, frame_ancestors = headers["content-security-policy"].split("; ")
    assert policy == [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: https://*.googleusercontent.com",
        "object-src 'none'",
        "base-uri 'none'",
    ]
    # The provider's origin too: Chromium checks the redirects after a form post.
    assert re.fullmatch(r"form-action 'self' http://127\.0\.0\.1:\d+", form_action)
    assert frame_ancestors == "frame-ancestors 'none'"
    assert headers.get("strict-transport-security") == (HSTS if https else None)


async def boom(request: Request) -> Response:
    raise RuntimeError("a bug")


def test_every_kind_of_response_is_secured(
    make_client: ClientFactory, sqlite_url: str, provider: Provider
) -> None:
    client = make_client(sqlite_url)
    client.app.router.routes.insert(0, Route("/boom", boom))  # type: ignore[attr-defined]
    client.app.router.routes.insert(0, Route("/api/boom", boom))  # type: ignore[attr-defined]
    sign_in(client)
    token = bearer(provider.token())
    responses = [
        client.get("/"),
        client.get("/watchlist"),
        client.get("/watchlist", headers={"HX-Request": "true"}),
        client.post("/watchlist", data={"symbol": "!"}, headers={"HX-Request": "true"}),
        client.get("/nope"),
        client.get("/static/app.css"),
        client.get("/favicon.ico"),
        client.get("/api/stocks", headers=token),
        client.get("/api/stocks"),
        client.get("/api/nope"),
        client.delete("/api/stocks"),
        client.post("/api/stocks", content=b"x" * 70_000, headers=token),
        client.get("/healthz"),
        client.get("/boom"),
        client.get("/api/boom"),
        client.post("/watchlist", headers={"Sec-Fetch-Site": "cross-site"}),
    ]
    statuses = {response.status_code for response in responses}
    assert {200, 401, 403, 404, 405, 413, 500} <= statuses
    for response in responses:
        assert_secured(response)
    assert "a bug" not in client.get("/boom").text
    assert client.get("/api/boom").json()["detail"] == "Something went wrong on our side."


def test_https_adds_strict_transport_security(make_client: ClientFactory, sqlite_url: str) -> None:
    client = make_client(sqlite_url, public_url="https://watchlist.example.com")
    assert_secured(client.get("https://watchlist.example.com/"), https=True)


def test_a_response_may_set_its_own_header() -> None:
    """What a response says itself stands (the development provider's sign-in page widens
    form-action); the middleware adds only what is missing."""

    async def own(request: Request) -> Response:
        return Response("", headers={"Content-Security-Policy": "form-action 'self' x"})

    headers = {"Content-Security-Policy": "default-src 'self'", "X-Frame-Options": "DENY"}
    app = Starlette(
        routes=[Route("/own", own)], middleware=[Middleware(SecurityHeaders, headers=headers)]
    )
    with TestClient(app) as client:
        response = client.get("/own")
    assert response.headers["content-security-policy"] == "form-action 'self' x"
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("host", ["evil.example", "a/?x=", "evil.example:443", "127.0.0.1@evil"])
def test_a_forged_host_changes_no_link(sqlite_client: TestClient, host: str) -> None:
    sign_in(sqlite_client)
    sqlite_client.post("/watchlist", data={"symbol": "AAPL"})
    for path in ["/", "/watchlist", "/watchlist?x=1", "/login?next=/watchlist", "/nope"]:
        response = sqlite_client.get(path, headers={"Host": host}, follow_redirects=False)
        location = response.headers.get("location", "")
        assert "evil" not in location
        assert "a/?x=" not in location
        assert "evil" not in response.text
        hrefs = re.findall(r'(?:href|action|src|hx-get|hx-post)="([^"]*)"', response.text)
        assert all(href.startswith(("/", "#")) for href in hrefs), hrefs
    login = sqlite_client.get("/login", headers={"Host": host}, follow_redirects=False)
    assert (
        "redirect_uri=http%3A%2F%2F127.0.0.1%3A8000%2Fauth%2Fcallback" in login.headers["location"]
    )
