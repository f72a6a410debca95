"""CSV in a real browser, with JavaScript and without: download a list with its export
link, upload the file into another list, and read the import's report; a file that is
not CSV is refused in the same place. No console error, no CSP violation."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import (
    FIRST,
    Server,
    Watch,
    csp_violations,
    do,
    sign_in_at_provider,
)


def add(
    page: Page, js: bool, symbol: str, name: str = "", price: str = "", notes: str = ""
) -> None:
    form = page.locator("#add-form")
    form.get_by_label("Symbol").fill(symbol)
    form.get_by_label("Name").fill(name)
    form.get_by_label("Price").fill(price)
    form.get_by_label("Notes").fill(notes)
    do(page, js, form.get_by_role("button", name="Add"))


def rows(page: Page) -> Locator:
    return page.locator("#rows tr td.symbol")


def counts(page: Page) -> Locator:
    return page.locator("#list-tabs .count")


def test_a_list_goes_out_as_csv_and_into_another_list(
    browsing: tuple[Page, Watch], server: Server, js: bool, tmp_path: Path
) -> None:
    page, watch = browsing
    page.goto(f"{server.url}/watchlist")
    sign_in_at_provider(page, "csv@example.com")
    page.wait_for_url(f"{server.url}/watchlist")
    add(page, js, "AAPL", "Apple", "187.25", "=1+1 is not a formula here")
    add(page, js, "^GSPC", "S&P 500")
    add(page, js, "BTC-USD", "Bitcoin, in dollars", "0.0001")
    expect(rows(page)).to_have_text(["BTC-USD", "^GSPC", "AAPL"])

    # The export link downloads the list, named after it.
    with page.expect_download() as downloading:
        page.locator('a[href$="/export.csv"]').click()
    download = downloading.value
    assert download.suggested_filename == f"{FIRST}.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    exported = list(csv.reader(io.StringIO(saved.read_text("utf-8"), newline="")))
    assert exported[0] == [
        "symbol",
        "name",
        "price",
        "notes",
        "alert_above",
        "alert_below",
        "created_at",
    ]
    assert [(row[0], row[1], row[2], row[3]) for row in exported[1:]] == [
        ("BTC-USD", "Bitcoin, in dollars", "0.0001", ""),
        ("^GSPC", "S&P 500", "", ""),
        ("AAPL", "Apple", "187.25", "'=1+1 is not a formula here"),
    ]

    # Into a new list, through its import form: the report says what was done, and the
    # rows and the tabs' counts follow.
    new_list = page.locator("form.new-list")
    new_list.get_by_label("New list name").fill("Copy")
    do(page, js, new_list.get_by_role("button", name="Create list"))
    expect(page.locator("h1#list-title")).to_have_text("Copy")
    section = page.locator("#import")
    section.get_by_label("CSV file").set_input_files(saved)
    do(page, js, section.get_by_role("button", name="Import"))
    report = page.locator("#import-report")
    expect(report).to_have_text("Imported into “Copy”: 3 symbols added, 0 updated.")
    expect(report).to_be_focused()
    expect(rows(page)).to_have_text(["BTC-USD", "^GSPC", "AAPL"])
    expect(counts(page)).to_have_text(["3 symbols", "3 symbols"])
    expect(page.locator("#rows tr").filter(has_text="AAPL")).to_contain_text(
        "=1+1 is not a formula here"
    )

    # Again: the same file now updates what it added, and says which lines it skipped.
    broken = tmp_path / "broken.csv"
    broken.write_text(saved.read_text("utf-8") + "$$$,not a symbol,,,,,\r\n", "utf-8")
    section.get_by_label("CSV file").set_input_files(broken)
    do(page, js, section.get_by_role("button", name="Import"))
    expect(report).to_contain_text("0 symbols added, 3 updated, 1 line skipped.")
    expect(report.locator("li")).to_have_text([re.compile(r"^Line 5: symbol must be 1 to 20")])
    expect(counts(page)).to_have_text(["3 symbols", "3 symbols"])

    # A file that is not CSV changes nothing, and says why: in the section with htmx, as
    # a page of its own without JavaScript.
    picture = tmp_path / "picture.csv"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    section.get_by_label("CSV file").set_input_files(picture)
    do(page, js, section.get_by_role("button", name="Import"))
    why = re.compile("^The file is not CSV text: it looks like a binary file")
    if js:
        expect(section.locator("#import-file-error")).to_have_text(why)
        expect(section.get_by_label("CSV file")).to_be_focused()
        expect(counts(page)).to_have_text(["3 symbols", "3 symbols"])
    else:
        expect(page.get_by_role("heading")).to_have_text("Nothing was imported")
        expect(page.locator("main p").first).to_have_text(why)

    assert watch.dialogs == []
    if js:
        assert csp_violations(page) == []
        assert watch.console_errors == []
    else:  # the refusal's 422, which the browser reports; nothing else
        assert len(watch.console_errors) == 1
        assert "status of 422" in watch.console_errors[0]
    favicon = f"GET {server.url}/static/favicon.svg: net::ERR_ABORTED"
    assert [failed for failed in watch.failed_requests if js or failed != favicon] == []
    assert watch.external_requests == []
