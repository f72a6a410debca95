"""Demo prices: plausible, deterministic quotes with no key and no network.

Each symbol has a level derived from its name, a previous close that moves a little
from day to day, and a random walk through the day, seeded by the symbol and the date:
the same symbol shows the same price at the same moment on every machine, and the page
visibly moves while it is open (a step about every 5 seconds). The demo market never
closes.

The walk is built by halving (a Brownian bridge): the day's end is drawn first, then
each midpoint given its two ends, so the price at any moment takes 14 draws and nothing
is stored.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from statistics import NormalDist

from webapp.quotes import Result, quote

NAME = "demo"
#: Steps a day: 2**14, one about every 5.3 seconds.
_STEPS = 2**14
_SECONDS_A_STEP = 86400 / _STEPS
#: The standard deviation of a day's move of the log price: 1.5 %.
_DAY_SIGMA = 0.015
_NORMAL = NormalDist()


def _draw(*parts: object) -> float:
    """A standard normal number, the same for the same parts everywhere."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    uniform = (int.from_bytes(digest[:8], "big") + 0.5) / 2**64
    return _NORMAL.inv_cdf(uniform)


def _level(symbol: str) -> float:
    """A plausible level for the kind of symbol, the same every day: an exchange rate near
    1, an index in the thousands, a coin in the hundreds to tens of thousands, a share
    between about 5 and 900 (most near 70)."""
    if symbol.endswith("=X"):
        typical, spread = 1.0, 0.2
    elif symbol.startswith("^"):
        typical, spread = 5000.0, 0.8
    elif symbol.endswith("-USD"):
        typical, spread = 2000.0, 1.5
    else:
        typical, spread = 70.0, 0.9
    return math.exp(math.log(typical) + spread * _draw("level", symbol))


def _close(symbol: str, day: date) -> float:
    """The day's close: the symbol's level, moved by a few per cent."""
    return _level(symbol) * math.exp(0.02 * _draw("close", symbol, day))


def _walk(symbol: str, day: date, step: int) -> float:
    """The log move from the previous close to ``step`` of the day."""
    low, high = 0, _STEPS
    at_low, at_high = 0.0, _DAY_SIGMA * _draw("walk", symbol, day)
    while high - low > 1 and step not in (low, high):
        middle = (low + high) // 2
        mean = at_low + (at_high - at_low) * (middle - low) / (high - low)
        spread = _DAY_SIGMA * math.sqrt((middle - low) * (high - middle) / (high - low) / _STEPS)
        at_middle = mean + spread * _draw("walk", symbol, day, low, high)
        if step <= middle:
            high, at_high = middle, at_middle
        else:
            low, at_low = middle, at_middle
    return at_low if step == low else at_high


def _currency(symbol: str) -> str:
    if symbol.endswith("=X") and len(symbol) == 8:
        return symbol[3:6]  # EURUSD=X is quoted in dollars
    if "-" in symbol:
        return symbol.rpartition("-")[2]  # BTC-USD
    suffix = symbol[symbol.rfind(".") :] if "." in symbol else ""
    return {".L": "GBP", ".T": "JPY", ".DE": "EUR", ".PA": "EUR", ".TO": "CAD"}.get(suffix, "USD")


class Demo:
    name = NAME
    batch_size = 50
    max_concurrency = 1
    calls_per_minute: int | None = None

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock

    def price_at(self, symbol: str, moment: datetime) -> tuple[Decimal, Decimal, datetime]:
        """The price, the previous close, and the moment of the step they are of."""
        day = moment.date()
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        step = int((moment - midnight).total_seconds() // _SECONDS_A_STEP)
        previous = _close(symbol, day - timedelta(days=1))
        price = previous * math.exp(_walk(symbol, day, step))
        # Exchange rates and prices below 1 to four places, as they are quoted.
        fine = previous < 1 or symbol.endswith("=X")
        places = Decimal("0.0001") if fine else Decimal("0.01")
        as_of = midnight + timedelta(seconds=math.ceil(step * _SECONDS_A_STEP))
        return (
            Decimal(repr(price)).quantize(places),
            Decimal(repr(previous)).quantize(places),
            as_of,
        )

    async def fetch(self, symbols: Sequence[str]) -> dict[str, Result]:
        moment = self._clock()
        results: dict[str, Result] = {}
        for symbol in symbols:
            price, previous, as_of = self.price_at(symbol, moment)
            results[symbol] = quote(
                symbol=symbol,
                price=price,
                previous_close=previous,
                as_of=as_of,
                source=NAME,
                currency=_currency(symbol),
                market_state="open",
            )
        return results

    async def aclose(self) -> None:
        return None
