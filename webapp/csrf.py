"""Cross-site request protection for the pages, without tokens.

A state-changing request (anything but GET, HEAD, OPTIONS) to a page is refused
when the browser says it comes from another site: ``Sec-Fetch-Site`` other than
``same-origin`` or ``none``, or, from browsers that do not send that header, an
``Origin`` that is not ours. Requests with neither header do not come from a
browser, so no cookie can be riding along unbidden. This is the check of Go's
``http.CrossOriginProtection``; the API is exempt, since it takes bearer tokens
and never cookies.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from webapp import surfaces

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_cross_site(method: str, headers: Headers, origin: str) -> bool:
    """Whether a request must be refused as cross-site; ``origin`` is our own."""
    if method in SAFE_METHODS:
        return False
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    request_origin = headers.get("origin")
    return request_origin is not None and request_origin != origin


class CrossSiteProtection:
    def __init__(self, app: ASGIApp, origin: str) -> None:
        self.app = app
        self.origin = origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            # The API sends no cookie (a bearer token only), so it has nothing to protect.
            and not surfaces.is_api(scope["path"])
            and is_cross_site(scope["method"], Headers(scope=scope), self.origin)
        ):
            response = PlainTextResponse(
                "Cross-site request refused: submit the form from this site's own pages.",
                status_code=403,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
