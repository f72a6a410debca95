"""CSV in and out of a list: the export's text, and a file's rows back to entries.

No I/O and no database: ``export`` returns text, ``parse`` takes the uploaded bytes and
refuses a file that is not CSV at all (``InvalidCsv``), and ``clean_rows`` validates each
row with the rules of the add form, keeping the rows that pass and the reason for each
row that does not. ``export`` followed by ``parse`` and ``clean_rows`` gives back the same
values.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import quote

from webapp import money, validation

#: The export's header row, in this order.
COLUMNS = ("symbol", "name", "price", "notes", "alert_above", "alert_below", "created_at")
#: The largest file ``parse`` reads.
MAX_BYTES = 1024 * 1024
#: The most data rows a file may have (the header row is not counted).
MAX_ROWS = 1000

#: What a header cell may say for each of our fields, once lower-cased with ``_`` and runs
#: of spaces as one space. Yahoo's portfolio export names the person's own price "Purchase
#: Price" (its "Current Price" is the quote) and their alerts "High Limit" and "Low Limit".
HEADER_NAMES = {
    "symbol": "symbol",
    "ticker": "symbol",
    "name": "name",
    "description": "name",
    "price": "price",
    "purchase price": "price",
    "notes": "notes",
    "note": "notes",
    "comment": "notes",
    "comments": "notes",
    "alert above": "alert_above",
    "high limit": "alert_above",
    "alert below": "alert_below",
    "low limit": "alert_below",
    "created at": "created_at",
    "added": "created_at",
    "date added": "created_at",
}

# A spreadsheet runs a cell that starts with one of = + - @ tab CR as a formula (OWASP's
# "CSV injection"): the export puts ' before it, and before a cell that starts with ' and
# then one of them, so that removing one ' on import always gives back the original.
_FORMULA = re.compile(r"'*[=+\-@\t\r]")
# Bytes no text file has, other than by accident: C0 controls but tab, LF and CR; and DEL.
_CONTROL_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
#: A file with more than this share of control bytes is taken for a binary file.
_BINARY_SHARE = 0.05
_BOM = b"\xef\xbb\xbf"
_LINE_END = re.compile(r"\r\n|\r|\n")
# Characters no file name should hold: path separators, Windows' reserved ones, and line
# breaks and controls. Quotes and backslashes are removed instead (they only ever quote
# something), and so are invisible format characters (a right-to-left override could make
# "x\u202evsc.exe" look like "xexe.csv").
_NOT_IN_FILE_NAMES = frozenset("/:*?<>|")
_CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
_NOT_IN_ASCII_FILE_NAMES = re.compile(r"[^A-Za-z0-9 _.,()&+-]")
_FALLBACK_FILE_NAME = "watchlist"
_DATE_RULE = "must be a date in ISO 8601, like 2024-01-02 or 2024-01-02T15:04:05Z"


class ItemLike(Protocol):
    """What ``export`` reads of an item (``store.Item`` has it)."""

    @property
    def symbol(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def price(self) -> Decimal | None: ...
    @property
    def notes(self) -> str: ...
    @property
    def alert_above(self) -> Decimal | None: ...
    @property
    def alert_below(self) -> Decimal | None: ...
    @property
    def created_at(self) -> datetime: ...


class InvalidCsv(Exception):
    """The whole file is refused; ``message`` says why, for the person who sent it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRow(Exception):
    """One row breaks the rules; ``reason`` names each field and its rule, on one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Row:
    """A data row: the line of the file it starts on (1-based), and the text of each of
    our fields that the file has a column for."""

    line: int
    values: dict[str, str]


def export(items: Iterable[ItemLike]) -> str:
    """The items as CSV text: ``COLUMNS`` as the header, one row per item, CRLF line ends.

    Prices as their plain digits (empty for none), ``created_at`` in ISO 8601 UTC with a
    ``Z``, and a ``'`` before any cell a spreadsheet would run as a formula."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for item in items:
        cells = (
            item.symbol,
            item.name,
            _price_cell(item.price),
            item.notes,
            _price_cell(item.alert_above),
            _price_cell(item.alert_below),
            _iso(item.created_at),
        )
        writer.writerow([_neutralised(cell) for cell in cells])
    return out.getvalue()


