"""Money: the same digits out as went in, in pages, forms and JSON."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from webapp import money


@pytest.mark.parametrize(
    ("price", "plain", "display"),
    [
        (Decimal("100"), "100", "100.00"),
        (Decimal("1E+2"), "100", "100.00"),  # what Decimal.normalize() makes of 100
        (Decimal("100.0000"), "100", "100.00"),  # as DECIMAL(16, 4) comes back
        (Decimal("187.25"), "187.25", "187.25"),
        (Decimal("0.0001"), "0.0001", "0.0001"),
        (Decimal("1E-4"), "0.0001", "0.0001"),
        (Decimal("0"), "0", "0.00"),
        (Decimal("0E-4"), "0", "0.00"),
        (Decimal("-0"), "0", "0.00"),
        (Decimal("1234.5"), "1234.5", "1,234.50"),
        (Decimal("999999999999.0003"), "999999999999.0003", "999,999,999,999.0003"),
        (Decimal("999999999999.9999"), "999999999999.9999", "999,999,999,999.9999"),
        (Decimal("-3.5"), "-3.5", "-3.50"),  # a day's change can be negative
        (Decimal("-1234.5678"), "-1234.5678", "-1,234.5678"),
    ],
)
def test_plain_and_display_keep_every_digit(price: Decimal, plain: str, display: str) -> None:
    assert money.plain(price) == plain
    assert money.form_value(price) == plain
    assert money.display(price) == display
    assert "E" not in money.plain(price) + money.display(price)
    assert Decimal(money.plain(price)) == price


def test_no_price_is_empty_everywhere() -> None:
    assert money.form_value(None) == ""
    assert money.display(None) == ""
    assert money.to_json(None) is None


@pytest.mark.parametrize(
    ("price", "written"),
    [
        (Decimal("999999999999.0003"), "999999999999.0003"),
        (Decimal("100.0000"), "100"),
        (Decimal("1E+2"), "100"),
        (Decimal("0.1000"), "0.1"),
        (Decimal("0E-4"), "0"),
    ],
)
def test_json_numbers_carry_the_exact_digits(price: Decimal, written: str) -> None:
    text = money.dumps({"price": money.to_json(price), "name": "é"}).decode()
    assert text == f'{{"price":{written},"name":"é"}}'
    assert json.loads(text, parse_float=Decimal)["price"] == price


def test_json_as_floats_would_round() -> None:
    """Why dumps exists: the standard library goes through float, which cannot hold it."""
    assert json.dumps(float(Decimal("999999999999.0003"))) == "999999999999.0002"


def test_dumps_refuses_what_is_not_json() -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        money.dumps({"price": float("nan")})


@pytest.mark.parametrize(
    ("value", "from_form", "expected"),
    [
        ("187.25", True, Decimal("187.25")),
        (" 100 ", True, Decimal("100")),
        ("", True, None),
        (None, False, None),
        (Decimal("0.0001"), False, Decimal("0.0001")),
        (12, False, Decimal(12)),
        (0.5, False, Decimal("0.5")),
        (Decimal("-0"), False, Decimal(0)),
    ],
)
def test_parse(value: object, from_form: bool, expected: Decimal | None) -> None:
    parsed = money.parse(value, from_form=from_form)
    assert parsed == expected
    if parsed is not None:
        assert not parsed.is_signed()


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("abc", "must be a number, like 187.25"),
        (True, "must be a number or null"),
        ("1", "must be a number or null"),  # text is a form's, not JSON's
        (Decimal("NaN"), "must be a finite number"),
        (Decimal("-0.01"), "must be at least 0"),
        (money.LIMIT, "must be less than 1,000,000,000,000"),
        (Decimal("0.00001"), "must have at most 4 decimal places"),
    ],
)
def test_parse_names_the_rule(value: object, rule: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(rule)}$"):
        money.parse(value, from_form=value == "abc")


def test_text_is_a_price_only_from_a_form() -> None:
    """JSON's price is a number: the same text a form may send is refused by default."""
    with pytest.raises(ValueError, match="must be a number or null"):
        money.parse("187.25")
    assert money.parse("187.25", from_form=True) == Decimal("187.25")


def test_a_huge_integer_is_over_the_limit_not_an_error_of_python() -> None:
    """An int is read as it is: through text, one of 5,000 digits would hit Python's
    4,300-digit limit on int-to-str conversion and say so instead of the rule."""
    with pytest.raises(ValueError, match=r"^must be less than 1,000,000,000,000$"):
        money.parse(10**5000)


def test_a_float_is_read_by_its_shortest_repr() -> None:
    """0.1 as a float is 0.1000000000000000055...: read by its repr, it is 0.1."""
    assert money.parse(0.1) == Decimal("0.1")
    assert money.parse(1234.5678) == Decimal("1234.5678")


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        (None, ""),
        (Decimal("1.25"), "+1.25"),
        (Decimal("0.5"), "+0.50"),
        (Decimal("0.0001"), "+0.0001"),
        (Decimal("0"), "0.00"),
        (Decimal("-0.03"), "-0.03"),
        (Decimal("-1234.5"), "-1,234.50"),
    ],
)
def test_a_change_shows_its_sign(change: Decimal | None, shown: str) -> None:
    assert money.signed(change) == shown
