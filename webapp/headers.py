"""Security headers on every response: pages, fragments, errors and the API alike."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(authorize_origin: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            # Google serves profile pictures from googleusercontent.com.
            "img-src 'self' data: https://*.googleusercontent.com",
            "object-src 'none'",
            "base-uri 'none'",
            # Chromium applies form-action to the redirects that follow a form post too.
            f"form-action 'self' {authorize_origin}",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(public_url: str, authorize_origin: str) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": content_security_policy(authorize_origin),
        "X-Content-Type-Options": "nosniff",
        # No URL leaves in a Referer: not the callback's code, not a watchlist address.
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if urlsplit(public_url).scheme == "https":
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    return headers


class SecurityHeaders:
    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
