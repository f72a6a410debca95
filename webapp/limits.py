"""Limits on request bodies: the size, and the forms the pages read.

``RejectOversizedBodies`` refuses a body that says up front it is too large, before
reading any of it. Starlette's own limit (``max_body_size``) still stops bodies that
arrive without a ``Content-Length``; this answers the declared ones in the site's own
error shapes (JSON under ``/api``, a page elsewhere: the app's ``answer``) instead of
Starlette's plain text. Everything has the same limit but the few paths given a larger
one, the CSV uploads, whose routes raise Starlette's limit to match
(``Route(max_body_size=...)``).

``read_form`` reads a page's form within its limits, refusing the rest as the size
limit and the API do: 413 over a limit, 422 for what cannot be read.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from starlette.datastructures import FormData, Headers
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

#: How the app answers a body over its limit: the request (whose scope holds the limit,
#: ``body_limit``) and the 413 refusing it.
Answer = Callable[[Request, HTTPException], Awaitable[Response]]


def body_limit(request: Request, default: int) -> int:
    """The body limit of the request in hand: the one Starlette (or the check of the
    declared size) applied to it, else ``default``."""
    limit = request.scope.get(MAX_BODY_SIZE_SCOPE_KEY)
    return limit if isinstance(limit, int) else default


class RejectOversizedBodies:
    """Refuse a declared body over its path's limit: ``max_body_size``, or the larger one
    of a path in ``larger`` (route paths, like ``/lists/{list_id:int}/import``)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_size: int,
        answer: Answer,
        larger: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_size = max_body_size
        self.answer = answer
        self.larger: list[tuple[re.Pattern[str], int]] = [
            (compile_path(path)[0], limit) for path, limit in (larger or {}).items()
        ]

    def limit(self, path: str) -> int:
        for pattern, limit in self.larger:
            if pattern.match(path):
                return limit
        return self.max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = Headers(scope=scope).get("content-length", "")
            limit = self.limit(scope["path"])
            if declared.isdigit() and int(declared) > limit:
                scope[MAX_BODY_SIZE_SCOPE_KEY] = limit
                response = await self.answer(Request(scope, receive), HTTPException(413))
                response.headers["Connection"] = "close"
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


#: How Starlette's form parser begins the messages of the limits it enforces (too many
#: fields or files, a field or part too large); any other refusal is a form it cannot read.
_OVER_A_LIMIT = ("Too many ", "Field exceeded ", "Part exceeded ")


@contextlib.asynccontextmanager
async def read_form(
    request: Request, *, max_fields: int, max_files: int = 0, max_part_size: int = 1024 * 1024
) -> AsyncIterator[FormData]:
    """The posted form: at most ``max_fields`` fields and ``max_files`` files (none unless
    said), no field over ``max_part_size`` (1 MiB unless said). A file's size is bounded by
    the body limit of its route.

    Starlette answers 400 to any form it will not read. Here a form over a limit is
    refused with 413, as a body over the size limit is (a 30-field form and a
    100,000-field one get the same answer), and a malformed one with 422, as the API
    answers a body that is not JSON.
    """
    try:
        form = await request.form(
            max_files=max_files, max_fields=max_fields, max_part_size=max_part_size
        )
    except HTTPException as exc:
        if exc.status_code != 400:
            raise
        status_code = 413 if str(exc.detail).startswith(_OVER_A_LIMIT) else 422
        raise HTTPException(status_code, exc.detail) from None
    try:
        yield form
    finally:
        await form.close()
