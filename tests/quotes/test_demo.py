"""The demo provider: deterministic, plausible, moving through the day, offline."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from webapp.quotes import Quote
from webapp.quotes.demo import Demo

NOON = datetime(2026, 12, 1, 12, 0, 30, tzinfo=UTC)


def _quotes(moment: datetime, *symbols: str) -> dict[str, Quote]:
    results = asyncio.run(Demo(clock=lambda: moment).fetch(symbols))
    assert all(isinstance(result, Quote) for result in results.values())
    return {symbol: result for symbol, result in results.items() if isinstance(result, Quote)}


def test_the_same_symbol_and_minute_give_the_same_quote() -> None:
    first = _quotes(NOON, "AAPL", "BRK.B")
    assert first == _quotes(NOON + timedelta(seconds=1), "AAPL", "BRK.B")
    assert first["AAPL"] != first["BRK.B"]
    assert NOON - timedelta(seconds=6) < first["AAPL"].as_of <= NOON


def test_prices_move_through_the_day_and_stay_plausible() -> None:
    prices = [_quotes(NOON + timedelta(minutes=m), "AAPL")["AAPL"].price for m in range(0, 240, 10)]
    assert len(set(prices)) > 10, "the page visibly moves"
    quote = _quotes(NOON, "AAPL")["AAPL"]
    assert quote.previous_close is not None
    assert quote.change == quote.price - quote.previous_close
    assert quote.change_percent is not None
    assert abs(quote.change_percent) < 10
    assert Decimal(1) < quote.price < Decimal(2000)
    assert quote.source == "demo"
    assert quote.market_state == "open"


def test_exact_decimals_and_currencies() -> None:
    quotes = _quotes(NOON, "AAPL", "EURUSD=X", "BTC-USD", "VOD.L", "7203.T")
    assert {s: q.currency for s, q in quotes.items()} == {
        "AAPL": "USD",
        "EURUSD=X": "USD",
        "BTC-USD": "USD",
        "VOD.L": "GBP",
        "7203.T": "JPY",
    }
    for quote in quotes.values():
        assert isinstance(quote.price, Decimal)
        assert -quote.price.as_tuple().exponent in (2, 4)  # type: ignore[operator]
