"""CSV export and import through the routes: the pages' download and upload form, and the
API's ``stocks.csv`` and ``stocks/import``; the files other tools write, the ones that are
refused, the item limit, whose lists they reach, the body limits, and an import that fails
halfway (the database refusing a row, or going away) leaving the list as it was."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import pytest
from itsdangerous import TimestampSigner
from starlette.testclient import TestClient

from tests.conftest import admin_connection, bearer, insert_items, sign_in
from tests.provider import Provider
from webapp import csvfile, csvroutes, money
from webapp.settings import Settings
from webapp.validation import MAX_ITEMS_PER_USER

HEADER = "symbol,name,price,notes,alert_above,alert_below,created_at"
HTMX = {"HX-Request": "true"}
DATA = Path(__file__).parent / "data" / "csv"
#: What an item is, compared across an export and an import.
KEPT = ("symbol", "name", "price", "notes", "alert_above", "alert_below", "created_at")


@pytest.fixture
def alice(provider: Provider) -> dict[str, str]:
    return bearer(provider.token())


@pytest.fixture
def bob(provider: Provider) -> dict[str, str]:
    return bearer(provider.token(sub="bob-sub", email="bob@example.com", name="Bob"))


# --- Helpers --------------------------------------------------------------------------------


def lists(client: TestClient, token: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get("/api/lists", headers=token)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def first_list(client: TestClient, token: dict[str, str]) -> int:
    list_id: int = lists(client, token)[0]["id"]
    return list_id


def make_list(client: TestClient, token: dict[str, str], name: str) -> int:
    response = client.post("/api/lists", json={"name": name}, headers=token)
    assert response.status_code == 201, response.text
    list_id: int = response.json()["id"]
    return list_id


def add(client: TestClient, token: dict[str, str], list_id: int, **values: Any) -> None:
    response = client.post(f"/api/lists/{list_id}/stocks", json=values, headers=token)
    assert response.status_code == 201, response.text


def items(client: TestClient, token: dict[str, str], list_id: int) -> list[dict[str, Any]]:
    """The list's items, numbers exactly, oldest first."""
    response = client.get(f"/api/lists/{list_id}/stocks?sort=created_at", headers=token)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = json.loads(response.text, parse_float=Decimal)
    return found


def kept(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{field: item[field] for field in KEPT} for item in found]


def import_api(
    client: TestClient,
    token: dict[str, str],
    list_id: int,
    body: str | bytes,
    content_type: str = "text/csv",
) -> httpx2.Response:
    content = body.encode() if isinstance(body, str) else body
    return client.post(
        f"/api/lists/{list_id}/stocks/import",
        content=content,
        headers={**token, "Content-Type": content_type},
    )


