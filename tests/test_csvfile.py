"""CSV in and out of a list: the export, a file's rows, and each row through the one
validation of an entry."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp import csvfile, validation
from webapp.csvfile import COLUMNS, MAX_BYTES, MAX_ROWS, InvalidCsv, InvalidRow, Row
from webapp.store import Item

DATA = Path(__file__).parent / "data" / "csv"
HEADER = "symbol,name,price,notes,alert_above,alert_below,created_at\r\n"
ADDED = datetime(2024, 1, 2, 15, 4, 5)
ADDED_TEXT = "2024-01-02T15:04:05Z"


def item(symbol: str, **fields: Any) -> Item:
    """An item as the store returns it, with empty fields unless given."""
    values: dict[str, Any] = {
        "name": "",
        "price": None,
        "notes": "",
        "alert_above": None,
        "alert_below": None,
        "created_at": ADDED,
        **fields,
    }
    return Item(id=1, symbol=symbol, updated_at=values["created_at"], list_id=1, **values)


def stored(entry: Item) -> dict[str, Any]:
    """What an import should store for the item: every field a form takes, and its time."""
    return {field: getattr(entry, field) for field in (*validation.FIELDS, "created_at")}


def cells(text: str) -> list[list[str]]:
    """The export's cells, as a spreadsheet reads them."""
    return list(csv.reader(io.StringIO(text, newline="")))


def csv_bytes(*lines: str, end: str = "\r\n") -> bytes:
    return "".join(line + end for line in lines).encode()


def refused(data: bytes) -> str:
    with pytest.raises(InvalidCsv) as caught:
        csvfile.parse(data)
    message = caught.value.message
    assert message == str(caught.value)
    assert message[0].isupper()
    assert message.endswith(".")
    return message


def imported(data: bytes) -> tuple[list[tuple[int, dict[str, Any]]], list[dict[str, Any]]]:
    return csvfile.clean_rows(csvfile.parse(data))


# The export.


def test_the_export_has_the_header_then_one_row_per_item_with_minimal_quoting() -> None:
    text = csvfile.export(
        [
            item("AAPL", name="Apple Inc.", price=Decimal("187.25"), notes="Buy"),
            item(
                "BRK.B",
                name='Berkshire "B", class B',
                notes="line one\nline two",
                alert_above=Decimal("400"),
                alert_below=Decimal("300.5"),
                created_at=datetime(2025, 6, 7, 8, 9, 10, 123456),
            ),
        ]
    )
    assert text == (
        HEADER
        + "AAPL,Apple Inc.,187.25,Buy,,,2024-01-02T15:04:05Z\r\n"
        + 'BRK.B,"Berkshire ""B"", class B",,"line one\nline two",400,300.5,'
        + "2025-06-07T08:09:10.123456Z\r\n"
    )
    assert text.splitlines()[0].split(",") == list(COLUMNS)


def test_an_empty_list_exports_only_the_header() -> None:
    assert csvfile.export([]) == HEADER


def test_an_aware_time_is_exported_in_utc() -> None:
    paris = timezone(timedelta(hours=2))
    text = csvfile.export([item("AAPL", created_at=datetime(2024, 1, 2, 17, 4, 5, tzinfo=paris))])
    assert text.endswith(",2024-01-02T15:04:05Z\r\n")


@pytest.mark.parametrize("formula", ["=1+1", "+1", "-1", "@SUM(A1)", "\tleading tab", "\rx"])
def test_a_formula_cell_is_neutralised_and_restored_on_import(formula: str) -> None:
    text = csvfile.export([item("AAPL", name=formula, notes=formula)])
    assert cells(text)[1] == ["AAPL", f"'{formula}", "", f"'{formula}", "", "", ADDED_TEXT]
    [row] = csvfile.parse(text.encode())
    assert row.values["name"] == formula
    assert row.values["notes"] == formula


