"""The one validation of a watchlist entry, shared by the pages and the API.

``clean_entry`` takes what a client sent (decoded JSON, or a form's strings) and
returns the values to store, or raises ``InvalidEntry`` with one message per
field. Messages name the rule, so the same text reads well in JSON and in a page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from webapp import money

FIELDS = ("symbol", "name", "price", "notes", "alert_above", "alert_below")
READ_ONLY_FIELDS = ("id", "created_at", "updated_at")

SYMBOL_PATTERN = re.compile(r"\^?[A-Z0-9][A-Z0-9.=-]{0,19}")
NAME_MAX = 255
NOTES_MAX = 2000
MAX_ITEMS_PER_USER = 1000
MAX_LISTS_PER_USER = 20
LIST_NAME_MAX = 100
FIRST_LIST_NAME = "My watchlist"

SYMBOL_RULE = (
    "must be 1 to 20 letters, digits, '.', '=' or '-', optionally after '^' "
    "(like AAPL, BRK.B, BTC-USD, 7203.T, ^GSPC or EURUSD=X)"
)
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CONTROL_EXCEPT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class InvalidEntry(Exception):
    """The entry breaks one or more rules: ``errors`` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def clean_entry(
    data: Mapping[str, Any],
    *,
    partial: bool = False,
    from_form: bool = False,
    movable: bool = False,
) -> dict[str, Any]:
    """Validate ``data`` and return the cleaned values for the fields it holds.

    ``partial`` allows any subset of fields (an update); otherwise ``symbol`` is
    required and the optional fields default to empty. ``from_form`` reads every
    value as a form's string, where an empty price means "no price".
    """
    errors: dict[str, str] = {}
    fields = (*FIELDS, "list_id") if movable else FIELDS
    for key in data:
        if key in READ_ONLY_FIELDS:
            errors[key] = "is read-only"
        elif key not in fields:
            errors[key] = "is not a known field"
    if movable and "list_id" in data:
        try:
            cleaned_list = {"list_id": _id(data["list_id"])}
        except ValueError as exc:
            errors["list_id"] = str(exc)

    cleaned: dict[str, Any] = {}
    cleaners = {
        "symbol": _symbol,
        "name": _name,
        "price": _price,
        "notes": _notes,
        "alert_above": _price,
        "alert_below": _price,
    }
    for field, cleaner in cleaners.items():
        if field not in data:
            continue
        try:
            cleaned[field] = cleaner(data[field], from_form)
        except ValueError as exc:
            errors[field] = str(exc)

    if not partial:
        if "symbol" not in data:
            errors["symbol"] = "is required"
        cleaned.setdefault("name", "")
        cleaned.setdefault("price", None)
        cleaned.setdefault("notes", "")
        cleaned.setdefault("alert_above", None)
        cleaned.setdefault("alert_below", None)
    errors.update(target_errors(cleaned))
    if errors:
        raise InvalidEntry(errors)
    if movable and "list_id" in data:
        cleaned.update(cleaned_list)
    return cleaned


TARGET_RULE = "alert_below must be less than alert_above when both are set"


def target_errors(values: Mapping[str, Any]) -> dict[str, str]:
    """The errors of a pair of targets: ``alert_below`` must be below ``alert_above`` when
    both are set (``values`` holds cleaned prices: an entry's, or an item's after a
    change; a target that broke its own rule is not among them). Both fields are named."""
    above, below = values.get("alert_above"), values.get("alert_below")
    if above is None or below is None:
        return {}
    if below < above:
        return {}
    return {
        "alert_above": "must be greater than alert_below",
        "alert_below": "must be less than alert_above",
    }


#: Every sort key, as ``sort`` takes it (``-`` before one reverses the order).
SORT_KEYS = (
    "symbol",
    "name",
    "last_price",
    "change_percent",
    "distance_percent",
    "price",
    "created_at",
)
#: The keys the database sorts by (stored columns); the others come from the quotes.
SQL_SORT_KEYS = ("symbol", "name", "price", "created_at")
DEFAULT_SORT = "-created_at"
Q_MAX = 100


@dataclass(frozen=True)
class Order:
    """How a list of items is shown: sorted by ``key`` (reversed when ``descending``),
    narrowed to the items whose symbol, name or notes contain ``q`` (all when empty)."""

    key: str = "created_at"
    descending: bool = True
    q: str = ""

    @property
    def sort(self) -> str:
        return f"-{self.key}" if self.descending else self.key

    @property
    def is_default(self) -> bool:
        return self.sort == DEFAULT_SORT and not self.q


DEFAULT_ORDER = Order()


