"""Finnhub against recorded answers: each request is checked, nothing leaves the process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import httpx2
import pytest

from webapp.quotes import Failed, ProviderError, Quote, RateLimited, Result, Unknown, finnhub
from webapp.quotes.finnhub import Finnhub

KEY = "fh-test-key-d0e1f2a3b4c5"
RECORDED = Path(__file__).parent / "recorded"
T = TypeVar("T")
Answer = httpx2.Response | type[httpx2.TransportError]


def recorded(name: str, status: int = 200, **headers: str) -> httpx2.Response:
    content = (RECORDED / name).read_bytes()
    return httpx2.Response(
        status, content=content, headers={"content-type": "application/json", **headers}
    )


class FakeFinnhub:
    """Answers ``(path, symbol)`` from recordings, checking every request as Finnhub would
    want it: a GET with the key in its header and nowhere in the URL."""

    def __init__(self, answers: dict[tuple[str, str], Answer]) -> None:
        self.answers = answers
        self.requests: list[tuple[str, str]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        assert request.method == "GET"
        assert request.headers["X-Finnhub-Token"] == KEY
        assert KEY not in str(request.url)
        assert request.url.host == "finnhub.io"
        assert set(request.url.params) == {"symbol"}
        key = (request.url.path.removeprefix("/api/v1"), request.url.params["symbol"])
        self.requests.append(key)
        answer = self.answers[key]
        if isinstance(answer, httpx2.Response):
            return answer
        raise answer("simulated", request=request)


def run(fake: FakeFinnhub, work: Callable[[Finnhub], Awaitable[T]]) -> T:
    async def go() -> T:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(fake)) as client:
            return await work(Finnhub(KEY, client=client))

    return asyncio.run(go())


def fetch(fake: FakeFinnhub, *symbols: str) -> dict[str, Result]:
    return run(fake, lambda provider: provider.fetch(symbols))


def aapl() -> FakeFinnhub:
    return FakeFinnhub(
        {
            ("/quote", "AAPL"): recorded("finnhub_quote_AAPL.json"),
            ("/stock/profile2", "AAPL"): recorded("finnhub_profile2_AAPL.json"),
        }
    )


def test_quote() -> None:
    fake = aapl()
    assert fetch(fake, "AAPL") == {
        "AAPL": Quote(
            symbol="AAPL",
            price=Decimal("189.84"),
            previous_close=Decimal("188.81"),
            change=Decimal("1.03"),
            change_percent=Decimal("0.5455"),
            currency="USD",
            as_of=datetime(2024, 5, 3, 20, 0, 1, tzinfo=UTC),
            market_state="unknown",
            name="Apple Inc",
            source="finnhub",
        )
    }
    assert fake.requests == [("/quote", "AAPL"), ("/stock/profile2", "AAPL")]


def test_profile_is_kept_for_a_day(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = aapl()
    clock = [1000.0]
    monkeypatch.setattr(finnhub, "monotonic", lambda: clock[0])

    async def three_refreshes(provider: Finnhub) -> None:
        await provider.fetch(["AAPL"])
        clock[0] += finnhub.PROFILE_TTL - 1
        await provider.fetch(["AAPL"])
        clock[0] += 2
        await provider.fetch(["AAPL"])

    run(fake, three_refreshes)
    assert fake.requests == [
        ("/quote", "AAPL"),
        ("/stock/profile2", "AAPL"),
        ("/quote", "AAPL"),
        ("/quote", "AAPL"),
        ("/stock/profile2", "AAPL"),
    ]


def test_several_symbols_one_call_each() -> None:
    fake = aapl()
    fake.answers[("/quote", "ZZZZQ")] = recorded("finnhub_quote_unknown.json")
    results = fetch(fake, "AAPL", "ZZZZQ")
    assert isinstance(results["AAPL"], Quote)
    assert results["ZZZZQ"] == Unknown("ZZZZQ", "finnhub")


def test_unknown_symbol_is_all_zeros() -> None:
    fake = FakeFinnhub({("/quote", "ZZZZQ"): recorded("finnhub_quote_unknown.json")})
    assert fetch(fake, "ZZZZQ") == {"ZZZZQ": Unknown("ZZZZQ", "finnhub")}
    assert fake.requests == [("/quote", "ZZZZQ")]


@pytest.mark.parametrize("symbol", ["^GSPC", "EURUSD=X", "BTC-USD", "BRK.B"])
def test_symbols_go_as_we_spell_them(symbol: str) -> None:
    fake = FakeFinnhub({("/quote", symbol): recorded("finnhub_quote_unknown.json")})
    assert fetch(fake, symbol) == {symbol: Unknown(symbol, "finnhub")}


def test_empty_profile_means_no_name_or_currency() -> None:
    fake = FakeFinnhub(
        {
            ("/quote", "AAPL"): recorded("finnhub_quote_AAPL.json"),
            ("/stock/profile2", "AAPL"): recorded("finnhub_profile2_empty.json"),
        }
    )
    result = fetch(fake, "AAPL")["AAPL"]
    assert isinstance(result, Quote)
    assert (result.name, result.currency, result.price) == (None, None, Decimal("189.84"))


def test_pence_become_pounds() -> None:
    fake = FakeFinnhub(
        {
            ("/quote", "VOD.L"): recorded("finnhub_quote_VOD.L.json"),
            ("/stock/profile2", "VOD.L"): recorded("finnhub_profile2_VOD.L.json"),
        }
    )
    result = fetch(fake, "VOD.L")["VOD.L"]
    assert isinstance(result, Quote)
    assert result.currency == "GBP"
    assert result.price == Decimal("72.15")
    assert result.previous_close == Decimal("72.50")
    assert result.change == Decimal("-0.35")
    assert result.change_percent == Decimal("-0.4828")


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [({"Retry-After": "30"}, 30.0), ({}, None), ({"Retry-After": "soon"}, None)],
)
def test_rate_limited(headers: dict[str, str], retry_after: float | None) -> None:
    fake = FakeFinnhub({("/quote", "AAPL"): recorded("finnhub_429.json", 429, **headers)})
    with pytest.raises(RateLimited) as caught:
        fetch(fake, "AAPL")
    assert caught.value.retry_after == retry_after


@pytest.mark.parametrize("status", [401, 403])
def test_refused_key_is_not_repeated(status: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeFinnhub({("/quote", "AAPL"): recorded("finnhub_401.json", status)})
    with pytest.raises(ProviderError, match=f"finnhub refused the .+ \\({status}\\)") as caught:
        fetch(fake, "AAPL")
    assert not isinstance(caught.value, RateLimited)
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)
    assert KEY not in caplog.text


def test_refused_key_message() -> None:
    fake = FakeFinnhub({("/quote", "AAPL"): recorded("finnhub_401.json", 401)})
    with pytest.raises(ProviderError) as caught:
        fetch(fake, "AAPL")
    assert str(caught.value) == "finnhub refused the API key (401)"


def test_server_error() -> None:
    fake = FakeFinnhub({("/quote", "AAPL"): httpx2.Response(502, text="<html>Bad Gateway</html>")})
    with pytest.raises(ProviderError, match="HTTP 502"):
        fetch(fake, "AAPL")


@pytest.mark.parametrize("timeout", [httpx2.ReadTimeout, httpx2.ConnectTimeout])
def test_timeout(timeout: type[httpx2.TransportError]) -> None:
    fake = FakeFinnhub({("/quote", "AAPL"): timeout})
    with pytest.raises(ProviderError) as caught:
        fetch(fake, "AAPL")
    assert str(caught.value) == "finnhub did not answer within 3 s"
    assert KEY not in str(caught.value)


def test_unreachable() -> None:
    fake = FakeFinnhub({("/quote", "AAPL"): httpx2.ConnectError})
    with pytest.raises(ProviderError, match=r"could not be reached \(ConnectError\)"):
        fetch(fake, "AAPL")


@pytest.mark.parametrize(
    "answer",
    [
        httpx2.Response(200, text="<html>upstream busy</html>"),
        httpx2.Response(200, json=[]),
        recorded("finnhub_quote_missing_fields.json"),
        httpx2.Response(200, json={"c": "189.84", "pc": 188.81, "t": 1714766401}),
        httpx2.Response(200, json={"c": 189.84, "d": "up", "pc": 188.81, "t": 1714766401}),
        httpx2.Response(200, content=b'{"c": NaN, "pc": 188.81, "t": 1714766401}'),
        httpx2.Response(200, json={"c": 0, "pc": 188.81, "t": 1714766401}),
    ],
    ids=["not-json", "array", "missing", "string", "bad-change", "nan", "zero-price"],
)
def test_malformed_quote_fails_the_symbol(answer: httpx2.Response) -> None:
    fake = FakeFinnhub({("/quote", "AAPL"): answer})
    result = fetch(fake, "AAPL")["AAPL"]
    assert isinstance(result, Failed)
    assert result.source == "finnhub"
    assert result.reason.startswith("finnhub")


def test_malformed_profile_fails_the_symbol() -> None:
    fake = FakeFinnhub(
        {
            ("/quote", "AAPL"): recorded("finnhub_quote_AAPL.json"),
            ("/stock/profile2", "AAPL"): httpx2.Response(200, json=["AAPL"]),
        }
    )
    result = fetch(fake, "AAPL")["AAPL"]
    assert isinstance(result, Failed)
    assert "profile2" in result.reason


def test_aclose_leaves_a_given_client_open() -> None:
    async def go() -> tuple[bool, bool]:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(aapl())) as client:
            await Finnhub(KEY, client=client).aclose()
            own = Finnhub(KEY)
            await own.aclose()
            return client.is_closed, own._client.is_closed

    assert asyncio.run(go()) == (False, True)
