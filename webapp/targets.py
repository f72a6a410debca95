"""Price targets, and the order and filter a list of items is shown in.

An item's target is reached when the last price is at or above ``alert_above``, or at or
below ``alert_below``: worked out from the cached quote each time the item is shown,
never stored. Sorting by a stored column happens in SQL (``webapp/store.py``); by a column
that comes from the quotes (the last price, the day's change, the distance to a target),
here, on the quotes the page or the API shows, with the items that have none last in
either direction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from webapp import money
from webapp.quotes import Quote
from webapp.quotes.cache import Seen
from webapp.store import Item

Reached = Literal["above", "below"]
_HUNDRED = Decimal(100)
_PERCENT_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class Target:
    """Where an item stands against its targets, at one quote."""

    #: Which target the last price has reached, if any.
    reached: Reached | None
    #: How far the nearest target is from the last price, in percent of the last price
    #: (never negative); ``None`` without a target or without a quote.
    distance_percent: Decimal | None

    def as_json(self) -> dict[str, Any]:
        return {"reached": self.reached, "distance_percent": money.to_json(self.distance_percent)}


NO_TARGET = Target(None, None)


def target(item: Item, quote: Quote | None) -> Target:
    """``item``'s targets against ``quote`` (``NO_TARGET`` when it has no target or no
    quote). At the target counts as reached."""
    above, below = item.alert_above, item.alert_below
    if quote is None or (above is None and below is None):
        return NO_TARGET
    last = quote.price
    reached: Reached | None = None
    if above is not None and last >= above:
        reached = "above"
    elif below is not None and last <= below:
        reached = "below"
    if not last:
        return Target(reached, None)  # a price of 0: no percentage of it
    distances = [abs(price - last) for price in (above, below) if price is not None]
    distance = min(distances) / last * _HUNDRED
    return Target(reached, distance.quantize(_PERCENT_PLACES))


def target_of(item: Item, quotes: Mapping[str, Seen]) -> Target:
    seen = quotes.get(item.symbol)
    return target(item, seen.quote if seen else None)


# Sorting.


def _last_price(item: Item, quotes: Mapping[str, Seen]) -> Decimal | None:
    seen = quotes.get(item.symbol)
    return seen.quote.price if seen and seen.quote else None


def _change_percent(item: Item, quotes: Mapping[str, Seen]) -> Decimal | None:
    seen = quotes.get(item.symbol)
    return seen.quote.change_percent if seen and seen.quote else None


def _distance(item: Item, quotes: Mapping[str, Seen]) -> Decimal | None:
    return target_of(item, quotes).distance_percent


_FROM_QUOTES: dict[str, Callable[[Item, Mapping[str, Seen]], Decimal | None]] = {
    "last_price": _last_price,
    "change_percent": _change_percent,
    "distance_percent": _distance,
}


def by_quotes(
    items: list[Item], quotes: Mapping[str, Seen], key: str, *, descending: bool
) -> list[Item]:
    """``items`` (in the database's default order) sorted by a quote-derived ``key``;
    items without a value last, in their order, whichever the direction. Stable: equal
    values keep the default order (newest first)."""
    value_of = _FROM_QUOTES[key]
    valued: list[tuple[Decimal, Item]] = []
    missing: list[Item] = []
    for item in items:
        value = value_of(item, quotes)
        if value is None:
            missing.append(item)
        else:
            valued.append((value, item))
    # reverse=True keeps equal values in their order too: Python's sort is stable both ways.
    valued.sort(key=lambda pair: pair[0], reverse=descending)
    return [item for _, item in valued] + missing


def is_quote_key(key: str) -> bool:
    return key in _FROM_QUOTES
