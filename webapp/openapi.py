"""The API's OpenAPI 3.1 document, generated from the code.

Each operation is the YAML after ``---`` in its endpoint's docstring, gathered by
Starlette's ``SchemaGenerator``; the prose before it becomes the operation's summary
(first line) and description. The shared parts (schemas, error responses, the bearer
scheme) are built here from ``webapp.validation``'s rules, so that the document and
the checks cannot disagree about a limit.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from importlib.metadata import version
from typing import Any

from starlette.routing import BaseRoute, Mount
from starlette.schemas import SchemaGenerator

from webapp import money, validation
from webapp.store import MAX_ID

TITLE = "Stock Watchlist API"
VERSION = version("stock-watchlist")


def _symbol_pattern(*, any_case: bool) -> str:
    """``validation.SYMBOL_PATTERN`` as an anchored JSON Schema pattern."""
    pattern = validation.SYMBOL_PATTERN.pattern
    if any_case:
        # The API upper-cases a symbol before checking it, so lower case is fine to send.
        assert "A-Z" in pattern
        pattern = pattern.replace("A-Z", "A-Za-z")
    return f"^{pattern}$"


def _without(characters: re.Pattern[str]) -> str:
    """A JSON Schema pattern for text that has none of a character class's characters."""
    inside = characters.pattern.removeprefix("[").removesuffix("]")
    assert f"[{inside}]" == characters.pattern, "a single character class"
    return f"^[^{inside}]*$"


# Said exactly: str.strip() trims more than a pattern's \s, the separators U+001C to U+001F
# too, so a name that starts with one of those is trimmed, not refused.
_TRIMMED = (
    "Surrounding whitespace is trimmed before the rules apply (Unicode whitespace, and the "
    "separators U+001C to U+001F), so the pattern and the length apply to the trimmed text."
)


def _entry_schema(*, partial: bool) -> dict[str, Any]:
    # Price has no multipleOf: validators divide floats, and 0.3 / 0.0001 is not a whole
    # number in binary, so they would refuse prices the API accepts.
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "symbol": {
                "type": "string",
                "pattern": _symbol_pattern(any_case=True),
                "description": (
                    f"Trimmed and upper-cased, then it {validation.SYMBOL_RULE}. "
                    "Unique within a list."
                ),
                "examples": ["AAPL", "brk.b", "^GSPC"],
            },
            "name": {
                "type": ["string", "null"],
                "maxLength": validation.NAME_MAX,
                # The private names are validation's own character classes, reused as they are.
                "pattern": _without(validation.CONTROL),
                "description": f"{_TRIMMED} No control characters; `null` means empty.",
                "examples": ["Apple"],
            },
            "price": {
                "type": ["number", "null"],
                "minimum": 0,
                "exclusiveMaximum": int(money.LIMIT),
                "description": f"At most {money.DECIMALS} decimal places; `null` for no price.",
                "examples": [187.25],
            },
            "notes": {
                "type": ["string", "null"],
                "maxLength": validation.NOTES_MAX,
                "pattern": _without(validation.CONTROL_EXCEPT_LINES),
                "description": (
                    f"{_TRIMMED} Line breaks and tabs are the only control characters "
                    "allowed; a Windows line break (CR LF) is stored as LF and counts as one "
                    "character; `null` means empty."
                ),
                "examples": ["core holding"],
            },
            "alert_above": {
                "type": ["number", "null"],
                "minimum": 0,
                "exclusiveMaximum": int(money.LIMIT),
                "description": (
                    "A price target: reached when the last price is at or above it. As "
                    f"`price`: at most {money.DECIMALS} decimal places; `null` for none. "
                    "Greater than `alert_below` when both are set (else a 422 naming both)."
                ),
                # An example for each target, so that documentation tools that build a body
                # from the examples (Swagger UI's "Try it out") offer a valid one, not 0 and 0.
                "examples": [200],
            },
            "alert_below": {
                "type": ["number", "null"],
                "minimum": 0,
                "exclusiveMaximum": int(money.LIMIT),
                "description": (
                    "A price target: reached when the last price is at or below it; "
                    "less than `alert_above` when both are set."
                ),
                "examples": [150],
            },
        },
    }
    if partial:
        schema["description"] = "Only the fields to change; the others keep their values."
    else:
        schema["required"] = ["symbol"]
        schema["description"] = (
            "A new item: `name` and `notes` default to empty, `price` and the targets to null."
        )
    return schema


def _moving(schema: dict[str, Any]) -> dict[str, Any]:
    """An item's changes, which may also move it to another of your lists."""
    schema["properties"] = {
        **schema["properties"],
        "list_id": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_ID,
            "description": "Move the item to this list of yours (the symbol must not be in it).",
            "examples": [1],
        },
    }
    schema["description"] += " `list_id` moves the item to another of your lists."
    return schema


