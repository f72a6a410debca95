"""Yahoo against a stand-in on 127.0.0.1 that serves recorded answers.

curl_cffi is not httpx, so there is no mock transport: the provider talks plain HTTP to a
real server in a thread, which hands out a cookie, a crumb that goes with it, and quotes
only to a caller that shows both. Nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from curl_cffi.requests import AsyncSession, Response

from webapp.quotes import Failed, ProviderError, Quote, RateLimited, Result, Unknown
from webapp.quotes.yahoo import MISSING_EXTRA, Yahoo, to_yahoo

RECORDED = Path(__file__).parent / "recorded"
BATCH = ["AAPL", "BRK.B", "VOD.L", "EURUSD=X", "^GSPC", "BTC-USD", "NOSUCH"]


@dataclass
class Answer:
    """What the quote endpoint says to a caller with a good cookie and crumb."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def recorded(name: str, status: int = 200, **headers: str) -> Answer:
    return Answer(status, (RECORDED / name).read_bytes(), headers)


REFUSED = recorded("yahoo_invalid_crumb.json", 401)


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    raw_query: str
    cookie: str


class StandInYahoo(ThreadingHTTPServer):
    """``/consent`` (fc.yahoo.com), ``/v1/test/getcrumb`` and ``/v7/finance/quote``.

    Each visit to ``/consent`` issues a new cookie and so invalidates the crumb before
    it. The quote endpoint answers 401 "Invalid Crumb" to a wrong cookie or crumb, and
    otherwise the next of ``answers``."""

    daemon_threads = False  # server_close waits for a handler still sleeping

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_port}"
        self.answers: list[Answer] = []
        self.seen: list[Seen] = []
        self.sets_cookie = True
        self.cookies_issued = 0
        self._lock = threading.Lock()

    @property
    def cookie(self) -> str:
        return f"d=AQABBstandin{self.cookies_issued}&S=AQAAAk"

    @property
    def crumb(self) -> str:
        return f"Zx/9.Crumb{self.cookies_issued}"

    def quotes(self) -> list[tuple[str, str]]:
        """The (symbols, crumb) of each quote request, in order."""
        return [
            (seen.query["symbols"], seen.query["crumb"])
            for seen in self.seen
            if seen.path == "/v7/finance/quote"
        ]

    def visits(self, path: str) -> int:
        return sum(seen.path == path for seen in self.seen)

    def answer(self, seen: Seen) -> Answer:
        with self._lock:
            self.seen.append(seen)
            signed_in = self.cookies_issued > 0 and f"A3={self.cookie}" in seen.cookie
            if seen.path == "/consent":
                if not self.sets_cookie:
                    return Answer(404, b"<html>Not Found</html>")
                self.cookies_issued += 1
                cookie = f"A3={self.cookie}; Max-Age=31557600; Path=/; SameSite=None; HttpOnly"
                return Answer(404, b"<html>Not Found</html>", {"Set-Cookie": cookie})
            if seen.path == "/v1/test/getcrumb":
                if not signed_in:
                    return recorded("yahoo_invalid_cookie.json", 401)
                return Answer(200, self.crumb.encode(), {"Content-Type": "text/plain"})
            assert seen.path == "/v7/finance/quote"
            assert set(seen.query) == {"symbols", "crumb"}
            if not signed_in or seen.query["crumb"] != self.crumb:
                return REFUSED
            return self.answers.pop(0)


