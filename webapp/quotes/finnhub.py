"""Finnhub (finnhub.io): ``/quote`` for the price, ``/stock/profile2`` for name and currency.

The free tier allows 60 calls a minute and covers US stocks. Finnhub has no batch quote,
so each symbol is one ``/quote`` call, plus one ``/stock/profile2`` call the first time
a symbol is seen each day (the profile is kept for a day). Symbols go to Finnhub as we
spell them (``AAPL``, ``BRK.B``); indices (``^GSPC``), forex (``EURUSD=X``) and crypto
(``BTC-USD``) are not on the free tier's ``/quote`` and come back as ``Unknown``.

``/quote`` says nothing of whether the market is open, so every quote's
``market_state`` is ``"unknown"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from time import monotonic
from typing import Any

import httpx2

from webapp.quotes import Failed, ProviderError, RateLimited, Result, Unknown, parsing, quote

#: How long a symbol's profile (name, currency) is kept, in seconds.
PROFILE_TTL = 24 * 60 * 60


class Finnhub:
    """Quotes from Finnhub; the key travels in the ``X-Finnhub-Token`` header only."""

    name = "finnhub"
    #: The API's root (``QUOTES_BASE_URL`` replaces it).
    BASE_URL = "https://finnhub.io/api/v1"
    batch_size = 1
    max_concurrency = 4
    calls_per_minute: int | None = 60

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = BASE_URL,
        client: httpx2.AsyncClient | None = None,
        timeout: float = 3.0,
    ) -> None:
        self._headers = {"X-Finnhub-Token": api_key}
        self._base_url = base_url.rstrip("/")
        self._own_client = client is None
        self._client = httpx2.AsyncClient() if client is None else client
        self._timeout = timeout
        #: symbol -> (when fetched, by ``monotonic``; name; currency)
        self._profiles: dict[str, tuple[float, str | None, str | None]] = {}

    async def fetch(self, symbols: Sequence[str]) -> dict[str, Result]:
        return {symbol: await self._fetch_one(symbol) for symbol in symbols}

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    async def _fetch_one(self, symbol: str) -> Result:
        body = await self._get("/quote", symbol)
        if not isinstance(body, dict):
            return Failed(symbol, self.name, "finnhub answered /quote with malformed JSON")
        price, change, percent, previous_close, timestamp = (
            parsing.number(body.get(key)) for key in ("c", "d", "dp", "pc", "t")
        )
        if price is None or previous_close is None or timestamp is None:
            return Failed(symbol, self.name, "finnhub's /quote lacks c, pc or t")
        # Finnhub answers a symbol it does not have with zeros, not an error.
        if price == 0 and previous_close == 0 and timestamp == 0:
            return Unknown(symbol, self.name)
        if (change is None and body.get("d") is not None) or (
            percent is None and body.get("dp") is not None
        ):
            return Failed(symbol, self.name, "finnhub's /quote has a non-numeric d or dp")
        if price <= 0 or timestamp <= 0 or timestamp != timestamp.to_integral_value():
            return Failed(symbol, self.name, "finnhub's /quote has no price or time")
        profile = await self._profile(symbol)
        if profile is None:
            return Failed(symbol, self.name, "finnhub answered /stock/profile2 with malformed JSON")
        name, currency = profile
        return quote(
            symbol=symbol,
            price=price,
            previous_close=previous_close,
            change=change,
            change_percent=percent,
            currency=currency,
            as_of=datetime.fromtimestamp(int(timestamp), UTC),
            name=name,
            source=self.name,
        )

    async def _profile(self, symbol: str) -> tuple[str | None, str | None] | None:
        """The symbol's (name, currency), from the day's cache or Finnhub; ``None`` when
        Finnhub's answer is malformed. Finnhub answers ``{}`` for a symbol it has no
        profile of (outside the US on the free tier): name and currency ``None``."""
        cached = self._profiles.get(symbol)
        if cached is not None and monotonic() - cached[0] < PROFILE_TTL:
            return cached[1], cached[2]
        body = await self._get("/stock/profile2", symbol)
        if not isinstance(body, dict):
            return None
        name, currency = parsing.text(body.get("name")), parsing.text(body.get("currency"))
        self._profiles[symbol] = (monotonic(), name, currency)
        return name, currency

    async def _get(self, path: str, symbol: str) -> Any:
        """The decoded JSON body, or ``None`` if it is not JSON; raises for the batch."""
        try:
            response = await self._client.get(
                f"{self._base_url}{path}",
                params={"symbol": symbol},
                headers=self._headers,
                timeout=self._timeout,
            )
        except httpx2.TimeoutException as exc:
            raise ProviderError(f"finnhub did not answer within {self._timeout:g} s") from exc
        except httpx2.HTTPError as exc:
            raise ProviderError(f"finnhub could not be reached ({type(exc).__name__})") from exc
        status = response.status_code
        if status == 429:
            raise RateLimited(
                "finnhub's rate limit was reached (429)",
                parsing.retry_after(response.headers.get("retry-after")),
            )
        if status == 401:
            raise ProviderError("finnhub refused the API key (401)")
        if status == 403:
            # Finnhub's answer to a premium endpoint or symbol, as well as to a bad key.
            raise ProviderError("finnhub refused the request (403): not on the key's plan?")
        if status != 200:
            raise ProviderError(f"finnhub answered {path} with HTTP {status}")
        try:
            return parsing.loads(response.content)
        except ValueError:
            return None