@pytest.mark.parametrize("cell", ["'=1+1", "''-1", "'quoted", "'", "it's =1"])
def test_a_cell_that_starts_with_a_quote_comes_back_as_it_was(cell: str) -> None:
    [row] = csvfile.parse(csvfile.export([item("AAPL", name=cell)]).encode())
    assert row.values["name"] == cell


def test_only_the_quote_before_a_formula_character_is_removed_on_import() -> None:
    data = csv_bytes("symbol,name,notes", "AAPL,'=HYPERLINK(x),'not a formula")
    [row] = csvfile.parse(data)
    assert row.values == {"symbol": "AAPL", "name": "=HYPERLINK(x)", "notes": "'not a formula"}


@pytest.mark.parametrize("symbol", ["^GSPC", "BTC-USD", "BRK.B", "EURUSD=X", "7203.T"])
def test_symbols_export_as_themselves(symbol: str) -> None:
    assert cells(csvfile.export([item(symbol)]))[1] == [symbol, "", "", "", "", "", ADDED_TEXT]


@pytest.mark.parametrize("price", ["999999999999.9999", "0.0001", "100", "0", "187.25"])
def test_exact_prices_round_trip(price: str) -> None:
    exact = Decimal(price)
    entry = item("AAPL", price=exact, alert_above=exact, alert_below=None)
    text = csvfile.export([entry, item("MSFT", price=Decimal("100.0000"))])
    assert text.splitlines()[1] == f"AAPL,,{price},,{price},,2024-01-02T15:04:05Z"
    assert text.splitlines()[2].split(",")[2] == "100"
    good, skipped = imported(text.encode())
    assert skipped == []
    assert good[0][1]["price"] == exact
    assert good[0][1]["alert_above"] == exact
    assert str(good[1][1]["price"]) == "100.0000"


VARIED = [
    item("AAPL", name="Apple Inc.", price=Decimal("187.25"), notes="Buy under 180"),
    item("^GSPC", name="S&P 500", notes="index, for comparison"),
    item("7203.T", name="トヨタ自動車", price=Decimal("2527.5"), notes="円建て; 長期"),
    item("MUV2.DE", name="Münchener Rück", notes='say "Rück", not "Ruck"'),
    item("BTC-USD", name="Bitcoin 🚀", price=Decimal("0.0001"), notes="one\ntwo\n\nthree"),
    item("EURUSD=X", name="EUR/USD; spot", notes="tab\tinside", created_at=datetime(2020, 2, 29)),
    item("BRK.B", name="=cmd|' /C calc'!A0", notes="-5% since March; +3 today"),
    item(
        "MSFT",
        name="Microsoft, Corp.",
        price=Decimal("999999999999.9999"),
        alert_above=Decimal("500"),
        alert_below=Decimal("300.0001"),
        created_at=datetime(2025, 12, 31, 23, 59, 59, 999999),
    ),
]


def test_export_then_import_gives_back_the_same_values() -> None:
    text = csvfile.export(VARIED)
    rows = csvfile.parse(text.encode())
    good, skipped = csvfile.clean_rows(rows)
    assert skipped == []
    assert [values for _, values in good] == [stored(entry) for entry in VARIED]
    # Each row's line is where it starts: notes with line breaks take more than one.
    assert [line for line, _ in good] == [2, 3, 4, 5, 6, 10, 11, 12]


