"""``clean_entry``: the one validation of a watchlist entry, for the API and the pages."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from webapp.validation import (
    MAX_ITEMS_PER_USER,
    NAME_MAX,
    NOTES_MAX,
    SYMBOL_RULE,
    InvalidEntry,
    Order,
    clean_entry,
    clean_list,
    clean_order,
    clean_transfer,
    named,
    target_errors,
)


def errors_of(data: dict[str, Any], **options: bool) -> dict[str, str]:
    with pytest.raises(InvalidEntry) as caught:
        clean_entry(data, **options)
    return caught.value.errors


NO_TARGETS = {"alert_above": None, "alert_below": None}


def test_a_full_entry_is_cleaned() -> None:
    cleaned = clean_entry(
        {"symbol": " aapl ", "name": " Apple Inc. ", "price": Decimal("187.25"), "notes": "Buy"}
    )
    assert cleaned == {
        "symbol": "AAPL",
        "name": "Apple Inc.",
        "price": Decimal("187.25"),
        "notes": "Buy",
        **NO_TARGETS,
    }


def test_only_the_symbol_is_required_and_the_rest_defaults_to_empty() -> None:
    assert clean_entry({"symbol": "MSFT"}) == {
        "symbol": "MSFT",
        "name": "",
        "price": None,
        "notes": "",
        **NO_TARGETS,
    }


def test_a_missing_symbol_is_required() -> None:
    assert errors_of({"name": "Apple"}) == {"symbol": "is required"}
    assert errors_of({}) == {"symbol": "is required"}


def test_an_invalid_entry_that_escapes_reads_as_its_errors() -> None:
    """What a traceback or a log line shows of it, should one ever go unhandled."""
    with pytest.raises(InvalidEntry) as caught:
        clean_entry({"price": -1})
    assert str(caught.value) == "{'price': 'must be at least 0', 'symbol': 'is required'}"


@pytest.mark.parametrize(
    "symbol",
    [
        "AAPL",
        "BRK.B",
        "BTC-USD",
        "7203.T",
        "^GSPC",
        "EURUSD=X",
        "A",
        "0",
        "A" * 20,
        "^" + "A" * 20,
        "brk.b",
        "  ^gspc\t",
    ],
)
def test_valid_symbols(symbol: str) -> None:
    assert clean_entry({"symbol": symbol})["symbol"] == symbol.strip().upper()


@pytest.mark.parametrize(
    "symbol",
    [
        "",
        "   ",
        "A" * 21,
        "^" + "A" * 21,
        "^",
        "^^A",
        "A^",
        ".A",
        "-A",
        "=A",
        "AA PL",
        "AAPL!",
        "A/B",
        "A_B",
        "AA\nPL",
        "A\x00",
        "\uff21\uff21\uff30\uff2c",  # full-width AAPL: upper() keeps it, the pattern must not
        "ﬀ",  # upper() turns the ligature into ASCII "FF": it must still be refused
        "ß",  # upper() gives "SS"
        "\u0131",  # dotless i: upper() gives ASCII "I"
        "Å",
        "٣",  # an Arabic-Indic digit
        "A\u200b",  # zero-width space
        "\ud800",
    ],
)
def test_invalid_symbols(symbol: str) -> None:
    special = {"": "is required", "   ": "is required", "\ud800": "must be valid Unicode text"}
    assert errors_of({"symbol": symbol}) == {"symbol": special.get(symbol, SYMBOL_RULE)}


def test_the_symbol_rule_names_examples() -> None:
    assert errors_of({"symbol": "A B"}) == {
        "symbol": "must be 1 to 20 letters, digits, '.', '=' or '-', optionally after '^' "
        "(like AAPL, BRK.B, BTC-USD, 7203.T, ^GSPC or EURUSD=X)"
    }


def test_an_empty_symbol_is_required() -> None:
    assert errors_of({"symbol": "  "}) == {"symbol": "is required"}


@pytest.mark.parametrize("field", ["symbol", "name", "notes"])
@pytest.mark.parametrize("value", [["AAPL"], {"a": 1}, 1, Decimal(1), True])
def test_text_fields_must_be_strings(field: str, value: object) -> None:
    data = {"symbol": "AAPL", field: value}
    assert errors_of(data) == {field: "must be a string"}


def test_null_symbol_is_refused_but_null_name_and_notes_are_empty() -> None:
    assert errors_of({"symbol": None}) == {"symbol": "must be a string"}
    cleaned = clean_entry({"symbol": "A", "name": None, "notes": None, "price": None})
    assert cleaned == {"symbol": "A", "name": "", "notes": "", "price": None, **NO_TARGETS}


def test_name_limit() -> None:
    assert clean_entry({"symbol": "A", "name": "n" * NAME_MAX})["name"] == "n" * 255
    assert clean_entry({"symbol": "A", "name": "é" * NAME_MAX})["name"] == "é" * 255
    assert clean_entry({"symbol": "A", "name": "😀" * NAME_MAX})["name"] == "😀" * 255
    assert errors_of({"symbol": "A", "name": "n" * (NAME_MAX + 1)}) == {
        "name": "must be at most 255 characters"
    }


def test_name_is_trimmed_before_its_length_is_checked() -> None:
    assert clean_entry({"symbol": "A", "name": " " + "n" * NAME_MAX + " "})["name"] == "n" * 255


def test_notes_limit() -> None:
    assert clean_entry({"symbol": "A", "notes": "n" * NOTES_MAX})["notes"] == "n" * 2000
    assert errors_of({"symbol": "A", "notes": "n" * (NOTES_MAX + 1)}) == {
        "notes": "must be at most 2,000 characters"
    }


def test_notes_line_breaks_are_normalised_before_the_length_is_checked() -> None:
    notes = "\r\n".join(["ab"] * 667)  # 2,666 characters sent, 2,000 once CRLF is LF
    assert clean_entry({"symbol": "A", "notes": notes})["notes"] == "\n".join(["ab"] * 667)
    assert errors_of({"symbol": "A", "notes": notes + "\r\na"}) == {
        "notes": "must be at most 2,000 characters"
    }


@pytest.mark.parametrize("character", ["\x00", "\x07", "\x1b", "\x7f", "\n", "\t", "\r"])
def test_the_name_refuses_control_characters(character: str) -> None:
    assert errors_of({"symbol": "A", "name": f"a{character}b"}) == {
        "name": "must not contain control characters"
    }


@pytest.mark.parametrize("character", ["\x00", "\x07", "\x0b", "\x0c", "\x1b", "\x7f"])
def test_notes_refuse_control_characters(character: str) -> None:
    assert errors_of({"symbol": "A", "notes": f"a{character}b"}) == {
        "notes": "must not contain control characters other than line breaks and tabs"
    }


def test_notes_keep_line_breaks_and_tabs() -> None:
    notes = "line one\n\tline two\r\nline three"
    assert clean_entry({"symbol": "A", "notes": notes})["notes"] == (
        "line one\n\tline two\nline three"
    )


@pytest.mark.parametrize("field", ["symbol", "name", "notes"])
@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "\udc00\ud800"])
def test_lone_surrogates_are_refused(field: str, text: str) -> None:
    data = {"symbol": "A", field: text}
    assert errors_of(data) == {field: "must be valid Unicode text"}


def test_a_surrogate_pair_decoded_from_json_is_one_character() -> None:
    name = json.loads('"\\ud83d\\ude00"')
    assert clean_entry({"symbol": "A", "name": name})["name"] == "😀"


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        (Decimal(0), Decimal("0.0000")),
        (0, Decimal(0)),
        (Decimal("0.0001"), Decimal("0.0001")),
        (Decimal("187.25"), Decimal("187.25")),
        (Decimal("999999999999.9999"), Decimal("999999999999.9999")),
        (Decimal("1.10000"), Decimal("1.1")),  # trailing zeros are not decimal places
        (Decimal("1E+2"), Decimal(100)),
        (Decimal("-0"), Decimal(0)),
        (187, Decimal(187)),
        (999_999_999_999, Decimal(999_999_999_999)),
        (2.5, Decimal("2.5")),
        (0.1, Decimal("0.1")),
    ],
)
def test_valid_prices(price: int | float | Decimal, expected: Decimal) -> None:
    cleaned = clean_entry({"symbol": "A", "price": price})["price"]
    assert cleaned == expected
    assert isinstance(cleaned, Decimal)
    assert not cleaned.is_signed()


def test_a_price_is_kept_with_four_places() -> None:
    cleaned = clean_entry({"symbol": "A", "price": Decimal("123456789012.3457")})["price"]
    assert str(cleaned) == "123456789012.3457"


@pytest.mark.parametrize(
    ("price", "message"),
    [
        (Decimal(10) ** 12, "must be less than 1,000,000,000,000"),
        (10**12, "must be less than 1,000,000,000,000"),
        (Decimal("1E+5000"), "must be less than 1,000,000,000,000"),
        pytest.param(10**5000, "must be less than 1,000,000,000,000", id="10**5000"),
        (1e300, "must be less than 1,000,000,000,000"),
        (Decimal("-0.01"), "must be at least 0"),
        (Decimal("-0.0001"), "must be at least 0"),
        (-1, "must be at least 0"),
        (Decimal("0.00001"), "must have at most 4 decimal places"),
        (Decimal("187.12345"), "must have at most 4 decimal places"),
        (Decimal("999999999999.99999"), "must have at most 4 decimal places"),
        (Decimal("1E-5000"), "must have at most 4 decimal places"),
        (Decimal("NaN"), "must be a finite number"),
        (Decimal("-NaN"), "must be a finite number"),
        (Decimal("sNaN"), "must be a finite number"),
        (Decimal("Infinity"), "must be a finite number"),
        (Decimal("-Infinity"), "must be a finite number"),
        (float("nan"), "must be a finite number"),
        (float("inf"), "must be a finite number"),
        (float("-inf"), "must be a finite number"),
        (True, "must be a number or null"),
        (False, "must be a number or null"),
        ("187.25", "must be a number or null"),
        ("", "must be a number or null"),
        ([1], "must be a number or null"),
        ({"amount": 1}, "must be a number or null"),
    ],
)
def test_invalid_prices(price: object, message: str) -> None:
    assert errors_of({"symbol": "A", "price": price}) == {"price": message}


def test_unknown_fields_are_named() -> None:
    assert errors_of({"symbol": "A", "ticker": "B", "Symbol": "C"}) == {
        "ticker": "is not a known field",
        "Symbol": "is not a known field",
    }


@pytest.mark.parametrize("field", ["id", "created_at", "updated_at"])
def test_read_only_fields_are_named(field: str) -> None:
    assert errors_of({"symbol": "A", field: 1}) == {field: "is read-only"}
    assert errors_of({field: 1}, partial=True) == {field: "is read-only"}


def test_every_broken_field_is_reported_at_once() -> None:
    errors = errors_of(
        {"symbol": "a b", "name": "n" * 256, "price": -1, "notes": 1, "id": 3, "extra": 0}
    )
    assert set(errors) == {"symbol", "name", "price", "notes", "id", "extra"}


def test_partial_takes_any_subset_and_adds_no_defaults() -> None:
    assert clean_entry({}, partial=True) == {}
    assert clean_entry({"notes": "x"}, partial=True) == {"notes": "x"}
    assert clean_entry({"price": None}, partial=True) == {"price": None}
    assert clean_entry({"symbol": "brk.b"}, partial=True) == {"symbol": "BRK.B"}


def test_partial_still_validates_what_it_is_given() -> None:
    assert errors_of({"symbol": ""}, partial=True) == {"symbol": "is required"}
    assert errors_of({"symbol": None}, partial=True) == {"symbol": "must be a string"}
    assert errors_of({"price": Decimal("0.00001")}, partial=True) == {
        "price": "must have at most 4 decimal places"
    }
    assert errors_of({"colour": "red"}, partial=True) == {"colour": "is not a known field"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("187.25", Decimal("187.25")),
        (" 187.25 ", Decimal("187.25")),
        ("0", Decimal(0)),
        ("999999999999.9999", Decimal("999999999999.9999")),
        ("1e2", Decimal(100)),
        ("", None),
        ("   ", None),
    ],
)
def test_form_prices_are_read_from_text(text: str, expected: Decimal | None) -> None:
    cleaned = clean_entry({"symbol": "A", "price": text}, from_form=True)
    assert cleaned["price"] == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "must be a number, like 187.25"),
        ("1,5", "must be a number, like 187.25"),
        ("$5", "must be a number, like 187.25"),
        ("NaN", "must be a finite number"),
        ("Infinity", "must be a finite number"),
        ("-inf", "must be a finite number"),
        ("1000000000000", "must be less than 1,000,000,000,000"),
        ("-0.01", "must be at least 0"),
        ("1.23456", "must have at most 4 decimal places"),
        ("\ud800", "must be a number, like 187.25"),
    ],
)
def test_invalid_form_prices(text: str, message: str) -> None:
    assert errors_of({"symbol": "A", "price": text}, from_form=True) == {"price": message}


def test_a_form_has_the_same_text_rules() -> None:
    cleaned = clean_entry(
        {"symbol": " gspc ", "name": " S&P ", "price": "", "notes": "a\r\nb"}, from_form=True
    )
    assert cleaned == {
        "symbol": "GSPC",
        "name": "S&P",
        "price": None,
        "notes": "a\nb",
        **NO_TARGETS,
    }
    assert errors_of({"symbol": "A", "name": "a\x00"}, from_form=True) == {
        "name": "must not contain control characters"
    }


def test_the_item_limit_is_a_thousand() -> None:
    assert MAX_ITEMS_PER_USER == 1000


def test_targets_are_prices_and_below_must_be_less_than_above() -> None:
    cleaned = clean_entry({"symbol": "A", "alert_above": Decimal("200"), "alert_below": 150})
    assert (cleaned["alert_above"], cleaned["alert_below"]) == (Decimal("200"), Decimal("150"))
    assert clean_entry({"symbol": "A", "alert_above": 5})["alert_below"] is None
    form = clean_entry({"symbol": "A", "alert_above": " 1.5 ", "alert_below": ""}, from_form=True)
    assert (form["alert_above"], form["alert_below"]) == (Decimal("1.5"), None)
    both = {
        "alert_above": "must be greater than alert_below",
        "alert_below": "must be less than alert_above",
    }
    for above, below in ((150, 200), (150, 150), (Decimal("0.0001"), Decimal("0.0001"))):
        assert errors_of({"symbol": "A", "alert_above": above, "alert_below": below}) == both
    # Each field's own rule first, and then no comparison.
    assert errors_of({"symbol": "A", "alert_above": -1, "alert_below": 5}) == {
        "alert_above": "must be at least 0"
    }
    assert errors_of({"symbol": "A", "alert_above": "x", "alert_below": "1"}, from_form=True) == {
        "alert_above": "must be a number, like 187.25"
    }
    assert errors_of({"symbol": "A", "alert_below": Decimal("1.00001")}) == {
        "alert_below": "must have at most 4 decimal places"
    }
    # A change of one target is checked against the other by the caller.
    assert target_errors({"alert_above": Decimal(1), "alert_below": Decimal(2)}) == both
    assert target_errors({"alert_above": Decimal(2), "alert_below": Decimal(1)}) == {}
    assert target_errors({"alert_above": Decimal(2), "alert_below": None}) == {}


@pytest.mark.parametrize(
    ("sort", "q", "expected"),
    [
        (None, None, Order("created_at", True, "")),
        (None, "", Order("created_at", True, "")),
        ("symbol", None, Order("symbol", False, "")),
        ("-change_percent", " bank ", Order("change_percent", True, "bank")),
        ("distance_percent", "50%_off", Order("distance_percent", False, "50%_off")),
        ("price", "Société", Order("price", False, "Société")),
    ],
)
def test_sort_and_filter_parameters(sort: str | None, q: str | None, expected: Order) -> None:
    assert clean_order(sort, q) == expected
    assert clean_order(expected.sort, expected.q) == expected


SORT_RULE = (
    "must be one of symbol, name, last_price, change_percent, distance_percent, price, "
    "created_at, each optionally after '-' to reverse it"
)


@pytest.mark.parametrize(
    ("sort", "q", "field", "rule"),
    [
        ("colour", None, "sort", SORT_RULE),
        ("--price", None, "sort", SORT_RULE),
        ("+price", None, "sort", SORT_RULE),
        ("", None, "sort", SORT_RULE),
        (" symbol", None, "sort", SORT_RULE),
        (None, "x" * 101, "q", "must be at most 100 characters"),
        (None, "a\x00b", "q", "must not contain control characters"),
        (None, "\ud800", "q", "must be valid Unicode text"),
    ],
)
def test_bad_sort_and_filter_parameters_name_their_rule(
    sort: str | None, q: str | None, field: str, rule: str
) -> None:
    with pytest.raises(InvalidEntry) as raised:
        clean_order(sort, q)
    assert raised.value.errors == {field: rule}


LIST_ID_RULE = "must be a list's id, a whole number from 1"


@pytest.mark.parametrize(
    ("list_id", "expected"),
    [
        (1, 1),
        (Decimal(7), 7),
        (Decimal("7.000"), 7),
        (2**63 - 1, 2**63 - 1),  # the largest id a BIGINT holds
    ],
)
def test_a_move_names_its_list_by_id(list_id: int | Decimal, expected: int) -> None:
    cleaned = clean_entry({"list_id": list_id}, partial=True, movable=True)
    assert cleaned == {"list_id": expected}
    assert type(cleaned["list_id"]) is int
    moved = clean_entry({"symbol": "a", "list_id": list_id}, partial=True, movable=True)
    assert moved == {"symbol": "A", "list_id": expected}


@pytest.mark.parametrize(
    ("list_id", "message"),
    [
        (0, LIST_ID_RULE),
        (-1, LIST_ID_RULE),
        (2**63, LIST_ID_RULE),
        (Decimal("1.5"), LIST_ID_RULE),
        (Decimal("1E+30"), LIST_ID_RULE),
        ("1", "must be a list's id, a whole number"),
        (1.0, "must be a list's id, a whole number"),
        (True, "must be a list's id, a whole number"),
        (None, "must be a list's id, a whole number"),
        (Decimal("NaN"), "must be a list's id, a whole number"),
        (Decimal("Infinity"), "must be a list's id, a whole number"),
    ],
)
def test_a_move_to_what_is_not_a_list_id_is_refused(list_id: object, message: str) -> None:
    assert errors_of({"list_id": list_id}, partial=True, movable=True) == {"list_id": message}
    # Every field's error at once, and no move when another field is broken.
    both = errors_of({"symbol": "", "list_id": list_id}, partial=True, movable=True)
    assert both == {"symbol": "is required", "list_id": message}
    assert errors_of({"symbol": "", "list_id": 1}, partial=True, movable=True) == {
        "symbol": "is required"
    }


def test_a_change_that_may_move_need_not() -> None:
    assert clean_entry({"symbol": "a"}, partial=True, movable=True) == {"symbol": "A"}
    assert clean_entry({}, partial=True, movable=True) == {}


@pytest.mark.parametrize("list_id", [1, 0, "x"])
def test_only_a_move_takes_a_list_id(list_id: object) -> None:
    unknown = {"list_id": "is not a known field"}
    assert errors_of({"list_id": list_id}, partial=True) == unknown
    assert errors_of({"symbol": "A", "list_id": list_id}) == unknown


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"list_id": "1", "action": "move"}, (1, "move")),
        ({"list_id": " 42 ", "action": "copy"}, (42, "copy")),
        ({"list_id": "0042", "action": "copy"}, (42, "copy")),
        ({"list_id": "9223372036854775807", "action": "move"}, (2**63 - 1, "move")),
        ({"list_id": "0" * 18 + "9", "action": "move"}, (9, "move")),
    ],
)
def test_a_transfer_form_names_a_list_and_move_or_copy(
    values: dict[str, str], expected: tuple[int, str]
) -> None:
    assert clean_transfer(values) == expected


REQUIRED_LIST = {"list_id": "is required: choose one of your lists"}
NOT_A_LIST = {"list_id": LIST_ID_RULE}
MOVE_OR_COPY = {"action": "must be move or copy"}


@pytest.mark.parametrize(
    ("values", "errors"),
    [
        ({"action": "move"}, REQUIRED_LIST),
        ({"list_id": "", "action": "move"}, REQUIRED_LIST),
        ({"list_id": " \t", "action": "copy"}, REQUIRED_LIST),
        ({"list_id": "0", "action": "move"}, NOT_A_LIST),
        ({"list_id": "-1", "action": "move"}, NOT_A_LIST),
        ({"list_id": "+1", "action": "move"}, NOT_A_LIST),
        ({"list_id": "1.0", "action": "move"}, NOT_A_LIST),
        ({"list_id": "1e3", "action": "move"}, NOT_A_LIST),
        ({"list_id": "\u0663", "action": "move"}, NOT_A_LIST),  # an Arabic-Indic 3
        ({"list_id": "9223372036854775808", "action": "move"}, NOT_A_LIST),  # 2**63
        ({"list_id": "9" * 19, "action": "move"}, NOT_A_LIST),
        ({"list_id": "0" * 19 + "1", "action": "move"}, NOT_A_LIST),  # 20 characters
        ({"list_id": "9" * 5000, "action": "move"}, NOT_A_LIST),  # past int()'s digits
        ({"list_id": "1"}, MOVE_OR_COPY),
        ({"list_id": "1", "action": ""}, MOVE_OR_COPY),
        ({"list_id": "1", "action": "Move"}, MOVE_OR_COPY),
        ({"list_id": "1", "action": " copy"}, MOVE_OR_COPY),
        ({}, REQUIRED_LIST | MOVE_OR_COPY),
        ({"list_id": "0", "action": "delete"}, NOT_A_LIST | MOVE_OR_COPY),
    ],
)
def test_a_bad_transfer_form_names_each_fields_rule(
    values: dict[str, str], errors: dict[str, str]
) -> None:
    with pytest.raises(InvalidEntry) as raised:
        clean_transfer(values)
    assert raised.value.errors == errors


def test_only_the_newest_first_unfiltered_order_is_the_default() -> None:
    assert Order().is_default
    assert clean_order("-created_at", " ").is_default
    for order in (Order("created_at", False), Order("symbol"), Order(q="bank")):
        assert not order.is_default, order


def test_the_filter_is_at_most_100_characters_once_trimmed() -> None:
    assert clean_order(None, " " + "x" * 100 + " ").q == "x" * 100
    with pytest.raises(InvalidEntry) as raised:
        clean_order(None, "x" * 101)
    assert raised.value.errors == {"q": "must be at most 100 characters"}


def test_the_filter_is_refused_for_a_control_character_trimming_would_remove() -> None:
    with pytest.raises(InvalidEntry) as raised:
        clean_order(None, "bank\t")
    assert raised.value.errors == {"q": "must not contain control characters"}


def test_a_bad_sort_and_a_bad_filter_are_named_together() -> None:
    with pytest.raises(InvalidEntry) as raised:
        clean_order("colour", "\ud800")
    assert raised.value.errors == {"sort": SORT_RULE, "q": "must be valid Unicode text"}


def list_errors_of(data: dict[str, Any], **options: bool) -> dict[str, str]:
    with pytest.raises(InvalidEntry) as caught:
        clean_list(data, **options)
    return caught.value.errors


@pytest.mark.parametrize("partial", [False, True])
def test_a_lists_name_is_trimmed(partial: bool) -> None:
    assert clean_list({"name": "  Tech giants\u00a0"}, partial=partial) == {"name": "Tech giants"}
    assert clean_list({"name": "n" * 100}, partial=partial) == {"name": "n" * 100}
    assert clean_list({"name": " " + "é" * 100 + " "}, partial=partial) == {"name": "é" * 100}


@pytest.mark.parametrize("partial", [False, True])
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "is required"),
        (" \t ", "is required"),
        ("n" * 101, "must be at most 100 characters"),
        ("a\x00b", "must not contain control characters"),
        ("a\nb", "must not contain control characters"),
        ("a\x7fb", "must not contain control characters"),
        ("\ud800", "must be valid Unicode text"),
        (None, "must be a string"),
        (1, "must be a string"),
        (["Tech"], "must be a string"),
    ],
)
def test_a_bad_list_name_names_its_rule(partial: bool, name: object, message: str) -> None:
    assert list_errors_of({"name": name}, partial=partial) == {"name": message}


def test_a_new_list_needs_a_name_and_takes_nothing_else() -> None:
    assert clean_list({"name": "Tech"}) == {"name": "Tech"}
    assert list_errors_of({}) == {"name": "is required"}
    assert list_errors_of({"name": "A", "position": 0}) == {"position": "is not a known field"}
    assert list_errors_of({"name": "A", "colour": "red"}) == {"colour": "is not a known field"}


@pytest.mark.parametrize("field", ["id", "item_count", "created_at"])
@pytest.mark.parametrize("partial", [False, True])
def test_a_lists_read_only_fields_are_named(field: str, partial: bool) -> None:
    assert list_errors_of({"name": "A", field: 1}, partial=partial) == {field: "is read-only"}


@pytest.mark.parametrize(
    ("position", "expected"),
    [(0, 0), (19, 19), (Decimal(3), 3), (Decimal("3.000"), 3), (Decimal("-0"), 0)],
)
def test_a_change_may_move_a_list_to_a_position(position: int | Decimal, expected: int) -> None:
    cleaned = clean_list({"position": position}, partial=True)
    assert cleaned == {"position": expected}
    assert type(cleaned["position"]) is int
    both = clean_list({"name": " B ", "position": position}, partial=True)
    assert both == {"name": "B", "position": expected}


POSITION_RANGE = "must be a whole number from 0 to 19"


@pytest.mark.parametrize(
    ("position", "message"),
    [
        (20, POSITION_RANGE),
        (-1, POSITION_RANGE),
        (10**30, POSITION_RANGE),
        (Decimal("1.5"), POSITION_RANGE),
        (Decimal("19.0001"), POSITION_RANGE),
        (Decimal("-0.5"), POSITION_RANGE),
        ("1", "must be a whole number"),
        (1.0, "must be a whole number"),
        (True, "must be a whole number"),
        (None, "must be a whole number"),
        (Decimal("NaN"), "must be a whole number"),
        (Decimal("Infinity"), "must be a whole number"),
    ],
)
def test_a_bad_position_names_its_rule(position: object, message: str) -> None:
    assert list_errors_of({"position": position}, partial=True) == {"position": message}


def test_a_change_to_a_list_takes_any_of_its_fields_and_names_every_broken_one() -> None:
    assert clean_list({}, partial=True) == {}
    assert list_errors_of({"name": "", "position": 20, "id": 1, "x": 0}, partial=True) == {
        "name": "is required",
        "position": POSITION_RANGE,
        "id": "is read-only",
        "x": "is not a known field",
    }


def test_a_providers_name_is_kept_only_when_it_keeps_the_rules() -> None:
    assert named(" Apple Inc. ") == {"name": "Apple Inc."}
    assert named("") == {"name": ""}
    assert named("n" * 256) == {}
    assert named("Apple\x00") == {}
    assert named("\ud800") == {}
