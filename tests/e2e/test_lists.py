"""Several lists in a real browser, with JavaScript and without: make one, move and copy
symbols into it, rename it, reorder it, delete it, and go back and forth between lists."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import (
    FIRST,
    Server,
    Watch,
    csp_violations,
    do,
    settled,
    sign_in_at_provider,
)


def symbols(count: int) -> str:
    return f"{count} symbol{'' if count == 1 else 's'}"


def tab(page: Page, name: str) -> Locator:
    exactly = re.compile(f"^{re.escape(name)}$")
    return page.locator("#list-tabs li a").filter(has=page.locator(".list-name", has_text=exactly))


def expect_lists(page: Page, counts: dict[str, int], current: str) -> None:
    """The tabs: these lists in this order with these counts, ``current`` the one shown."""
    tabs = page.locator("#list-tabs")
    expect(tabs.locator(".list-name")).to_have_text(list(counts))
    expect(tabs.locator(".count")).to_have_text([symbols(count) for count in counts.values()])
    expect(tabs.locator('a[aria-current="page"]')).to_have_count(1)
    expect(tabs.locator('a[aria-current="page"] .list-name')).to_have_text(current)
    expect(page.locator("h1#list-title")).to_have_text(current)
    expect(page).to_have_title(f"{current} — Stock Watchlist")


def expect_rows(page: Page, expected: list[str]) -> None:
    expect(page.locator("#rows tr td.symbol")).to_have_text(expected)


def expect_notice(page: Page, text: str) -> None:
    expect(page.locator('p.notice[role="status"]')).to_have_text(text)


def add(page: Page, js: bool, symbol: str) -> None:
    form = page.locator("#add-form")
    form.get_by_label("Symbol").fill(symbol)
    do(page, js, form.get_by_role("button", name="Add"))


def create_list(page: Page, js: bool, name: str) -> None:
    form = page.locator("form.new-list")
    form.get_by_label("New list name").fill(name)
    do(page, js, form.get_by_role("button", name="Create list"))


def test_make_fill_rename_reorder_and_delete_a_list(
    browsing: tuple[Page, Watch], server: Server, js: bool
) -> None:
    page, watch = browsing
    # Without JavaScript an answer with inline errors is a whole page with a 4xx status,
    # which the browser reports on the console; nothing else may appear there.
    refusals: list[tuple[str, int]] = []

    def refused(status: int) -> None:
        if not js:
            refusals.append((page.url, status))

    page.goto(f"{server.url}/watchlist")
    sign_in_at_provider(page, "lists@example.com")
    page.wait_for_url(f"{server.url}/watchlist")
    for symbol in ("AAPL", "MSFT", "IBM"):
        add(page, js, symbol)
    expect_rows(page, ["IBM", "MSFT", "AAPL"])
    expect_lists(page, {FIRST: 3}, FIRST)
    # One list: nothing to move, reorder or delete.
    expect(page.get_by_role("link", name="Delete list")).to_have_count(0)
    expect(page.locator("#move-left, #move-right")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("^Move or copy"))).to_have_count(0)

    # A new list opens at its own URL, current and empty, ready for its first symbol.
    create_list(page, js, "Tech")
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/lists/\d+$"))
    tech_url = page.url
    expect_lists(page, {FIRST: 3, "Tech": 0}, "Tech")
    # Its name as a screen reader says it (Chrome puts a space before the hidden comma).
    said = page.get_by_role("link", name=re.compile(r"^Tech ?, 0 symbols$"))
    expect(said).to_have_attribute("aria-current", "page")
    expect(page.locator(".empty-state")).to_be_visible()
    expect_notice(page, "Made the list “Tech”: add its first symbol.")
    if js:
        expect(page.locator("#add-form").get_by_label("Symbol")).to_be_focused()

    # Tabs switch lists; the browser's back and forward buttons bring each one back.
    do(page, js, tab(page, FIRST))
    expect(page).to_have_url(f"{server.url}/watchlist")
    expect_lists(page, {FIRST: 3, "Tech": 0}, FIRST)
    page.go_back()
    expect(page).to_have_url(tech_url)
    expect_lists(page, {FIRST: 3, "Tech": 0}, "Tech")
    expect(page.locator(".empty-state")).to_be_visible()
    settled(page)
    page.go_forward()
    expect(page).to_have_url(f"{server.url}/watchlist")
    expect_lists(page, {FIRST: 3, "Tech": 0}, FIRST)
    expect_rows(page, ["IBM", "MSFT", "AAPL"])
    settled(page)

    # Move a symbol: its row leaves, both counts change, and the notice says so.
    do(page, js, page.get_by_role("link", name="Move or copy MSFT"))
    moving = page.locator("#rows tr.moving")
    expect(moving.locator("td.symbol")).to_have_text("MSFT")
    target = moving.get_by_label("Move or copy MSFT to")
    expect(target).to_be_focused()
    expect(target.locator("option")).to_have_text(["Tech"])
    target.select_option(label="Tech")
    do(page, js, moving.get_by_role("button", name="Move", exact=True))
    expect_rows(page, ["IBM", "AAPL"])
    expect_lists(page, {FIRST: 2, "Tech": 1}, FIRST)
    expect_notice(page, "Moved MSFT to “Tech”.")
    if js:  # to the row that took its place
        expect(page.get_by_role("link", name="Edit AAPL")).to_be_focused()

    # Copy one: it stays here too.
    do(page, js, page.get_by_role("link", name="Move or copy IBM"))
    do(page, js, moving.get_by_role("button", name="Copy"))
    expect(moving).to_have_count(0)
    expect_rows(page, ["IBM", "AAPL"])
    expect_lists(page, {FIRST: 2, "Tech": 2}, FIRST)
    expect_notice(page, "Copied IBM to “Tech”.")
    if js:
        expect(page.get_by_role("link", name="Edit IBM")).to_be_focused()

    # Copying it again is refused inline, in the row, which stays a form.
    do(page, js, page.get_by_role("link", name="Move or copy IBM"))
    do(page, js, moving.get_by_role("button", name="Copy"))
    refused(409)
    target = moving.get_by_label("Move or copy IBM to")
    expect(moving.locator(".field-error")).to_have_text("That list already has IBM.")
    expect(target).to_have_attribute("aria-invalid", "true")
    expect(target).to_be_focused()
    expect_lists(page, {FIRST: 2, "Tech": 2}, FIRST)
    do(page, js, moving.get_by_role("link", name="Cancel"))
    expect(moving).to_have_count(0)
    expect_rows(page, ["IBM", "AAPL"])
    if js:
        expect(page.get_by_role("link", name="Edit IBM")).to_be_focused()

    do(page, js, tab(page, "Tech"))
    expect(page).to_have_url(tech_url)
    expect_lists(page, {FIRST: 2, "Tech": 2}, "Tech")
    expect_rows(page, ["IBM", "MSFT"])

    # Rename in place: the heading becomes a form, and back.
    header = page.locator("#list-header")
    rename = header.get_by_role("link", name="Rename", exact=True)
    do(page, js, rename)
    name = header.get_by_label("Rename “Tech”")
    expect(page.locator("h1#list-title")).to_have_count(0)
    expect(name).to_have_value("Tech")
    expect(name).to_be_focused()
    do(page, js, header.get_by_role("link", name="Cancel"))
    expect(page.locator("h1#list-title")).to_have_text("Tech")
    if js:
        expect(rename).to_be_focused()
    do(page, js, rename)
    save = header.get_by_role("button", name="Save")
    for typed, error, status in [
        ("   ", "List name is required.", 422),
        ("my watchlist", "List name is already taken by one of your lists.", 409),
    ]:
        name.fill(typed)
        do(page, js, save)
        refused(status)
        expect(header.locator("#rename-name-error")).to_have_text(error)
        expect(name).to_have_attribute("aria-invalid", "true")
        expect(name).to_be_focused()
    name.fill("Tech giants")
    do(page, js, save)
    expect(page).to_have_url(tech_url)
    expect_lists(page, {FIRST: 2, "Tech giants": 2}, "Tech giants")
    if js:
        expect(rename).to_be_focused()

    # Reorder, with a third list: focus stays on the button used, or goes to the other
    # one once the list reaches that end.
    create_list(page, js, "Crypto")
    expect_lists(page, {FIRST: 2, "Tech giants": 2, "Crypto": 0}, "Crypto")
    do(page, js, tab(page, "Tech giants"))
    left = page.get_by_role("button", name="Move left")
    right = page.get_by_role("button", name="Move right")
    for button, order, focused in [
        (right, [FIRST, "Crypto", "Tech giants"], left),
        (left, [FIRST, "Tech giants", "Crypto"], left),
        (left, ["Tech giants", FIRST, "Crypto"], right),
        (right, [FIRST, "Tech giants", "Crypto"], right),
    ]:
        do(page, js, button)
        counts = {FIRST: 2, "Tech giants": 2, "Crypto": 0}
        expect_lists(page, {list_name: counts[list_name] for list_name in order}, "Tech giants")
        first, last = order[0] == "Tech giants", order[-1] == "Tech giants"
        expect(left).to_be_enabled(enabled=not first)
        expect(right).to_be_enabled(enabled=not last)
        # The first list's URL is /watchlist, whichever it is.
        expect(page).to_have_url(f"{server.url}/watchlist" if first else tech_url)
        if js:
            expect(focused).to_be_focused()

    # Delete, after a confirmation that says what goes with it.
    delete = header.get_by_role("link", name="Delete list")
    confirm = page.locator(".confirm")
    do(page, js, delete)
    expect(confirm.get_by_role("heading")).to_have_text("Delete “Tech giants”?")
    expect(confirm).to_contain_text("Its 2 symbols will be deleted with it. This cannot be undone.")
    expect(page.locator("#confirm-title")).to_be_focused()
    do(page, js, confirm.get_by_role("link", name="Cancel"))
    expect(confirm).to_have_count(0)
    if js:
        expect(delete).to_be_focused()
    do(page, js, delete)
    do(page, js, confirm.get_by_role("button", name="Delete the list and 2 symbols"))
    expect(page).to_have_url(f"{server.url}/watchlist")  # the list to its left
    expect_lists(page, {FIRST: 2, "Crypto": 0}, FIRST)
    expect_rows(page, ["IBM", "AAPL"])
    expect_notice(page, "Deleted “Tech giants” and 2 symbols.")
    if js:
        expect(tab(page, FIRST)).to_be_focused()

    # The last list left cannot be deleted.
    do(page, js, tab(page, "Crypto"))
    do(page, js, delete)
    expect(confirm).to_contain_text("It has no symbols. This cannot be undone.")
    do(page, js, confirm.get_by_role("button", name="Delete the list", exact=True))
    expect(page).to_have_url(f"{server.url}/watchlist")
    expect_lists(page, {FIRST: 2}, FIRST)
    expect_notice(page, "Deleted “Crypto” and no symbols.")
    expect(delete).to_have_count(0)
    expect(page.locator("#move-left, #move-right")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("^Move or copy"))).to_have_count(0)
    first_id = page.locator('form.new-list input[name="current"]').input_value()
    page.goto(f"{server.url}/lists/{first_id}/delete")
    expect(confirm).to_have_text(re.compile("“My watchlist” is your only list, so it cannot be"))
    expect(confirm.get_by_role("button")).to_have_count(0)

    assert watch.dialogs == []
    if js:  # without JavaScript no listener runs; the console reports violations too
        assert csp_violations(page) == []
    statuses = {409: "Conflict", 422: "Unprocessable Entity"}
    assert watch.console_errors == [
        f"{url}: Failed to load resource: the server responded with a status of {status} "
        f"({statuses[status]})"
        for url, status in refusals
    ]
    # Going from page to page without JavaScript can cut the last one's favicon short.
    favicon = f"GET {server.url}/static/favicon.svg: net::ERR_ABORTED"
    assert [failed for failed in watch.failed_requests if js or failed != favicon] == []
    assert watch.external_requests == []


def press_enter(page: Page, control: Locator) -> None:
    """From the keyboard: focus ``control``, press Enter, and wait for htmx's swap."""
    control.focus()
    with page.expect_response(lambda response: "/quotes" not in response.url):
        page.keyboard.press("Enter")
    settled(page)