def test_an_export_saved_with_a_bom_imports_the_same() -> None:
    text = csvfile.export(VARIED)
    good, skipped = imported(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert skipped == []
    assert [values for _, values in good] == [stored(entry) for entry in VARIED]


# Text a person can store in a name or in notes: no control characters but tab and LF.
STORABLE = st.text(
    st.characters(exclude_categories=("Cs", "Cc"), include_characters="\t\n"),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(name=STORABLE, notes=STORABLE)
def test_any_text_survives_export_and_parse(name: str, notes: str) -> None:
    [row] = csvfile.parse(csvfile.export([item("AAPL", name=name, notes=notes)]).encode())
    assert row.values["name"] == name
    assert row.values["notes"] == notes


# The file name of a download.


@pytest.mark.parametrize(
    ("list_name", "header"),
    [
        ("Tech", "attachment; filename=\"Tech.csv\"; filename*=UTF-8''Tech.csv"),
        (
            'Dividends "2025"',
            "attachment; filename=\"Dividends 2025.csv\"; filename*=UTF-8''Dividends%202025.csv",
        ),
        (
            "Café & Crème",
            'attachment; filename="Cafe & Creme.csv"; '
            "filename*=UTF-8''Caf%C3%A9%20%26%20Cr%C3%A8me.csv",
        ),
        (
            "../../etc/passwd",
            "attachment; filename=\"etc_passwd.csv\"; filename*=UTF-8''etc_passwd.csv",
        ),
        (
            "🚀📈",
            "attachment; filename=\"watchlist.csv\"; filename*=UTF-8''%F0%9F%9A%80%F0%9F%93%88.csv",
        ),
        ("back\\slash", "attachment; filename=\"backslash.csv\"; filename*=UTF-8''backslash.csv"),
        ("a\u202evsc.exe", "attachment; filename=\"avsc.exe.csv\"; filename*=UTF-8''avsc.exe.csv"),
        ("two\nlines\r", "attachment; filename=\"two_lines.csv\"; filename*=UTF-8''two_lines.csv"),
        ("C:\\x<y>|z?*", "attachment; filename=\"C_x_y_z.csv\"; filename*=UTF-8''C_x_y_z.csv"),
        ("...", "attachment; filename=\"watchlist.csv\"; filename*=UTF-8''watchlist.csv"),
        ("", "attachment; filename=\"watchlist.csv\"; filename*=UTF-8''watchlist.csv"),
    ],
)
def test_content_disposition_names_the_file_after_the_list(list_name: str, header: str) -> None:
    assert csvfile.content_disposition(list_name) == header
    header.encode("ascii")


def test_content_disposition_keeps_the_name_in_the_utf8_form() -> None:
    header = csvfile.content_disposition("Mes valeurs préférées")
    encoded = header.split("filename*=UTF-8''")[1]
    assert unquote(encoded) == "Mes valeurs préférées.csv"
    assert 'filename="Mes valeurs preferees.csv"' in header


# Reading a file.


def test_a_bom_is_not_part_of_the_first_column_name() -> None:
    [row] = csvfile.parse(b"\xef\xbb\xbf" + csv_bytes("Symbol,Name", "AAPL,Apple"))
    assert row == Row(2, {"symbol": "AAPL", "name": "Apple"})


def test_a_semicolon_file_from_a_spreadsheet() -> None:
    rows = csvfile.parse((DATA / "excel-semicolon.csv").read_bytes())
    assert [row.line for row in rows] == [2, 3, 4, 7]
    assert rows[2].values == {
        "symbol": "MUV2.DE",
        "name": "Münchener Rück, AG",
        "price": "",
        "notes": "zwei\r\nZeilen",
    }
    good, skipped = csvfile.clean_rows(rows)
    # Prices are written with a point: a decimal comma breaks the rule, as in the form.
    assert skipped == [{"line": 2, "reason": "price must be a number, like 187.25"}]
    assert [(line, values["symbol"]) for line, values in good] == [
        (3, "SIE.DE"),
        (4, "MUV2.DE"),
        (7, "BMW.DE"),
    ]
    assert good[0][1]["notes"] == "Notiz; mit Semikolon"
    assert good[1][1]["notes"] == "zwei\nZeilen"


def test_the_separator_is_sniffed_from_the_header_line_only() -> None:
    rows = csvfile.parse(csv_bytes("symbol,notes", "AAPL,a;b;c;d", "MSFT,;;;"))
    assert [row.values for row in rows] == [
        {"symbol": "AAPL", "notes": "a;b;c;d"},
        {"symbol": "MSFT", "notes": ";;;"},
    ]
    # Separators inside a quoted header cell do not count.
    [row] = csvfile.parse(csv_bytes('symbol;"name, or; description;"', "AAPL;Apple, Inc."))
    assert row.values == {"symbol": "AAPL"}
    [row] = csvfile.parse(csv_bytes('"a;b;c",symbol', "x,AAPL"))
    assert row.values == {"symbol": "AAPL"}


@pytest.mark.parametrize("end", ["\r\n", "\n", "\r"])
def test_quoted_line_breaks_are_counted_in_the_lines_of_later_rows(end: str) -> None:
    data = csv_bytes(
        "symbol,name,notes",
        'AAPL,Apple,"first',
        "second",
        'third"',
        'MSFT,"Micro,',
        'soft ""Corp""",',
        "",
        "NVDA,Nvidia,",
        end=end,
    )
    rows = csvfile.parse(data)
    assert [row.line for row in rows] == [2, 5, 8]
    assert rows[0].values["notes"] == f"first{end}second{end}third"
    assert rows[1].values["name"] == f'Micro,{end}soft "Corp"'


def test_a_last_row_without_a_line_end_is_read() -> None:
    rows = csvfile.parse(b"symbol\r\nAAPL\r\nMSFT")
    assert rows == [Row(2, {"symbol": "AAPL"}), Row(3, {"symbol": "MSFT"})]


def test_header_names_in_any_case_and_with_spaces() -> None:
    data = csv_bytes(
        " SYMBOL ,nAmE,  Price,NOTES,Alert Above,ALERT_BELOW, Created_At",
        "aapl,Apple,187.25,Buy,200,150,2024-01-02",
    )
    [row] = csvfile.parse(data)
    assert row.values == {
        "symbol": "aapl",
        "name": "Apple",
        "price": "187.25",
        "notes": "Buy",
        "alert_above": "200",
        "alert_below": "150",
        "created_at": "2024-01-02",
    }


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Ticker", "symbol"),
        ("Description", "name"),
        ("Note", "notes"),
        ("Comment", "notes"),
        ("Comments", "notes"),
        ("alert above", "alert_above"),
        ("Alert_Below", "alert_below"),
        ("Added", "created_at"),
        ("Date added", "created_at"),
        ("date_added", "created_at"),
    ],
)
def test_column_names_other_tools_use(header: str, field: str) -> None:
    if field == "symbol":
        [row] = csvfile.parse(csv_bytes(header, "AAPL"))
        assert row.values == {"symbol": "AAPL"}
    else:
        [row] = csvfile.parse(csv_bytes(f"Symbol,{header}", "AAPL,x"))
        assert row.values == {"symbol": "AAPL", field: "x"}


