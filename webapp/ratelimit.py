"""A small in-process rate limit for the sign-in endpoints, per client address.

Each address gets a token bucket: ``burst`` requests at once, refilled at
``burst / window`` per second. Buckets live in this process only: several
instances each keep their own (a shared store such as Redis would be needed to
limit across them). Memory stays bounded: the least recently seen addresses are
forgotten beyond ``max_clients``.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Collection

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from webapp.identity import session_user
from webapp.templating import render


class TokenBuckets:
    def __init__(
        self,
        burst: int,
        window: float,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.rate = burst / window
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str) -> float:
        """Spend one token for ``client``: 0 when allowed, else seconds until the next one."""
        now = self.clock()
        tokens, then = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait


#: Requests an address may make at once, and the seconds it takes to earn them all back.
BURST = 20
WINDOW_SECONDS = 60.0


class RateLimit:
    def __init__(
        self,
        app: ASGIApp,
        paths: Collection[str],
        burst: int = BURST,
        window: float = WINDOW_SECONDS,
    ) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.buckets = TokenBuckets(burst, window)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            client = scope.get("client")
            wait = self.buckets.take(client[0] if client else "unknown")
            if wait:
                request = Request(scope, receive)
                context = {
                    "title": "Too many attempts",
                    "message": "Too many sign-in attempts from your address. "
                    "Wait a minute, then try again.",
                }
                response = render(
                    request, "error.html", context, user=session_user(request), status_code=429
                )
                response.headers["Retry-After"] = str(math.ceil(wait))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
