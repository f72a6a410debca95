"""Money: every price the app reads, shows or sends goes through here.

A price is a ``Decimal`` from the moment it is read (a form's text, a JSON number parsed
without float, a database DECIMAL) to the moment it leaves (a page, a form's value, a
JSON number, a CSV cell): the same digits out as went in, never through ``float``, never
in exponent notation.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import simplejson

#: Prices are below this, and at least zero.
LIMIT = Decimal(10) ** 12
#: The finest step a price may take: four decimal places.
PLACES = Decimal("0.0001")
DECIMALS = -int(PLACES.as_tuple().exponent)


def parse(value: Any, *, from_form: bool = False) -> Decimal | None:
    """A price from what a client sent, or ``None`` for no price.

    ``value`` is a form's text when ``from_form`` (empty means no price), else a decoded
    JSON value: a number read exactly (``Decimal``, ``int``) or ``None``. Raises
    ``ValueError`` with the rule it breaks, worded to follow the field's name.
    """
    if value is None:
        return None
    if from_form and isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError("must be a number, like 187.25") from None
    elif isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a number or null")
    else:
        # A float (from a caller that parsed JSON the usual way) by its shortest repr.
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise ValueError("must be a finite number")
    if number < 0:
        raise ValueError("must be at least 0")
    if number >= LIMIT:
        raise ValueError(f"must be less than {display(LIMIT, places=0)}")
    rounded = number.quantize(PLACES)
    if rounded != number:
        raise ValueError(f"must have at most {DECIMALS} decimal places")
    # -0 passes "at least 0"; store and show it as 0.
    return rounded.copy_abs()


def plain(price: Decimal) -> str:
    """The price's digits without exponent, grouping or trailing zeros: ``100``,
    ``187.25``, ``0.0001``. What a form field holds, and a CSV cell."""
    text = format(price, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def form_value(price: Decimal | None) -> str:
    """What an edit form's price field starts with: ``plain``, or empty for no price."""
    return "" if price is None else plain(price)


def display(price: Decimal | None, *, places: int = 2) -> str:
    """A price for people to read: ``1,234.50`` (grouped; at least ``places`` decimals,
    and every decimal it has beyond them: ``0.0001`` stays ``0.0001``)."""
    if price is None:
        return ""
    sign = "-" if price < 0 else ""
    whole, _, fraction = plain(abs(price)).partition(".")
    grouped = f"{sign}{int(whole):,}"
    fraction = fraction.ljust(places, "0")
    return f"{grouped}.{fraction}" if fraction else grouped


def signed(change: Decimal | None) -> str:
    """A change for people to read: ``+1.25``, ``-0.0300``, ``0.00``."""
    if change is None:
        return ""
    return ("+" if change > 0 else "") + display(change)


def to_json(price: Decimal | None) -> Decimal | None:
    """The price as ``dumps`` writes it: a JSON number with exactly its digits."""
    return None if price is None else Decimal(plain(price))


def dumps(content: Any) -> bytes:
    """JSON as Starlette's ``JSONResponse`` writes it, but with each ``Decimal`` a number
    of exactly its digits (``json`` would need ``float``, which rounds 999999999999.0003)."""
    return simplejson.dumps(
        content,
        use_decimal=True,
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
    ).encode("utf-8")