def test_the_first_of_two_columns_for_one_field_wins() -> None:
    [row] = csvfile.parse(csv_bytes("Ticker,Symbol,Note,Comment", "AAPL,MSFT,first,second"))
    assert row.values == {"symbol": "AAPL", "notes": "first"}


def test_a_yahoo_portfolio_export() -> None:
    good, skipped = imported((DATA / "yahoo-portfolio.csv").read_bytes())
    assert skipped == []
    assert [(line, values["symbol"]) for line, values in good] == [
        (2, "AAPL"),
        (3, "MSFT"),
        (4, "^GSPC"),
        (5, "BTC-USD"),
    ]
    apple = good[0][1]
    # The person's own price and alerts, not the quote of the day.
    assert apple["price"] == Decimal("180.5")
    assert (apple["alert_above"], apple["alert_below"]) == (Decimal(200), Decimal(150))
    assert good[1][1]["notes"] == "long term"
    assert good[2][1]["notes"] == "index, for comparison"
    assert all("created_at" not in values for _, values in good)


def test_a_tradingview_screener_export() -> None:
    good, skipped = imported((DATA / "tradingview-screener.csv").read_bytes())
    assert [values["symbol"] for _, values in good] == ["AAPL", "NVDA", "BRK.B", "7203.T"]
    assert good[3][1]["name"] == "Toyota Motor Corp, ADR"
    assert good[0][1]["price"] == Decimal("185.64")
    assert skipped == [{"line": 6, "reason": "price must have at most 4 decimal places"}]