class _Handler(BaseHTTPRequestHandler):
    server: StandInYahoo

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        answer = self.server.answer(Seen(url.path, query, url.query, self.headers["Cookie"] or ""))
        time.sleep(answer.delay)
        try:
            self.send_response(answer.status)
            headers = {"Content-Type": "application/json;charset=utf-8", **answer.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[StandInYahoo]:
    stand_in = StandInYahoo()
    thread = threading.Thread(target=stand_in.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        stand_in.shutdown()
        stand_in.server_close()
        thread.join()


def provider(server: StandInYahoo, **kwargs: Any) -> Yahoo:
    return Yahoo(query_url=server.url, consent_url=f"{server.url}/consent", **kwargs)


def fetch(server: StandInYahoo, symbols: Sequence[str], **kwargs: Any) -> dict[str, Result]:
    async def go() -> dict[str, Result]:
        yahoo = provider(server, **kwargs)
        try:
            return await yahoo.fetch(symbols)
        finally:
            await yahoo.aclose()

    return asyncio.run(go())


def at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def test_batch_is_one_call_with_cookie_and_crumb(server: StandInYahoo) -> None:
    server.answers = [recorded("yahoo_quote_batch.json")]
    results = fetch(server, BATCH)
    assert [seen.path for seen in server.seen] == [
        "/consent",
        "/v1/test/getcrumb",
        "/v7/finance/quote",
    ]
    assert server.quotes() == [
        ("AAPL,BRK-B,VOD.L,EURUSD=X,^GSPC,BTC-USD,NOSUCH", "Zx/9.Crumb1"),
    ]
    assert "EURUSD%3DX" in server.seen[-1].raw_query
    assert "Zx%2F9.Crumb1" in server.seen[-1].raw_query
    assert "A3=d=AQABBstandin1&S=AQAAAk" in server.seen[-1].cookie
    assert list(results) == BATCH
    assert results["AAPL"] == Quote(
        symbol="AAPL",
        price=Decimal("187.25"),
        previous_close=Decimal("185.46"),
        change=Decimal("1.7900085"),
        change_percent=Decimal("0.96516764"),
        currency="USD",
        as_of=at(1715011201),
        market_state="open",
        name="Apple Inc.",
        source="yahoo",
    )
    assert results["NOSUCH"] == Unknown("NOSUCH", "yahoo")


def test_no_float_anywhere(server: StandInYahoo) -> None:
    server.answers = [recorded("yahoo_quote_batch.json")]
    for result in fetch(server, BATCH).values():
        for item in fields(result):
            assert not isinstance(getattr(result, item.name), float)


def test_class_share_is_mapped_to_yahoo_and_back(server: StandInYahoo) -> None:
    server.answers = [recorded("yahoo_quote_batch.json")]
    results = fetch(server, ["BRK.B", "BRK-B"])
    assert server.quotes() == [("BRK-B", "Zx/9.Crumb1")]
    expected = Quote(
        symbol="BRK.B",
        price=Decimal("403.81"),
        previous_close=Decimal("401.01"),
        change=Decimal("2.8000183"),
        change_percent=Decimal("0.69823986"),
        currency="USD",
        as_of=at(1715011200),
        market_state="open",
        name="Berkshire Hathaway Inc. New",
        source="yahoo",
    )
    assert results == {"BRK.B": expected, "BRK-B": Quote(**{**vars(expected), "symbol": "BRK-B"})}


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("BRK.B", "BRK-B"),
        ("BF.B", "BF-B"),
        ("BRK.A", "BRK-A"),
        ("AAPL", "AAPL"),
        ("VOD.L", "VOD.L"),
        ("7203.T", "7203.T"),
        ("SIE.F", "SIE.F"),
        ("ABC.V", "ABC.V"),
        ("SAP.DE", "SAP.DE"),
        ("BHP.AX", "BHP.AX"),
        ("EURUSD=X", "EURUSD=X"),
        ("^GSPC", "^GSPC"),
        ("BTC-USD", "BTC-USD"),
        ("A1.B", "A1.B"),
    ],
)
def test_symbol_mapping(ours: str, theirs: str) -> None:
    assert to_yahoo(ours) == theirs


def test_pence_become_pounds(server: StandInYahoo) -> None:
    server.answers = [recorded("yahoo_quote_batch.json")]
    assert fetch(server, ["VOD.L"])["VOD.L"] == Quote(
        symbol="VOD.L",
        price=Decimal("0.7136"),
        previous_close=Decimal("0.709"),
        change=Decimal("0.0046"),
        change_percent=Decimal("0.6488011"),
        currency="GBP",
        as_of=at(1714750175),
        market_state="closed",
        name="VODAFONE GROUP PLC ORD USD0.20 2",
        source="yahoo",
    )


