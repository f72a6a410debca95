"""Browser sign-in: the code flow against real providers on loopback, and every way it fails."""

from __future__ import annotations

import base64
import json
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
import sqlalchemy as sa
from itsdangerous import TimestampSigner
from starlette.testclient import TestClient

from tests.conftest import ClientFactory, free_port, sign_in
from tests.provider import AUDIENCE, Provider, SigningKey, handler_of, serve
from webapp import auth
from webapp.auth import safe_next
from webapp.tables import users

ROUTE_CLIENT_ID = "route-tests.apps.example.com"


def session_of(client: TestClient, cookie_name: str = "session") -> dict[str, Any]:
    """The session the app stored, read back from its signed cookie."""
    value = client.cookies.get(cookie_name)
    if not value:
        return {}
    secret = str(client.app_state["settings"].secret_key)
    data = TimestampSigner(secret).unsign(value)
    session: dict[str, Any] = json.loads(base64.b64decode(data))
    return session


def failure_message(response: httpx2.Response) -> str:
    """The message the error page shows (its template context, before HTML escaping)."""
    assert response.headers["content-type"].startswith("text/html")
    assert "Try signing in again" in response.text
    message: str = response.context["message"]  # type: ignore[attr-defined]
    return message


def user_row(client: TestClient, sub: str) -> dict[str, str] | None:
    """The email and name the users table holds for ``sub``."""
    store = client.app_state["store"]
    query = sa.select(users.c.email, users.c.name).where(users.c.sub == sub)
    assert client.portal is not None
    row = client.portal.call(store.database.fetch_one, query)
    return None if row is None else dict(row._mapping)


CANCELLED = "Sign-in was cancelled or refused."
INCOMPLETE = "Sign-in did not complete."
UNVERIFIED = "The sign-in service's answer could not be verified."
UNREACHABLE = "We could not reach the sign-in service."


def authorize_params(response: httpx2.Response) -> dict[str, str]:
    assert response.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


# The real development provider (webapp/devprovider.py): what a person's browser does.


@pytest.fixture
def app_client(make_client: ClientFactory, sqlite_url: str, oidc_provider: str) -> TestClient:
    return make_client(
        sqlite_url,
        oidc_discovery_url=oidc_provider,
        google_client_id=ROUTE_CLIENT_ID,
        api_audiences=(ROUTE_CLIENT_ID,),
    )


def provider_sign_in(authorize_url: str, sub: str) -> dict[str, str]:
    """Sign in at the provider's form; return the parameters it sends to our callback."""
    response = httpx2.post(authorize_url, data={"email": sub})
    assert response.status_code == 302
    parts = urlsplit(response.headers["location"])
    assert parts.path == "/auth/callback"
    return {k: v[0] for k, v in parse_qs(parts.query).items()}


def test_sign_in_stores_only_the_identity(app_client: TestClient) -> None:
    start = app_client.get(
        "/login", params={"next": "/watchlist?from=mail"}, follow_redirects=False
    )
    params = authorize_params(start)
    settings = app_client.app_state["settings"]
    assert params["redirect_uri"] == settings.public_url + "/auth/callback"
    assert params["response_type"] == "code"
    assert params["scope"] == "openid email profile"
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) >= 43
    assert params["state"]
    assert params["nonce"]

    callback = provider_sign_in(start.headers["location"], "alice@example.com")
    done = app_client.get("/auth/callback", params=callback, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/watchlist?from=mail"
    session = session_of(app_client)
    assert set(session) == {"user", "signed_in_at", "seen", "sid"}  # and no token
    assert session["user"]["sub"] == "alice@example.com"
    assert set(session["user"]) == {"sub", "email", "name", "picture"}
    assert abs(session["signed_in_at"] - time.time()) < 60
    cookie = done.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert len(app_client.cookies["session"]) < 1000
    # Signed in: the watchlist opens.
    assert app_client.get("/watchlist").status_code == 200


def test_the_code_flow_uses_pkce(app_client: TestClient, oidc_provider: str) -> None:
    """The token request carries the verifier whose S256 hash was sent as the challenge."""
    start = app_client.get("/login", follow_redirects=False)
    challenge = authorize_params(start)["code_challenge"]
    state_key = next(key for key in session_of(app_client) if key.startswith("_state_"))
    verifier = session_of(app_client)[state_key]["data"]["code_verifier"]
    import hashlib

    digest = hashlib.sha256(verifier.encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge


def test_a_used_code_cannot_sign_in_again(app_client: TestClient) -> None:
    start = app_client.get("/login", follow_redirects=False)
    callback = provider_sign_in(start.headers["location"], "alice@example.com")
    assert app_client.get("/auth/callback", params=callback, follow_redirects=False).is_redirect
    app_client.post("/logout")
    replay = app_client.get("/auth/callback", params=callback, follow_redirects=False)
    assert replay.status_code == 400
    assert "user" not in session_of(app_client)


def test_state_from_another_browser_is_refused(
    app_client: TestClient, make_client: ClientFactory, sqlite_url: str, oidc_provider: str
) -> None:
    start = app_client.get("/login", follow_redirects=False)
    callback = provider_sign_in(start.headers["location"], "mallory@example.com")
    victim = TestClient(app_client.app)
    victim.cookies.clear()
    with victim:
        victim.get("/login", follow_redirects=False)  # the victim has a flow of their own
        response = victim.get("/auth/callback", params=callback, follow_redirects=False)
        assert response.status_code == 400
        assert "Try signing in again" in response.text
        assert "user" not in session_of(victim)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"error": "access_denied", "state": "x"}, CANCELLED),
        ({"code": "abc"}, INCOMPLETE),
        ({"code": "abc", "state": "not-the-state"}, INCOMPLETE),
        ({}, INCOMPLETE),
    ],
    ids=["provider-error", "no-state", "wrong-state", "nothing"],
)
def test_callback_failures_are_friendly(
    app_client: TestClient, params: dict[str, str], message: str
) -> None:
    app_client.get("/login", follow_redirects=False)
    response = app_client.get("/auth/callback", params=params, follow_redirects=False)
    assert response.status_code == 400
    assert failure_message(response) == message
    assert "Traceback" not in response.text
    assert "user" not in session_of(app_client)
    assert not any(key.startswith("_state_") for key in session_of(app_client))