def clean_order(sort: str | None, q: str | None) -> Order:
    """The ``sort`` and ``q`` parameters of a list of items (absent: newest first, every
    item), or ``InvalidEntry`` naming each parameter's rule."""
    errors: dict[str, str] = {}
    key, descending = DEFAULT_ORDER.key, DEFAULT_ORDER.descending
    if sort is not None:
        # Exactly as written: one of the keys, perhaps after "-" (as the OpenAPI enum says).
        descending = sort.startswith("-")
        key = sort[1:] if descending else sort
        if key not in SORT_KEYS:
            allowed = ", ".join(SORT_KEYS)
            errors["sort"] = f"must be one of {allowed}, each optionally after '-' to reverse it"
    filter_text = ""
    if q is not None:
        filter_text = q.strip()
        if _SURROGATE.search(filter_text):
            errors["q"] = "must be valid Unicode text"
        elif len(filter_text) > Q_MAX:
            errors["q"] = f"must be at most {Q_MAX} characters"
        elif CONTROL.search(q):  # before trimming, as the OpenAPI pattern reads it
            errors["q"] = "must not contain control characters"
    if errors:
        raise InvalidEntry(errors)
    return Order(key, descending, filter_text)


LIST_FIELDS = ("name", "position")
LIST_READ_ONLY_FIELDS = ("id", "item_count", "created_at")


def clean_list(data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Validate a list's fields (``name``; ``position`` on a change) the way ``clean_entry``
    does an item's: the cleaned values, or ``InvalidEntry`` naming each field's rule."""
    errors: dict[str, str] = {}
    allowed = LIST_FIELDS if partial else ("name",)
    for key in data:
        if key in LIST_READ_ONLY_FIELDS:
            errors[key] = "is read-only"
        elif key not in allowed:
            errors[key] = "is not a known field"
    cleaned: dict[str, Any] = {}
    if "name" in data:
        try:
            cleaned["name"] = list_name(data["name"])
        except ValueError as exc:
            errors["name"] = str(exc)
    elif not partial:
        errors["name"] = "is required"
    if "position" in data and partial:
        position = data["position"]
        if not _is_number(position):
            errors["position"] = "must be a whole number"
        elif position != int(position) or not 0 <= position < MAX_LISTS_PER_USER:
            errors["position"] = f"must be a whole number from 0 to {MAX_LISTS_PER_USER - 1}"
        else:
            cleaned["position"] = int(position)
    if errors:
        raise InvalidEntry(errors)
    return cleaned


TRANSFER_ACTIONS = ("move", "copy")


def clean_transfer(data: Mapping[str, str]) -> tuple[int, str]:
    """A page's "move or copy to another list" form: the list's id and which of the two;
    or ``InvalidEntry`` naming each field's rule."""
    errors: dict[str, str] = {}
    text = data.get("list_id", "").strip()
    if not text:
        errors["list_id"] = "is required: choose one of your lists"
    elif not (text.isascii() and text.isdigit() and len(text) <= 19 and 0 < int(text) < 2**63):
        errors["list_id"] = "must be a list's id, a whole number from 1"
    action = data.get("action", "")
    if action not in TRANSFER_ACTIONS:
        errors["action"] = "must be move or copy"
    if errors:
        raise InvalidEntry(errors)
    return int(text), action


def list_name(value: Any) -> str:
    """A list's name: 1 to 100 characters once trimmed, no control characters."""
    text = _text(value, allow_null=False)
    if not text:
        raise ValueError("is required")
    if len(text) > LIST_NAME_MAX:
        raise ValueError(f"must be at most {LIST_NAME_MAX} characters")
    if CONTROL.search(text):
        raise ValueError("must not contain control characters")
    return text


def _id(value: Any) -> int:
    """A positive whole number (a JSON number read exactly)."""
    if not _is_number(value):
        raise ValueError("must be a list's id, a whole number")
    if value != int(value) or not 0 < value < 2**63:
        raise ValueError("must be a list's id, a whole number from 1")
    return int(value)


def _text(value: Any, *, allow_null: bool) -> str:
    if value is None and allow_null:
        return ""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if _SURROGATE.search(value):
        raise ValueError("must be valid Unicode text")
    return value.strip()


def _symbol(value: Any, from_form: bool) -> str:
    text = _text(value, allow_null=False)
    if not text:
        raise ValueError("is required")
    if not text.isascii() or not SYMBOL_PATTERN.fullmatch(text.upper()):
        raise ValueError(SYMBOL_RULE)
    return text.upper()


def _name(value: Any, from_form: bool) -> str:
    text = _text(value, allow_null=True)
    if len(text) > NAME_MAX:
        raise ValueError(f"must be at most {NAME_MAX} characters")
    if CONTROL.search(text):
        raise ValueError("must not contain control characters")
    return text


def _notes(value: Any, from_form: bool) -> str:
    text = _text(value, allow_null=True).replace("\r\n", "\n")
    if len(text) > NOTES_MAX:
        raise ValueError(f"must be at most {NOTES_MAX:,} characters")
    if CONTROL_EXCEPT_LINES.search(text):
        raise ValueError("must not contain control characters other than line breaks and tabs")
    return text


def _price(value: Any, from_form: bool) -> Decimal | None:
    return money.parse(value, from_form=from_form)


def named(name: str) -> dict[str, str]:
    """``{"name": name}`` cleaned by the rules, for a name that came from elsewhere (a quote
    provider): empty when it breaks them, so that it can never fail the add."""
    try:
        return clean_entry({"name": name}, partial=True)
    except InvalidEntry:
        return {}


def _is_number(value: Any) -> bool:
    if isinstance(value, Decimal):
        return value.is_finite()
    return isinstance(value, int) and not isinstance(value, bool)