def test_forex_index_and_crypto(server: StandInYahoo) -> None:
    server.answers = [recorded("yahoo_quote_batch.json")]
    results = fetch(server, ["EURUSD=X", "^GSPC", "BTC-USD"])
    assert results == {
        "EURUSD=X": Quote(
            symbol="EURUSD=X",
            price=Decimal("1.0762"),
            previous_close=Decimal("1.0726"),
            change=Decimal("0.0036"),
            change_percent=Decimal("0.33562562"),
            currency="USD",
            as_of=at(1715011423),
            market_state="open",
            name="EUR/USD",
            source="yahoo",
        ),
        "^GSPC": Quote(
            symbol="^GSPC",
            price=Decimal("5180.74"),
            previous_close=Decimal("5127.79"),
            change=Decimal("52.950195"),
            change_percent=Decimal("1.0326385"),
            currency="USD",
            as_of=at(1715011205),
            market_state="open",
            name="S&P 500",
            source="yahoo",
        ),
        "BTC-USD": Quote(
            symbol="BTC-USD",
            price=Decimal("63942.37"),
            previous_close=Decimal("63891.01"),
            change=Decimal("51.359375"),
            change_percent=Decimal("0.08038"),
            currency="USD",
            as_of=at(1715011380),
            market_state="open",
            name="Bitcoin USD",
            source="yahoo",
        ),
    }


def test_market_states_and_names(server: StandInYahoo) -> None:
    server.answers = [recorded("yahoo_quote_market_states.json")]
    symbols = ["MSFT", "NVDA", "AMZN", "TSLA", "7203.T", "SAP.DE"]
    results = fetch(server, symbols)
    assert all(isinstance(result, Quote) for result in results.values())
    states = {s: r.market_state for s, r in results.items() if isinstance(r, Quote)}
    assert states == {
        "MSFT": "closed",  # PRE
        "NVDA": "closed",  # POST
        "AMZN": "closed",  # PREPRE
        "TSLA": "closed",  # POSTPOST
        "7203.T": "closed",  # CLOSED
        "SAP.DE": "unknown",  # no marketState
    }
    sap = results["SAP.DE"]
    assert isinstance(sap, Quote)
    assert (sap.name, sap.currency, sap.price) == ("SAP SE", "EUR", Decimal("170.06"))
    msft = results["MSFT"]  # the regular session's price, not the pre-market's
    assert isinstance(msft, Quote)
    assert (msft.price, msft.previous_close) == (Decimal("413.54"), Decimal("414.43"))


def test_change_is_worked_out_when_missing(server: StandInYahoo) -> None:
    server.answers = [recorded("yahoo_quote_malformed.json")]
    aapl = fetch(server, ["AAPL"])["AAPL"]
    assert isinstance(aapl, Quote)
    assert (aapl.change, aapl.change_percent) == (Decimal("1.79"), Decimal("0.9652"))


def test_malformed_quotes_fail_their_symbols(server: StandInYahoo) -> None:
    server.answers = [recorded("yahoo_quote_malformed.json")]
    results = fetch(server, ["AAPL", "MSFT", "NVDA", "AMZN", "TSLA"])
    assert isinstance(results["AAPL"], Quote)
    for symbol in ["MSFT", "NVDA", "AMZN", "TSLA"]:
        result = results[symbol]
        assert isinstance(result, Failed)
        assert result.reason.startswith(f"yahoo's quote of {symbol} ")


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (Answer(200, b"<!doctype html><title>Yahoo</title>"), "without a quoteResponse"),
        (Answer(200, b'{"finance": {"result": []}}'), "without a quoteResponse"),
        (Answer(200, b'{"quoteResponse": {"result": {}, "error": null}}'), "no result list"),
        (recorded("yahoo_quote_error.json"), "error: Bad Request: Missing value"),
        (Answer(502, b"<html>Bad Gateway</html>"), "HTTP 502"),
    ],
)
def test_a_body_that_is_not_a_quote_response_fails_the_batch(
    server: StandInYahoo, answer: Answer, message: str
) -> None:
    server.answers = [answer]
    with pytest.raises(ProviderError, match=message) as caught:
        fetch(server, ["AAPL"])
    assert type(caught.value) is ProviderError


@pytest.mark.parametrize(
    "refusal",
    [REFUSED, recorded("yahoo_invalid_cookie.json", 403), recorded("yahoo_invalid_crumb.json")],
    ids=["401", "403", "200-saying-invalid-crumb"],
)
def test_a_refused_crumb_is_refreshed_once(server: StandInYahoo, refusal: Answer) -> None:
    server.answers = [refusal, recorded("yahoo_quote_batch.json")]
    results = fetch(server, ["AAPL"])
    assert isinstance(results["AAPL"], Quote)
    assert server.quotes() == [("AAPL", "Zx/9.Crumb1"), ("AAPL", "Zx/9.Crumb2")]
    assert server.visits("/consent") == 2
    assert server.visits("/v1/test/getcrumb") == 2
    assert "A3=d=AQABBstandin1" not in server.seen[-1].cookie


