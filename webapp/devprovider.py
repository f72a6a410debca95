"""The development sign-in: a real OpenID provider on loopback, standing in for Google.

It runs only when no Google client is configured (never in production), on the app's
port + 1, in a thread of the app's process: discovery, a sign-in page, a token endpoint
and a key set, over HTTP like Google's. The page signs in any email typed into it, with
an optional display name (default: the email's local part), and offers the identities
used recently in this browser (a cookie of the provider's) as one-click buttons.

The ID tokens are RS256, signed with a key made at start-up, with the email as ``sub``
and ``email``. Any client ID and secret is accepted, but the rest is checked as a real
provider checks it: the nonce is required, PKCE (S256) is enforced when the request has a
challenge, and a code works once, for its client and redirect URI, within minutes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import httpx2
import jinja2
import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.datastructures import FormData, QueryParams
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from webapp.headers import SecurityHeaders
from webapp.settings import DEV_CLIENT_ID, DEV_CLIENT_SECRET
from webapp.templating import TEMPLATES_DIR

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
#: The files the page uses, served by the provider itself: it is another origin than the app.
STATIC_FILES = {
    "app.css": "text/css",
    "devprovider.css": "text/css",
    "favicon.svg": "image/svg+xml",
}
# Registered nowhere: the provider accepts any client; the code only needs somewhere to go.
TOKEN_REDIRECT_URI = "http://127.0.0.1/token"
SCOPES = ("openid", "email", "profile")
CODE_SECONDS = 300
TOKEN_SECONDS = 3600
RECENT_COOKIE = "devprovider_recent"
RECENT_MAX = 5
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 100

# The local part's characters are RFC 5322's atext; the domain needs a dot.
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_NETLOC = re.compile(r"([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?")
_CHALLENGE = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_POLICY = {
    "default-src": "'none'",
    "style-src": "'self'",
    "img-src": "'self'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
_HEADERS = {
    "Content-Security-Policy": "; ".join(f"{k} {v}" for k, v in _POLICY.items()),
    "X-Content-Type-Options": "nosniff",
    # The authorization URL carries the state and nonce: no Referer takes it anywhere.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_THREAD_NAME = "dev-oidc"


class DevProviderError(Exception):
    """The development provider cannot start or answer; the message says what to do."""


@dataclass(frozen=True)
class Identity:
    email: str
    name: str


@dataclass(frozen=True)
class AuthorizationRequest:
    """An authorization request's parameters, once checked."""

    client_id: str
    redirect_uri: str
    redirect_origin: str
    scope: frozenset[str]
    state: str | None
    nonce: str
    code_challenge: str | None


@dataclass(frozen=True)
class Grant:
    """What an authorization code stands for until it is exchanged."""

    request: AuthorizationRequest
    identity: Identity
    expires: float


