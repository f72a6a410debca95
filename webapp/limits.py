"""Refuse a request body that says up front it is too large, before reading any of it.

Starlette's own limit (``max_body_size``) still stops bodies that arrive without a
``Content-Length``; this answers the declared ones in the site's own error shapes
(JSON under ``/api``, a page elsewhere) instead of Starlette's plain text.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from webapp import api
from webapp.templating import render


class RejectOversizedBodies:
    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = Headers(scope=scope).get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_body_size:
                request = Request(scope, receive)
                response: Response
                if scope["path"] == "/api" or scope["path"].startswith("/api/"):
                    response = api.error_response(api.too_large())
                else:
                    context = {
                        "title": "Too much data",
                        "message": "The form sent more data than this site accepts.",
                    }
                    response = render(request, "error.html", context, status_code=413)
                response.headers["Connection"] = "close"
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
