"""A stand-in for Finnhub over HTTP on loopback, for tests of the whole app with quotes:
the app reaches it through ``QUOTES_BASE_URL``, as it would a proxy. It answers what
Finnhub answers (an unknown symbol as all zeros), and can be told to fail or be slow."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

KEY = "standin-finnhub-key"
#: ``QUOTES_CALLS_PER_MINUTE`` for an app that asks the stand-in: it has no free tier to keep
#: to, so calls go as fast as they come rather than one a second (the spacing itself is
#: tested in tests/quotes/test_cache.py and tests/test_settings.py).
CALLS_PER_MINUTE = 60_000


@dataclass
class Finnhub:
    base_url: str = ""
    #: symbol -> (price, previous close, name)
    known: dict[str, tuple[str, str, str]] = field(
        default_factory=lambda: {
            "AAPL": ("189.50", "187.25", "Apple Inc"),
            "MSFT": ("401.10", "405.00", "Microsoft Corp"),
        }
    )
    #: An HTTP status to answer every quote with instead (500, 429), or 0.
    failing: int = 0
    #: Seconds to wait before each answer.
    delay: float = 0.0
    requests: list[str] = field(default_factory=list)

    def quote(self, symbol: str) -> str:
        """Finnhub's /quote body: JSON numbers written from the exact decimal text."""
        if symbol not in self.known:
            return '{"c": 0, "d": null, "dp": null, "h": 0, "l": 0, "o": 0, "pc": 0, "t": 0}'
        price, previous, _ = self.known[symbol]
        return f'{{"c": {price}, "d": null, "dp": null, "pc": {previous}, "t": {int(time.time())}}}'


def _handler(standin: Finnhub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            symbol = parse_qs(parts.query).get("symbol", [""])[0]
            standin.requests.append(self.path)
            if standin.delay:
                time.sleep(standin.delay)
            if self.headers.get("X-Finnhub-Token") != KEY:
                self._send(401, {"error": "Invalid API key"})
            elif standin.failing:
                self._send(standin.failing, {"error": "stand-in failing"})
            elif parts.path == "/quote":
                self._send(200, standin.quote(symbol))
            elif parts.path == "/stock/profile2":
                known = standin.known.get(symbol)
                self._send(200, {"name": known[2], "currency": "USD"} if known else {})
            else:
                self._send(404, {"error": "no such endpoint"})

        def _send(self, status: int, body: dict[str, Any] | str) -> None:
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve() -> Iterator[Finnhub]:
    standin = Finnhub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(standin))
    standin.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