class Provider:
    """The provider's state: its issuer URL, its signing key and the codes not yet used."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.key = RSAKey.generate_key(
            2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True
        )
        self.codes: dict[str, Grant] = {}
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates = Jinja2Templates(env=env)

    def issue_code(self, request: AuthorizationRequest, identity: Identity) -> str:
        now = time.monotonic()
        for code in [code for code, grant in self.codes.items() if grant.expires <= now]:
            del self.codes[code]
        code = secrets.token_urlsafe(32)
        self.codes[code] = Grant(request, identity, now + CODE_SECONDS)
        return code

    def id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.identity.email,
            "aud": grant.request.client_id,
            "iat": now,
            "exp": now + TOKEN_SECONDS,
            "auth_time": now,
            "nonce": grant.request.nonce,
        }
        if "email" in grant.request.scope:
            claims.update(email=grant.identity.email, email_verified=True)
        if "profile" in grant.request.scope:
            claims["name"] = grant.identity.name
        header = {"alg": "RS256", "kid": self.key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self.key, algorithms=["RS256"])


def create_app(issuer: str) -> Starlette:
    """The provider as an ASGI app, answering as ``issuer`` (its own base URL)."""
    app = Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
            Route("/oauth2/authorize", authorize, methods=["GET", "POST"]),
            Route("/oauth2/token", token, methods=["POST"]),
            Route("/jwks", jwks, methods=["GET"]),
            Route("/static/{name}", static, methods=["GET"]),
        ],
        middleware=[Middleware(SecurityHeaders, headers=_HEADERS)],
    )
    app.state.provider = Provider(issuer)
    return app


async def discovery(request: Request) -> Response:
    issuer = _provider(request).issuer
    return JSONResponse(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/oauth2/authorize",
            "token_endpoint": f"{issuer}/oauth2/token",
            "jwks_uri": f"{issuer}/jwks",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": list(SCOPES),
            "claims_supported": ["iss", "sub", "aud", "iat", "exp", "email", "name"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
        }
    )


async def jwks(request: Request) -> Response:
    key = _provider(request).key
    return JSONResponse({"keys": [key.as_dict(private=False)]})


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC_FILES:
        return Response("Not found", status_code=404, media_type="text/plain")
    return FileResponse(STATIC_DIR / name, media_type=STATIC_FILES[name])


async def authorize(request: Request) -> Response:
    """The sign-in page (GET), and its form (POST) which sends the code to the app."""
    provider = _provider(request)
    checked = _authorization_request(request.query_params)
    if isinstance(checked, str):
        return _page(request, {"problem": checked}, status_code=400)
    recent = _recent(request)
    if request.method == "GET":
        return _page(request, {"recent": recent, "values": {}, "errors": {}}, checked)

    form = await request.form()
    if form.get("action") == "cancel":
        return _redirect(checked, {"error": "access_denied"})
    email = _field(form, "email")
    name = _field(form, "name")
    errors = _identity_errors(email, name)
    if errors:
        context = {"recent": recent, "values": {"email": email, "name": name}, "errors": errors}
        return _page(request, context, checked, status_code=422)
    identity = Identity(email, name or email.partition("@")[0])
    response = _redirect(checked, {"code": provider.issue_code(checked, identity)})
    remembered = [identity, *(other for other in recent if other.email != identity.email)]
    response.set_cookie(
        RECENT_COOKIE,
        _encode_recent(remembered[:RECENT_MAX]),
        max_age=90 * 24 * 3600,
        # The provider's sign-in page only: cookies ignore ports, the app's pages never see it.
        path="/oauth2/authorize",
        httponly=True,
        samesite="lax",
    )
    return response


async def token(request: Request) -> Response:
    """The code exchange: an ID token for the code's identity, once."""
    provider = _provider(request)
    form = await request.form()
    client_id = _client_id(request, form)
    if not client_id:
        return _oauth_error("invalid_client", "The client did not authenticate.", 401)
    if form.get("grant_type") != "authorization_code":
        return _oauth_error("unsupported_grant_type", "Only authorization_code is supported.")
    code = _field(form, "code")
    if not code:
        return _oauth_error("invalid_request", "The code is missing.")
    grant = provider.codes.pop(code, None)  # used up by any attempt, right or wrong
    if grant is None or grant.expires <= time.monotonic():
        return _oauth_error("invalid_grant", "The code is unknown, used or expired.")
    if grant.request.client_id != client_id:
        return _oauth_error("invalid_grant", "The code was issued to another client.")
    if grant.request.redirect_uri != form.get("redirect_uri"):
        return _oauth_error("invalid_grant", "The redirect_uri is not the authorization's.")
    verifier = form.get("code_verifier")
    if grant.request.code_challenge is None:
        if verifier is not None:
            return _oauth_error("invalid_grant", "The authorization had no code_challenge.")
    elif not isinstance(verifier, str) or not secrets.compare_digest(
        _s256(verifier), grant.request.code_challenge
    ):
        return _oauth_error("invalid_grant", "The code_verifier does not match.")
    body = {
        "access_token": secrets.token_urlsafe(32),
        "token_type": "Bearer",
        "expires_in": TOKEN_SECONDS,
        "scope": " ".join(s for s in SCOPES if s in grant.request.scope),
        "id_token": provider.id_token(grant),
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _provider(request: Request) -> Provider:
    provider: Provider = request.app.state.provider
    return provider


def _authorization_request(params: QueryParams) -> AuthorizationRequest | str:
    """The checked request, or what is wrong with it (shown on the page: with no valid
    redirect URI there is nowhere else to say it)."""
    client_id = params.get("client_id", "")
    if not client_id:
        return "The request has no client_id."
    redirect_uri = params.get("redirect_uri", "")
    parts = urlsplit(redirect_uri)
    # Its origin goes into the page's policy header: a plain host and port, nothing else.
    if parts.scheme not in ("http", "https") or not _NETLOC.fullmatch(parts.netloc):
        return "The request's redirect_uri is not an http or https URL."
    if parts.fragment:
        return "The request's redirect_uri must not have a fragment."
    if params.get("response_type") != "code":
        return "The request's response_type must be code."
    scope = frozenset(params.get("scope", "").split())
    if "openid" not in scope:
        return "The request's scope must include openid."
    nonce = params.get("nonce", "")
    if not nonce:
        return "The request has no nonce."
    challenge = params.get("code_challenge")
    if challenge is not None:
        if params.get("code_challenge_method") != "S256":
            return "The request's code_challenge_method must be S256."
        if not _CHALLENGE.fullmatch(challenge):
            return "The request's code_challenge is malformed."
    elif "code_challenge_method" in params:
        return "The request has a code_challenge_method but no code_challenge."
    return AuthorizationRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        redirect_origin=f"{parts.scheme}://{parts.netloc}",
        scope=scope,
        state=params.get("state"),
        nonce=nonce,
        code_challenge=challenge,
    )


