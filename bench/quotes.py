"""A stand-in for Finnhub on loopback, and the bare app's quotes, for the quotes sections.

The app reaches the stand-in through ``QUOTES_BASE_URL`` with ``QUOTES_PROVIDER=finnhub``,
so its real provider module (``webapp.quotes.finnhub``) and its one cache per process do
the work. The stand-in answers ``/quote`` and ``/stock/profile2`` as Finnhub does, for the
benchmark's symbols, with fixed prices and a fixed quote time (so that two servers that
asked at different moments show the same numbers); it can be told to answer late, and it
records when each request arrived. Modelled on ``tests/quotes/standin.py``.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bench.net import LOOPBACK
from webapp.quotes import Quote, Unknown
from webapp.quotes.cache import Seen
from webapp.quotes.finnhub import Finnhub

KEY = "bench-finnhub-key"
_NAMES = ("Apex", "Blue", "Cedar", "Delta", "Ember", "Granite", "Harbor", "Iron", "Juniper")
_KINDS = ("Holdings", "Inc", "Group", "Corp", "Technologies", "Energy", "Bancorp", "Pharma")


def prices(symbols: Sequence[str], seed: int) -> dict[str, tuple[str, str, str]]:
    """symbol -> (price, previous close, name), as exact decimal text, from a fixed seed."""
    rng = random.Random(seed)  # noqa: S311 (made-up prices)
    known = {}
    for symbol in symbols:
        previous = Decimal(rng.randint(500, 90_000)) / 100
        price = (previous * Decimal(1 + rng.uniform(-0.04, 0.04))).quantize(Decimal("0.01"))
        known[symbol] = (str(price), str(previous), f"{rng.choice(_NAMES)} {rng.choice(_KINDS)}")
    return known


@dataclass
class Standin:
    """One stand-in server's state: what it knows, how late it answers, what it was asked."""

    known: Mapping[str, tuple[str, str, str]]
    base_url: str = ""
    #: Seconds to wait before each answer.
    delay: float = 0.0
    #: The quote time of every answer (Finnhub's ``t``), fixed.
    as_of: int = field(default_factory=lambda: int(time.time()))
    #: (``time.monotonic()`` on arrival, path, symbol) of each request.
    requests: list[tuple[float, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, path: str, symbol: str) -> None:
        with self.lock:
            self.requests.append((time.monotonic(), path, symbol))

    def asked(
        self, path: str = "/quote", since: float = 0.0, until: float = float("inf")
    ) -> list[tuple[float, str]]:
        """(arrival, symbol) of each request for ``path`` that arrived in [since, until)."""
        with self.lock:
            return [(t, sym) for t, got, sym in self.requests if got == path and since <= t < until]

    def per_symbol(self, path: str = "/quote") -> Counter[str]:
        """How many times each symbol was asked for."""
        return Counter(symbol for _, symbol in self.asked(path))

    def quote(self, symbol: str) -> str:
        """Finnhub's /quote body: JSON numbers written from the exact decimal text."""
        if symbol not in self.known:
            return '{"c": 0, "d": null, "dp": null, "h": 0, "l": 0, "o": 0, "pc": 0, "t": 0}'
        price, previous, _ = self.known[symbol]
        return f'{{"c": {price}, "d": null, "dp": null, "pc": {previous}, "t": {self.as_of}}}'


def _handler(standin: Standin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            symbol = parse_qs(parts.query).get("symbol", [""])[0]
            standin.record(parts.path, symbol)
            if standin.delay:
                time.sleep(standin.delay)
            if self.headers.get("X-Finnhub-Token") != KEY:
                self._send(401, {"error": "Invalid API key"})
            elif parts.path == "/quote":
                self._send(200, standin.quote(symbol))
            elif parts.path == "/stock/profile2":
                known = standin.known.get(symbol)
                self._send(200, {"name": known[2], "currency": "USD"} if known else {})
            else:
                self._send(404, {"error": "no such endpoint"})

        def _send(self, status: int, body: dict[str, Any] | str) -> None:
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the app gave up waiting (QUOTES_TIMEOUT) and closed the connection

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve(known: Mapping[str, tuple[str, str, str]], as_of: int) -> Iterator[Standin]:
    """A stand-in on a free loopback port, in a thread of this process, until the end."""
    standin = Standin(known, as_of=as_of)
    server = ThreadingHTTPServer((LOOPBACK, 0), _handler(standin))
    server.daemon_threads = True
    standin.base_url = f"http://{LOOPBACK}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def seen(base_url: str, symbols: Sequence[str]) -> dict[str, Seen]:
    """What the app's cache would show of ``symbols`` once warm: fetched once, through the
    real Finnhub provider, from the stand-in, and kept as the cache keeps them (a fresh
    quote is not stale; an unknown symbol is ``unknown``). The bare app's quotes."""
    provider = Finnhub(KEY, base_url=base_url)
    try:
        results = await provider.fetch(symbols)
    finally:
        await provider.aclose()
    known: dict[str, Seen] = {}
    for symbol, result in results.items():
        if isinstance(result, Quote):
            known[symbol] = Seen(quote=result, unknown=False, stale=False)
        elif isinstance(result, Unknown):
            known[symbol] = Seen(quote=None, unknown=True, stale=False)
        else:
            raise RuntimeError(f"the stand-in could not quote {symbol}: {result.reason}")
    return known
