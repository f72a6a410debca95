"""Browser sign-in: Google's authorization-code flow (PKCE, state, nonce) through Authlib.

The session cookie holds only who signed in and when: ``{sub, email, name,
picture}`` and the sign-in time, never a token. During the flow it also holds
Authlib's short-lived state and the ``next`` path.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import httpx2
from authlib.integrations.starlette_client import OAuth, OAuthError
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from webapp.identity import (
    IDENTITY_KEY,
    LAST_SEEN_KEY,
    SESSION_ID_KEY,
    SIGNED_IN_AT_KEY,
    session_expiry,
    session_user,
    verified_user,
)
from webapp.settings import Settings
from webapp.store import Store
from webapp.templating import render

logger = logging.getLogger(__name__)

PROVIDER = "google"
SCOPE = "openid email profile"
MAX_NEXT_LENGTH = 2000
#: How long a call to the provider (discovery, keys, the code exchange) may take.
PROVIDER_TIMEOUT_SECONDS: float = 10


def build_oauth(settings: Settings) -> OAuth:
    """An Authlib registry holding one provider, configured from its discovery document."""
    oauth = OAuth()
    oauth.register(
        PROVIDER,
        client_id=settings.google_client_id,
        client_secret=str(settings.google_client_secret),
        server_metadata_url=settings.oidc_discovery_url,
        client_kwargs={
            "scope": SCOPE,
            "code_challenge_method": "S256",
            "timeout": PROVIDER_TIMEOUT_SECONDS,
        },
    )
    return oauth


def safe_next(value: str | None) -> str:
    """``value`` when it is a path on this site, else ``/``: never an open redirect."""
    if not value or len(value) > MAX_NEXT_LENGTH or not value.isascii():
        return "/"
    # Browsers drop tabs and newlines and read a backslash as a slash: refuse them outright,
    # and look at every decoding of the value, since a later hop may decode it again.
    candidate = value
    for _ in range(3):
        if any(c in candidate for c in "\\\t\r\n") or not candidate.isprintable():
            return "/"
        if not candidate.startswith("/") or candidate.startswith("//"):
            return "/"
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return "/"
        decoded = unquote(candidate)
        if decoded == candidate:
            break
        candidate = decoded
    return value


def login_url(request: Request) -> str:
    """Where to send someone who must sign in and then come back to this page."""
    path = request.url.path
    if request.url.query:
        path = f"{path}?{request.url.query}"
    return "/login?" + urlencode({"next": path})


async def login(request: Request) -> Response:
    settings: Settings = request.state.settings
    oauth: OAuth = request.state.oauth
    request.session["next"] = safe_next(request.query_params.get("next"))
    try:
        redirect: Response = await oauth.create_client(PROVIDER).authorize_redirect(
            request, settings.public_url + "/auth/callback"
        )
    except httpx2.HTTPError:
        logger.warning("sign-in could not start: the provider's metadata is unreachable")
        return _failure(request, "We could not reach the sign-in service.", 503)
    return redirect


async def callback(request: Request) -> Response:
    oauth: OAuth = request.state.oauth
    if request.query_params.get("error"):
        # The provider said no (the person cancelled, or the request was refused).
        return _failure(request, "Sign-in was cancelled or refused.", 400)
    try:
        token = await oauth.create_client(PROVIDER).authorize_access_token(request)
    except OAuthError as exc:
        logger.info("sign-in failed: %s", exc.error)
        return _failure(request, "Sign-in did not complete.", 400)
    except JoseError as exc:
        logger.info("sign-in failed: invalid ID token (%s)", type(exc).__name__)
        return _failure(request, "The sign-in service's answer could not be verified.", 400)
    except httpx2.HTTPError:
        logger.warning("sign-in failed: the provider is unreachable")
        return _failure(request, "We could not reach the sign-in service.", 503)
    claims = token.get("userinfo")
    if not claims or not isinstance(claims.get("sub"), str):
        return _failure(request, "The sign-in service's answer could not be verified.", 400)
    identity = {
        "sub": claims["sub"],
        "email": _text(claims.get("email")),
        "name": _text(claims.get("name")),
        "picture": _text(claims.get("picture")),
    }
    store: Store = request.state.store
    await store.record_sign_in(identity["sub"], identity["email"] or "", identity["name"] or "")
    next_path = safe_next(request.session.get("next"))
    request.session.clear()
    now = time.time()
    request.session.update(
        {
            IDENTITY_KEY: identity,
            SIGNED_IN_AT_KEY: now,
            LAST_SEEN_KEY: int(now),
            SESSION_ID_KEY: secrets.token_urlsafe(24),
        }
    )
    return RedirectResponse(next_path, status_code=303)


async def logout(request: Request) -> Response:
    """End this session, on the server too: a copy of the cookie is refused from now on."""
    user = await verified_user(request)
    if user is not None:
        store: Store = request.state.store
        await store.end_session(
            user["sub"], request.session[SESSION_ID_KEY], session_expiry(request)
        )
    request.session.clear()
    return RedirectResponse("/", status_code=303)


async def logout_everywhere(request: Request) -> Response:
    """End every session of this person, on every device."""
    user = await verified_user(request)
    if user is not None:
        store: Store = request.state.store
        await store.end_all_sessions(user["sub"])
    request.session.clear()
    return RedirectResponse("/", status_code=303)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


_SESSION_KEYS = (IDENTITY_KEY, SIGNED_IN_AT_KEY, LAST_SEEN_KEY, SESSION_ID_KEY)


def _failure(request: Request, message: str, status_code: int) -> Response:
    # Leave nothing of the failed attempt behind, but keep someone who was signed in signed in.
    for key in [key for key in request.session if key not in _SESSION_KEYS]:
        del request.session[key]
    context = {"message": message, "retry": True}
    return render(
        request, "error.html", context, user=session_user(request), status_code=status_code
    )


routes = [
    Route("/login", login, methods=["GET"]),
    Route("/auth/callback", callback, methods=["GET"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/logout/everywhere", logout_everywhere, methods=["POST"]),
]
