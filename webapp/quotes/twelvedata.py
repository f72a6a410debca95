"""Twelve Data (twelvedata.com): ``/quote`` for up to eight symbols in one call.

The free tier grants 8 API credits a minute (and 800 a day), and a ``/quote`` costs one
credit per symbol however many share the call. So a call carries at most 8 symbols and
one call a minute is allowed: ``batch_size`` times ``calls_per_minute`` stays within the
8 credits.

Symbols we spell Yahoo's way are rewritten for Twelve Data, and the answer is mapped
back through the request's own table (never by guessing the reverse):

* forex ``EURUSD=X`` -> ``EUR/USD``; crypto ``BTC-USD`` -> ``BTC/USD`` (the price is in
  the pair's second currency);
* London ``VOD.L`` -> ``VOD:LSE`` (Twelve Data's ``symbol:exchange``);
* everything else as is: ``AAPL``, ``BRK.B``; indices such as ``^GSPC`` are not mapped
  and come back as ``Unknown``.

Twelve Data reports errors in the body, usually with HTTP 200: ``{"status": "error",
"code": 429, "message": ...}`` for the whole call, or the same object in place of one
symbol's quote. Its messages are passed on with the key cut out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

import httpx2

from webapp.quotes import (
    Failed,
    MarketState,
    ProviderError,
    RateLimited,
    Result,
    Unknown,
    parsing,
    quote,
)

_FOREX = re.compile(r"([A-Z]{3})([A-Z]{3})=X")
_CRYPTO = re.compile(r"([A-Z0-9]{2,10})-([A-Z]{3,4})")
#: Per-symbol error codes that mean Twelve Data has no such symbol.
_NOT_FOUND = (400, 404)
_MARKET_STATES: dict[Any, MarketState] = {True: "open", False: "closed"}


def to_twelvedata(symbol: str) -> str:
    """Our spelling of a symbol in Twelve Data's."""
    if match := _FOREX.fullmatch(symbol) or _CRYPTO.fullmatch(symbol):
        return f"{match[1]}/{match[2]}"
    if symbol.endswith(".L") and len(symbol) > 2:
        return f"{symbol[:-2]}:LSE"
    return symbol


class TwelveData:
    """Quotes from Twelve Data; the key travels in the ``Authorization`` header only."""

    name = "twelvedata"
    #: The API's root (``QUOTES_BASE_URL`` replaces it).
    BASE_URL = "https://api.twelvedata.com"
    batch_size = 8
    max_concurrency = 1
    calls_per_minute: int | None = 1

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = BASE_URL,
        client: httpx2.AsyncClient | None = None,
        timeout: float = 3.0,
    ) -> None:
        self._key = api_key
        self._base_url = base_url.rstrip("/")
        self._own_client = client is None
        self._client = httpx2.AsyncClient() if client is None else client
        self._timeout = timeout

    async def fetch(self, symbols: Sequence[str]) -> dict[str, Result]:
        ours: dict[str, list[str]] = {}
        for symbol in symbols:
            ours.setdefault(to_twelvedata(symbol), []).append(symbol)
        body = await self._get(",".join(ours))
        if _is_error(body):
            if len(ours) == 1 and body.get("code") in _NOT_FOUND:
                return {symbol: Unknown(symbol, self.name) for symbol in symbols}
            self._raise(body)
        if not isinstance(body, dict):
            reason = "twelvedata answered with malformed JSON"
            return {symbol: Failed(symbol, self.name, reason) for symbol in symbols}
        # One symbol is answered with its quote, several with quotes keyed by symbol.
        answers = {next(iter(ours)): body} if len(ours) == 1 else body
        return {
            symbol: self._result(symbol, theirs, answers.get(theirs))
            for theirs, spellings in ours.items()
            for symbol in spellings
        }

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    def _result(self, symbol: str, theirs: str, item: Any) -> Result:
        if item is None:
            return Failed(symbol, self.name, f"twelvedata's answer lacks {theirs}")
        if not isinstance(item, dict):
            return Failed(symbol, self.name, f"twelvedata's quote of {theirs} is malformed")
        if _is_error(item):
            if item.get("code") in _NOT_FOUND:
                return Unknown(symbol, self.name)
            return Failed(symbol, self.name, self._describe(item))
        price = _decimal(item.get("close"))
        as_of = _timestamp(item.get("timestamp"))
        optional = [item.get(key) for key in ("previous_close", "change", "percent_change")]
        previous_close, change, percent = (_decimal(value) for value in optional)
        if price is None or as_of is None:
            return Failed(symbol, self.name, f"twelvedata's quote of {theirs} lacks close or time")
        if any(
            number is None and value not in (None, "")
            for number, value in zip((previous_close, change, percent), optional, strict=True)
        ):
            return Failed(symbol, self.name, f"twelvedata's quote of {theirs} has a non-number")
        # Forex and crypto quotes have no currency: the price is in the pair's second.
        currency = parsing.text(item.get("currency")) or (theirs.partition("/")[2] or None)
        return quote(
            symbol=symbol,
            price=price,
            previous_close=previous_close,
            change=change,
            change_percent=percent,
            currency=currency,
            as_of=as_of,
            market_state=_MARKET_STATES.get(item.get("is_market_open"), "unknown"),
            name=parsing.text(item.get("name")),
            source=self.name,
        )

    async def _get(self, symbols: str) -> Any:
        """The decoded JSON body (``None`` if it is not JSON); raises for the call."""
        try:
            response = await self._client.get(
                f"{self._base_url}/quote",
                params={"symbol": symbols},
                headers={"Authorization": f"apikey {self._key}"},
                timeout=self._timeout,
            )
        except httpx2.TimeoutException as exc:
            raise ProviderError(f"twelvedata did not answer within {self._timeout:g} s") from exc
        except httpx2.HTTPError as exc:
            raise ProviderError(f"twelvedata could not be reached ({type(exc).__name__})") from exc
        status = response.status_code
        if status == 429:
            raise RateLimited(
                "twelvedata's rate limit was reached (429)",
                parsing.retry_after(response.headers.get("retry-after")),
            )
        if status in (401, 403):
            raise ProviderError(f"twelvedata refused the API key ({status})")
        try:
            body = parsing.loads(response.content)
        except ValueError:
            body = None
        # Twelve Data sometimes sends its error objects with a matching HTTP status.
        if status != 200 and not _is_error(body):
            raise ProviderError(f"twelvedata answered HTTP {status}")
        return body

    def _raise(self, error: dict[str, Any]) -> NoReturn:
        code = error.get("code")
        if code == 429:
            raise RateLimited(self._describe(error))
        if code in (401, 403):
            raise ProviderError(f"twelvedata refused the API key ({code})")
        raise ProviderError(self._describe(error))

    def _describe(self, error: dict[str, Any]) -> str:
        """An error object in words safe to log: its message with the key cut out."""
        message = str(error.get("message", ""))
        if self._key:
            message = message.replace(self._key, "[key]")
        return f"twelvedata error {error.get('code')}: {message[:200]}"


def _is_error(body: Any) -> bool:
    return isinstance(body, dict) and body.get("status") == "error"


def _decimal(value: Any) -> Decimal | None:
    """A number Twelve Data sent as a string (or a JSON number) as a finite ``Decimal``."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return datetime.fromtimestamp(value, UTC)