def imported(client: TestClient, token: dict[str, str], list_id: int, body: str | bytes) -> Any:
    """The report of an import the API accepted."""
    response = import_api(client, token, list_id, body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def refused(response: httpx2.Response, status: int, *words: str) -> str:
    """The API's error shape, with a ``detail`` that says each of ``words``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert body["errors"] == {}
    detail: str = body["detail"]
    for word in words:
        assert word in detail, detail
    return detail


def upload(
    client: TestClient,
    list_id: int,
    data: bytes,
    *,
    htmx: bool = True,
    name: str = "list.csv",
    headers: dict[str, str] | None = None,
) -> httpx2.Response:
    """The list page's form, posting ``data`` as its file."""
    return client.post(
        f"/lists/{list_id}/import",
        files={"file": (name, data, "text/csv")},
        headers={**(HTMX if htmx else {}), **(headers or {})},
        follow_redirects=False,
    )


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def session_of(client: TestClient) -> dict[str, Any]:
    """The session the cookie holds (signed, not encrypted: the test reads it)."""
    settings: Settings = client.app_state["settings"]
    signed = client.cookies["session"].encode()
    data = TimestampSigner(str(settings.secret_key)).unsign(signed)
    session: dict[str, Any] = json.loads(base64.b64decode(data))
    return session


#: Items whose every field an export must carry and an import give back.
TRICKY: list[dict[str, Any]] = [
    {"symbol": "^GSPC", "name": "S&P 500", "price": Decimal("4742.83"), "notes": "index"},
    {"symbol": "BTC-USD", "name": "Bitcoin", "price": Decimal("0.0001")},
    {"symbol": "EURUSD=X", "alert_above": Decimal("1.2"), "alert_below": Decimal("1.05")},
    {"symbol": "BRK.B", "name": 'Berkshire "B", class', "notes": "line one\nline two"},
    {"symbol": "7203.T", "price": Decimal("999999999999.9999"), "notes": '=HYPERLINK("x")'},
    {"symbol": "F", "name": "+1 formula", "notes": "-2 and @SUM(A1)"},
    {"symbol": "G", "name": "'=already quoted", "notes": "\ttabbed"},
    {"symbol": "H", "name": "Société Générale ✓ 😀", "notes": "'plain apostrophe"},
]


def add_tricky(client: TestClient, token: dict[str, str], list_id: int) -> None:
    for values in TRICKY:
        response = client.post(
            f"/api/lists/{list_id}/stocks",
            content=money.dumps(values),  # prices as JSON numbers of exactly their digits
            headers={**token, "Content-Type": "application/json"},
        )
        assert response.status_code == 201, response.text


# --- Export ---------------------------------------------------------------------------------


def test_the_api_exports_a_list_as_csv(client: TestClient, alice: dict[str, str]) -> None:
    tech = make_list(client, alice, "Tech / Growth ✓")
    add_tricky(client, alice, tech)
    response = client.get(f"/api/lists/{tech}/stocks.csv", headers=alice)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == csvfile.content_disposition("Tech / Growth ✓")
    assert 'filename="Tech _ Growth.csv"' in response.headers["content-disposition"]
    assert response.content.startswith(HEADER.encode() + b"\r\n"), "no BOM, the header first"
    rows = rows_of(response.content.decode("utf-8"))
    assert rows[0] == HEADER.split(",")
    by_symbol = {row[0]: row for row in rows[1:]}
    # Newest first, as the list shows; every symbol as itself.
    assert [row[0] for row in rows[1:]] == [values["symbol"] for values in reversed(TRICKY)]
    assert by_symbol["7203.T"][2] == "999999999999.9999"
    assert by_symbol["BTC-USD"][2] == "0.0001"
    assert by_symbol["EURUSD=X"][4:6] == ["1.2", "1.05"]
    assert by_symbol["BRK.B"][1:4] == ['Berkshire "B", class', "", "line one\nline two"]
    # What a spreadsheet would run is neutralised with a leading '.
    assert by_symbol["7203.T"][3] == '\'=HYPERLINK("x")'
    assert by_symbol["F"][1] == "'+1 formula"
    assert by_symbol["F"][3] == "'-2 and @SUM(A1)"
    assert by_symbol["G"][1] == "''=already quoted"
    assert by_symbol["H"][1:4] == ["Société Générale ✓ 😀", "", "'plain apostrophe"]
    created = {item["symbol"]: item["created_at"] for item in items(client, alice, tech)}
    assert by_symbol["H"][6] == created["H"]


def test_the_page_downloads_the_same_file(client: TestClient, alice: dict[str, str]) -> None:
    sign_in(client)
    first = first_list(client, alice)
    add_tricky(client, alice, first)
    page = client.get(f"/lists/{first}/export.csv")
    assert page.status_code == 200
    assert page.headers["content-disposition"] == csvfile.content_disposition("My watchlist")
    assert page.content == client.get(f"/api/lists/{first}/stocks.csv", headers=alice).content


def test_an_empty_list_exports_its_header(sqlite_client: TestClient, alice: dict[str, str]) -> None:
    first = first_list(sqlite_client, alice)
    response = sqlite_client.get(f"/api/lists/{first}/stocks.csv", headers=alice)
    assert response.text == HEADER + "\r\n"


def test_signing_in_comes_back_to_the_download(sqlite_client: TestClient) -> None:
    response = sqlite_client.get("/lists/1/export.csv", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Flists%2F1%2Fexport.csv"
    assert sqlite_client.get("/api/lists/1/stocks.csv").status_code == 401


# --- Round trips ----------------------------------------------------------------------------


def test_export_delete_everything_import_restores_the_same_items(
    client: TestClient, alice: dict[str, str]
) -> None:
    first = first_list(client, alice)
    add_tricky(client, alice, first)
    before = items(client, alice, first)
    exported = client.get(f"/api/lists/{first}/stocks.csv", headers=alice).content
    for item in before:
        assert client.delete(f"/api/stocks/{item['id']}", headers=alice).status_code == 204
    assert items(client, alice, first) == []

    report = imported(client, alice, first, exported)
    assert report == {"added": len(TRICKY), "updated": 0, "skipped": []}
    assert kept(items(client, alice, first)) == kept(before)
    # And once more: every row now updates its item, which stays the same.
    again = imported(client, alice, first, exported)
    assert again == {"added": 0, "updated": len(TRICKY), "skipped": []}
    assert kept(items(client, alice, first)) == kept(before)
    assert client.get(f"/api/lists/{first}/stocks.csv", headers=alice).content == exported


def test_the_pages_round_trip_into_another_list(client: TestClient, alice: dict[str, str]) -> None:
    sign_in(client)
    first = first_list(client, alice)
    add_tricky(client, alice, first)
    other = make_list(client, alice, "Copy")
    exported = client.get(f"/lists/{first}/export.csv").content

    response = upload(client, other, exported)
    assert response.status_code == 200, response.text
    assert response.headers["hx-trigger"] == "list-changed"
    assert "HX-Request" in response.headers["vary"]
    # The import section alone, which replaces the page's own.
    assert response.text.lstrip().startswith('<section id="import"')
    assert "import-refresh" not in response.text
    said = " ".join(response.text.split())
    assert f"Imported into “Copy”:</strong> {len(TRICKY)} symbols added, 0 updated." in said
    assert "import-skipped" not in said
    assert kept(items(client, alice, other)) == kept(items(client, alice, first))


# --- What other tools write -----------------------------------------------------------------


def test_other_tools_files_import(sqlite_client: TestClient, alice: dict[str, str]) -> None:
    first = first_list(sqlite_client, alice)
    yahoo = imported(sqlite_client, alice, first, (DATA / "yahoo-portfolio.csv").read_bytes())
    assert yahoo == {"added": 4, "updated": 0, "skipped": []}
    found = {item["symbol"]: item for item in items(sqlite_client, alice, first)}
    assert set(found) == {"AAPL", "MSFT", "^GSPC", "BTC-USD"}
    # Yahoo's "Purchase Price" is the price; its limits are the alerts.
    assert (found["AAPL"]["price"], found["AAPL"]["alert_above"]) == (Decimal("180.5"), 200)
    assert found["^GSPC"]["notes"] == "index, for comparison"

    other = make_list(sqlite_client, alice, "TradingView")
    report = imported(sqlite_client, alice, other, (DATA / "tradingview-screener.csv").read_bytes())
    # Its last row has a price of six decimals, which no form would take.
    decimals = "price must have at most 4 decimal places"
    assert report == {"added": 4, "updated": 0, "skipped": [{"line": 6, "reason": decimals}]}
    names = {item["symbol"]: item["name"] for item in items(sqlite_client, alice, other)}
    assert names["7203.T"] == "Toyota Motor Corp, ADR"


def test_a_bom_semicolons_and_quoted_line_breaks(client: TestClient, alice: dict[str, str]) -> None:
    """Excel's file, in one of its European locales: a BOM, ';' between cells, a decimal
    comma (refused, as the form refuses it: the row says why), quotes around a ';' and a
    line break."""
    first = first_list(client, alice)
    report = imported(client, alice, first, (DATA / "excel-semicolon.csv").read_bytes())
    assert report["added"] == 3
    assert report["skipped"] == [{"line": 2, "reason": "price must be a number, like 187.25"}]
    found = {item["symbol"]: item for item in items(client, alice, first)}
    assert found["SIE.DE"]["notes"] == "Notiz; mit Semikolon"
    assert found["SIE.DE"]["price"] == Decimal("165.2")
    assert found["MUV2.DE"]["name"] == "Münchener Rück, AG"
    assert found["MUV2.DE"]["notes"] == "zwei\nZeilen"


def test_a_header_in_any_case_and_other_names(
    sqlite_client: TestClient, alice: dict[str, str]
) -> None:
    first = first_list(sqlite_client, alice)
    body = (
        "\ufeffTICKER ; Description;Alert_Above;LOW  LIMIT;Date Added\r\n"
        "nvda;NVIDIA;500;400;2024-01-02\r\n"
        '"aapl";"Apple; Inc.";;;\r\n'
    )
    report = imported(sqlite_client, alice, first, body)
    assert report["added"] == 2, report
    found = {item["symbol"]: item for item in items(sqlite_client, alice, first)}
    nvidia = found["NVDA"]
    assert (nvidia["alert_above"], nvidia["alert_below"]) == (500, 400)
    assert nvidia["created_at"] == "2024-01-02T00:00:00.000000Z"
    assert found["AAPL"]["name"] == "Apple; Inc."


def test_formula_cells_come_back_as_they_were(
    sqlite_client: TestClient, alice: dict[str, str]
) -> None:
    """The export's ' comes off again; a formula another tool wrote stays text, as typed,
    and is neutralised again on the way out."""
    first = first_list(sqlite_client, alice)
    body = "symbol,name,notes\nA,'=1+1,'-note\nB,=cmd|' /C calc'!A0,@SUM(1)\nC,''=x,'plain\n"
    assert imported(sqlite_client, alice, first, body)["added"] == 3
    found = {item["symbol"]: item for item in items(sqlite_client, alice, first)}
    assert (found["A"]["name"], found["A"]["notes"]) == ("=1+1", "-note")
    assert (found["B"]["name"], found["B"]["notes"]) == ("=cmd|' /C calc'!A0", "@SUM(1)")
    assert (found["C"]["name"], found["C"]["notes"]) == ("'=x", "'plain")
    exported = sqlite_client.get(f"/api/lists/{first}/stocks.csv", headers=alice).text
    cells = {row[0]: row[1:4] for row in rows_of(exported)[1:]}
    assert cells["B"] == ["'=cmd|' /C calc'!A0", "", "'@SUM(1)"]
    assert cells["C"] == ["''=x", "", "'plain"]


def test_rows_that_break_a_rule_are_skipped_with_the_reason(
    client: TestClient, alice: dict[str, str]
) -> None:
    first = first_list(client, alice)
    body = "\n".join(
        [
            "symbol,name,price,notes,alert_above,alert_below,created_at",
            "AAPL,Apple,187.25,,,,",
            "aapl,Apple again,1,,,,",  # the same symbol as line 2
            "$$$,,,,,,",
            f"MSFT,{'n' * 256},-1,,,,",
            f"IBM,,,{'x' * 2001},,,",
            "TSLA,,,,100,200,",
            "NVDA,,1.00001,,,,yesterday",
            ",Nameless,,,,,",
            "GOOG,Alphabet,,,,,",
            "",
        ]
    )
    report = imported(client, alice, first, body)
    assert report["added"] == 2
    assert report["updated"] == 0
    reasons = {entry["line"]: entry["reason"] for entry in report["skipped"]}
    assert [entry["line"] for entry in report["skipped"]] == [3, 4, 5, 6, 7, 8, 9]
    assert reasons[3] == "AAPL is already on line 2 of this file"
    assert reasons[4].startswith("symbol must be 1 to 20 letters")
    assert reasons[5] == "name must be at most 255 characters; price must be at least 0"
    assert reasons[6] == "notes must be at most 2,000 characters"
    assert reasons[7] == (
        "alert_above must be greater than alert_below; alert_below must be less than alert_above"
    )
    assert reasons[8].startswith("price must have at most 4 decimal places; created_at must be")
    assert reasons[9] == "symbol is required"
    assert [item["symbol"] for item in items(client, alice, first)] == ["AAPL", "GOOG"]


def test_a_symbol_in_the_list_is_updated_in_the_files_columns_only(
    client: TestClient, alice: dict[str, str]
) -> None:
    first = first_list(client, alice)
    add(client, alice, first, symbol="AAPL", name="Apple", price=187, notes="keep", alert_below=150)
    original = items(client, alice, first)[0]
    report = imported(client, alice, first, "Symbol,Notes,Alert Above\naapl,changed,200\n")
    assert report == {"added": 0, "updated": 1, "skipped": []}
    [item] = items(client, alice, first)
    assert (item["name"], item["price"], item["notes"]) == ("Apple", 187, "changed")
    # The targets go together: the file has no alert_below, so it has none now.
    assert (item["alert_above"], item["alert_below"]) == (200, None)
    assert item["created_at"] == original["created_at"]
    assert item["id"] == original["id"]


# --- Files refused whole ------------------------------------------------------------------


def test_files_that_cannot_be_read_change_nothing(
    client: TestClient, alice: dict[str, str]
) -> None:
    first = first_list(client, alice)
    add(client, alice, first, symbol="KEEP", notes="as it was")
    before = items(client, alice, first)
    rows = "".join(f"S{n},row {n}\n" for n in range(csvfile.MAX_ROWS + 1))
    cases: list[tuple[bytes, tuple[str, ...]]] = [
        (f"symbol,name\n{rows}".encode(), ("more than 1,000 rows",)),
        ("symbol,name\nKEEP,Société\n".encode("latin-1"), ("not UTF-8", "0xE9", "line 2")),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), ("binary file",)),
        (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 64, ("binary file",)),
        (b"name,price\nApple,1\n", ("no symbol column",)),
        (b"", ("empty",)),
        (b'symbol,notes\nKEEP,"never closed\n', ("never closed",)),
    ]
    for body, words in cases:
        refused(import_api(client, alice, first, body), 422, *words)
    assert items(client, alice, first) == before