def _identity_errors(email: str, name: str) -> dict[str, str]:
    """The rule each field breaks, worded to follow its name (as the app's forms do)."""
    errors = {}
    if not email:
        errors["email"] = "is required"
    elif len(email) > MAX_EMAIL_LENGTH:
        errors["email"] = f"must be at most {MAX_EMAIL_LENGTH} characters"
    elif not _EMAIL.fullmatch(email):
        errors["email"] = "must be an address like name@example.com"
    if len(name) > MAX_NAME_LENGTH:
        errors["name"] = f"must be at most {MAX_NAME_LENGTH} characters"
    elif not name.isprintable():
        errors["name"] = "must be on one line"
    return errors


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _page(
    request: Request,
    context: dict[str, Any],
    checked: AuthorizationRequest | None = None,
    *,
    status_code: int = 200,
) -> Response:
    headers = {"Cache-Control": "no-store"}
    if checked is not None:
        # Chromium applies form-action to the redirect after the post too: to the app.
        policy = {**_POLICY, "form-action": f"'self' {checked.redirect_origin}"}
        headers["Content-Security-Policy"] = "; ".join(f"{k} {v}" for k, v in policy.items())
        context["action"] = f"{request.url.path}?{request.url.query}"
        context["client"] = checked.redirect_origin.partition("://")[2]
    return _provider(request).templates.TemplateResponse(
        request, "devprovider.html", context, status_code=status_code, headers=headers
    )


def _redirect(checked: AuthorizationRequest, params: dict[str, str]) -> Response:
    if checked.state is not None:
        params = {**params, "state": checked.state}
    parts = urlsplit(checked.redirect_uri)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    return RedirectResponse(urlunsplit(parts._replace(query=query)), status_code=302)


def _recent(request: Request) -> list[Identity]:
    """The identities in the recent cookie that would pass the form's own checks."""
    value = request.cookies.get(RECENT_COOKIE, "")
    try:
        entries = json.loads(base64.urlsafe_b64decode(value.encode() + b"=" * (-len(value) % 4)))
    except (binascii.Error, ValueError):
        return []
    if not isinstance(entries, list):
        return []
    recent = []
    for entry in entries[:RECENT_MAX]:
        if not isinstance(entry, dict):
            continue
        email, name = entry.get("email"), entry.get("name")
        if isinstance(email, str) and isinstance(name, str) and not _identity_errors(email, name):
            recent.append(Identity(email, name or email.partition("@")[0]))
    return recent


