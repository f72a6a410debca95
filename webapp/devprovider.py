"""The development sign-in: a real OpenID provider on loopback, standing in for Google.

It is oidc-provider-mock (a development dependency): it issues RS256 ID tokens
for any email typed into its sign-in form. It runs only when no Google client
is configured, and never in production.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import httpx2

from webapp.settings import DEV_CLIENT_ID, DEV_CLIENT_SECRET

# Registered nowhere: the provider accepts any client; the code only needs somewhere to go.
TOKEN_REDIRECT_URI = "http://127.0.0.1/token"


class DevProviderError(Exception):
    """The development provider cannot start or answer; the message says what to do."""


@contextmanager
def running(provider_url: str) -> Iterator[None]:
    """Serve the development provider at ``provider_url`` (a loopback origin) until exit."""
    try:
        import oidc_provider_mock
        import werkzeug.serving
    except ImportError:
        raise DevProviderError(
            "The development sign-in needs the dev dependencies (run `uv sync`), "
            "or set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET."
        ) from None
    parts = urlsplit(provider_url)
    assert parts.hostname
    assert parts.port
    try:
        server = werkzeug.serving.make_server(
            parts.hostname,
            parts.port,
            oidc_provider_mock.app(require_nonce=True),
            threaded=True,
        )
    except OSError as exc:
        raise DevProviderError(
            f"The development sign-in cannot listen on {provider_url} ({exc.strerror}); "
            "choose another --port (the provider takes the next one)."
        ) from None
    thread = threading.Thread(target=server.serve_forever, name="dev-oidc", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def issue_id_token(
    provider_url: str,
    email: str,
    name: str | None = None,
    *,
    client_id: str = DEV_CLIENT_ID,
    client_secret: str = DEV_CLIENT_SECRET,
) -> str:
    """Sign in to the running development provider as ``email`` and return an ID token
    (for ``client_id``: by default the development client the app trusts)."""
    claims = {"email": email, "email_verified": True, "name": name or email.partition("@")[0]}
    try:
        with httpx2.Client(base_url=provider_url, timeout=10) as client:
            client.put(f"/users/{email}", json=claims).raise_for_status()
            nonce = secrets.token_urlsafe(16)
            response = client.post(
                "/oauth2/authorize",
                params={
                    "client_id": client_id,
                    "redirect_uri": TOKEN_REDIRECT_URI,
                    "response_type": "code",
                    "scope": "openid email profile",
                    "state": secrets.token_urlsafe(16),
                    "nonce": nonce,
                },
                data={"sub": email},
            )
            location = response.headers.get("location", "")
            code = parse_qs(urlsplit(location).query).get("code", [""])[0]
            if response.status_code != 302 or not code:
                raise DevProviderError(
                    f"The provider refused the sign-in ({response.status_code})."
                )
            tokens = client.post(
                "/oauth2/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": TOKEN_REDIRECT_URI,
                    "client_id": client_id,
                    "client_secret": client_secret,
                },
            )
            tokens.raise_for_status()
            id_token: str = tokens.json()["id_token"]
            return id_token
    except httpx2.HTTPError as exc:
        raise DevProviderError(
            f"Cannot reach the development provider at {provider_url} ({type(exc).__name__}): "
            "is `uv run watchlist` running with the same --port?"
        ) from None
