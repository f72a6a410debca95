"""Reading providers' answers: exact numbers, plain text, and their Retry-After."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def loads(content: bytes | str) -> Any:
    """JSON with every number as an exact ``Decimal`` (never ``float``); NaN and Infinity,
    which are not JSON, are refused as ``ValueError``."""
    return json.loads(content, parse_float=Decimal, parse_constant=_reject)


def _reject(constant: str) -> None:
    raise ValueError(f"{constant} is not a number")


def number(value: Any) -> Decimal | None:
    """A JSON number (read by ``loads``) as a finite ``Decimal``, else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return None
    exact = Decimal(value)
    return exact if exact.is_finite() else None


def text(value: Any) -> str | None:
    """A non-empty string, else ``None``."""
    return value if isinstance(value, str) and value else None


def retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header's seconds, if it gives seconds (not an HTTP date)."""
    try:
        seconds = float(value or "")
    except ValueError:
        return None
    return seconds if 0 <= seconds < float("inf") else None