def test_unknown_columns_are_ignored_and_short_and_long_rows_read() -> None:
    data = csv_bytes(
        "Exchange,Symbol,Name,Price,Sector",
        "NASDAQ,AAPL,Apple,187.25,Technology,extra,cells",
        "NYSE,IBM",
        "NYSE",
    )
    rows = csvfile.parse(data)
    assert [row.values for row in rows] == [
        {"symbol": "AAPL", "name": "Apple", "price": "187.25"},
        {"symbol": "IBM"},
        {},
    ]
    good, skipped = csvfile.clean_rows(rows)
    assert [values["symbol"] for _, values in good] == ["AAPL", "IBM"]
    assert good[1][1] == {
        "symbol": "IBM",
        "name": "",
        "price": None,
        "notes": "",
        "alert_above": None,
        "alert_below": None,
    }
    assert skipped == [{"line": 4, "reason": "symbol is required"}]


def test_empty_lines_are_skipped_and_not_counted() -> None:
    data = csv_bytes("", "symbol,name", "", "AAPL,Apple", "   ", ",", "MSFT,Microsoft", "")
    rows = csvfile.parse(data)
    assert [(row.line, row.values["symbol"]) for row in rows] == [(4, "AAPL"), (7, "MSFT")]


def test_a_symbol_twice_in_one_file_is_skipped_the_second_time() -> None:
    data = csv_bytes(
        "symbol,price",
        "AAPL,abc",  # not good: the next AAPL is the first one that counts
        "AAPL,187.25",
        "MSFT,370",
        " aapl ,190",
        "msft,",
    )
    good, skipped = imported(data)
    assert [(line, values["symbol"]) for line, values in good] == [(3, "AAPL"), (4, "MSFT")]
    assert skipped == [
        {"line": 2, "reason": "price must be a number, like 187.25"},
        {"line": 5, "reason": "AAPL is already on line 3 of this file"},
        {"line": 6, "reason": "MSFT is already on line 4 of this file"},
    ]


def test_a_row_that_breaks_a_rule_is_skipped_with_its_reason_and_the_others_pass() -> None:
    data = csv_bytes(
        "symbol,name,price,notes",
        "AAPL,Apple,187.25,",
        f"LONG,{'x' * 256},,",
        "AAPL$,Dollar,,",
        f"OK,{'x' * 255},,{'n' * validation.NOTES_MAX}",
        "NEG,Negative,-1,",
        f"NOTES,,,{'n' * (validation.NOTES_MAX + 1)}",
        "CTRL,bell\x07,,",
        "BAD$,,1.00001,",
    )
    good, skipped = imported(data)
    assert [values["symbol"] for _, values in good] == ["AAPL", "OK"]
    assert skipped == [
        {"line": 3, "reason": "name must be at most 255 characters"},
        {"line": 4, "reason": f"symbol {validation.SYMBOL_RULE}"},
        {"line": 6, "reason": "price must be at least 0"},
        {"line": 7, "reason": "notes must be at most 2,000 characters"},
        {"line": 8, "reason": "name must not contain control characters"},
        {
            "line": 9,
            "reason": f"symbol {validation.SYMBOL_RULE}; price must have at most 4 decimal places",
        },
    ]