def test_exactly_1000_rows_import(client: TestClient, alice: dict[str, str]) -> None:
    first = first_list(client, alice)
    body = "symbol\n" + "".join(f"S{n}\n" for n in range(csvfile.MAX_ROWS))
    assert imported(client, alice, first, body) == {"added": 1000, "updated": 0, "skipped": []}
    assert lists(client, alice)[0]["item_count"] == 1000


def test_the_api_takes_only_text_csv(sqlite_client: TestClient, alice: dict[str, str]) -> None:
    first = first_list(sqlite_client, alice)
    for content_type in ("", "text/plain", "application/json", "text/csv; charset=latin-1"):
        response = import_api(sqlite_client, alice, first, "symbol\nAAPL\n", content_type)
        refused(response, 415, "text/csv")
    for content_type in ("TEXT/CSV", 'text/csv; charset="UTF-8"', "text/csv;header=present"):
        response = import_api(sqlite_client, alice, first, "symbol\nAAPL\n", content_type)
        assert response.status_code == 200, (content_type, response.text)


# --- The item limit -------------------------------------------------------------------------


def test_rows_past_the_item_limit_are_skipped_with_the_reason(
    client: TestClient, database_url: str, alice: dict[str, str]
) -> None:
    """The limit counts every list: new symbols past it are skipped (the others still
    import), while a row that updates an item needs no room."""
    first = first_list(client, alice)
    other = make_list(client, alice, "Other")
    add(client, alice, other, symbol="AAPL")
    insert_items(database_url, "alice-sub", first, MAX_ITEMS_PER_USER - 3)
    body = "symbol,notes\nNEW1,a\nAAPL,updated\nNEW2,b\nNEW3,c\nNEW4,d\n"
    report = imported(client, alice, other, body)
    full = "cannot be added: you can keep at most 1,000 symbols across your lists"
    assert report == {
        "added": 2,
        "updated": 1,
        "skipped": [{"line": 5, "reason": f"NEW3 {full}"}, {"line": 6, "reason": f"NEW4 {full}"}],
    }
    assert sum(entry["item_count"] for entry in lists(client, alice)) == MAX_ITEMS_PER_USER
    notes = {item["symbol"]: item["notes"] for item in items(client, alice, other)}
    assert notes == {"AAPL": "updated", "NEW1": "a", "NEW2": "b"}