def content_disposition(list_name: str) -> str:
    """A ``Content-Disposition`` header that downloads the export as ``<list name>.csv``:
    an ASCII ``filename`` for old clients, and the name itself in ``filename*``."""
    name = _tidy_file_name("".join(_file_name_character(char) for char in list_name))
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    fallback = _tidy_file_name(_NOT_IN_ASCII_FILE_NAMES.sub("_", plain))
    encoded = quote(f"{name}.csv", safe="")
    return f"attachment; filename=\"{fallback}.csv\"; filename*=UTF-8''{encoded}"


def parse(data: bytes) -> list[Row]:
    """The data rows of an uploaded CSV file, or ``InvalidCsv`` when it cannot be read.

    The first row that is not empty is the header, and must have a symbol column; its
    names are matched in any case (see ``HEADER_NAMES``), and other columns are ignored.
    The separator is ``;`` when the header has more of them than of ``,``. Empty rows are
    skipped. Each cell's text is as in the file, except the ``'`` that ``export`` puts
    before a formula."""
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_separator(text), strict=True)
    columns: dict[int, str] | None = None
    rows: list[Row] = []
    while True:
        line = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InvalidCsv(_malformed(str(exc), line, reader.line_num)) from None
        if not any(cell.strip() for cell in record):
            continue
        if columns is None:
            columns = _columns(record)
            continue
        if len(rows) == MAX_ROWS:
            raise InvalidCsv(
                f"The file has more than {MAX_ROWS:,} rows: a file may have at most "
                f"{MAX_ROWS:,} rows. Split it into smaller files."
            )
        values = {
            field: _restored(record[index])
            for index, field in columns.items()
            if index < len(record)
        }
        rows.append(Row(line, values))
    if columns is None:
        raise InvalidCsv(
            "The file has no header row: its first row must name the columns, "
            "such as Symbol, Name and Price."
        )
    return rows


def clean_row(row: Row) -> dict[str, Any]:
    """The values to store for one row, by the rules of the add form (``created_at`` as a
    naive UTC datetime when the row has one), or ``InvalidRow`` naming what is wrong."""
    errors: dict[str, str] = {}
    try:
        cleaned = validation.clean_entry(
            {key: value for key, value in row.values.items() if key in validation.FIELDS},
            from_form=True,
        )
    except validation.InvalidEntry as exc:
        errors.update(exc.errors)
        cleaned = {}
    moment = row.values.get("created_at", "").strip()
    if moment:
        try:
            cleaned["created_at"] = _moment(moment)
        except ValueError as exc:
            errors["created_at"] = str(exc)
    if errors:
        order = {field: index for index, field in enumerate((*validation.FIELDS, "created_at"))}
        fields = sorted(errors, key=lambda field: order.get(field, len(order)))
        raise InvalidRow("; ".join(f"{field} {errors[field]}" for field in fields))
    return cleaned


def clean_rows(rows: list[Row]) -> tuple[list[tuple[int, dict[str, Any]]], list[dict[str, Any]]]:
    """Each row cleaned by ``clean_row``: the rows that pass as ``(line, values)``, and
    the others as ``{"line": n, "reason": "..."}``. A row whose symbol an earlier good row
    of the file already has is skipped."""
    good: list[tuple[int, dict[str, Any]]] = []
    skipped: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for row in rows:
        try:
            values = clean_row(row)
        except InvalidRow as exc:
            skipped.append({"line": row.line, "reason": exc.reason})
            continue
        symbol = values["symbol"]
        if symbol in seen:
            reason = f"{symbol} is already on line {seen[symbol]} of this file"
            skipped.append({"line": row.line, "reason": reason})
            continue
        seen[symbol] = row.line
        good.append((row.line, values))
    return good, skipped