def test_targets_follow_the_form_rule() -> None:
    good, skipped = imported(
        csv_bytes("symbol,alert_above,alert_below", "AAPL,200,150", "MSFT,300,300", "NVDA,x,")
    )
    assert [values["symbol"] for _, values in good] == ["AAPL"]
    assert [entry["line"] for entry in skipped] == [3, 4]
    assert "alert_below" in skipped[0]["reason"]
    assert skipped[1]["reason"] == "alert_above must be a number, like 187.25"


# The time an item was added.


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2024-01-02", datetime(2024, 1, 2)),
        ("2024-01-02T15:04:05Z", datetime(2024, 1, 2, 15, 4, 5)),
        ("2024-01-02T15:04:05.250000Z", datetime(2024, 1, 2, 15, 4, 5, 250000)),
        ("2024-01-02T17:04:05+02:00", datetime(2024, 1, 2, 15, 4, 5)),
        ("2024-01-01T22:00:00-05:00", datetime(2024, 1, 2, 3)),
        ("2024-01-02 15:04:05", datetime(2024, 1, 2, 15, 4, 5)),
        (" 2024-01-02T15:04 ", datetime(2024, 1, 2, 15, 4)),
    ],
)
def test_created_at_is_read_as_naive_utc(text: str, moment: datetime) -> None:
    cleaned = csvfile.clean_row(Row(2, {"symbol": "AAPL", "created_at": text}))
    assert cleaned["created_at"] == moment
    assert cleaned["created_at"].tzinfo is None


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_created_at_is_left_out(text: str) -> None:
    assert "created_at" not in csvfile.clean_row(Row(2, {"symbol": "AAPL", "created_at": text}))


@pytest.mark.parametrize("text", ["yesterday", "02/01/2024", "2024-13-01", "2024-01-02T25:00"])
def test_a_created_at_that_is_not_a_date_is_a_reason(text: str) -> None:
    with pytest.raises(InvalidRow) as caught:
        csvfile.clean_row(Row(2, {"symbol": "AAPL", "created_at": text}))
    assert caught.value.reason == (
        "created_at must be a date in ISO 8601, like 2024-01-02 or 2024-01-02T15:04:05Z"
    )
    assert str(caught.value) == caught.value.reason


@pytest.mark.parametrize(
    "text", ["0999-12-31", "0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00"]
)
def test_a_created_at_out_of_range_is_a_reason(text: str) -> None:
    with pytest.raises(InvalidRow) as caught:
        csvfile.clean_row(Row(2, {"symbol": "AAPL", "created_at": text}))
    assert caught.value.reason == "created_at must be a date in the years 1000 to 9999"


def test_every_reason_of_a_row_is_named_in_field_order() -> None:
    row = Row(2, {"created_at": "soon", "price": "x", "symbol": "$"})
    with pytest.raises(InvalidRow) as caught:
        csvfile.clean_row(row)
    assert caught.value.reason == (
        f"symbol {validation.SYMBOL_RULE}; price must be a number, like 187.25; "
        "created_at must be a date in ISO 8601, like 2024-01-02 or 2024-01-02T15:04:05Z"
    )


def test_an_export_time_round_trips_to_the_same_datetime() -> None:
    for moment in (ADDED, datetime(2025, 1, 1, 0, 0, 0, 1), datetime.now(UTC).replace(tzinfo=None)):
        [(_, values)], _ = imported(csvfile.export([item("AAPL", created_at=moment)]).encode())
        assert values["created_at"] == moment


# Files refused as a whole.


def rows_file(count: int) -> bytes:
    return csv_bytes("symbol", *(f"S{number}" for number in range(count)))


def test_exactly_the_most_rows_are_accepted_and_one_more_refused() -> None:
    assert len(csvfile.parse(rows_file(MAX_ROWS))) == MAX_ROWS
    # Empty lines are not rows.
    assert len(csvfile.parse(rows_file(MAX_ROWS) + b"\r\n" * 50)) == MAX_ROWS
    message = refused(rows_file(MAX_ROWS + 1))
    assert "at most 1,000 rows" in message


