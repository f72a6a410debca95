"""Which surface a request is for: the pages (cookies, HTML, cross-site checks) or the
API (bearer tokens, JSON errors). Decided here, and only here, for both of the API's
address spaces: ``/api`` and the earlier service's routes (``webapp.compat``)."""

from __future__ import annotations

API_PREFIX = "/api"
#: The earlier service's routes, kept for its clients; ``/stocks/{id}`` below ``/stocks``.
COMPAT_PATHS = frozenset({"/health", "/me", "/stocks", "/docs"})


def is_api(path: str) -> bool:
    """Whether ``path`` is the API's: answered in JSON, authenticated by bearer token only
    (no cookie, so no cross-site check)."""
    return (
        path == API_PREFIX
        or path.startswith(API_PREFIX + "/")
        or path in COMPAT_PATHS
        or path.startswith("/stocks/")
    )
