"""Market quotes: one ``Quote`` type, and the interface every provider implements.

A provider looks up a batch of symbols (in our spelling: ``BRK.B``, ``EURUSD=X``,
``^GSPC``) and answers one result per symbol: a ``Quote``, ``Unknown`` (the provider has
no such symbol), or ``Failed`` (it could not say just now). A refusal of the whole batch
for being over a limit is ``RateLimited``; any other failure of the whole batch is
``ProviderError``. The cache (``webapp.quotes.cache``) is the only caller: it batches,
bounds, times out and backs off, so providers stay plain translations of one API.

Every number is a ``Decimal`` (``webapp.money``); times are aware datetimes in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

MarketState = Literal["open", "closed", "unknown"]

#: Currencies quoted in hundredths of the main unit: (main unit, divisor). London's
#: pence (GBp, also written GBX), Johannesburg's cents (ZAc) and Tel Aviv's agorot (ILA).
MINOR_UNITS: Mapping[str, tuple[str, Decimal]] = {
    "GBp": ("GBP", Decimal(100)),
    "GBX": ("GBP", Decimal(100)),
    "ZAc": ("ZAR", Decimal(100)),
    "ZAC": ("ZAR", Decimal(100)),
    "ILA": ("ILS", Decimal(100)),
}
_PERCENT_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class Quote:
    """A symbol's last price and the day's move, as a provider reported it."""

    symbol: str
    price: Decimal
    #: The previous trading day's close (not the close before some chart range).
    previous_close: Decimal | None
    change: Decimal | None
    change_percent: Decimal | None
    currency: str | None
    as_of: datetime
    market_state: MarketState
    #: The instrument's name, where the provider has it.
    name: str | None
    #: The provider's name (``finnhub``, ``demo``, ...).
    source: str


@dataclass(frozen=True)
class Unknown:
    """The provider has no such symbol."""

    symbol: str
    source: str


@dataclass(frozen=True)
class Failed:
    """The provider could not quote the symbol just now; ``reason`` is safe to log."""

    symbol: str
    source: str
    reason: str


Result = Quote | Unknown | Failed


class ProviderError(Exception):
    """The whole batch failed (unreachable, timed out, malformed answer); the message is
    safe to log: it never holds a key."""


class RateLimited(ProviderError):
    """The provider refused the batch for being over its limits (a 429, or a quota
    error in a 200 body); ``retry_after`` is its ``Retry-After`` in seconds, if it said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Provider(Protocol):
    """One market-data API, behind the cache."""

    #: As ``QUOTES_PROVIDER`` names it, and as quotes give their ``source``.
    name: str
    #: How many symbols one call may carry.
    batch_size: int
    #: How many calls may be in flight at once.
    max_concurrency: int
    #: Calls a minute the provider allows (its free tier), if it says; ``None``: no limit.
    calls_per_minute: int | None

    async def fetch(self, symbols: Sequence[str]) -> dict[str, Result]:
        """One result per symbol, keyed by the symbol as given (our spelling); at most
        ``batch_size`` symbols. Raises ``RateLimited`` or ``ProviderError`` for the batch."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def quote(
    *,
    symbol: str,
    price: Decimal,
    previous_close: Decimal | None,
    as_of: datetime,
    source: str,
    change: Decimal | None = None,
    change_percent: Decimal | None = None,
    currency: str | None = None,
    market_state: MarketState = "unknown",
    name: str | None = None,
) -> Quote:
    """A ``Quote``, with the change worked out where the provider left it out, and a
    price in a minor unit (pence, cents, agorot) converted to the main unit."""
    if currency is not None and currency in MINOR_UNITS:
        currency, divisor = MINOR_UNITS[currency]
        price = price / divisor
        previous_close = None if previous_close is None else previous_close / divisor
        change = None if change is None else change / divisor
    if change is None and previous_close is not None:
        change = price - previous_close
    if change_percent is None and change is not None and previous_close:
        change_percent = (change / previous_close * 100).quantize(_PERCENT_PLACES)
    return Quote(
        symbol=symbol,
        price=price,
        previous_close=previous_close,
        change=change,
        change_percent=change_percent,
        currency=currency,
        as_of=as_of,
        market_state=market_state,
        name=name or None,
        source=source,
    )


#: What the page says quotes come from, by provider.
LABELS: Mapping[str, str] = {
    "demo": "Demo prices",
    "finnhub": "Finnhub",
    "twelvedata": "Twelve Data",
    "yahoo": "Yahoo Finance",
}


def make_provider(
    name: str,
    *,
    api_key: str,
    base_url: str,
    timeout: float,
    calls_per_minute: int | None = None,
) -> Provider | None:
    """The provider ``QUOTES_PROVIDER`` names, or ``None`` for ``off``. ``base_url`` (when
    set) replaces a keyed provider's API root; ``calls_per_minute`` (when set) its free
    tier's limit, for a paid plan."""
    provider = _provider(name, api_key=api_key, base_url=base_url, timeout=timeout)
    if provider is not None and calls_per_minute is not None:
        provider.calls_per_minute = calls_per_minute
    return provider


def _provider(name: str, *, api_key: str, base_url: str, timeout: float) -> Provider | None:
    if name == "demo":
        from webapp.quotes.demo import Demo

        return Demo()
    if name == "finnhub":
        from webapp.quotes.finnhub import Finnhub

        return Finnhub(api_key, timeout=timeout, base_url=base_url or Finnhub.BASE_URL)
    if name == "twelvedata":
        from webapp.quotes.twelvedata import TwelveData

        return TwelveData(api_key, timeout=timeout, base_url=base_url or TwelveData.BASE_URL)
    if name == "yahoo":
        from webapp.quotes.yahoo import Yahoo

        return Yahoo(timeout=timeout)
    return None