def test_a_file_of_the_most_bytes_is_read_and_one_byte_more_refused() -> None:
    data = csv_bytes("symbol,notes", *(f"S{number},{'n' * 1000}" for number in range(999)))
    data += b"LAST," + b"n" * (MAX_BYTES - len(data) - len(b"LAST,"))
    assert len(data) == MAX_BYTES
    rows = csvfile.parse(data)
    assert len(rows) == 1000
    assert rows[-1].values["symbol"] == "LAST"
    message = refused(data + b"n")
    assert "larger than 1 MiB" in message


def test_a_file_that_is_not_utf8_is_refused_naming_where() -> None:
    latin1 = "symbol,name\r\nAAPL,Café\r\n".encode("latin-1")
    message = refused(latin1)
    assert message.startswith("The file is not UTF-8 text: ")
    assert "0xE9 at offset 21 (line 2)" in message
    # The offset counts the BOM too: it is where the byte is in the file.
    assert "at offset 24 (line 2)" in refused(b"\xef\xbb\xbf" + latin1)
    assert "at offset 17 (line 3)" in refused(b"symbol\rAAPL\r\nMSFT\xff")


def test_a_png_is_refused_as_binary() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06"
    assert "binary file" in refused(png)


def test_random_bytes_are_refused_as_binary() -> None:
    noise = random.Random(1).randbytes(4096)
    assert b"\0" in noise
    assert "binary file" in refused(noise)
    assert "binary file" in refused(noise.replace(b"\0", b"\1"))


def test_one_nul_byte_makes_a_file_binary() -> None:
    assert "binary file" in refused(csv_bytes("symbol,name", "AAPL,App\0le"))


def test_valid_utf8_that_is_mostly_control_characters_is_binary() -> None:
    assert "binary file" in refused(b"symbol\r\n" + bytes(range(1, 9)) * 10)


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\r\n\r\n", b"  \n\t\n"])
def test_an_empty_file_is_refused(data: bytes) -> None:
    assert refused(data).startswith("The file is empty")


def test_a_file_of_empty_rows_has_no_header() -> None:
    assert refused(b",,,\r\n , ,\r\n").startswith("The file has no header row")


def test_a_header_only_file_has_no_rows() -> None:
    assert csvfile.parse(csv_bytes("Symbol,Name,Price")) == []
    assert csvfile.parse(b"symbol") == []
    assert csvfile.clean_rows([]) == ([], [])


@pytest.mark.parametrize(
    "data",
    [
        csv_bytes("name,price", "Apple,187.25"),
        csv_bytes("AAPL,Apple,187.25", "MSFT,Microsoft,370"),
        csv_bytes("Symbols,Tickers"),
    ],
)
def test_a_file_without_a_symbol_column_is_refused(data: bytes) -> None:
    assert refused(data) == (
        "The file has no symbol column: its first row must name one, as Symbol or Ticker."
    )


def test_an_unterminated_quote_is_refused() -> None:
    message = refused(csv_bytes("symbol,notes", "AAPL,fine", 'MSFT,"never closed', "NVDA,"))
    assert message == (
        "The file is not valid CSV: the row that starts on line 3 has a quote that is never "
        "closed. Close it, or remove it."
    )


def test_text_after_a_closing_quote_is_refused() -> None:
    message = refused(csv_bytes("symbol;notes", 'AAPL;"quoted" then more'))
    assert message.startswith("The file is not valid CSV: on line 2, a quoted cell goes on")


def test_a_cell_over_the_csv_limit_is_refused() -> None:
    message = refused(b'symbol,notes\r\nAAPL,"' + b"n" * 200_000 + b'"\r\n')
    assert message.startswith("The file is not valid CSV: the row that starts on line 2 has")


def test_a_refused_file_imports_nothing() -> None:
    with pytest.raises(InvalidCsv):
        imported(csv_bytes("symbol", "AAPL", "MSFT") + b'"')