def _price_cell(price: Decimal | None) -> str:
    return "" if price is None else money.plain(price)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat() + "Z"


def _neutralised(cell: str) -> str:
    return f"'{cell}" if _FORMULA.match(cell) else cell


def _restored(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and _FORMULA.match(cell, 1) else cell


def _file_name_character(char: str) -> str:
    category = unicodedata.category(char)
    if char in '"\\' or category == "Cf":
        return ""
    if char in _NOT_IN_FILE_NAMES or category in _CONTROL_CATEGORIES:
        return "_"
    return char


def _tidy_file_name(name: str) -> str:
    name = re.sub(r"_+", "_", re.sub(r"\s+", " ", name)).strip(" ._-")
    return name or _FALLBACK_FILE_NAME


def _decode(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise InvalidCsv(
            f"The file is larger than 1 MiB ({MAX_BYTES:,} bytes). Split it into smaller files."
        )
    body = data.removeprefix(_BOM)
    controls = len(body) - len(body.translate(None, _CONTROL_BYTES))
    if b"\0" in body or controls > _BINARY_SHARE * len(body):
        raise InvalidCsv(
            "The file is not CSV text: it looks like a binary file, such as an image or a "
            "spreadsheet. Save or export it as CSV (UTF-8) and try again."
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = len(data) - len(body) + exc.start
        line = len(_LINE_END.findall(body[: exc.start].decode("utf-8"))) + 1
        raise InvalidCsv(
            f"The file is not UTF-8 text: the byte 0x{data[offset]:02X} at offset {offset:,} "
            f"(line {line:,}) cannot be read. Save it as CSV (UTF-8) and try again."
        ) from None
    if not text.strip():
        raise InvalidCsv(
            "The file is empty: its first row must name the columns, such as Symbol, Name "
            "and Price, and each row after it one symbol."
        )
    return text


def _separator(text: str) -> str:
    """``;`` when the header line has more of them than of ``,`` outside quotes."""
    header = next(line for line in io.StringIO(text, newline="") if line.strip())
    counts = {",": 0, ";": 0}
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    return ";" if counts[";"] > counts[","] else ","


def _columns(header: list[str]) -> dict[int, str]:
    """Which of our fields each column holds, by its index (the first column wins)."""
    columns: dict[int, str] = {}
    for index, cell in enumerate(header):
        field = HEADER_NAMES.get(" ".join(cell.replace("_", " ").split()).casefold())
        if field is not None and field not in columns.values():
            columns[index] = field
    if "symbol" not in columns.values():
        raise InvalidCsv(
            "The file has no symbol column: its first row must name one, as Symbol or Ticker."
        )
    return columns


def _malformed(error: str, start: int, line: int) -> str:
    if error == "unexpected end of data":
        return (
            f"The file is not valid CSV: the row that starts on line {start:,} has a quote "
            "that is never closed. Close it, or remove it."
        )
    if "expected after" in error:
        return (
            f"The file is not valid CSV: on line {line:,}, a quoted cell goes on after its "
            'closing quote. Inside a quoted cell, write each quote twice ("").'
        )
    if error.startswith("field larger than field limit"):
        return (
            f"The file is not valid CSV: the row that starts on line {start:,} has a cell of "
            f"more than {csv.field_size_limit():,} characters."
        )
    return f"The file is not valid CSV: {error} (line {line:,})."


def _moment(text: str) -> datetime:
    """An ISO 8601 date, or date and time, as a naive UTC datetime (a date is midnight,
    and a time without an offset is UTC)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(_DATE_RULE) from None
    try:
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        moment = datetime.min
    if moment.year < 1000:
        raise ValueError("must be a date in the years 1000 to 9999")
    return moment