def _list_schema(*, partial: bool) -> dict[str, Any]:
    inside = validation.CONTROL.pattern.removeprefix("[").removesuffix("]")
    name = {
        "type": "string",
        # Something besides whitespace, and no control characters.
        "pattern": f"^[^{inside}]*[^\\s{inside}][^{inside}]*$",
        "minLength": 1,
        "maxLength": validation.LIST_NAME_MAX,
        "description": (
            f"{_TRIMMED} 1 to {validation.LIST_NAME_MAX} characters, no control characters; "
            "unique among your lists whatever its case."
        ),
        "examples": ["Dividends"],
    }
    properties: dict[str, Any] = {"name": name}
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False}
    if partial:
        properties["position"] = {
            "type": "integer",
            "minimum": 0,
            "maximum": validation.MAX_LISTS_PER_USER - 1,
            "description": "Where the list goes in your order: 0 is first; past the end, last.",
        }
        schema["description"] = "Rename the list, move it, or both."
    else:
        schema["required"] = ["name"]
        schema["description"] = "A new list, placed last in your order."
    schema["properties"] = properties
    return schema


def _json(schema_name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}}


def _error(
    description: str,
    headers: dict[str, Any] | None = None,
    example: dict[str, Any] | None = None,
) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": _json("Error")}
    if headers:
        response["headers"] = headers
    if example:
        response["content"]["application/json"]["example"] = example
    return response