# --- Whose lists ----------------------------------------------------------------------------


def test_someone_elses_list_is_404_for_all_four_routes(
    client: TestClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    bobs = first_list(client, bob)
    add(client, bob, bobs, symbol="BOB", notes="bob's")
    before = items(client, bob, bobs)
    file = b"symbol,notes\nBOB,alice was here\nALICE,\n"
    sign_in(client)  # Alice, in the pages

    refused(client.get(f"/api/lists/{bobs}/stocks.csv", headers=alice), 404, f"id {bobs}")
    refused(import_api(client, alice, bobs, file), 404, f"id {bobs}")
    assert client.get(f"/lists/{bobs}/export.csv").status_code == 404
    for htmx in (True, False):
        assert upload(client, bobs, file, htmx=htmx).status_code == 404
    for missing in (0, 2**63 - 1, 2**63, 10**30):
        assert client.get(f"/api/lists/{missing}/stocks.csv", headers=alice).status_code == 404
        assert import_api(client, alice, missing, file).status_code == 404
        assert client.get(f"/lists/{missing}/export.csv").status_code == 404
        assert upload(client, missing, file).status_code == 404

    assert items(client, bob, bobs) == before
    assert [entry["item_count"] for entry in lists(client, alice)] == [0]


# --- The page's form ------------------------------------------------------------------------


def test_without_javascript_the_import_redirects_to_the_list_with_its_report(
    sqlite_client: TestClient, alice: dict[str, str]
) -> None:
    sign_in(sqlite_client)
    first = first_list(sqlite_client, alice)
    other = make_list(sqlite_client, alice, "Other")
    bad = "".join(f"${n},\n" for n in range(5))
    file = f"symbol,name\nAAPL,Apple\n{bad}MSFT,Microsoft\n".encode()
    for list_id, url in ((first, "/watchlist"), (other, f"/lists/{other}")):
        response = upload(sqlite_client, list_id, file, htmx=False)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == url
        report = session_of(sqlite_client)[csvroutes.REPORT_KEY]
        # A cookie is small: the first few skipped lines, and how many there were.
        assert report["added"] == 2
        assert report["skipped_count"] == 5
        assert [entry["line"] for entry in report["skipped"]] == [3, 4, 5]
        assert len(sqlite_client.cookies["session"]) < 3000
        assert [item["symbol"] for item in items(sqlite_client, alice, list_id)] == [
            "AAPL",
            "MSFT",
        ]


def test_the_section_shows_a_report_from_the_session(sqlite_client: TestClient) -> None:
    """What the list's page shows once it passes the session's report to the section."""
    templates = sqlite_client.app_state["templates"]
    template = templates.env.get_template("_import.html")
    current = {"id": 7, "name": "Tech"}
    skipped = [{"line": line, "reason": "symbol is required"} for line in (3, 5, 8)]
    report = {"added": 1, "updated": 2, "skipped": skipped, "skipped_count": 40}
    page = {"current": current, "page_url": "/lists/7"}
    shown = " ".join(template.render(**page, import_report=report).split())
    assert "<strong>Imported into “Tech”:</strong> 1 symbol added, 2 updated, 40 lines" in shown
    assert "<li>Line 5: symbol is required</li>" in shown
    assert "The first 3 are listed." in shown
    assert 'action="/lists/7/import"' in shown
    assert 'hx-get="/lists/7"' in shown  # the refresh after an import
    assert re.search(r'id="import-report"[^>]*autofocus', shown)
    # Nothing to report: the form alone, nothing takes focus.
    plain = template.render(**page)
    assert "import-report" not in plain
    assert "autofocus" not in plain
    assert "1 MB and 1,000 rows" in plain
    assert csvfile.MAX_BYTES == 1024 * 1024
    assert csvfile.MAX_ROWS == 1000


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"name\nApple\n", "no symbol column"),
        (b"\x00\x01\x02\x03binary", "binary file"),
        (b"symbol\nS\xe9\n", "not UTF-8"),
        (b"", "empty"),
    ],
)
def test_a_file_the_page_cannot_import_says_why_and_changes_nothing(
    sqlite_client: TestClient, alice: dict[str, str], data: bytes, words: str
) -> None:
    sign_in(sqlite_client)
    first = first_list(sqlite_client, alice)
    fragment = upload(sqlite_client, first, data)
    assert fragment.status_code == 200  # htmx swaps it in: the section says why
    assert "hx-trigger" not in fragment.headers
    assert re.search(r'id="import-file"[^>]*aria-invalid="true"[^>]*autofocus', fragment.text)
    [message] = re.findall(
        r'<p class="field-error" id="import-file-error">([^<]*)</p>', fragment.text
    )
    assert words in message
    page = upload(sqlite_client, first, data, htmx=False)
    assert page.status_code == 422
    assert page.template.name == "error.html"  # type: ignore[attr-defined]
    assert words in page.context["message"]  # type: ignore[attr-defined]
    assert items(sqlite_client, alice, first) == []


