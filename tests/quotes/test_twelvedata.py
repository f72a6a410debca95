"""Twelve Data against recorded answers: each request is checked, nothing leaves the process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import pytest

from webapp.quotes import Failed, ProviderError, Quote, RateLimited, Result, Unknown
from webapp.quotes.twelvedata import TwelveData, to_twelvedata

KEY = "td-test-key-9f8e7d6c5b4a"
RECORDED = Path(__file__).parent / "recorded"
Answer = httpx2.Response | type[httpx2.TransportError]


def recorded(name: str, status: int = 200, **headers: str) -> httpx2.Response:
    content = (RECORDED / name).read_bytes()
    return httpx2.Response(
        status, content=content, headers={"content-type": "application/json", **headers}
    )


def body(name: str) -> Any:
    return json.loads((RECORDED / name).read_text())


class FakeTwelveData:
    """Answers one ``/quote`` call per ``symbol`` parameter from recordings, checking every
    request: a GET with the key in the ``Authorization`` header and nowhere in the URL."""

    def __init__(self, answers: dict[str, Answer]) -> None:
        self.answers = answers
        self.requests: list[str] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        assert request.method == "GET"
        assert request.headers["Authorization"] == f"apikey {KEY}"
        assert KEY not in str(request.url)
        assert (request.url.host, request.url.path) == ("api.twelvedata.com", "/quote")
        assert set(request.url.params) == {"symbol"}
        symbols = request.url.params["symbol"]
        self.requests.append(symbols)
        answer = self.answers[symbols]
        if isinstance(answer, httpx2.Response):
            return answer
        raise answer("simulated", request=request)


def fetch(fake: FakeTwelveData, symbols: Sequence[str]) -> dict[str, Result]:
    async def go() -> dict[str, Result]:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(fake)) as client:
            return await TwelveData(KEY, client=client).fetch(symbols)

    return asyncio.run(go())


def test_quote() -> None:
    fake = FakeTwelveData({"AAPL": recorded("twelvedata_quote_AAPL.json")})
    assert fetch(fake, ["AAPL"]) == {
        "AAPL": Quote(
            symbol="AAPL",
            price=Decimal("183.38000"),
            previous_close=Decimal("173.03000"),
            change=Decimal("10.35000"),
            change_percent=Decimal("5.98162"),
            currency="USD",
            as_of=datetime(2024, 5, 3, 13, 30, tzinfo=UTC),
            market_state="closed",
            name="Apple Inc.",
            source="twelvedata",
        )
    }
    assert fake.requests == ["AAPL"]


def test_batch_is_one_request_mapped_back() -> None:
    fake = FakeTwelveData(
        {"AAPL,EUR/USD,BTC/USD": recorded("twelvedata_batch_AAPL_EURUSD_BTCUSD.json")}
    )
    results = fetch(fake, ["AAPL", "EURUSD=X", "BTC-USD"])
    assert fake.requests == ["AAPL,EUR/USD,BTC/USD"]
    assert list(results) == ["AAPL", "EURUSD=X", "BTC-USD"]
    aapl, eurusd, btcusd = results.values()
    assert isinstance(aapl, Quote)
    assert isinstance(eurusd, Quote)
    assert isinstance(btcusd, Quote)
    assert (aapl.symbol, aapl.price, aapl.change) == (
        "AAPL",
        Decimal("181.71001"),
        Decimal("-1.66999"),
    )
    assert (eurusd.symbol, eurusd.price, eurusd.previous_close, eurusd.currency) == (
        "EURUSD=X",
        Decimal("1.07655"),
        Decimal("1.07610"),
        "USD",
    )
    assert (btcusd.symbol, btcusd.price, btcusd.change_percent, btcusd.currency) == (
        "BTC-USD",
        Decimal("63942.37"),
        Decimal("0.08039"),
        "USD",
    )
    assert {aapl.market_state, eurusd.market_state, btcusd.market_state} == {"open"}
    assert eurusd.as_of == datetime(2024, 5, 6, 11, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("EURUSD=X", "EUR/USD"),
        ("BTC-USD", "BTC/USD"),
        ("ETH-USDT", "ETH/USDT"),
        ("VOD.L", "VOD:LSE"),
        ("BRK.B", "BRK.B"),
        ("AAPL", "AAPL"),
        ("^GSPC", "^GSPC"),
        ("JPY=X", "JPY=X"),
    ],
)
def test_symbol_mapping(ours: str, theirs: str) -> None:
    assert to_twelvedata(ours) == theirs


@pytest.mark.parametrize(("ours", "theirs"), [("EURUSD=X", "EUR/USD"), ("BTC-USD", "BTC/USD")])
def test_symbol_round_trip(ours: str, theirs: str) -> None:
    pair = body("twelvedata_batch_AAPL_EURUSD_BTCUSD.json")[theirs]
    fake = FakeTwelveData({theirs: httpx2.Response(200, json=pair)})
    result = fetch(fake, [ours])[ours]
    assert fake.requests == [theirs]
    assert isinstance(result, Quote)
    assert result.symbol == ours


def test_two_spellings_of_one_symbol_share_a_credit() -> None:
    pair = body("twelvedata_batch_AAPL_EURUSD_BTCUSD.json")["EUR/USD"]
    fake = FakeTwelveData({"EUR/USD": httpx2.Response(200, json=pair)})
    results = fetch(fake, ["EURUSD=X", "EUR/USD"])
    assert fake.requests == ["EUR/USD"]
    assert [(key, type(result), result.symbol) for key, result in results.items()] == [
        ("EURUSD=X", Quote, "EURUSD=X"),
        ("EUR/USD", Quote, "EUR/USD"),
    ]


def test_unknown_symbol_in_a_batch() -> None:
    fake = FakeTwelveData({"AAPL,XYZQ": recorded("twelvedata_batch_with_unknown.json")})
    results = fetch(fake, ["AAPL", "XYZQ"])
    assert isinstance(results["AAPL"], Quote)
    assert results["XYZQ"] == Unknown("XYZQ", "twelvedata")


def test_unknown_single_symbol() -> None:
    fake = FakeTwelveData({"XYZQ": recorded("twelvedata_symbol_not_found.json")})
    assert fetch(fake, ["XYZQ"]) == {"XYZQ": Unknown("XYZQ", "twelvedata")}


def test_unknown_single_symbol_with_http_status() -> None:
    fake = FakeTwelveData({"XYZQ": recorded("twelvedata_symbol_not_found.json", 400)})
    assert fetch(fake, ["XYZQ"]) == {"XYZQ": Unknown("XYZQ", "twelvedata")}


def test_index_is_passed_through() -> None:
    fake = FakeTwelveData({"^GSPC": recorded("twelvedata_symbol_not_found.json")})
    assert fetch(fake, ["^GSPC"]) == {"^GSPC": Unknown("^GSPC", "twelvedata")}


def test_pence_become_pounds() -> None:
    fake = FakeTwelveData({"VOD:LSE": recorded("twelvedata_quote_VOD.L.json")})
    result = fetch(fake, ["VOD.L"])["VOD.L"]
    assert isinstance(result, Quote)
    assert (result.symbol, result.currency) == ("VOD.L", "GBP")
    assert result.price == Decimal("72.15")
    assert result.previous_close == Decimal("72.50")
    assert result.change == Decimal("-0.35")
    assert result.change_percent == Decimal("-0.48276")


def test_out_of_credits_in_a_200_body() -> None:
    fake = FakeTwelveData({"AAPL,MSFT": recorded("twelvedata_out_of_credits.json")})
    with pytest.raises(RateLimited, match="run out of API credits") as caught:
        fetch(fake, ["AAPL", "MSFT"])
    assert caught.value.retry_after is None


@pytest.mark.parametrize(("headers", "retry_after"), [({"Retry-After": "60"}, 60.0), ({}, None)])
def test_http_429(headers: dict[str, str], retry_after: float | None) -> None:
    fake = FakeTwelveData({"AAPL": recorded("twelvedata_out_of_credits.json", 429, **headers)})
    with pytest.raises(RateLimited) as caught:
        fetch(fake, ["AAPL"])
    assert caught.value.retry_after == retry_after


@pytest.mark.parametrize("status", [200, 401])
def test_bad_key(status: int) -> None:
    fake = FakeTwelveData({"AAPL": recorded("twelvedata_invalid_key.json", status)})
    with pytest.raises(ProviderError) as caught:
        fetch(fake, ["AAPL"])
    assert not isinstance(caught.value, RateLimited)
    assert str(caught.value) == "twelvedata refused the API key (401)"
    assert KEY not in repr(caught.value)


def test_a_message_that_echoes_the_key_is_scrubbed() -> None:
    error = {"code": 400, "message": f"apikey {KEY} may not batch these", "status": "error"}
    fake = FakeTwelveData({"AAPL,MSFT": httpx2.Response(200, json=error)})
    with pytest.raises(ProviderError) as caught:
        fetch(fake, ["AAPL", "MSFT"])
    assert KEY not in str(caught.value)
    assert str(caught.value) == "twelvedata error 400: apikey [key] may not batch these"


def test_a_symbol_error_that_echoes_the_key_is_scrubbed() -> None:
    answer = body("twelvedata_batch_with_unknown.json")
    answer["XYZQ"] = {"code": 403, "message": f"{KEY} lacks this exchange", "status": "error"}
    fake = FakeTwelveData({"AAPL,XYZQ": httpx2.Response(200, json=answer)})
    result = fetch(fake, ["AAPL", "XYZQ"])["XYZQ"]
    assert isinstance(result, Failed)
    assert result.reason == "twelvedata error 403: [key] lacks this exchange"


def test_server_error() -> None:
    fake = FakeTwelveData({"AAPL": httpx2.Response(503, text="<html>Service Unavailable</html>")})
    with pytest.raises(ProviderError, match="HTTP 503"):
        fetch(fake, ["AAPL"])


@pytest.mark.parametrize("timeout", [httpx2.ReadTimeout, httpx2.ConnectTimeout])
def test_timeout(timeout: type[httpx2.TransportError]) -> None:
    fake = FakeTwelveData({"AAPL,MSFT": timeout})
    with pytest.raises(ProviderError) as caught:
        fetch(fake, ["AAPL", "MSFT"])
    assert str(caught.value) == "twelvedata did not answer within 3 s"


@pytest.mark.parametrize(
    "answer",
    [httpx2.Response(200, text="<html>upstream busy</html>"), httpx2.Response(200, json=[])],
    ids=["not-json", "array"],
)
def test_malformed_body_fails_every_symbol(answer: httpx2.Response) -> None:
    fake = FakeTwelveData({"AAPL,MSFT": answer})
    results = fetch(fake, ["AAPL", "MSFT"])
    assert list(results) == ["AAPL", "MSFT"]
    for symbol, result in results.items():
        assert result == Failed(symbol, "twelvedata", "twelvedata answered with malformed JSON")


def aapl_with(**changes: Any) -> httpx2.Response:
    quote = body("twelvedata_quote_AAPL.json")
    quote.update(changes)
    return httpx2.Response(200, json={key: value for key, value in quote.items() if value != ...})


@pytest.mark.parametrize(
    "answer",
    [
        recorded("twelvedata_quote_missing_close.json"),
        aapl_with(close="N/A"),
        aapl_with(close="NaN"),
        aapl_with(close=None),
        aapl_with(timestamp=...),
        aapl_with(timestamp="2024-05-03"),
        aapl_with(change="up"),
    ],
    ids=["missing-close", "text-close", "nan-close", "null-close", "no-time", "bad-time", "change"],
)
def test_malformed_quote_fails_the_symbol(answer: httpx2.Response) -> None:
    result = fetch(FakeTwelveData({"AAPL": answer}), ["AAPL"])["AAPL"]
    assert isinstance(result, Failed)
    assert result.reason.startswith("twelvedata's quote of AAPL")


def test_symbol_missing_from_a_batch() -> None:
    fake = FakeTwelveData({"AAPL,MSFT": recorded("twelvedata_batch_with_unknown.json")})
    results = fetch(fake, ["AAPL", "MSFT"])
    assert results["MSFT"] == Failed("MSFT", "twelvedata", "twelvedata's answer lacks MSFT")


def test_missing_change_is_worked_out() -> None:
    result = fetch(FakeTwelveData({"AAPL": aapl_with(change=..., percent_change="")}), ["AAPL"])
    quote = result["AAPL"]
    assert isinstance(quote, Quote)
    assert (quote.change, quote.change_percent) == (Decimal("10.35000"), Decimal("5.9816"))


def test_market_state_without_is_market_open() -> None:
    quote = fetch(FakeTwelveData({"AAPL": aapl_with(is_market_open=...)}), ["AAPL"])["AAPL"]
    assert isinstance(quote, Quote)
    assert quote.market_state == "unknown"


def test_aclose_leaves_a_given_client_open() -> None:
    async def go() -> tuple[bool, bool]:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(FakeTwelveData({}))) as client:
            await TwelveData(KEY, client=client).aclose()
            own = TwelveData(KEY)
            await own.aclose()
            return client.is_closed, own._client.is_closed

    assert asyncio.run(go()) == (False, True)
