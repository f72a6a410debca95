"""The site on phones: at 320, 375 and 414 px no page scrolls sideways, every control is on
screen and clickable, and a row shown as a card leaves out the fields it has no value for."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import Server, Watch, add, csp_violations, settled, sign_in_at_provider

PHONES = [320, 375, 414]
HEIGHT = 800

# Long values that cannot wrap at spaces, besides ordinary ones.
ITEMS = [
    ("IBM", "", "", ""),
    ("BRK.B", "Berkshire Hathaway Inc. Class B", "412.3", "Revisit after the letter."),
    ("^ABCDEFGHIJ.KLMNOPQR", "N" * 255, "999999999999.9999", "x" * 400),
    ("BTC-USD", "", "64000", ""),
    ("7203.T", "Toyota Motor Corporation", "", "Long notes " * 40),
]


@pytest.fixture(params=PHONES, ids=[f"{width}px" for width in PHONES])
def phone(request: pytest.FixtureRequest, page: Page) -> Page:
    """The test's page, as wide as a phone."""
    page.set_viewport_size({"width": request.param, "height": HEIGHT})
    return page


def assert_fits(page: Page, what: str) -> None:
    """Nothing scrolls sideways: not the page, and not our own scroll boxes (a table that
    scrolls inside its frame hides the controls at its far end just as well)."""
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{what}: the page is {widths[0]} px wide in {widths[1]} px"
    clipped = page.evaluate(
        """() => [...document.querySelectorAll('.table-wrap')]
             .filter((box) => box.scrollWidth > box.clientWidth)
             .map((box) => box.scrollWidth + ' px in ' + box.clientWidth + ' px')"""
    )
    assert clipped == [], f"{what}: the table scrolls sideways ({clipped})"


def assert_reachable(page: Page, controls: Locator, what: str) -> None:
    """Each of ``controls`` is visible, lies within the viewport's width, and takes a click
    (Playwright's actionability checks: visible, stable, enabled, not covered)."""
    width: int = page.evaluate("window.innerWidth")
    count = controls.count()
    assert count > 0, f"{what}: no controls found"
    for index in range(count):
        control = controls.nth(index)
        expect(control).to_be_visible()
        box = control.bounding_box()
        assert box is not None, f"{what}: control {index} has no box"
        left, right = round(box["x"]), round(box["x"] + box["width"])
        spans = f"{what}: {control.inner_text()!r} spans x={left}..{right} in {width} px"
        assert box["x"] >= 0, spans
        assert box["x"] + box["width"] <= width, spans
        control.click(trial=True)


def card_fields(page: Page) -> list[tuple[str, str, bool, bool]]:
    """Each field of each (not editing) row: its row id, its label, whether it holds a
    value, and whether its label is printed."""
    fields: list[list[str | bool]] = page.evaluate(
        """() => [...document.querySelectorAll('#rows tr:not(.editing) td[data-label]')]
             .map((td) => [
               td.closest('tr').id,
               td.dataset.label,
               td.textContent.trim() !== '',
               td.checkVisibility()
                 && !['none', 'normal'].includes(getComputedStyle(td, '::before').content),
             ])"""
    )
    return [(str(row), str(label), bool(value), bool(shown)) for row, label, value, shown in fields]


def header_and_add_form(page: Page) -> Locator:
    account = page.locator(".site-header").get_by_role("button")
    return account.or_(page.locator("#add-form").locator("input, button"))


def test_signed_out_pages_fit(phone: Page, watch: Watch, server: Server) -> None:
    page = phone
    page.goto(f"{server.url}/")
    assert_fits(page, "the start page")
    assert_reachable(page, page.get_by_role("link", name="Sign in with Google"), "start page")

    page.goto(f"{server.url}/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Stock Watchlist API")
    assert_fits(page, "the API docs")
    me = page.locator("#operations-identity-getMe")
    me.locator(".opblock-summary").click()
    expect(me.get_by_role("button", name="Try it out")).to_be_visible()
    assert_fits(page, "the API docs with an operation open")
    assert_reachable(page, page.get_by_role("button", name="Authorize").first, "API docs")
    assert_reachable(page, me.get_by_role("button", name="Try it out"), "API docs")
    assert csp_violations(page) == []
    assert watch.clean(), watch

    response = page.goto(f"{server.url}/no/such/page")
    assert response is not None
    assert response.status == 404
    assert_fits(page, "the 404 page")
    assert_reachable(page, page.locator("main a"), "404 page")
    assert csp_violations(page) == []