def test_the_form_needs_one_file(sqlite_client: TestClient, alice: dict[str, str]) -> None:
    sign_in(sqlite_client)
    first = first_list(sqlite_client, alice)
    url = f"/lists/{first}/import"
    no_file = sqlite_client.post(url, data={"other": "x"}, headers=HTMX)
    assert "Choose a CSV file to import." in no_file.text
    empty = sqlite_client.post(url, files={"file": ("", b"", "application/octet-stream")})
    assert empty.status_code == 422
    two = [
        ("file", ("a.csv", b"symbol\nA\n", "text/csv")),
        ("file", ("b.csv", b"symbol\nB\n", "text/csv")),
    ]
    assert sqlite_client.post(url, files=two).status_code == 413
    fields = {"a": "1", "b": "2"}
    extra = sqlite_client.post(url, data=fields, files={"file": ("a.csv", b"symbol\nA\n")})
    assert extra.status_code == 413
    assert (
        sqlite_client.post(
            url, content=b"garbage", headers={"Content-Type": "multipart/form-data; boundary=x"}
        ).status_code
        == 422
    )
    assert items(sqlite_client, alice, first) == []


def test_a_cross_site_upload_is_refused(sqlite_client: TestClient, alice: dict[str, str]) -> None:
    """A multipart post is a page post like any other: another site cannot send one."""
    sign_in(sqlite_client)
    first = first_list(sqlite_client, alice)
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        response = upload(sqlite_client, first, b"symbol\nEVIL\n", headers=headers)
        assert response.status_code == 403
    same = upload(
        sqlite_client, first, b"symbol\nMINE\n", headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert same.status_code == 200
    assert [item["symbol"] for item in items(sqlite_client, alice, first)] == ["MINE"]


def test_signing_in_comes_back_from_an_upload(sqlite_client: TestClient) -> None:
    response = upload(sqlite_client, 1, b"symbol\nA\n", htmx=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    fragment = upload(sqlite_client, 1, b"symbol\nA\n")
    assert fragment.status_code == 204
    assert fragment.headers["hx-redirect"].startswith("/login")


# --- Body limits ----------------------------------------------------------------------------


def padded_file(size: int) -> bytes:
    """A valid CSV file of exactly ``size`` bytes."""
    head = b"symbol,notes\nAAPL,"
    return head + b"x" * (size - len(head))


def test_uploads_may_be_1_mib_and_no_more(sqlite_client: TestClient, alice: dict[str, str]) -> None:
    sign_in(sqlite_client)
    first = first_list(sqlite_client, alice)
    # A cell this long is refused by the reader, not by the limit.
    largest = b"symbol,notes\n" + b"".join(b"S%d,%s\n" % (n, b"x" * 1990) for n in range(520))
    largest += b"#" * (csvfile.MAX_BYTES - len(largest))
    assert len(largest) == csvfile.MAX_BYTES
    report = imported(sqlite_client, alice, first, largest)
    assert report["added"] == 520
    assert [entry["line"] for entry in report["skipped"]] == [522]  # the padding

    refused(import_api(sqlite_client, alice, first, largest + b"#"), 413, "at most 1 MiB")
    assert upload(sqlite_client, first, largest).status_code == 200
    page = upload(sqlite_client, first, largest + b"#" * csvroutes.MULTIPART_OVERHEAD)
    assert page.status_code == 413
    assert page.headers["content-type"] == "text/html; charset=utf-8"


def test_a_file_over_1_mib_in_the_form_is_refused_by_the_reader(
    sqlite_client: TestClient, alice: dict[str, str]
) -> None:
    """The form's limit leaves room for the form around the file: a file just over 1 MiB
    gets there, and the section says it is too large."""
    sign_in(sqlite_client)
    first = first_list(sqlite_client, alice)
    response = upload(sqlite_client, first, padded_file(csvfile.MAX_BYTES + 1))
    assert response.status_code == 200
    assert "larger than 1 MiB" in response.text
    assert items(sqlite_client, alice, first) == []


def test_other_routes_keep_the_64_kib_limit(
    sqlite_client: TestClient, alice: dict[str, str]
) -> None:
    sign_in(sqlite_client)
    first = first_list(sqlite_client, alice)
    big = b"x" * (64 * 1024 + 1)
    for url in ("/api/stocks", f"/api/lists/{first}/stocks", f"/api/lists/{first}/stocks.csv"):
        response = sqlite_client.post(
            url, content=big, headers={**alice, "Content-Type": "application/json"}
        )
        assert response.status_code in (405, 413), url
        if response.status_code == 413:
            refused(response, 413, "at most 64 KiB")
    form = sqlite_client.post("/watchlist", content=big, headers={"Content-Type": "text/csv"})
    assert form.status_code == 413
    # The upload paths of another shape are not uploads.
    lookalike = sqlite_client.post(
        f"/lists/{first}/import/more", content=big, headers={"Content-Type": "text/csv"}
    )
    assert lookalike.status_code == 413


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_a_chunked_body_over_the_limit_is_refused_as_it_arrives(
    sqlite_client: TestClient, alice: dict[str, str]
) -> None:
    first = first_list(sqlite_client, alice)
    response = sqlite_client.post(
        f"/api/lists/{first}/stocks/import",
        content=chunks(padded_file(csvfile.MAX_BYTES + 1)),
        headers={**alice, "Content-Type": "text/csv"},
    )
    refused(response, 413, "at most 1 MiB")
    fine = sqlite_client.post(
        f"/api/lists/{first}/stocks/import",
        content=chunks(b"symbol\n" + b"A,\n" * 100_000),
        headers={**alice, "Content-Type": "text/csv"},
    )
    assert fine.status_code == 422  # read whole (300 KiB), then refused for its rows
    assert "more than 1,000 rows" in fine.json()["detail"]


# --- A failure halfway ----------------------------------------------------------------------

#: The file: a change to an item in the list, then new rows, one the database refuses.
HALFWAY = "symbol,notes\nKEEP,changed\nNEW1,\nPOISON,\nNEW2,\n"


@contextmanager
def refusing(
    request: pytest.FixtureRequest, database_url: str, symbol: str, action: str
) -> Iterator[None]:
    """A trigger in the database that refuses (``action`` "refuse") or sleeps on ("sleep",
    MariaDB only) the insert of ``symbol``: a check only the database makes, as a foreign
    key or a full disk would."""
    if database_url.startswith("sqlite"):
        assert action == "refuse"
        with sqlite_trigger(database_url.split(":///", 1)[1], symbol):
            yield
        return
    server: str = request.getfixturevalue("mysql_server")
    name = database_url.rsplit("/", 1)[1]
    trigger = f"{name}.{action}_{symbol}"
    body = {
        "refuse": "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'",
        "sleep": "DO SLEEP(20)",
    }
    with admin_connection(server) as admin, admin.cursor() as cursor:
        cursor.execute(
            f"CREATE TRIGGER {trigger} BEFORE INSERT ON {name}.watchlist_items FOR EACH ROW "
            f"BEGIN IF NEW.symbol = '{symbol}' THEN {body[action]}; END IF; END"
        )
    try:
        yield
    finally:
        with admin_connection(server) as admin, admin.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER IF EXISTS {trigger}")


@contextmanager
def sqlite_trigger(path: str, symbol: str) -> Iterator[None]:
    run_sqlite(
        path,
        f"CREATE TRIGGER refuse_{symbol} BEFORE INSERT ON watchlist_items "
        f"WHEN NEW.symbol = '{symbol}' BEGIN SELECT RAISE(ABORT, 'refused'); END",
    )
    try:
        yield
    finally:
        run_sqlite(path, f"DROP TRIGGER refuse_{symbol}")


def run_sqlite(path: str, statement: str) -> None:
    with closing(sqlite3.connect(path)) as connection:
        connection.execute(statement)
        connection.commit()


def test_a_row_the_database_refuses_halfway_leaves_the_list_as_it_was(
    client: TestClient,
    database_url: str,
    alice: dict[str, str],
    request: pytest.FixtureRequest,
) -> None:
    first = first_list(client, alice)
    add(client, alice, first, symbol="KEEP", notes="as it was")
    before = items(client, alice, first)
    with refusing(request, database_url, "POISON", "refuse"):
        response = import_api(client, alice, first, HALFWAY)
        # A database error the app does not know: the server's error, and nothing written.
        assert response.status_code == 500
        sign_in(client)
        page = upload(client, first, HALFWAY.encode())
        assert page.status_code == 500
        assert items(client, alice, first) == before
    assert imported(client, alice, first, HALFWAY)["added"] == 3


@pytest.mark.parametrize("account", ["mysql", "mysql_app_account"])
def test_the_database_going_away_halfway_leaves_the_list_as_it_was(
    make_client: Any,
    alice: dict[str, str],
    request: pytest.FixtureRequest,
    account: str,
) -> None:
    """The connection is killed in the middle of the import's transaction: the update is
    done, an insert is running. The server undoes the transaction; the answer is a 503."""
    database_url: str = request.getfixturevalue(f"{account}_url")
    server: str = request.getfixturevalue("mysql_server")
    client = make_client(database_url)
    first = first_list(client, alice)
    add(client, alice, first, symbol="KEEP", notes="as it was")
    before = items(client, alice, first)
    name = database_url.rsplit("/", 1)[1]
    killed: list[int] = []

    def kill_the_sleeping_insert() -> None:
        deadline = time.monotonic() + 15
        with admin_connection(server) as connection, connection.cursor() as cursor:
            while time.monotonic() < deadline and not killed:
                # The app's connection, in the trigger the insert of POISON runs.
                cursor.execute(
                    "SELECT ID FROM information_schema.PROCESSLIST "
                    "WHERE DB = %s AND INFO = 'DO SLEEP(20)'",
                    (name,),
                )
                for (connection_id,) in cursor.fetchall():
                    cursor.execute(f"KILL CONNECTION {int(connection_id)}")
                    killed.append(connection_id)
                time.sleep(0.02)

    with refusing(request, database_url, "POISON", "sleep"):
        killer = threading.Thread(target=kill_the_sleeping_insert)
        killer.start()
        response = import_api(client, alice, first, HALFWAY)
        killer.join()
    assert killed, "the insert was never seen running"
    refused(response, 503, "database")
    assert response.headers["retry-after"] == "5"
    assert items(client, alice, first) == before
    assert imported(client, alice, first, HALFWAY)["added"] == 3


# --- The OpenAPI document -------------------------------------------------------------------


def test_the_document_describes_both_operations(sqlite_client: TestClient) -> None:
    document = sqlite_client.get("/api/openapi.json").json()
    export = document["paths"]["/api/lists/{list_id}/stocks.csv"]["get"]
    assert set(export["responses"]["200"]["content"]) == {"text/csv"}
    assert export["responses"]["200"]["headers"]["Content-Disposition"]["required"]
    operation = document["paths"]["/api/lists/{list_id}/stocks/import"]["post"]
    body = operation["requestBody"]["content"]["text/csv"]
    assert {"200", "401", "404", "409", "413", "415", "422", "503"} == set(operation["responses"])
    pattern = re.compile(body["schema"]["pattern"])
    assert pattern.search(body["example"])
    for plain in ("symbol", "Symbol\nAAPL\n", "\ufeffTICKER\r\nAAPL,Apple\r\n\r\nMSFT"):
        assert pattern.search(plain), plain
    # Files the pattern leaves out, as its description says, but the import takes.
    for richer in ('symbol\n"AAPL"\n', "Name,Symbol\nApple,AAPL\n", "symbol;name\nA;B\n"):
        assert not pattern.search(richer), richer


def test_the_documents_plainest_files_all_import(
    sqlite_client: TestClient, alice: dict[str, str]
) -> None:
    """Whatever the pattern allows is accepted (the fuzz test relies on it): quotes and
    control characters are the only things it rules out of a row."""
    first = first_list(sqlite_client, alice)
    weird = "\u2028\u0085 ,;'=+-@\ufeff\\ \x80é😀" + "x" * 80
    body = "\ufeffticker\n" + f"{weird}\n" * 500 + "\r\n" * 499 + "A,B"
    document = sqlite_client.get("/api/openapi.json").json()
    operation = document["paths"]["/api/lists/{list_id}/stocks/import"]["post"]
    pattern = operation["requestBody"]["content"]["text/csv"]["schema"]["pattern"]
    assert re.search(pattern, body)
    report = imported(sqlite_client, alice, first, body)
    assert report["added"] == 1
    assert len(report["skipped"]) == 500  # no symbol: whitespace only