def components(max_body_bytes: int) -> dict[str, Any]:
    """The schemas, parameters, request bodies, responses and security scheme operations use."""
    timestamp = {
        "type": "string",
        "format": "date-time",
        "description": "ISO 8601 in UTC, with microseconds.",
    }
    item = {
        "id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        "symbol": {"type": "string", "pattern": _symbol_pattern(any_case=False)},
        "name": {"type": "string"},
        "price": {"type": ["number", "null"]},
        "notes": {"type": "string"},
        "created_at": timestamp,
        "updated_at": timestamp,
        "list_id": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_ID,
            "description": "The list the item is in.",
        },
        "alert_above": {"type": ["number", "null"], "description": "The upper price target."},
        "alert_below": {"type": ["number", "null"], "description": "The lower price target."},
        "quote": {
            "anyOf": [{"$ref": "#/components/schemas/Quote"}, {"type": "null"}],
            "description": "The symbol's latest quote from the cache; `null` when none is known "
            "yet (or quotes are off).",
        },
        "target": {"$ref": "#/components/schemas/Target"},
    }
    number_or_null = {"type": ["number", "null"]}
    quote = {
        "price": {"type": "number", "description": "The last price, in `currency`."},
        "previous_close": {**number_or_null, "description": "The previous trading day's close."},
        "change": {**number_or_null, "description": "`price` - `previous_close`."},
        "change_percent": {**number_or_null, "description": "`change` in % of the close."},
        "currency": {"type": ["string", "null"], "examples": ["USD"]},
        "as_of": {**timestamp, "description": "When the price was made, ISO 8601 in UTC."},
        "market_state": {"enum": ["open", "closed", "unknown"]},
        "source": {"type": "string", "description": "The provider.", "examples": ["demo"]},
        "stale": {
            "type": "boolean",
            "description": "Older than twice `QUOTES_TTL`: the provider has not answered since.",
        },
    }
    return {
        "schemas": {
            "Quote": {
                "type": "object",
                "description": "A symbol's last price and the day's move; numbers exact.",
                "required": list(quote),
                "additionalProperties": False,
                "properties": quote,
            },
            "Target": {
                "type": "object",
                "description": (
                    "The item against its targets at the quote shown, worked out each time: "
                    "`reached` is `above` when the last price is at or above `alert_above`, "
                    "`below` when it is at or below `alert_below`, else `null`; "
                    "`distance_percent` is how far the nearest target is from the last price, "
                    "in percent of the last price (never negative, two decimals), `null` "
                    "without a target or a quote."
                ),
                "required": ["reached", "distance_percent"],
                "additionalProperties": False,
                "properties": {
                    "reached": {"enum": ["above", "below", None]},
                    "distance_percent": {"type": ["number", "null"], "minimum": 0},
                },
            },
            "Item": {
                "type": "object",
                "description": "One entry of your watchlist.",
                "examples": [
                    {
                        "id": 1,
                        "symbol": "AAPL",
                        "name": "Apple",
                        "price": 187.25,
                        "notes": "core holding",
                        "created_at": "2025-01-02T09:30:00.000000Z",
                        "updated_at": "2025-01-02T09:30:00.000000Z",
                        "list_id": 1,
                        "alert_above": 200,
                        "alert_below": None,
                        "quote": {
                            "price": 189.5,
                            "previous_close": 187.25,
                            "change": 2.25,
                            "change_percent": 1.2016,
                            "currency": "USD",
                            "as_of": "2025-01-02T15:04:00Z",
                            "market_state": "open",
                            "source": "finnhub",
                            "stale": False,
                        },
                        "target": {"reached": None, "distance_percent": 5.54},
                    }
                ],
                "required": list(item),
                "additionalProperties": False,
                "properties": item,
            },
            "ItemList": {
                "type": "array",
                "description": "Your watchlist, newest first.",
                "maxItems": validation.MAX_ITEMS_PER_USER,
                "items": {"$ref": "#/components/schemas/Item"},
            },
            "NewItem": _entry_schema(partial=False),
            "ItemChanges": _entry_schema(partial=True),
            "ItemChangesOrMove": _moving(_entry_schema(partial=True)),
            "List": {
                "type": "object",
                "description": "One of your named lists.",
                "examples": [
                    {
                        "id": 1,
                        "name": "My watchlist",
                        "position": 0,
                        "item_count": 12,
                        "created_at": "2025-01-02T09:30:00.000000Z",
                    }
                ],
                "required": ["id", "name", "position", "item_count", "created_at"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                    "name": {"type": "string", "minLength": 1},
                    "position": {"type": "integer", "minimum": 0},
                    "item_count": {"type": "integer", "minimum": 0},
                    "created_at": timestamp,
                },
            },
            "ListList": {
                "type": "array",
                "description": "Your lists, in your order.",
                "minItems": 1,
                "maxItems": validation.MAX_LISTS_PER_USER,
                "items": {"$ref": "#/components/schemas/List"},
            },
            "NewList": _list_schema(partial=False),
            "ListChanges": _list_schema(partial=True),
            "Identity": {
                "type": "object",
                "description": "Who the ID token says you are.",
                "required": ["sub", "email", "name"],
                "additionalProperties": False,
                "properties": {
                    "sub": {"type": "string", "description": "The provider's stable user id."},
                    "email": {"type": ["string", "null"]},
                    "name": {"type": ["string", "null"]},
                },
            },
            "Health": {
                "type": "object",
                "required": ["status"],
                "additionalProperties": False,
                "properties": {"status": {"const": "healthy"}},
            },
            "LegacyIdentity": {
                "type": "object",
                "description": "Who the ID token says you are, as the earlier service said it.",
                "required": ["sub", "email", "preferred_username"],
                "additionalProperties": False,
                "properties": {
                    "sub": {"type": "string"},
                    "email": {"type": ["string", "null"]},
                    "preferred_username": {
                        "type": ["string", "null"],
                        "description": "The email, as the earlier service filled it.",
                    },
                },
            },
            "LegacyItem": {
                "type": "object",
                "description": (
                    "An item as the earlier service answered it: no list, notes, targets "
                    "or quote (`/api` has them all)."
                ),
                "required": [
                    "id",
                    "symbol",
                    "name",
                    "price",
                    "user_id",
                    "created_at",
                    "updated_at",
                ],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "integer"},
                    "symbol": {"type": "string"},
                    "name": {"type": "string"},
                    "price": {"type": ["number", "null"]},
                    "user_id": {"type": "string", "description": "Your own `sub`."},
                    "created_at": timestamp,
                    "updated_at": timestamp,
                },
            },
            "Index": {
                "type": "object",
                "required": ["name", "version", "links"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "version": {"type": "string"},
                    "links": {
                        "type": "object",
                        "required": ["openapi", "docs"],
                        "additionalProperties": False,
                        "properties": {
                            "openapi": {"type": "string", "format": "uri-reference"},
                            "docs": {"type": "string", "format": "uri-reference"},
                        },
                    },
                },
            },
            "Error": {
                "type": "object",
                "description": "Every error the API answers has this shape.",
                "examples": [{"detail": "You have no watchlist item with id 7.", "errors": {}}],
                "required": ["detail", "errors"],
                "additionalProperties": False,
                "properties": {
                    "detail": {"type": "string", "minLength": 1, "description": "What happened."},
                    "errors": {
                        "type": "object",
                        "description": (
                            "One message per field, naming the rule it breaks (like "
                            '`{"price": "must be at least 0"}`); empty when no field is to blame.'
                        ),
                        "additionalProperties": {"type": "string", "minLength": 1},
                    },
                },
            },
        },
        "parameters": {
            "ItemId": {
                "name": "item_id",
                "in": "path",
                "required": True,
                "description": "The item's `id`.",
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
            },
            "ListId": {
                "name": "list_id",
                "in": "path",
                "required": True,
                "description": "The list's `id`.",
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
            },
            "Sort": {
                "name": "sort",
                "in": "query",
                "required": False,
                "description": (
                    "The order: a key, after `-` to reverse it; newest first by default "
                    "(`-created_at`). `last_price`, `change_percent` and `distance_percent` "
                    "sort on the cached quotes, with the items that have none last in either "
                    "direction; ties stay newest first. Any other key is a 422 listing these."
                ),
                "schema": {
                    "enum": [
                        *validation.SORT_KEYS,
                        *(f"-{key}" for key in validation.SORT_KEYS),
                    ],
                    "default": validation.DEFAULT_SORT,
                },
            },
            "Q": {
                "name": "q",
                "in": "query",
                "required": False,
                "description": (
                    "Only the items whose symbol, name or notes contain this text, whatever "
                    f"its case (trimmed; at most {validation.Q_MAX} characters; `%` and `_` "
                    "are plain characters)."
                ),
                "schema": {
                    "type": "string",
                    "maxLength": validation.Q_MAX,
                    "pattern": _without(validation.CONTROL),
                },
            },
        },
        "requestBodies": {
            "NewItem": {"required": True, "content": _json("NewItem")},
            "ItemChanges": {"required": True, "content": _json("ItemChanges")},
            "ItemChangesOrMove": {"required": True, "content": _json("ItemChangesOrMove")},
            "NewList": {"required": True, "content": _json("NewList")},
            "ListChanges": {"required": True, "content": _json("ListChanges")},
        },
        "responses": {
            "Unauthorized": _error(
                "No bearer token, or one that is not a valid ID token for this API.",
                {
                    "WWW-Authenticate": {
                        "description": (
                            'RFC 6750: `Bearer`, or `Bearer error="invalid_token", '
                            'error_description="..."` when a token was sent.'
                        ),
                        "required": True,
                        "schema": {"type": "string", "pattern": "^Bearer"},
                    }
                },
            ),
            "NotFound": _error(
                "You have no item, or no list, with this id (or it is someone else's)."
            ),
            "ListConflict": _error(
                "You already have a list of this name (whatever its case), or it is your last.",
                example={
                    "detail": "You already have a list named Tech.",
                    "errors": {"name": "is already the name of one of your lists"},
                },
            ),
            "Conflict": _error(
                "The symbol is already on your watchlist.",
                example={
                    "detail": "AAPL is already on your watchlist.",
                    "errors": {"symbol": "is already on your watchlist"},
                },
            ),
            "TooLarge": _error(f"The body is over {max_body_bytes // 1024} KiB."),
            "UnsupportedMediaType": _error(
                "The body is not sent as `Content-Type: application/json` (UTF-8)."
            ),
            "Invalid": _error(
                "The body is not a JSON object, a field breaks its rule (`errors` says which), "
                f"or the watchlist already holds {validation.MAX_ITEMS_PER_USER:,} items.",
                example={
                    "detail": "Some fields are invalid.",
                    "errors": {"price": "must be at least 0", "colour": "is not a known field"},
                },
            ),
            "Unavailable": _error(
                "The identity provider cannot be reached to check the token, or the database "
                "is unavailable. A write answered 503 may or may not have been made: read it "
                "back before repeating it.",
                {
                    "Retry-After": {
                        "description": "Seconds to wait before trying again.",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                    }
                },
            ),
        },
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": (
                    "An OpenID Connect **ID token** from Google (in development, from the "
                    "development sign-in: `uv run watchlist token you@example.com`), issued "
                    "to one of the API's audiences (`API_AUDIENCES`). Paste the token alone, "
                    "without the word Bearer."
                ),
            }
        },
    }


