"""The application factory: ``create_app(settings)`` builds one independent app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
from databases import Database
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from webapp import api, auth, compat, csvroutes, devprovider, limits, migrate, pages, surfaces
from webapp.csrf import CrossSiteProtection
from webapp.headers import SecurityHeaders, security_headers
from webapp.identity import session_user
from webapp.quotes import make_provider
from webapp.quotes.cache import QuoteCache
from webapp.ratelimit import RateLimit
from webapp.sessions import Sessions
from webapp.settings import Settings, load_settings
from webapp.store import DatabaseUnavailable, Store
from webapp.templating import build_templates, is_htmx, render
from webapp.tokens import IdTokenVerifier

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
READY_TIMEOUT_SECONDS = 2.0
PROVIDER_TIMEOUT_SECONDS = 5.0
#: What a 503 asks clients to wait before they try again.
RETRY_AFTER_SECONDS = 5

#: MySQL connections per process, at most: instances, times workers, times this must stay
#: under the server's max_connections.
POOL_MAX_SIZE = 10
#: A connection unused this long is closed rather than reused. Firewalls, NAT and cloud
#: load balancers drop idle connections without telling either end (some after four
#: minutes), and a statement sent on one fails, or hangs. Connections the server closes
#: itself (a restart, its wait_timeout) are noticed as they close, and never handed out.
POOL_RECYCLE_SECONDS = 180
#: How long opening a connection may take before the request is answered 503.
CONNECT_TIMEOUT_SECONDS = 5


def _database(settings: Settings) -> Database:
    if settings.database_url.startswith("mysql"):
        return Database(
            settings.database_url,
            charset="utf8mb4",
            min_size=1,
            max_size=POOL_MAX_SIZE,
            pool_recycle=POOL_RECYCLE_SECONDS,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
        )
    return Database(settings.database_url)


async def healthz(request: Request) -> Response:
    """The process is alive; touches nothing else."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The database answers ``SELECT 1`` in time."""
    store: Store = request.state.store
    try:
        await asyncio.wait_for(store.ping(), READY_TIMEOUT_SECONDS)
    except Exception as exc:
        expected = isinstance(exc, DatabaseUnavailable | TimeoutError)
        logger.warning(
            "readiness check failed: the database did not answer (%s)",
            str(exc) or type(exc).__name__,
            exc_info=not expected,
        )
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return JSONResponse({"status": "ok", "database": "ok"})


def _is_api(request: Request) -> bool:
    return surfaces.is_api(request.url.path)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 413:
        return _too_large(request)
    if _is_api(request):
        return await api.http_error(request, exc)
    titles = {404: "Page not found", 405: "Not allowed"}
    messages = {
        404: "There is no page at this address.",
        405: "This page does not accept that kind of request.",
    }
    return render(
        request,
        "error.html",
        {
            "title": titles.get(exc.status_code, "Request refused"),
            "message": messages.get(exc.status_code, "The request could not be handled."),
        },
        user=session_user(request),
        status_code=exc.status_code,
        headers=exc.headers,  # a 405's Allow
    )


def _too_large(request: Request) -> Response:
    """A body over its route's limit (declared or found out while read), or a form over
    one of its limits: a 413 that says the body's limit under ``/api``."""
    if _is_api(request):
        limit = _size(limits.body_limit(request, api.MAX_BODY_BYTES))
        return api.error_response(api.ApiError(413, f"The body is too large: at most {limit}."))
    context = {
        "title": "Too much data",
        "message": "The form sent more data than this site accepts.",
    }
    return render(request, "error.html", context, user=session_user(request), status_code=413)


def _size(limit: int) -> str:
    """``64 KiB``, ``1 MiB``."""
    mebibytes, rest = divmod(limit, 1024 * 1024)
    return f"{mebibytes:,} MiB" if mebibytes and not rest else f"{limit // 1024:,} KiB"


async def database_unavailable(request: Request, exc: Exception) -> Response:
    """The database is down or restarting: a 503 to try again shortly, never a 500.

    htmx swaps no error into the page, so its requests also get ``HX-Refresh``: the
    browser reloads the page, which shows this one, or the watchlist as it now is once
    the database is back.
    """
    logger.warning("database unavailable for %s %s: %s", request.method, request.url.path, exc)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if _is_api(request):
        detail = "The database is unavailable just now; try again in a few seconds."
        if request.method not in ("GET", "HEAD"):
            detail += " The change may or may not have been made: read it back before repeating it."
        return api.error_response(api.ApiError(503, detail, headers=headers))
    message = "We cannot reach the watchlist's database just now. Try again in a few seconds."
    if request.method not in ("GET", "HEAD"):
        message += " Your change may not have been saved: look at your watchlist once it is back."
    response = render(
        request,
        "error.html",
        {"title": "Back in a moment", "message": message},
        # Who the cookie says, unverified: the database that would confirm it is away.
        user=session_user(request),
        status_code=503,
    )
    response.headers.update(headers)
    if is_htmx(request):
        response.headers["HX-Refresh"] = "true"
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log (ServerErrorMiddleware), never to the client. That
    # middleware sits outside ours, so this answer carries the security headers itself.
    headers = request.app.state.security_headers
    if _is_api(request):
        error = api.ApiError(500, "Something went wrong on our side.", headers=headers)
        return api.error_response(error)
    return Response(
        "<!doctype html><title>Error</title><p>Something went wrong on our side.</p>",
        status_code=500,
        media_type="text/html",
        headers=headers,
    )