def _encode_recent(identities: list[Identity]) -> str:
    entries = [{"email": i.email, "name": i.name} for i in identities]
    return base64.urlsafe_b64encode(json.dumps(entries).encode()).rstrip(b"=").decode()


def _client_id(request: Request, form: FormData) -> str:
    """The client's ID, from HTTP Basic (client_secret_basic) or the form (client_secret_post).
    Any secret is accepted: this provider has no registered clients."""
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return unquote(decoded.partition(":")[0])
    return _field(form, "client_id")


def _oauth_error(error: str, description: str, status_code: int = 400) -> Response:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class _ProviderThreadInfo(logging.Filter):
    """Drops the provider server's info lines (its start, its access log), which would read
    as the app's; its warnings and errors still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != _THREAD_NAME or record.levelno >= logging.WARNING


@contextmanager
def running(provider_url: str) -> Iterator[None]:
    """Serve the development provider at ``provider_url`` (a loopback origin) until exit."""
    parts = urlsplit(provider_url)
    assert parts.hostname
    assert parts.port
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((parts.hostname, parts.port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise DevProviderError(
            f"The development sign-in cannot listen on {provider_url} ({exc.strerror}); "
            "choose another --port (the provider takes the next one)."
        ) from None
    config = uvicorn.Config(
        create_app(provider_url),
        lifespan="off",
        # Logging stays the app's: uvicorn's config would otherwise reconfigure (or, with
        # access_log=False, silence) the loggers the app's own server shares.
        log_config=None,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    quiet = _ProviderThreadInfo()
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "uvicorn.access")]
    for logger in loggers:
        logger.addFilter(quiet)
    thread = threading.Thread(target=server.run, args=([sock],), name=_THREAD_NAME, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise DevProviderError(f"The development sign-in did not start at {provider_url}.")
            time.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        for logger in loggers:
            logger.removeFilter(quiet)


def issue_id_token(
    provider_url: str,
    email: str,
    name: str | None = None,
    *,
    client_id: str = DEV_CLIENT_ID,
    client_secret: str = DEV_CLIENT_SECRET,
) -> str:
    """Sign in to the running development provider as ``email`` and return an ID token
    (for ``client_id``: by default the development client the app trusts), through the
    same form and code exchange, PKCE included, as a browser and the app."""
    verifier = secrets.token_urlsafe(48)
    try:
        with httpx2.Client(base_url=provider_url, timeout=10) as client:
            response = client.post(
                "/oauth2/authorize",
                params={
                    "client_id": client_id,
                    "redirect_uri": TOKEN_REDIRECT_URI,
                    "response_type": "code",
                    "scope": " ".join(SCOPES),
                    "state": secrets.token_urlsafe(16),
                    "nonce": secrets.token_urlsafe(16),
                    "code_challenge": _s256(verifier),
                    "code_challenge_method": "S256",
                },
                data={"email": email, "name": name or ""},
            )
            location = response.headers.get("location", "")
            code = parse_qs(urlsplit(location).query).get("code", [""])[0]
            if response.status_code != 302 or not code:
                raise DevProviderError(
                    f"The provider refused the sign-in ({response.status_code}): "
                    "check the email (name@example.com) and the name (at most "
                    f"{MAX_NAME_LENGTH} characters)."
                )
            tokens = client.post(
                "/oauth2/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": TOKEN_REDIRECT_URI,
                    "code_verifier": verifier,
                },
                auth=(client_id, client_secret),
            )
            tokens.raise_for_status()
            id_token: str = tokens.json()["id_token"]
            return id_token
    except httpx2.HTTPError as exc:
        raise DevProviderError(
            f"Cannot reach the development provider at {provider_url} ({type(exc).__name__}): "
            "is `uv run watchlist` running with the same --port?"
        ) from None