def test_watchlist_fits(phone: Page, watch: Watch, server: Server) -> None:
    page = phone
    page.goto(f"{server.url}/watchlist")
    sign_in_at_provider(page, "a.very.long.address.for.a.small.screen@example.com")
    page.wait_for_url(f"{server.url}/watchlist")
    expect(page.locator(".empty-state")).to_be_visible()
    assert_fits(page, "the empty watchlist")
    assert_reachable(page, header_and_add_form(page), "empty watchlist")

    for item in ITEMS:
        add(page, *item)
    expect(page.locator("#rows tr")).to_have_count(len(ITEMS))
    # At rest: every quote in (the poll fills them in a second after an add), and htmx done
    # settling its swap (for ~20 ms a swapped cell keeps its old classes).
    expect(page.locator("#rows .pending")).to_have_count(0)
    expect(page.locator(".htmx-settling, .htmx-request, .htmx-swapping")).to_have_count(0)
    assert_fits(page, "the watchlist")
    assert_reachable(page, header_and_add_form(page), "watchlist")
    assert_reachable(page, page.locator("#rows .actions").locator("a, button"), "rows")

    # Cards show a label only above a value: no bare NAME, PRICE or NOTES.
    fields = card_fields(page)
    assert [(row, label) for row, label, value, shown in fields if shown and not value] == []
    assert [(row, label) for row, label, value, shown in fields if value and not shown] == []

    # A row in edit mode, then with an inline error.
    add(page, "$$$", "Bad")
    expect(page.locator("#add-symbol-error")).to_be_visible()
    assert_fits(page, "the add form with an error")
    assert_reachable(page, header_and_add_form(page), "add form with an error")

    long_symbol = ITEMS[2][0]
    page.get_by_role("link", name=f"Edit {long_symbol}").click()
    editing = page.locator("#rows tr.editing")
    expect(editing.get_by_label("Symbol")).to_be_focused()
    assert_fits(page, "a row in edit mode")
    assert_reachable(page, editing.locator("input, button, a"), "edit row")

    editing.get_by_label("Price").fill("-1")
    editing.get_by_role("button", name="Save").click()
    expect(editing.locator(".field-error")).to_have_text("Price must be at least 0.")
    settled(page)
    assert_fits(page, "a row with an inline error")
    assert_reachable(page, editing.locator("input, button, a"), "edit row with an error")
    editing.get_by_role("link", name="Cancel").click()
    expect(page.locator("#rows tr.editing")).to_have_count(0)

    # The header's buttons take a real click too.
    page.locator(".site-header").get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url(f"{server.url}/")
    assert_fits(page, "the start page after signing out")
    assert csp_violations(page) == []
    assert watch.clean(), watch


def test_wide_screens_keep_the_table(page: Page, watch: Watch, server: Server) -> None:
    """On a desktop the rows stay a table: every row has a cell under every column."""
    page.set_viewport_size({"width": 1280, "height": HEIGHT})
    page.goto(f"{server.url}/watchlist")
    sign_in_at_provider(page, "wide@example.com")
    page.wait_for_url(f"{server.url}/watchlist")
    for item in ITEMS:
        add(page, *item)
    columns = page.locator("#watchlist thead th").count()
    for row in page.locator("#rows tr").all():
        cells = row.locator("td")
        expect(cells).to_have_count(columns)
        for cell in cells.all():
            assert cell.evaluate("(td) => getComputedStyle(td).display") == "table-cell"
    assert_fits(page, "the watchlist on a desktop")
    assert watch.clean(), watch