async def favicon(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")


def _quote_cache(settings: Settings) -> QuoteCache | None:
    """The process's one quote cache, or ``None`` when quotes are off; says which in the log."""
    provider = make_provider(
        settings.quotes_provider,
        api_key=str(settings.quotes_api_key),
        base_url=settings.quotes_base_url,
        timeout=settings.quotes_timeout,
        calls_per_minute=settings.quotes_calls_per_minute,
    )
    if provider is None:
        logger.info("quotes: off (QUOTES_PROVIDER=off, or unset in production)")
        return None
    per_minute = provider.calls_per_minute
    logger.info(
        "quotes: %s, fresh for %g s, each call at most %g s, %s a minute",
        provider.name,
        settings.quotes_ttl,
        settings.quotes_timeout,
        f"{per_minute} call{'' if per_minute == 1 else 's'}" if per_minute else "any calls",
    )
    return QuoteCache(provider, ttl=settings.quotes_ttl, timeout=settings.quotes_timeout)


def _freeze_start_up() -> None:
    """Keep what start-up loaded (modules, templates, statements: about 100,000 objects,
    all living as long as the process) out of the garbage collector's way. A page makes
    enough objects to set off collections, and each full one walked all of them: with
    them frozen, a worker spends about a third as long collecting (measured at 16 pages
    at a time). Start-up's own garbage is collected first, or it would stay for good."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the ASGI app; with no settings, read them from the environment."""
    settings = settings or load_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with contextlib.AsyncExitStack() as stack:
            if settings.dev_sign_in:
                stack.enter_context(devprovider.running(settings.dev_provider_url))
            await asyncio.to_thread(
                migrate.prepare, settings.database_url, production=settings.production
            )
            database = _database(settings)
            await database.connect()
            stack.push_async_callback(database.disconnect)
            store = Store(database)
            http = await stack.enter_async_context(
                httpx2.AsyncClient(timeout=PROVIDER_TIMEOUT_SECONDS, follow_redirects=False)
            )
            verifier = IdTokenVerifier(settings.oidc_discovery_url, settings.api_audiences, http)
            quotes = _quote_cache(settings)
            if quotes is not None:
                stack.push_async_callback(quotes.aclose)
            state = {
                "settings": settings,
                "store": store,
                "verifier": verifier,
                "quotes": quotes,
                "oauth": auth.build_oauth(settings),
                "templates": build_templates(settings),
            }
            if settings.production:
                _freeze_start_up()
                stack.callback(gc.unfreeze)
            yield state

    https = urlsplit(settings.public_url).scheme == "https"
    discovery = urlsplit(settings.oidc_discovery_url)
    headers = security_headers(settings.public_url, f"{discovery.scheme}://{discovery.netloc}")
    app = Starlette(
        routes=[
            # First: no other route starts with /api/, and an API request then matches at once.
            Mount(surfaces.API_PREFIX, routes=api.routes),
            *pages.routes,
            *csvroutes.page_routes,
            *auth.routes,
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/favicon.ico", favicon, methods=["GET"]),
            *compat.routes,
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        middleware=[
            Middleware(SecurityHeaders, headers=headers),
            Middleware(CrossSiteProtection, origin=settings.public_url),
            Middleware(
                Sessions,
                secret_keys=settings.session_keys,
                # The __Host- prefix pins the cookie to this exact origin (HTTPS only).
                session_cookie="__Host-session" if https else "session",
                # Only a hint to the browser: identity.py enforces the limits itself.
                max_age=settings.session_lifetime,
                same_site="lax",
                https_only=https,
            ),
            Middleware(RateLimit, paths=("/login", "/auth/callback")),
            Middleware(
                limits.RejectOversizedBodies,
                max_body_size=api.MAX_BODY_BYTES,
                answer=http_error,
                # The CSV uploads' routes raise Starlette's limit to the same.
                larger=csvroutes.BODY_LIMITS,
            ),
            Middleware(RequestBodyLimitMiddleware, max_body_size=api.MAX_BODY_BYTES),
        ],
        exception_handlers={
            HTTPException: http_error,
            api.ApiError: api.api_error,
            DatabaseUnavailable: database_unavailable,
            500: server_error,
        },
        lifespan=lifespan,
    )
    # Errors that escape every handler are answered outside the middleware: see server_error.
    app.state.security_headers = headers
    return app
