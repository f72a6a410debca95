"""Yahoo Finance: keyless and best effort, through ``/v7/finance/quote``.

Yahoo's endpoints are undocumented and may change or close without notice. They want a
cookie (from ``fc.yahoo.com``) and a crumb (``/v1/test/getcrumb``) that goes with it, and
they refuse plain Python HTTP clients by their TLS fingerprint; so the calls go through
curl_cffi's ``AsyncSession(impersonate="chrome")``, an optional extra
(``uv sync --extra yahoo``) imported only when this provider is built.

One call quotes up to ``batch_size`` symbols. A refused cookie or crumb (401, 403, or an
"Invalid Crumb"/"Invalid Cookie" error) is refreshed once and the call tried once more.
Yahoo publishes no rate limit, so ``calls_per_minute`` is ``None``; its 429 is honoured.

Symbols are spelled Yahoo's way already (``EURUSD=X``, ``^GSPC``, ``BTC-USD``, ``VOD.L``),
except US class shares: ``BRK.B`` is ``BRK-B`` on Yahoo (see ``to_yahoo``). The answer
is mapped back through the call's own table, never by guessing the reverse. A symbol
missing from the answer is ``Unknown``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from curl_cffi.requests import AsyncSession, Response

MISSING_EXTRA = "QUOTES_PROVIDER=yahoo needs the yahoo extra: uv sync --extra yahoo"

_QUOTE_PATH = "/v7/finance/quote"
_CRUMB_PATH = "/v1/test/getcrumb"
#: ``BRK.B``: letters, a dot, one letter. Only a US class share looks like this, except
#: for Yahoo's one-letter exchange suffixes (London, Tokyo, Frankfurt, TSX Venture).
_CLASS_SHARE = re.compile(r"([A-Z]+)\.([A-Z])")
_EXCHANGE_LETTERS = frozenset("LTFV")
_REFUSALS = ("Invalid Crumb", "Invalid Cookie")
_CRUMB = re.compile(r"[!-~]{1,64}")  # printable ASCII, no spaces
_MARKET_STATES: dict[Any, MarketState] = {
    "REGULAR": "open",
    "PRE": "closed",
    "PREPRE": "closed",
    "POST": "closed",
    "POSTPOST": "closed",
    "CLOSED": "closed",
}


def to_yahoo(symbol: str) -> str:
    """Our spelling of a symbol in Yahoo's: ``BRK.B`` -> ``BRK-B``; ``VOD.L``, ``7203.T``,
    ``SAP.DE``, ``EURUSD=X``, ``^GSPC`` and ``BTC-USD`` as they are."""
    match = _CLASS_SHARE.fullmatch(symbol)
    if match and match[2] not in _EXCHANGE_LETTERS:
        return f"{match[1]}-{match[2]}"
    return symbol


class Yahoo:
    """Quotes from Yahoo Finance; no key, a cookie and crumb kept for the session."""

    name = "yahoo"
    batch_size = 50
    max_concurrency = 2
    calls_per_minute: int | None = None  # Yahoo does not publish one

    def __init__(
        self,
        *,
        query_url: str = "https://query2.finance.yahoo.com",
        consent_url: str = "https://fc.yahoo.com",
        timeout: float = 3.0,
        session: AsyncSession[Response] | None = None,
    ) -> None:
        """Raises ``ProviderError`` (``MISSING_EXTRA``) when curl_cffi is not installed."""
        try:
            from curl_cffi.requests import AsyncSession
        except ImportError as exc:
            raise ProviderError(MISSING_EXTRA) from exc
        self._query_url = query_url.rstrip("/")
        self._consent_url = consent_url
        self._timeout = timeout
        self._own_session = session is None
        self._session = AsyncSession(impersonate="chrome") if session is None else session
        self._crumb: str | None = None
        self._signing_in = asyncio.Lock()

    async def fetch(self, symbols: Sequence[str]) -> dict[str, Result]:
        ours: dict[str, list[str]] = {}
        for symbol in symbols:
            ours.setdefault(to_yahoo(symbol), []).append(symbol)
        items = await self._quotes(",".join(ours))
        found = {item["symbol"]: item for item in items if isinstance(item.get("symbol"), str)}
        return {
            symbol: self._result(symbol, theirs, found.get(theirs))
            for theirs, spellings in ours.items()
            for symbol in spellings
        }

    async def aclose(self) -> None:
        if self._own_session:
            await self._session.close()

    def _result(self, symbol: str, theirs: str, item: dict[str, Any] | None) -> Result:
        if item is None:
            return Unknown(symbol, self.name)
        price = parsing.number(item.get("regularMarketPrice"))
        as_of = _timestamp(item.get("regularMarketTime"))
        if price is None or price <= 0 or as_of is None:
            return Failed(symbol, self.name, f"yahoo's quote of {theirs} lacks a price or time")
        keys = ("regularMarketPreviousClose", "regularMarketChange", "regularMarketChangePercent")
        optional = [item.get(key) for key in keys]
        previous_close, change, percent = (parsing.number(value) for value in optional)
        if any(
            number is None and value is not None
            for number, value in zip((previous_close, change, percent), optional, strict=True)
        ):
            return Failed(symbol, self.name, f"yahoo's quote of {theirs} has a non-number")
        return quote(
            symbol=symbol,
            price=price,
            previous_close=previous_close,
            change=change,
            change_percent=percent,
            currency=parsing.text(item.get("currency")),
            as_of=as_of,
            market_state=_MARKET_STATES.get(item.get("marketState"), "unknown"),
            name=parsing.text(item.get("shortName")) or parsing.text(item.get("longName")),
            source=self.name,
        )

    async def _quotes(self, symbols: str) -> list[dict[str, Any]]:
        """The answer's quote objects; signs in first, and again once if refused."""
        crumb = self._crumb or await self._sign_in(stale=None)
        status, body = await self._get_quotes(symbols, crumb)
        if _refused(status, body):
            status, body = await self._get_quotes(symbols, await self._sign_in(stale=crumb))
            if _refused(status, body):
                raise ProviderError(f"yahoo refused a fresh cookie and crumb ({status})")
        if status != 200:
            raise ProviderError(f"yahoo answered {_QUOTE_PATH} with HTTP {status}")
        answer = body.get("quoteResponse") if isinstance(body, dict) else None
        if not isinstance(answer, dict):
            raise ProviderError(f"yahoo answered {_QUOTE_PATH} without a quoteResponse")
        if answer.get("error") is not None:
            raise ProviderError(f"yahoo's quoteResponse has an error: {_describe(answer)}")
        result = answer.get("result")
        if not isinstance(result, list):
            raise ProviderError("yahoo's quoteResponse has no result list")
        return [item for item in result if isinstance(item, dict)]

    async def _get_quotes(self, symbols: str, crumb: str) -> tuple[int, Any]:
        response = await self._get(
            f"{self._query_url}{_QUOTE_PATH}", {"symbols": symbols, "crumb": crumb}
        )
        try:
            body = parsing.loads(response.content)
        except ValueError:
            body = None
        return response.status_code, body

    async def _sign_in(self, *, stale: str | None) -> str:
        """A fresh cookie and crumb, unless another call replaced ``stale`` meanwhile."""
        async with self._signing_in:
            if self._crumb is not None and self._crumb != stale:
                return self._crumb
            self._crumb = None
            # A refused cookie is not offered again: Yahoo hands out a new one without it.
            self._session.cookies.clear()
            await self._get(self._consent_url)  # sets the cookie, whatever its status
            response = await self._get(f"{self._query_url}{_CRUMB_PATH}")
            if response.status_code != 200:
                raise ProviderError(f"yahoo gave no crumb (HTTP {response.status_code})")
            crumb = response.text.strip()
            if not _CRUMB.fullmatch(crumb):
                raise ProviderError("yahoo's crumb is malformed")
            self._crumb = crumb
            return crumb

    async def _get(self, url: str, params: dict[str, str] | None = None) -> Response:
        """The response, whatever its status but 429; raises for the batch."""
        # Imported here, as in the constructor: curl_cffi is an optional extra.
        from curl_cffi.requests.exceptions import RequestException, Timeout

        try:
            response = await self._session.get(url, params=params, timeout=self._timeout)
        except Timeout as exc:
            raise ProviderError(f"yahoo did not answer within {self._timeout:g} s") from exc
        except RequestException as exc:
            raise ProviderError(f"yahoo could not be reached ({type(exc).__name__})") from exc
        if response.status_code == 429:
            raise RateLimited(
                "yahoo's rate limit was reached (429)",
                parsing.retry_after(response.headers.get("retry-after")),
            )
        return response


def _refused(status: int, body: Any) -> bool:
    """Yahoo refused the cookie or crumb: a 401 or 403, or its error saying so."""
    finance = body.get("finance") if isinstance(body, dict) else None
    error = finance.get("error") if isinstance(finance, dict) else None
    said = isinstance(error, dict) and error.get("description") in _REFUSALS
    return status in (401, 403) or said


def _describe(answer: dict[str, Any]) -> str:
    error = answer.get("error")
    if isinstance(error, dict):
        return f"{error.get('code')}: {str(error.get('description', ''))[:200]}"
    return str(error)[:200]


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return datetime.fromtimestamp(value, UTC)