def test_switching_tabs_from_the_keyboard_keeps_focus_on_the_tab(
    page: Page, watch: Watch, server: Server
) -> None:
    """The swap replaces the tabs too; focus must not fall back to the page."""
    page.goto(f"{server.url}/watchlist")
    sign_in_at_provider(page, "tabs@example.com")
    page.wait_for_url(f"{server.url}/watchlist")
    create_list(page, True, "Tech")
    expect_lists(page, {FIRST: 0, "Tech": 0}, "Tech")
    press_enter(page, tab(page, FIRST))
    expect(page).to_have_url(f"{server.url}/watchlist")
    expect_lists(page, {FIRST: 0, "Tech": 0}, FIRST)
    expect(tab(page, FIRST)).to_be_focused()
    assert watch.clean(), watch


def test_moving_the_last_symbol_out_focuses_the_add_form(
    page: Page, watch: Watch, server: Server
) -> None:
    """As after deleting the last row (static/watchlist.js): the list is empty, and the
    next thing to do is to add a symbol."""
    page.goto(f"{server.url}/watchlist")
    sign_in_at_provider(page, "empty@example.com")
    page.wait_for_url(f"{server.url}/watchlist")
    add(page, True, "AAPL")
    create_list(page, True, "Tech")
    do(page, True, tab(page, FIRST))
    do(page, True, page.get_by_role("link", name="Move or copy AAPL"))
    press_enter(
        page, page.locator("#rows tr.moving").get_by_role("button", name="Move", exact=True)
    )
    expect_lists(page, {FIRST: 0, "Tech": 1}, FIRST)
    expect(page.locator(".empty-state")).to_be_visible()
    expect(page.locator("#add-form").get_by_label("Symbol")).to_be_focused()
    assert watch.clean(), watch
