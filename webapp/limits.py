"""Limits on request bodies: the size, and the forms the pages read.

``RejectOversizedBodies`` refuses a body that says up front it is too large, before
reading any of it. Starlette's own limit (``max_body_size``) still stops bodies that
arrive without a ``Content-Length``; this answers the declared ones in the site's own
error shapes (JSON under ``/api``, a page elsewhere) instead of Starlette's plain text.

``read_form`` reads a page's form within its limits, refusing the rest as the size
limit and the API do: 413 over a limit, 422 for what cannot be read.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.datastructures import FormData, Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from webapp import api
from webapp.identity import session_user
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
                    response = render(
                        request, "error.html", context, user=session_user(request), status_code=413
                    )
                response.headers["Connection"] = "close"
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


#: How Starlette's form parser begins the messages of the limits it enforces (too many
#: fields or files, a field or part too large); any other refusal is a form it cannot read.
_OVER_A_LIMIT = ("Too many ", "Field exceeded ", "Part exceeded ")


@contextlib.asynccontextmanager
async def read_form(request: Request, *, max_fields: int) -> AsyncIterator[FormData]:
    """The posted form: no files, at most ``max_fields`` fields, no part over 1 MiB.

    Starlette answers 400 to any form it will not read. Here a form over a limit is
    refused with 413, as a body over the size limit is (a 30-field form and a
    100,000-field one get the same answer), and a malformed one with 422, as the API
    answers a body that is not JSON.
    """
    try:
        form = await request.form(max_files=0, max_fields=max_fields)
    except HTTPException as exc:
        if exc.status_code != 400:
            raise
        status_code = 413 if str(exc.detail).startswith(_OVER_A_LIMIT) else 422
        raise HTTPException(status_code, exc.detail) from None
    try:
        yield form
    finally:
        await form.close()