class _Generator(SchemaGenerator):
    """Starlette's generator, with each docstring's prose as its operation's summary."""

    def parse_docstring(self, func_or_method: Callable[..., Any]) -> dict[str, Any]:
        operation = super().parse_docstring(func_or_method)
        if not operation:
            return operation
        prose = inspect.cleandoc((func_or_method.__doc__ or "").split("---")[0])
        summary, _, description = prose.partition("\n")
        described = {"description": description.strip()} if description.strip() else {}
        return {"summary": summary, **described, **operation}


def document(
    routes: Sequence[BaseRoute],
    mount_path: str,
    *,
    max_body_bytes: int,
    aliases: Sequence[BaseRoute] = (),
    aliases_path: str = "",
) -> dict[str, Any]:
    """The OpenAPI document for ``routes``, served under ``mount_path``, and for their
    deprecated ``aliases`` (the earlier service's routes), served under ``aliases_path``."""
    base = {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": (
                "Your own stock watchlist. Every operation but the index needs an OpenID "
                "Connect ID token as `Authorization: Bearer <token>`; you only ever see "
                "and change your own items."
            ),
        },
        "security": [{"bearerAuth": []}],
        "components": components(max_body_bytes),
    }
    return _Generator(base).get_schema(
        [Mount(mount_path, routes=routes), Mount(aliases_path, routes=aliases)]
    )