def test_a_crumb_refused_twice_fails_the_batch(server: StandInYahoo) -> None:
    server.answers = [REFUSED, REFUSED, recorded("yahoo_quote_batch.json")]
    with pytest.raises(ProviderError, match=r"refused a fresh cookie and crumb \(401\)"):
        fetch(server, ["AAPL"])
    assert len(server.quotes()) == 2


def test_no_cookie_means_no_crumb(server: StandInYahoo) -> None:
    server.sets_cookie = False
    with pytest.raises(ProviderError, match=r"yahoo gave no crumb \(HTTP 401\)"):
        fetch(server, ["AAPL"])
    assert server.quotes() == []


def test_crumb_and_cookie_are_kept_between_calls(server: StandInYahoo) -> None:
    server.answers = [recorded("yahoo_quote_batch.json") for _ in range(3)]

    async def go() -> list[dict[str, Result]]:
        yahoo = provider(server)
        try:
            first = await asyncio.gather(yahoo.fetch(["AAPL"]), yahoo.fetch(["VOD.L"]))
            return [*first, await yahoo.fetch(["^GSPC"])]
        finally:
            await yahoo.aclose()

    results = asyncio.run(go())
    assert all(isinstance(r, Quote) for batch in results for r in batch.values())
    assert server.visits("/consent") == 1
    assert server.visits("/v1/test/getcrumb") == 1
    assert len(server.quotes()) == 3


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [({"Retry-After": "30"}, 30.0), ({}, None), ({"Retry-After": "soon"}, None)],
)
def test_http_429(server: StandInYahoo, headers: dict[str, str], retry_after: float | None) -> None:
    server.answers = [
        Answer(429, b"Too Many Requests\r\n", {"Content-Type": "text/plain", **headers})
    ]
    with pytest.raises(RateLimited, match=r"\(429\)") as caught:
        fetch(server, ["AAPL"])
    assert caught.value.retry_after == retry_after


def test_timeout(server: StandInYahoo) -> None:
    server.answers = [Answer(200, (RECORDED / "yahoo_quote_batch.json").read_bytes(), delay=0.6)]
    started = time.monotonic()
    with pytest.raises(ProviderError, match=r"^yahoo did not answer within 0.3 s$"):
        fetch(server, ["AAPL"], timeout=0.3)
    assert time.monotonic() - started < 0.6


def test_unreachable() -> None:
    with socket.socket() as unused:  # a free port that nothing listens on
        unused.bind(("127.0.0.1", 0))
        yahoo_url = f"http://127.0.0.1:{unused.getsockname()[1]}"

    async def go() -> None:
        yahoo = Yahoo(query_url=yahoo_url, consent_url=f"{yahoo_url}/consent")
        try:
            await yahoo.fetch(["AAPL"])
        finally:
            await yahoo.aclose()

    with pytest.raises(ProviderError, match=r"^yahoo could not be reached \(\w+\)$"):
        asyncio.run(go())


def test_aclose_leaves_a_given_session_open(server: StandInYahoo) -> None:
    server.answers = [recorded("yahoo_quote_batch.json")]

    async def go() -> int:
        session: AsyncSession[Response] = AsyncSession(impersonate="chrome")
        try:
            yahoo = provider(server, session=session)
            assert isinstance((await yahoo.fetch(["AAPL"]))["AAPL"], Quote)
            await yahoo.aclose()
            return (await session.get(f"{server.url}/consent")).status_code
        finally:
            await session.close()

    assert asyncio.run(go()) == 404


def test_a_missing_extra_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "curl_cffi", None)
    monkeypatch.setitem(sys.modules, "curl_cffi.requests", None)
    with pytest.raises(ProviderError) as caught:
        Yahoo()
    assert str(caught.value) == MISSING_EXTRA
    assert str(caught.value) == "QUOTES_PROVIDER=yahoo needs the yahoo extra: uv sync --extra yahoo"