def test_callback_without_a_session(app_client: TestClient) -> None:
    response = app_client.get("/auth/callback", params={"code": "a", "state": "b"})
    assert response.status_code == 400
    assert "Try signing in again" in response.text


def test_logout_is_post_only_and_clears_the_session(app_client: TestClient) -> None:
    sign_in(app_client)
    assert app_client.get("/logout").status_code == 405
    response = app_client.post("/logout", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert session_of(app_client) == {}
    assert app_client.get("/watchlist", follow_redirects=False).status_code == 303


def test_signing_out_everywhere_leads_to_the_start_page(app_client: TestClient) -> None:
    sign_in(app_client)
    response = app_client.post("/logout/everywhere", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert session_of(app_client) == {}


def test_signed_out_pages_lead_to_sign_in_and_back(app_client: TestClient) -> None:
    response = app_client.get("/watchlist?from=e2e&x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fwatchlist%3Ffrom%3De2e%26x%3D1"
    app_client.get(response.headers["location"], follow_redirects=False)
    assert session_of(app_client)["next"] == "/watchlist?from=e2e&x=1"


def test_https_public_url_gives_a_host_prefixed_secure_cookie(
    make_client: ClientFactory, sqlite_url: str, oidc_provider: str
) -> None:
    client = make_client(
        sqlite_url,
        oidc_discovery_url=oidc_provider,
        google_client_id=ROUTE_CLIENT_ID,
        public_url="https://watchlist.example.com",
    )
    response = client.get("https://watchlist.example.com/login", follow_redirects=False)
    params = authorize_params(response)
    assert params["redirect_uri"] == "https://watchlist.example.com/auth/callback"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-session=")
    assert "secure" in cookie.lower()
    assert "domain" not in cookie.lower()
    assert "path=/" in cookie.lower()


def test_redirect_uri_ignores_the_host_header(app_client: TestClient) -> None:
    response = app_client.get("/login", headers={"Host": "evil.example"}, follow_redirects=False)
    params = authorize_params(response)
    assert params["redirect_uri"] == "http://127.0.0.1:8000/auth/callback"


# A provider whose token endpoint answers what each test needs: invalid ID tokens.


@pytest.fixture
def key_client(make_client: ClientFactory, sqlite_url: str) -> TestClient:
    return make_client(sqlite_url)


def start_flow(client: TestClient) -> dict[str, str]:
    return authorize_params(client.get("/login", follow_redirects=False))


def finish_flow(client: TestClient, params: dict[str, str]) -> httpx2.Response:
    """The provider's redirect back to the callback, with a code and the flow's state."""
    return client.get(
        "/auth/callback", params={"code": "c", "state": params["state"]}, follow_redirects=False
    )


def test_a_valid_id_token_signs_in(key_client: TestClient, provider: Provider) -> None:
    params = start_flow(key_client)
    provider.id_token = provider.token(nonce=params["nonce"])
    response = finish_flow(key_client, params)
    assert response.status_code == 303
    assert session_of(key_client)["user"]["sub"] == "alice-sub"
    token_request = parse_qs(provider.token_requests[-1])
    assert token_request["code_verifier"][0]
    assert token_request["redirect_uri"] == ["http://127.0.0.1:8000/auth/callback"]


@pytest.mark.parametrize(
    ("claims", "identity", "row"),
    [
        (
            {"picture": "https://lh3.googleusercontent.com/a/alice"},
            {
                "email": "alice@example.com",
                "name": "Alice",
                "picture": "https://lh3.googleusercontent.com/a/alice",
            },
            {"email": "alice@example.com", "name": "Alice"},
        ),
        (
            {"email": None, "name": None},
            {"email": None, "name": None, "picture": None},
            {"email": "", "name": ""},
        ),
        (
            {"email": ["alice@example.com"], "name": 7, "picture": {"url": "x"}},
            {"email": None, "name": None, "picture": None},
            {"email": "", "name": ""},
        ),
    ],
    ids=["all", "none", "not-strings"],
)
def test_sign_in_keeps_the_identity_claims_that_are_strings(
    key_client: TestClient,
    provider: Provider,
    claims: dict[str, Any],
    identity: dict[str, Any],
    row: dict[str, str],
) -> None:
    params = start_flow(key_client)
    provider.id_token = provider.token(nonce=params["nonce"], **claims)
    response = finish_flow(key_client, params)
    assert response.status_code == 303
    session = session_of(key_client)
    assert session["user"] == {"sub": "alice-sub", **identity}
    assert user_row(key_client, "alice-sub") == row
    # The session's id: 24 random bytes, URL-safe.
    assert len(base64.urlsafe_b64decode(session["sid"] + "==")) == 24


@pytest.mark.parametrize(
    "claims",
    [
        {"nonce": "another-nonce"},
        {"nonce": None},
        {"aud": "someone-else"},
        {"iss": "https://evil.example"},
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
    ],
    ids=["nonce-mismatch", "nonce-missing", "wrong-aud", "wrong-iss", "expired"],
)
def test_an_invalid_id_token_is_refused(
    key_client: TestClient, provider: Provider, claims: dict[str, Any]
) -> None:
    params = start_flow(key_client)
    provider.id_token = provider.token(**{"nonce": params["nonce"], **claims})
    response = finish_flow(key_client, params)
    assert response.status_code == 400
    assert failure_message(response) == UNVERIFIED
    assert "user" not in session_of(key_client)


def test_an_id_token_signed_by_an_unknown_key_is_refused(
    key_client: TestClient, provider: Provider, signing_keys: list[Any]
) -> None:
    params = start_flow(key_client)
    provider.id_token = provider.token(key=signing_keys[1], nonce=params["nonce"])
    response = finish_flow(key_client, params)
    assert response.status_code == 400
    assert failure_message(response) == UNVERIFIED
    assert "user" not in session_of(key_client)


@pytest.mark.parametrize("sub", [123, ["alice-sub"], {"id": "alice-sub"}])
def test_an_id_token_whose_subject_is_not_a_string_is_refused(
    key_client: TestClient, provider: Provider, sub: object
) -> None:
    params = start_flow(key_client)
    provider.id_token = provider.token(nonce=params["nonce"], sub=sub)
    response = finish_flow(key_client, params)
    assert response.status_code == 400
    assert failure_message(response) == UNVERIFIED
    assert "user" not in session_of(key_client)


def test_a_failed_code_exchange_is_refused(key_client: TestClient, provider: Provider) -> None:
    params = start_flow(key_client)
    provider.token_status = 400
    response = finish_flow(key_client, params)
    assert response.status_code == 400
    assert failure_message(response) == INCOMPLETE


def test_an_unreachable_provider_cannot_start_a_sign_in(
    make_client: ClientFactory, sqlite_url: str
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/.well-known/openid-configuration"
    client = make_client(sqlite_url, oidc_discovery_url=nowhere)
    response = client.get("/login", params={"next": "/watchlist"}, follow_redirects=False)
    assert response.status_code == 503
    assert failure_message(response) == UNREACHABLE
    assert session_of(client) == {}


def test_a_provider_gone_before_the_callback_is_a_503(
    make_client: ClientFactory, sqlite_url: str, signing_keys: list[SigningKey]
) -> None:
    with serve(signing_keys[:1]) as gone:
        client = make_client(sqlite_url, oidc_discovery_url=gone.discovery_url)
        params = start_flow(client)
    response = finish_flow(client, params)
    assert response.status_code == 503
    assert failure_message(response) == UNREACHABLE
    assert session_of(client) == {}


def test_a_failed_sign_in_keeps_whoever_was_signed_in(app_client: TestClient) -> None:
    sign_in(app_client)
    before = session_of(app_client)
    app_client.get("/login", follow_redirects=False)  # a second sign-in, then cancelled
    response = app_client.get("/auth/callback", params={"error": "access_denied"})
    assert response.status_code == 400
    assert failure_message(response) == CANCELLED
    assert "Sign out" in response.text
    assert response.context["user"]["sub"] == "alice-sub"  # type: ignore[attr-defined]
    assert session_of(app_client) == before


def test_the_code_exchange_authenticates_with_the_client_secret(
    make_client: ClientFactory, sqlite_url: str, signing_keys: list[SigningKey]
) -> None:
    authorizations: list[str | None] = []

    def recording(provider: Provider) -> type[BaseHTTPRequestHandler]:
        class Recording(handler_of(provider)):  # type: ignore[misc]
            def do_POST(self) -> None:
                authorizations.append(self.headers.get("Authorization"))
                super().do_POST()

        return Recording

    with serve(signing_keys[:1], recording) as provider:
        client = make_client(sqlite_url, oidc_discovery_url=provider.discovery_url)
        params = start_flow(client)
        provider.id_token = provider.token(nonce=params["nonce"])
        response = finish_flow(client, params)
    assert response.status_code == 303
    basic = base64.b64encode(f"{AUDIENCE}:test-secret".encode()).decode()
    assert authorizations == [f"Basic {basic}"]


def test_a_token_answer_without_an_id_token_is_refused(
    make_client: ClientFactory, sqlite_url: str, signing_keys: list[SigningKey]
) -> None:
    def no_id_token(provider: Provider) -> type[BaseHTTPRequestHandler]:
        class NoIdToken(handler_of(provider)):  # type: ignore[misc]
            def do_POST(self) -> None:
                self._send({"access_token": "opaque", "token_type": "Bearer"}, "no-store")

        return NoIdToken

    with serve(signing_keys[:1], no_id_token) as provider:
        client = make_client(sqlite_url, oidc_discovery_url=provider.discovery_url)
        params = start_flow(client)
        response = finish_flow(client, params)
    assert response.status_code == 400
    assert failure_message(response) == UNVERIFIED
    assert "user" not in session_of(client)


def test_a_silent_provider_is_given_up_on(
    make_client: ClientFactory, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider that takes the connection and never answers holds a sign-in for
    ``PROVIDER_TIMEOUT_SECONDS`` (ten; half a second here); then the person is told it
    cannot be reached."""
    monkeypatch.setattr(auth, "PROVIDER_TIMEOUT_SECONDS", 0.5)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes the handshake; no one ever answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/.well-known/openid-configuration"
        client = make_client(sqlite_url, oidc_discovery_url=url)
        started = time.monotonic()
        response = client.get("/login", follow_redirects=False)
        waited = time.monotonic() - started
    assert response.status_code == 503
    assert failure_message(response) == UNREACHABLE
    assert waited >= 0.5, "it waited for the provider before giving up"
    # Its own timeout, not the HTTP client's default of five seconds.
    assert waited < 3, f"gave up after {waited:.1f} s"


def test_audience_is_the_client_id(key_client: TestClient) -> None:
    assert key_client.app_state["settings"].google_client_id == AUDIENCE


# The ``next`` rules.


@pytest.mark.parametrize(
    "value",
    [
        "/watchlist",
        "/watchlist?from=e2e&x=1",
        "/watchlist/5/edit",
        "/watchlist?symbol=XOM",
        "/a%20b",
        "/" + "a" * 1999,  # the longest kept
        # Three decodings are looked at (the browser's and two hops'); a fourth is nobody's.
        "/%25252F%25252Fevil.example",
    ],
)
def test_next_keeps_local_paths(value: str) -> None:
    assert safe_next(value) == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/%2F%2Fevil.example",
        "/%2f%2fevil.example",
        "%2F%2Fevil.example",
        "/%5Cevil.example",
        "/%252F%252Fevil.example",
        "https://evil.example",
        "https:evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "\t//evil.example",
        " //evil.example",
        "\uff0f\uff0fevil.example",  # fullwidth solidus look-alikes
        "/\uff0fevil.example",
        "evil.example",
        "data:text/html,<script>alert(1)</script>",
        "/" + "a" * 2000,
        "/" + "a" * 3000,
    ],
)
def test_next_refuses_everything_else(value: str | None) -> None:
    assert safe_next(value) == "/"
